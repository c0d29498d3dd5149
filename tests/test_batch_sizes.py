"""Every generator returns (B, *shower_shape) for every batch size B >= 0 (issue 9, section 1).

Covered for each model family (2dgan, sagan, the Cramér GAN's convolutional and MLP
generators) and for AdaGAN mixtures of 2 and 3 members: in process (eager and inside a
tf.function), after export (both SavedModel signatures, reloaded with tf.saved_model.load)
and through ONNX (tf2onnx + onnxruntime). The mixture hands its members empty batches
(dynamic_partition); with oneDNN, Conv2D on an empty batch raises in eager mode and returns
the input's shape inside a tf.function, so nothing may depend on how a kernel treats an empty
tensor. Exports are shared across batch sizes (module-scoped cache): each costs seconds.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import keras  # noqa: E402

import tfcalo.training.build as builder  # noqa: E402
from tfcalo.detectors import get_detector  # noqa: E402
from tfcalo.export.onnx import convert_onnx  # noqa: E402
from tfcalo.export.savedmodel import verification_inputs, write_saved_model  # noqa: E402
from tfcalo.training import adagan  # noqa: E402

BATCH_SIZES = (0, 1, 2, 3, 7)
B_MAX = max(BATCH_SIZES)

_TINY = {
    "2dgan": {"latent_dim": 4, "generator": {"filters": 2},
              "discriminator": {"filters": 2, "hidden": 4}},
    "sagan": {"latent_dim": 4, "generator": {"filters": 2},
              "discriminator": {"filters": 2, "hidden": 4}},
    "2dgan-shape-energy": {"latent_dim": 4,
                           "generator": {"filters": 2, "output": "shape_energy", "sf_ref": 0.025},
                           "discriminator": {"filters": 2, "hidden": 4}},
    "2dgan-smooth-layers": {"latent_dim": 4,
                            "generator": {"filters": 2, "output": "shape_energy", "sf_ref": 0.025,
                                          "layer_model": "smooth", "upsampling": "resize"},
                            "discriminator": {"filters": 2, "hidden": 4}},
    "sagan-shape-energy": {"latent_dim": 4,
                           "generator": {"filters": 2, "output": "shape_energy", "sf_ref": 0.17,
                                         "slope_features": True},
                           "discriminator": {"filters": 2, "hidden": 4}},
    "cramer": {"latent_dim": 4, "generator": {"hidden": [8], "filters": 2},
               "discriminator": {"hidden": [8], "filters": 2, "critic_dim": 3}},
}
#: generator key -> (model name, detector); "cramer-conv" is the SAGAN generator without
#: attention, "mlp" the tabular MLPGenerator.
FAMILIES = {"2dgan": ("2dgan", "cern-ecal"), "sagan": ("sagan", "lhcb-ecal"),
            "sagan-shape-energy": ("sagan", "lhcb-ecal"),
            "2dgan-shape-energy": ("2dgan", "cern-ecal"),
            "2dgan-smooth-layers": ("2dgan", "cern-ecal"),
            "cramer-conv": ("cramer", "lhcb-ecal"), "mlp": ("cramer", "rich-pid")}
#: mixture key -> number of 2dgan members (the ensemble pipeline's mixture)
MIXTURES = {"mixture-2": 2, "mixture-3": 3}
KEYS = (*FAMILIES, *MIXTURES)


def _tiny_generator(name: str, detector: str, seed: int = 0, variant: str | None = None):
    return builder.build(name, detector, {**_TINY[variant or name], "seed": seed}, {}).generator


@functools.cache
def generator(key: str):
    """The tiny generator (or mixture) of ``key`` and its detector."""
    if key in FAMILIES:
        name, detector = FAMILIES[key]
        variant = key if key in _TINY else None
        return _tiny_generator(name, detector, variant=variant), get_detector(detector)
    members = [_tiny_generator("2dgan", "cern-ecal", seed=s) for s in range(MIXTURES[key])]
    betas = np.full(len(members), 1.0 / len(members))
    return adagan.MixtureGenerator(members, betas), get_detector("cern-ecal")


def inputs(key: str, b: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``b`` rows of fixed noise (B_MAX, latent_dim) and conditions (B_MAX, n_cond)."""
    gen, det = generator(key)
    noise, conditions = verification_inputs(det, int(gen.latent_dim), B_MAX)
    return noise[:b], conditions[:b]


@functools.cache
def reference(key: str) -> np.ndarray:
    """Eager output at B_MAX: the row-by-row truth for every smaller batch."""
    gen, _ = generator(key)
    return np.asarray(gen(list(inputs(key, B_MAX)), training=False))


def _check(got, key: str, b: int, atol: float = 1e-5) -> None:
    gen, det = generator(key)
    got = np.asarray(got)
    assert got.shape == (b, *det.shower_shape), f"{key} at B={b}: shape {got.shape}"
    expected = reference(key)[:b]
    np.testing.assert_allclose(got, expected, atol=atol + 1e-5 * np.abs(expected).max(initial=0))


# --------------------------------------------------------------------------- in process


@functools.cache
def traced(key: str):
    gen, det = generator(key)
    spec = [tf.TensorSpec((None, int(gen.latent_dim)), tf.float32),
            tf.TensorSpec((None, det.n_conditions), tf.float32)]
    return tf.function(lambda z, c: gen([z, c], training=False), input_signature=spec)


@pytest.mark.parametrize("b", BATCH_SIZES)
@pytest.mark.parametrize("key", KEYS)
def test_in_process_eager(key, b):
    gen, _ = generator(key)
    _check(gen(list(inputs(key, b)), training=False), key, b)


@pytest.mark.parametrize("b", BATCH_SIZES)
@pytest.mark.parametrize("key", KEYS)
def test_in_process_tf_function(key, b):
    _check(traced(key)(*inputs(key, b)), key, b)


class _ConvMember(keras.Model):
    """A member that is NOT a tfcalo GeneratorBase: Dense -> (5, 5, 2) -> Conv2D(3, 2) ->
    (B, 5, 5, 3). Its Conv2D receives whatever batch the mixture hands it."""

    def __init__(self, seed: int):
        super().__init__()
        self.latent_dim = 3
        init = keras.initializers.GlorotUniform(seed=seed)
        self.dense = keras.layers.Dense(50, kernel_initializer=init)
        self.conv = keras.layers.Conv2D(3, 2, padding="same", kernel_initializer=init,
                                        bias_initializer="ones")

    def call(self, inputs, training=False):
        noise, conditions = inputs
        x = self.dense(tf.concat([noise, conditions], -1))
        return self.conv(tf.reshape(x, (-1, 5, 5, 2)))


@pytest.mark.parametrize("n_members", [2, 3])
def test_mixture_guards_members_that_are_not_tfcalo_generators(n_members):
    """The mixture alone keeps empty partitions away from its members' kernels."""
    mix = adagan.MixtureGenerator([_ConvMember(s) for s in range(n_members)],
                                    [1.0 / n_members] * n_members)
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((B_MAX, mix.latent_dim)).astype("float32")
    cond = rng.uniform(size=(B_MAX, 1)).astype("float32")
    fn = tf.function(lambda z, c: mix([z, c]), input_signature=[
        tf.TensorSpec((None, mix.latent_dim)), tf.TensorSpec((None, 1))])
    full = np.asarray(mix([noise, cond]))
    for b in BATCH_SIZES:
        for call in (lambda z, c: mix([z, c]), fn):
            got = np.asarray(call(noise[:b], cond[:b]))
            assert got.shape == (b, 5, 5, 3)
            np.testing.assert_allclose(got, full[:b], atol=1e-6)


# --------------------------------------------------------------------------- exports


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """``export_dir(key)``: the key's SavedModel directory (written once per module)."""
    root = tmp_path_factory.mktemp("batch-exports")

    @functools.cache
    def get(key: str):
        gen, det = generator(key)
        path = root / key
        write_saved_model(gen, det, path)
        return path

    return get


@pytest.fixture(scope="module")
def loaded(export_dir):
    """``loaded(key)``: the reloaded SavedModel (tf.saved_model.load, no tfcalo needed)."""
    return functools.cache(lambda key: tf.saved_model.load(str(export_dir(key))))


@pytest.fixture(scope="module")
def onnx_session(export_dir):
    """``onnx_session(key)``: an onnxruntime session of the key's generate_from_noise."""
    ort = pytest.importorskip("onnxruntime")

    @functools.cache
    def get(key: str):
        path = export_dir(key).with_suffix(".onnx")
        convert_onnx(export_dir(key), path)
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    return get


@pytest.mark.parametrize("b", BATCH_SIZES)
@pytest.mark.parametrize("key", KEYS)
def test_saved_model_signatures(loaded, key, b):
    _, det = generator(key)
    model = loaded(key)
    noise, cond = inputs(key, b)
    out = model.signatures["generate_from_noise"](noise=tf.constant(noise),
                                                  conditions=tf.constant(cond))["showers"]
    _check(out, key, b)
    for seed in (-1, 5):
        showers = model.signatures["generate"](conditions=tf.constant(cond),
                                               seed=tf.constant(seed, tf.int64))["showers"]
        assert tuple(showers.shape) == (b, *det.shower_shape)
        assert np.isfinite(showers.numpy()).all()


@pytest.mark.parametrize("b", BATCH_SIZES)
@pytest.mark.parametrize("key", [*FAMILIES, "mixture-2"])  # mixture-3: the same graph ops
def test_onnx(onnx_session, key, b):
    session = onnx_session(key)
    noise, cond = inputs(key, b)
    feeds = {i.name: (noise if "noise" in i.name else cond) for i in session.get_inputs()}
    _check(session.run(None, feeds)[0], key, b, atol=1e-4)
