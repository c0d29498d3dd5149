"""Training callbacks on a tiny GAN-like Keras model (no dependency on tfcalo.models)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcalo.detectors import get_detector
from tfcalo.training.callbacks import (
    EpochCheckpoint,
    GANTensorBoard,
    RunRecord,
    is_chief,
    optimizers_of,
    read_scalars,
    shower_images,
    summary_tags,
)


class TinyGAN(keras.Model):
    """A minimal conditional GAN with the ConditionalGAN surface the callbacks rely on."""

    def __init__(self, shape, n_cond, latent_dim=3):
        super().__init__()
        size = int(np.prod(shape))
        noise = keras.Input((latent_dim,))
        cond = keras.Input((n_cond,))
        h = keras.layers.Concatenate()([noise, cond])
        h = keras.layers.Dense(size, activation="softplus")(h)
        self.generator = keras.Model([noise, cond], keras.layers.Reshape(shape)(h))
        self.generator.latent_dim = latent_dim
        x = keras.Input(shape)
        c = keras.Input((n_cond,))
        d = keras.layers.Concatenate()([keras.layers.Flatten()(x), c])
        self.discriminator = keras.Model([x, c], keras.layers.Dense(1)(d))
        self.g_optimizer = keras.optimizers.Adam(1e-3)
        self.d_optimizer = keras.optimizers.Adam(2e-3)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.built = True

    def compile(self):
        super().compile(optimizer=self.g_optimizer)

    def train_step(self, data):
        x, c, w = data
        z = tf.random.normal((tf.shape(x)[0], self.generator.latent_dim))
        with tf.GradientTape() as dt:
            fake = self.generator([z, c])
            d_loss = tf.reduce_mean(
                tf.nn.softplus(-self.discriminator([x, c])) + tf.nn.softplus(self.discriminator([fake, c]))
            )
        dg = dt.gradient(d_loss, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(dg, self.discriminator.trainable_variables, strict=True))
        with tf.GradientTape() as gt:
            g_loss = tf.reduce_mean(tf.nn.softplus(-self.discriminator([self.generator([z, c]), c])))
        gg = gt.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(gg, self.generator.trainable_variables, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss, "g_grad_norm": tf.linalg.global_norm(gg)}


def _data(detector, n=16, seed=0):
    det = get_detector(detector)
    rng = np.random.default_rng(seed)
    x = rng.exponential(1.0, (n, *det.shower_shape)).astype(np.float32)
    lo = np.array([r[0] for r in det.condition_ranges], np.float32)
    hi = np.array([r[1] for r in det.condition_ranges], np.float32)
    c = (lo + (hi - lo) * rng.random((n, det.n_conditions))).astype(np.float32)
    return det, x, c


def _fake_observables(detector, showers, conditions):
    flat = showers.reshape(len(showers), -1)
    return {"total": flat.sum(axis=1), "max": flat.max(axis=1)}


def _fit(model, x, c, epochs, callbacks, initial_epoch=0):
    ds = tf.data.Dataset.from_tensor_slices((x, c, np.ones(len(x), np.float32))).batch(8)
    model.compile()
    return model.fit(ds, epochs=epochs, callbacks=callbacks, verbose=0, initial_epoch=initial_epoch)


def test_optimizers_of_finds_both_players():
    det, x, c = _data("rich-pid")
    gan = TinyGAN(det.shower_shape, det.n_conditions)
    gan.compile()
    opts = optimizers_of(gan)
    assert set(opts) == {"g_optimizer", "d_optimizer"}


def test_is_chief_from_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief()
    cluster = {"worker": ["a:1", "b:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not is_chief()


def test_shower_images_pair_shares_scale():
    det = get_detector("lhcb-ecal")
    real = np.zeros((2, 30, 30), np.float32)
    fake = np.zeros((2, 30, 30), np.float32)
    real[:, 3, 4] = 100.0
    fake[:, 3, 4] = 10.0
    imgs = shower_images(det, real, fake)
    assert imgs["showers/real"].shape == (2, 30, 30, 1)
    assert imgs["showers/real"][0, 3, 4, 0] == pytest.approx(1.0)
    assert imgs["showers/generated"][0, 3, 4, 0] == pytest.approx(np.log1p(10) / np.log1p(100))


def test_shower_images_cern_projections():
    det = get_detector("cern-ecal")
    real = np.zeros((1, 25, 25, 25), np.float32)
    real[0, 2, 7, 11] = 5.0  # x=2, y=7, layer=11
    imgs = shower_images(det, real, real)
    xy, xz = imgs["showers_xy/real"][0, :, :, 0], imgs["showers_xz/real"][0, :, :, 0]
    assert np.unravel_index(xy.argmax(), xy.shape) == (7, 2)  # rows = y, cols = x
    assert np.unravel_index(xz.argmax(), xz.shape) == (2, 11)  # rows = x, cols = layer


def test_checkpoint_and_run_record(tmp_path):
    det, x, c = _data("rich-pid")
    gan = TinyGAN(det.shower_shape, det.n_conditions)
    record = {"model": "tiny", "history": [], "epochs_done": 0}
    cbs = [EpochCheckpoint(tmp_path / "checkpoints", keep=2), RunRecord(tmp_path / "run.json", record)]
    _fit(gan, x, c, 3, cbs)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["epoch-0002.weights.h5", "epoch-0003.weights.h5"]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["epochs_done"] == 3
    assert [h["epoch"] for h in run["history"]] == [1, 2, 3]
    assert all(np.isfinite(h["g_loss"]) and np.isfinite(h["d_loss"]) for h in run["history"])
    # the last checkpoint restores the generator exactly
    other = TinyGAN(det.shower_shape, det.n_conditions)
    other.load_weights(tmp_path / "checkpoints" / "epoch-0003.weights.h5")
    for a, b in zip(gan.generator.weights, other.generator.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # optimizer state is part of the checkpoint
    assert int(other.g_optimizer.iterations.numpy()) == int(gan.g_optimizer.iterations.numpy()) == 6


def test_run_record_resume_truncates_history(tmp_path):
    det, x, c = _data("rich-pid")
    gan = TinyGAN(det.shower_shape, det.n_conditions)
    record = {"history": [{"epoch": i + 1, "g_loss": 0.0} for i in range(3)], "epochs_done": 3}
    gan._initial_epoch = 2  # what BackupAndRestore sets after restoring epoch 2
    _fit(gan, x, c, 4, [RunRecord(tmp_path / "run.json", record)])
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["epochs_done"] == 4
    assert [h["epoch"] for h in run["history"]] == [1, 2, 3, 4]
    assert run["history"][1]["g_loss"] == 0.0 and run["history"][2]["g_loss"] != 0.0


def test_backup_and_restore_resumes_from_saved_epoch(tmp_path):
    det, x, c = _data("rich-pid")

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("interrupted")

    gan = TinyGAN(det.shower_shape, det.n_conditions)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"), double_checkpoint=True)
    with pytest.raises(RuntimeError):
        _fit(gan, x, c, 4, [backup, Stop()])
    saved_iters = int(gan.g_optimizer.iterations.numpy())
    fresh = TinyGAN(det.shower_shape, det.n_conditions)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"), double_checkpoint=True)
    hist = _fit(fresh, x, c, 4, [backup])
    assert len(hist.history["g_loss"]) == 2  # epochs 3 and 4 only
    assert int(fresh.g_optimizer.iterations.numpy()) == saved_iters + 4


@pytest.mark.parametrize("detector", ["lhcb-ecal", "cern-ecal", "rich-pid"])
def test_tensorboard_summaries(tmp_path, detector):
    det, x, c = _data(detector, n=16)  # 2 batches per epoch
    gan = TinyGAN(det.shower_shape, det.n_conditions)
    tb = GANTensorBoard(
        tmp_path / "tb", det, x, c, config={"model": {"latent_dim": 3}}, n_images=2,
        update_freq=1, observables_fn=_fake_observables,
    )
    _fit(gan, x, c, 2, [tb])
    tags = summary_tags(tmp_path / "tb")
    scalars = read_scalars(tmp_path / "tb")
    for tag in ["losses/g_loss", "losses/d_loss", "gradients/g_grad_norm"]:
        assert [s for s, _ in scalars[tag]] == [1, 2]
        assert all(np.isfinite(v) for _, v in scalars[tag])
    assert scalars["gradients/g_grad_norm"][0][1] > 0
    assert [s for s, _ in scalars["batch_losses/g_loss"]] == [1, 2, 3, 4]
    assert scalars["learning_rate/g_optimizer"][0][1] == pytest.approx(1e-3)
    assert scalars["learning_rate/d_optimizer"][0][1] == pytest.approx(2e-3)
    assert tags["config"] == "text"
    for name in ["total", "max"]:
        assert tags[f"observables_{name}/real"] == "histograms"
        assert tags[f"observables_{name}/generated"] == "histograms"
        assert np.isfinite(scalars[f"observables_mean_shift/{name}"][0][1])
    if detector == "lhcb-ecal":
        assert tags["showers/real"] == tags["showers/generated"] == "images"
    elif detector == "cern-ecal":
        for tag in ["showers_xy/real", "showers_xz/generated", "showers_layer_profile"]:
            assert tags[tag] == "images"
    else:
        for name in det.shower_names:
            assert tags[f"showers_{name}/real"] == tags[f"showers_{name}/generated"] == "histograms"


def test_tensorboard_observable_histogram_values(tmp_path):
    """The real-observable histogram holds the right number of entries and range."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    det, x, c = _data("lhcb-ecal", n=8)
    gan = TinyGAN(det.shower_shape, det.n_conditions)
    tb = GANTensorBoard(tmp_path / "tb", det, x, c, observables_fn=_fake_observables)
    _fit(gan, x, c, 1, [tb])
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"tensors": 0})
    acc.Reload()
    buckets = tf.make_ndarray(acc.Tensors("observables_total/real")[0].tensor_proto)  # (k, 3)
    total = x.reshape(8, -1).sum(axis=1)
    assert buckets[:, 2].sum() == pytest.approx(8)
    assert buckets[0, 0] == pytest.approx(total.min(), rel=1e-5)
    assert buckets[-1, 1] == pytest.approx(total.max(), rel=1e-5)
