"""Benchmark the ConditionalGAN train step; prints JSON.

1. ``overhead``: train steps/s of ``ConditionalGAN.fit`` against a minimal hand-written
   ``tf.function`` loop with the same networks, batch and objective (hinge, SAGAN on
   lhcb-ecal, default sizes, unit weights): ``ratio`` = fit / hand-written (target >= 0.95).
2. ``training``: showers/s during training (batch x train steps/s) of each model at its
   default (CPU-friendly, ``quick``) sizes.
3. ``moments`` (with ``--moments``): train steps/s of the 2DGAN (cern-ecal, default sizes,
   energy-factorised with the smooth layer model) without and with the generator's
   moment-matching loss (``objective.moment_weight``), interleaved over the repeats.

Usage: python bench/bench_train_step.py [--batch 64] [--steps 20] [--models 2dgan,sagan,cramer]
       [--moments]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfcalo.training.build as builder  # noqa: E402
from tfcalo.detectors import get_detector  # noqa: E402

DETECTORS = {"2dgan": "cern-ecal", "sagan": "lhcb-ecal", "cramer": "rich-pid"}


def _data(detector, n):
    det = get_detector(detector)
    rng = np.random.default_rng(0)
    lo = np.array([r[0] for r in det.condition_ranges])
    hi = np.array([r[1] for r in det.condition_ranges])
    c = (lo + (hi - lo) * rng.random((n, det.n_conditions))).astype("float32")
    s = np.abs(rng.normal(size=(n, *det.shower_shape))).astype("float32")
    return s, c, np.ones(n, "float32")


def _dataset(detector, batch, steps):
    return tf.data.Dataset.from_tensor_slices(_data(detector, batch)).batch(batch).repeat(steps).cache()


def time_fit(gan, detector, batch, steps) -> float:
    """Train steps per second of fit (after one warm-up epoch that traces)."""
    gan.fit(_dataset(detector, batch, 2), epochs=1, verbose=0, shuffle=False)
    ds = _dataset(detector, batch, steps)
    t0 = time.perf_counter()
    gan.fit(ds, epochs=1, verbose=0, shuffle=False)
    return steps / (time.perf_counter() - t0)


def time_handwritten(gan, detector, batch, steps) -> float:
    """Minimal loop: hinge critic step + generator step, plain means, tf.random.normal."""
    import keras

    G, D = gan.generator, gan.discriminator
    oc = gan.optimizer_config
    g_opt = keras.optimizers.Adam(oc["generator_lr"], beta_1=oc["beta_1"], beta_2=oc["beta_2"])
    d_opt = keras.optimizers.Adam(oc["discriminator_lr"], beta_1=oc["beta_1"], beta_2=oc["beta_2"])
    g_opt.build(G.trainable_variables)
    d_opt.build(D.trainable_variables)
    aux = gan.aux

    @tf.function
    def step(real, cond, w):
        z = tf.random.normal((tf.shape(cond)[0], G.latent_dim))
        fake = G([z, cond], training=True)
        with tf.GradientTape() as tape:
            out_r = D([real, cond], training=True)
            out_f = D([fake, cond], training=True)
            loss = tf.reduce_mean(tf.nn.relu(1 - out_r["score"][:, 0]) + tf.nn.relu(1 + out_f["score"][:, 0]))
            if aux is not None:
                loss += aux["weight"] * tf.reduce_mean(tf.square(out_r["aux"] - real_targets))
        d_opt.apply(tape.gradient(loss, D.trainable_variables), D.trainable_variables)
        with tf.GradientTape() as tape:
            z = tf.random.normal((tf.shape(cond)[0], G.latent_dim))
            g_loss = -tf.reduce_mean(D([G([z, cond], training=True), cond], training=True)["score"][:, 0])
        g_opt.apply(tape.gradient(g_loss, G.trainable_variables), G.trainable_variables)
        return loss, g_loss

    s, c, w = _data(detector, batch)
    real_targets = tf.zeros((batch, len(aux["targets"]) if aux else 0))
    if aux is not None:  # same work as fit with precomputed targets
        from tfcalo.physics import regression_targets

        real_targets = gan.standardise_targets(regression_targets(detector, s, c, aux["targets"]))
    ds = _dataset(detector, batch, steps)
    for real, cond, wt in _dataset(detector, batch, 2):
        step(real, cond, wt)
    t0 = time.perf_counter()
    for real, cond, wt in ds:
        out = step(real, cond, wt)
    float(out[0])
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--models", default="2dgan,sagan,cramer")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--moments", action="store_true")
    args = parser.parse_args()
    from tfcalo.training.gan import with_regression_targets

    result = {"batch": args.batch, "steps": args.steps, "cpu_count": os.cpu_count(),
              "tensorflow": tf.__version__}
    # 1. fit vs hand-written loop (SAGAN + hinge + multi-task aux regressor, targets precomputed)
    det = "lhcb-ecal"
    gan = builder.build("sagan", det, {}, {})
    gan.compile()
    names = gan.aux["targets"]
    orig = _dataset

    def ds_with_targets(d, b, n):
        return with_regression_targets(orig(d, b, 1), d, names).cache().repeat(n)

    fit_rates, hand_rates = [], []
    for _ in range(args.repeats):  # interleave to share machine-load drifts
        globals()["_dataset"] = ds_with_targets
        fit_rates.append(time_fit(gan, det, args.batch, args.steps))
        globals()["_dataset"] = orig
        hand_rates.append(time_handwritten(gan, det, args.batch, args.steps))
    fit_best, hand_best = max(fit_rates), max(hand_rates)
    result["overhead"] = {"model": "sagan", "objective": "hinge", "fit_steps_per_s": fit_best,
                          "handwritten_steps_per_s": hand_best, "ratio": fit_best / hand_best}
    # 2. showers/s during training per model (default sizes)
    result["training"] = {}
    for name in args.models.split(","):
        det = DETECTORS[name]
        gan = builder.build(name, det, {}, {})
        gan.compile()
        if gan.aux is not None:
            globals()["_dataset"] = ds_with_targets
        rate = time_fit(gan, det, args.batch, args.steps)
        globals()["_dataset"] = orig
        n_params = sum(int(np.prod(v.shape)) for v in gan.generator.trainable_weights)
        n_critic = sum(int(np.prod(v.shape)) for v in gan.discriminator.trainable_weights)
        result["training"][name] = {"detector": det, "critic_steps": gan.critic_steps,
                                    "train_steps_per_s": rate,
                                    "showers_per_s": rate * args.batch,
                                    "generator_params": n_params, "critic_params": n_critic}
    if args.moments:
        result["moments"] = time_moments(args.batch, args.steps, args.repeats)
    print(json.dumps(result, indent=2))


def time_moments(batch: int, steps: int, repeats: int) -> dict:
    """Best train steps/s of the energy-factorised smooth-layer 2DGAN at moment weights 0
    and 1,000 (same networks and seed)."""
    gans = {}
    for weight in (0.0, 1000.0):
        cfg = {"objective": {"moment_weight": weight},
               "generator": {"output": "shape_energy", "sf_ref": 0.025, "layer_model": "smooth"}}
        gans[weight] = builder.build("2dgan", "cern-ecal", cfg, {})
        gans[weight].compile()
    rates = {w: [] for w in gans}
    for _ in range(repeats):
        for weight, gan in gans.items():
            rates[weight].append(time_fit(gan, "cern-ecal", batch, steps))
    best = {w: max(r) for w, r in rates.items()}
    return {"model": "2dgan", "steps_per_s_without": best[0.0],
            "steps_per_s_with": best[1000.0], "ratio": best[1000.0] / best[0.0]}


if __name__ == "__main__":
    main()
