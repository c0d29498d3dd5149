"""Experiment for issue 12: a factorised lhcb-ecal generator on the Geant4 showers.

The generator makes a normalised shape (softmax over the 30x30 cells) and, separately, one
number per shower: the log of its sampling fraction relative to Geant4's mean, so that the
energy scale and its fluctuations are learned as one scalar. WGAN-GP critic on
log-scaled images plus the generated/real log sampling fraction and the conditions
(log E, px/pz, py/pz, entry point x, y).

Trains for ``--minutes`` of wall time (checkpointed every 5 minutes into ``--out``, so a
rerun resumes), then judges the generator on held-out Geant4 showers (the last
``--n-test`` of the file, never trained on) with tfcalo's physics metrics and prints JSON.

    python bench/bench_lhcb_factorised.py --minutes 50 --out /tmp/factorised
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import h5py
import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "g4_lhcb_ecal_train.h5"
SF0 = 0.1755  # Geant4's mean sampling fraction (data README)


def load(path: Path, n_test: int):
    with h5py.File(path, "r") as f:
        x = f["EnergyDeposit"][()].astype("float32")
        point = f["ParticlePoint"][()].astype("float32")
        mom = f["ParticleMomentum"][()].astype("float32")
    cond = np.concatenate([point, mom], axis=1)
    return (x[:-n_test], cond[:-n_test]), (x[-n_test:], cond[-n_test:])


def features(cond):
    """(B, 6) physical conditions -> (B, 5) network inputs (tf)."""
    import tensorflow as tf

    p = cond[:, 3:6]
    e = tf.norm(p, axis=1, keepdims=True)
    return tf.concat([(tf.math.log(e) - 3.0) / 1.0, p[:, 0:1] / p[:, 2:3] / 0.2,
                      p[:, 1:2] / p[:, 2:3] / 0.15, cond[:, 0:2] / 0.3], axis=1)


def build(latent: int = 32):
    import keras

    z_in, c_in = keras.Input((latent,)), keras.Input((6,))
    f = keras.layers.Lambda(features)(c_in)
    h = keras.layers.Concatenate()([z_in, f])
    h = keras.layers.Dense(128, activation="leaky_relu")(h)
    s = keras.layers.Dense(64, activation="leaky_relu")(h)
    log_sf = keras.layers.Dense(1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))(s)
    x = keras.layers.Dense(8 * 8 * 32, activation="leaky_relu")(h)
    x = keras.layers.Reshape((8, 8, 32))(x)
    for ch in (16, 8):
        x = keras.layers.UpSampling2D()(x)
        x = keras.layers.Conv2D(ch, 3, padding="same", activation="leaky_relu")(x)
    x = keras.layers.Conv2D(1, 3, padding="same")(x)
    logits = keras.layers.Cropping2D(1)(x)  # 30x30
    gen = keras.Model([z_in, c_in], [logits, log_sf], name="generator")

    img_in, lsf_in, c2 = keras.Input((30, 30, 1)), keras.Input((1,)), keras.Input((6,))
    f2 = keras.layers.Lambda(features)(c2)
    y = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="leaky_relu")(img_in)
    y = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="leaky_relu")(y)
    y = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="leaky_relu")(y)
    y = keras.layers.Flatten()(y)
    y = keras.layers.Concatenate()([y, lsf_in * 30.0, f2])
    y = keras.layers.Dense(128, activation="leaky_relu")(y)
    y = keras.layers.Dense(1)(y)
    critic = keras.Model([img_in, lsf_in, c2], y, name="critic")
    return gen, critic


def showers_from(gen, z, cond):
    """Physical MeV showers (B, 30, 30) and log SF offsets (B, 1)."""
    import tensorflow as tf

    logits, log_sf = gen([z, cond], training=False)
    shape = tf.reshape(tf.nn.softmax(tf.reshape(logits, (-1, 900))), (-1, 30, 30))
    e_mev = tf.norm(cond[:, 3:6], axis=1) * 1000.0
    total = e_mev * SF0 * tf.exp(log_sf[:, 0])
    return shape * total[:, None, None], log_sf


def critic_inputs(showers, cond):
    """Critic sees the normalised shape on a log scale and the log SF offset."""
    import tensorflow as tf

    total = tf.reduce_sum(showers, axis=(1, 2))
    shape = showers / (total[:, None, None] + 1e-6)
    e_mev = tf.norm(cond[:, 3:6], axis=1) * 1000.0
    log_sf = tf.math.log(total / (e_mev * SF0) + 1e-9)[:, None]
    return tf.math.log1p(shape * 1000.0)[..., None], log_sf


def train(args, data):
    import keras
    import tensorflow as tf

    (x, c), _ = data
    gen, critic = build(args.latent)
    g_opt = keras.optimizers.Adam(args.lr_g, beta_1=0.5, beta_2=0.9)
    d_opt = keras.optimizers.Adam(args.lr_d, beta_1=0.5, beta_2=0.9)
    ckpt = tf.train.Checkpoint(gen=gen, critic=critic, g_opt=g_opt, d_opt=d_opt,
                               step=tf.Variable(0, dtype=tf.int64))
    manager = tf.train.CheckpointManager(ckpt, str(Path(args.out) / "ckpt"), max_to_keep=2)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint)
    ds = (tf.data.Dataset.from_tensor_slices((x, c)).shuffle(20000, seed=1).repeat()
          .batch(args.batch, drop_remainder=True).prefetch(2))

    @tf.function
    def step(xr, cr):
        b = tf.shape(xr)[0]
        ir, lr = critic_inputs(xr, cr)
        for _ in range(args.critic_steps):
            z = tf.random.normal((b, args.latent))
            xf, _ = showers_from(gen, z, cr)
            i_f, l_f = critic_inputs(xf, cr)
            eps = tf.random.uniform((b, 1, 1, 1))
            eps2 = tf.reshape(eps, (b, 1))
            ih, lh = eps * ir + (1 - eps) * i_f, eps2 * lr + (1 - eps2) * l_f
            with tf.GradientTape() as tape:
                with tf.GradientTape() as gp_tape:
                    gp_tape.watch([ih, lh])
                    sh = critic([ih, lh, cr], training=True)
                gi, gl = gp_tape.gradient(sh, [ih, lh])
                norm = tf.sqrt(tf.reduce_sum(tf.square(gi), axis=(1, 2, 3))
                               + tf.reduce_sum(tf.square(gl * 1.0), axis=1) + 1e-12)
                d_loss = (tf.reduce_mean(critic([i_f, l_f, cr], training=True))
                          - tf.reduce_mean(critic([ir, lr, cr], training=True))
                          + 10.0 * tf.reduce_mean(tf.square(norm - 1.0)))
            d_opt.apply(tape.gradient(d_loss, critic.trainable_variables), critic.trainable_variables)
        with tf.GradientTape() as tape:
            z = tf.random.normal((b, args.latent))
            logits, log_sf = gen([z, cr], training=True)
            shape = tf.reshape(tf.nn.softmax(tf.reshape(logits, (-1, 900))), (-1, 30, 30))
            e_mev = tf.norm(cr[:, 3:6], axis=1) * 1000.0
            xf = shape * (e_mev * SF0 * tf.exp(log_sf[:, 0]))[:, None, None]
            i_f, l_f = critic_inputs(xf, cr)
            g_loss = -tf.reduce_mean(critic([i_f, l_f, cr], training=True))
        g_opt.apply(tape.gradient(g_loss, gen.trainable_variables), gen.trainable_variables)
        return d_loss, g_loss

    t0, last_save = time.time(), time.time()
    it = iter(ds)
    log = []
    while time.time() - t0 < args.minutes * 60:
        xr, cr = next(it)
        d, g = step(xr, cr)
        ckpt.step.assign_add(1)
        n = int(ckpt.step)
        if n % 500 == 0:
            log.append({"step": n, "d_loss": float(d), "g_loss": float(g),
                        "minutes": round((time.time() - t0) / 60, 1)})
            print(json.dumps(log[-1]), flush=True)
        if time.time() - last_save > 300:
            manager.save()
            last_save = time.time()
    manager.save()
    return gen, int(ckpt.step)


def judge(gen, data, latent, seed=0):
    import tensorflow as tf

    from tfcalo import physics
    from tfcalo.training.selection import physics_scores

    _, (xt, ct) = data
    z = tf.random.stateless_normal((len(xt), latent), seed=[seed, 0])
    ct = tf.constant(ct)
    fake = np.concatenate([showers_from(gen, z[i:i + 1000], ct[i:i + 1000])[0].numpy()
                           for i in range(0, len(xt), 1000)])
    ct = ct.numpy()
    out = physics_scores("lhcb-ecal", xt, ct, fake, n_bins=5)
    ro, go = physics.observables("lhcb-ecal", xt, ct), physics.observables("lhcb-ecal", fake, ct)
    out["mean_ratio"] = {k: float(np.mean(go[k]) / np.mean(ro[k])) for k in
                         ("width_along_pt", "width_across_pt", "skewness_along_pt",
                          "sparsity_0.001", "max_cell_fraction", "sampling_fraction")
                         if k in ro and np.mean(ro[k]) != 0}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=50)
    ap.add_argument("--out", default="/tmp/factorised")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--n-test", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--critic-steps", type=int, default=3)
    ap.add_argument("--lr-g", type=float, default=2e-4)
    ap.add_argument("--lr-d", type=float, default=2e-4)
    args = ap.parse_args()
    data = load(Path(args.data), args.n_test)
    gen, steps = train(args, data)
    result = {"steps": steps, "minutes": args.minutes, "batch": args.batch,
              "generator_params": int(gen.count_params()), **judge(gen, data, args.latent)}
    print(json.dumps(result, indent=2))
    Path(args.out, "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
