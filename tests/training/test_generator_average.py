"""The generator's weight average (optimizer.generator_ema): the average follows its momentum
step by step, training continues from the generator's own weights, model selection judges
the averaged weights, and bad momenta are config errors."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfcalo.training.build as builder  # noqa: E402
from tfcalo.errors import ConfigError  # noqa: E402
from tfcalo.training.selection import PhysicsSelection  # noqa: E402

RICH = {"latent_dim": 3, "generator": {"hidden": [8]},
        "discriminator": {"hidden": [8], "critic_dim": 3}}


class _Recorder(keras.callbacks.Callback):
    """The generator's own weights after every train step."""

    def __init__(self):
        super().__init__()
        self.steps: list[list[np.ndarray]] = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([v.numpy().copy() for v in self.model.generator.trainable_variables])


def _fit(ema: float, steps: int = 6):
    gan = builder.build("cramer", "rich-pid", {**RICH, "optimizer": {"generator_ema": ema,
                                                                      "generator_lr": 0.05}}, {})
    gan.compile()
    rng = np.random.default_rng(0)
    c = rng.uniform(1.0, 50.0, (8, 3)).astype("float32")
    s = rng.normal(size=(8, 5)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((s, c, np.ones(8, "float32"))).repeat(steps).batch(8)
    recorder = _Recorder()
    gan.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=[recorder])
    return gan, recorder.steps


def test_average_follows_its_momentum_and_training_keeps_its_own_weights():
    gan, steps = _fit(0.5)
    assert len(steps) == 6
    expected = steps[0]  # the first step's average is the weights themselves
    for w in steps[1:]:
        expected = [0.5 * a + 0.5 * x for a, x in zip(expected, w, strict=True)]
    own = [v.numpy().copy() for v in gan.generator.trainable_variables]
    with gan.averaged_generator() as generator:
        averaged = [v.numpy().copy() for v in generator.trainable_variables]
    for a, e in zip(averaged, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    assert max(np.abs(a - w).max() for a, w in zip(averaged, own, strict=True)) > 1e-3
    for v, w in zip(gan.generator.trainable_variables, own, strict=True):  # put back on exit
        np.testing.assert_array_equal(v.numpy(), w)
    np.testing.assert_array_equal(own[0], steps[-1][0])


def test_without_an_average_the_generator_is_unchanged():
    gan, steps = _fit(0.0, steps=2)
    with gan.averaged_generator() as generator:
        for v, w in zip(generator.trainable_variables, steps[-1], strict=True):
            np.testing.assert_array_equal(v.numpy(), w)


def test_selection_judges_and_keeps_the_averaged_generator(tmp_path):
    """The callback generates and saves inside the model's ``averaged_generator`` block."""
    from tfcalo.data.simulate import simulate_chunks

    real = next(simulate_chunks("lhcb-ecal", 200, seed=1, chunk_size=200))
    seen = []

    class Model:
        averaged = False
        generator = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])

        @contextlib.contextmanager
        def averaged_generator(self):
            Model.averaged = True
            yield self.generator
            Model.averaged = False

    def generate(c):
        seen.append(("generate", Model.averaged))
        return real["showers"]

    def save(path):
        seen.append(("save", Model.averaged))
        Model.generator.save_weights(path)

    cb = PhysicsSelection("lhcb-ecal", real["showers"], real["conditions"], tmp_path,
                          generate=generate, save=save)
    cb.set_model(Model())  # the callback only reads the attributes above
    cb.on_epoch_end(0, {})
    assert seen == [("generate", True), ("save", True)]


@pytest.mark.parametrize("ema", [1.0, -0.1])
def test_momentum_outside_0_1_is_a_config_error(ema):
    with pytest.raises(ConfigError, match="optimizer.generator_ema"):
        builder.build("cramer", "rich-pid", {**RICH, "optimizer": {"generator_ema": ema}}, {})
