"""Subprocess helper for the distribution tests (logical devices must precede TF init).

Usage: python dist_script.py equivalence OUT.npz [slow]   (default strategy vs 2 replicas)
       python dist_script.py multiworker OUT.npz      (TF_CONFIG set by the caller)
Trains one step per objective with a noise hook that is a fixed function of the conditions,
so a global batch gives the same numbers however it is split across replicas.
"""

from __future__ import annotations

import os
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

keras.config.disable_traceback_filtering()

CASES = {  # objective -> (model, detector, config)
    "cramer": ("cramer", "rich-pid", {"latent_dim": 3, "critic_steps": 2,
                                      "generator": {"hidden": [8]},
                                      "discriminator": {"hidden": [8], "critic_dim": 3}}),
    "wgan-gp": ("cramer", "rich-pid", {"latent_dim": 3, "objective": {"name": "wgan-gp"},
                                       "generator": {"hidden": [8]}, "discriminator": {"hidden": [8]}}),
    "hinge": ("sagan", "lhcb-ecal", {"latent_dim": 3, "generator": {"filters": 2},
                                     "discriminator": {"filters": 2, "hidden": 4}}),
    # the generator's moment-matching loss (global conditional means, sWeights in the batch)
    "hinge-moments": ("sagan", "lhcb-ecal", {"latent_dim": 3, "generator": {"filters": 2},
                                             "discriminator": {"filters": 2, "hidden": 4},
                                             "objective": {"moment_weight": 10.0}}),
    "bce": ("cramer", "rich-pid", {"latent_dim": 3, "objective": {"name": "bce"},
                                   "generator": {"hidden": [8]}, "discriminator": {"hidden": [8]}}),
}
#: cases whose generator keeps a weight average (optimizer.generator_ema): trained 3 steps so
#: the average differs from the weights, and the averaged weights are compared too
AVERAGED = {"hinge-ema": ("sagan", "lhcb-ecal", {"latent_dim": 3, "generator": {"filters": 2},
                                                  "discriminator": {"filters": 2, "hidden": 4}})}
CASES.update(AVERAGED)
#: cases trained 2 epochs of 1 step under LearningRateDecay (epoch 2 at 0.1 times the rate):
#: the replicas' learning-rate copies are recorded too
DECAYED = {"hinge-decay": CASES["hinge"]}
CASES.update(DECAYED)
SLOW_CASES = {  # the 2DGAN with its Ep / total-energy heads and synchronised batch norm
    "bce-2dgan": ("2dgan", "cern-ecal", {"latent_dim": 3, "generator": {"filters": 2},
                                         "discriminator": {"filters": 2, "hidden": 4}}),
}


def averaging_sgd(lr: float, momentum: float):
    """SGD keeping a weight average out of fit's finalize, as the GAN's own AveragingAdam."""
    from tfcalo.training.gan import KeepsAverage

    cls = type("AveragingSGD", (KeepsAverage, keras.optimizers.SGD), {})
    return cls(lr, use_ema=True, ema_momentum=momentum)


def noise_hook(kind, conditions, dim):
    n = int(conditions.shape[-1])
    mat = np.random.default_rng(zlib.crc32(kind.encode()) + dim).standard_normal((n, dim))
    x = tf.matmul(tf.math.log1p(tf.abs(conditions)), tf.constant(mat, tf.float32))
    return tf.sigmoid(x) if kind == "uniform" else tf.sin(3.0 * x)


def data(detector, n=8):
    from tfcalo.detectors import get_detector

    det = get_detector(detector)
    rng = np.random.default_rng(5)
    lo = np.array([r[0] for r in det.condition_ranges])
    hi = np.array([r[1] for r in det.condition_ranges])
    c = (lo + (hi - lo) * rng.random((n, det.n_conditions))).astype("float32")
    s = np.abs(rng.normal(size=(n, *det.shower_shape))).astype("float32")
    w = np.array([1.0, -0.5, 2.0, 0.7, 1.3, 0.2, 1.0, 1.5], "float32")[:n]
    return s, c, w


def train(strategy, objective, steps=1, sgd=False):
    import keras

    import tfcalo.training.build as builder

    name, detector, cfg = {**CASES, **SLOW_CASES}[objective]
    with strategy.scope():
        gan = builder.build(name, detector, cfg, {})
        gan.noise_hook = noise_hook
        if sgd:  # plain SGD: Adam's first step g/|g| would amplify float noise of tiny gradients
            g_opt = (averaging_sgd(0.05, 0.5) if objective in AVERAGED
                     else keras.optimizers.SGD(0.05))
            gan.compile(g_optimizer=g_opt, d_optimizer=keras.optimizers.SGD(0.05))
        else:
            gan.compile()
    s, c, w = data(detector)
    ds = tf.data.Dataset.from_tensor_slices((s, c, w)).repeat(steps).batch(8)
    gan.initial_weights = gan.generator.get_weights() + gan.discriminator.get_weights()
    if objective in DECAYED:
        from tfcalo.training.callbacks import LearningRateDecay

        hist = gan.fit(ds, epochs=2, steps_per_epoch=steps // 2, verbose=0, shuffle=False,
                       callbacks=[LearningRateDecay(2, 0.0, 0.1)])
    else:
        hist = gan.fit(ds, epochs=1, verbose=0, shuffle=False)
    weights = gan.generator.get_weights() + gan.discriminator.get_weights()
    return weights, {k: v[-1] for k, v in hist.history.items()}, gan


def main() -> None:
    mode = sys.argv[1]
    if mode == "equivalence":
        out = sys.argv[2]
        cases = SLOW_CASES if sys.argv[3:] == ["slow"] else CASES
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tfcalo.training.strategy import get_strategy

        mirrored = get_strategy("mirrored")
        assert mirrored.num_replicas_in_sync == 2
        arrays = {}
        for objective in cases:
            for tag, strategy in (("one", get_strategy("default")), ("two", mirrored)):
                weights, logs, gan = train(strategy, objective, sgd=True,
                                           steps=3 if objective in AVERAGED
                                           else 2 if objective in DECAYED else 1)
                for i, wv in enumerate(weights):
                    arrays[f"{tag}/{objective}/w{i}"] = wv
                if objective in AVERAGED:
                    own = gan.generator.get_weights()
                    with gan.averaged_generator() as generator:
                        averaged = generator.get_weights()
                    for i, wv in enumerate(averaged):
                        arrays[f"{tag}/{objective}/avg{i}"] = wv
                    arrays[f"averaging/{tag}"] = np.float64(max(
                        np.abs(a - b).max() for a, b in zip(averaged, own, strict=True)))
                if objective in DECAYED:  # every replica's copy of both rates
                    arrays[f"rates/{tag}"] = np.array([
                        [v.numpy() for v in strategy.experimental_local_results(
                            opt._learning_rate.value)]
                        for opt in (gan.g_optimizer, gan.d_optimizer)])
                if tag == "one":  # how far one step moved each network (must not be 0)
                    n_gen = len(gan.generator.get_weights())
                    moved = [np.abs(a - b).max() for a, b in zip(weights, gan.initial_weights, strict=True)]
                    arrays[f"moved/{objective}"] = np.array([max(moved[:n_gen]), max(moved[n_gen:])])
                for k, v in logs.items():
                    arrays[f"{tag}/{objective}/log/{k}"] = np.float64(v)
        # default noise (no hook) must differ between replicas
        gan.noise_hook = None
        cond = tf.ones((2, 1))
        per = mirrored.run(lambda: gan.draw("latent", cond, 4))
        vals = mirrored.experimental_local_results(per)
        arrays["replica_noise"] = np.stack([v.numpy() for v in vals])
        np.savez(out, **arrays)
    else:
        out = sys.argv[2]
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        weights, logs, _ = train(strategy, "cramer", steps=3)
        np.savez(out, *weights, loss=np.float64(logs["g_loss"]))


if __name__ == "__main__":
    main()
