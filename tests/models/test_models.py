"""tfcalo.models: network contracts, layers, transforms, spectral norm, config round trips.

The build API (config -> GAN) is tested in tests/training/test_build.py."""

from __future__ import annotations

import numpy as np
import pytest
from train_helpers import TINY_NETS, mid_range_conditions

tf = pytest.importorskip("tensorflow")

from tfcalo.detectors import get_detector  # noqa: E402
from tfcalo.errors import ConfigError  # noqa: E402
from tfcalo.models import layers as L  # noqa: E402
from tfcalo.training.build import build  # noqa: E402


def test_condition_normalization_known_answer():
    layer = L.ConditionNormalization(mean=[1.0, np.log(10.0)], std=[2.0, 1.0],
                                     log_columns=[False, True])
    out = layer(np.array([[5.0, 100.0]], "float32")).numpy()
    np.testing.assert_allclose(out, [[2.0, np.log(10.0)]], rtol=1e-6)
    # stats.json keys are optional; flat and nested forms are both read
    det = get_detector("lhcb-ecal")
    args = L.condition_norm_args(det, {"condition_mean": [1, 2, 3, 4, 5, 6]})
    assert args["mean"] == [1, 2, 3, 4, 5, 6] and args["std"][0] == 30.0
    nested = {"conditions": {n: {"mean": float(i), "std": 2.0} for i, n in enumerate(det.condition_names)}}
    assert L.condition_norm_args(det, nested)["std"] == [2.0] * 6
    ep = L.condition_norm_args(get_detector("cern-ecal"), {})
    assert ep["log_columns"] == [True]
    np.testing.assert_allclose(ep["mean"][0], np.log(np.sqrt(2.0 * 500.0)))


@pytest.mark.parametrize("mode", ["log", "power", "linear"])
def test_shower_transform_round_trip(mode):
    layer = L.ShowerTransform(mode=mode, scale=2.0, offset=0.5, power=0.85)
    x = np.array([[0.0, 0.1, 3.0, 250.0]], "float32")
    t = layer(x)
    np.testing.assert_allclose(layer.inverse(t).numpy(), x, rtol=1e-5, atol=1e-5)
    if mode == "log":
        np.testing.assert_allclose(t.numpy(), np.log1p(x / 2.0), rtol=1e-6)
    with pytest.raises(ConfigError, match="transform.mode"):
        L.ShowerTransform(mode="sqrt")


def test_transform_scale_from_stats():
    det = get_detector("lhcb-ecal")
    assert L.shower_transform_args(det, {"cell_max": 5000.0}, {"mode": "log"})["scale"] == 5.0
    assert L.shower_transform_args(det, {}, {"mode": "power", "power": 0.5})["scale"] == 1.0
    rich = L.shower_transform_args(get_detector("rich-pid"), {"shower_mean": [1] * 5}, {})
    assert rich["mode"] == "linear" and rich["offset"] == [1.0] * 5


def test_spectral_norm_unit_sigma_and_gradient():
    layer = L.SNDense(4)
    x = tf.random.stateless_normal((8, 6), (1, 2))
    layer(x)
    for _ in range(50):
        layer(x, training=True)
    sigma = np.linalg.svd(layer.normalized_kernel(False).numpy(), compute_uv=False)[0]
    assert abs(sigma - 1.0) < 1e-3
    kernel_before = layer.kernel.numpy().copy()
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer(x, training=True))
    assert tape.gradient(y, layer.kernel) is not None
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel_before)  # kernel never assigned
    conv = L.SNConv2D(3, 3, padding="same")
    assert conv(tf.ones((1, 5, 5, 2)), training=True).shape == (1, 5, 5, 3)


def test_self_attention_starts_as_identity():
    x = tf.random.stateless_normal((2, 4, 4, 8), (3, 4))
    layer = L.SelfAttention2D()
    np.testing.assert_allclose(layer(x).numpy(), x.numpy(), atol=1e-6)
    layer.gamma.assign(1.0)
    assert np.abs(layer(x).numpy() - x.numpy()).max() > 1e-3


def test_2dgan_views_are_inverse_permutations():
    from tfcalo.models.twod_gan import _VIEWS, _inverse_perm

    v = np.arange(2 * 3 * 4).reshape(1, 2, 3, 4)
    for perm in _VIEWS:
        p = np.transpose(v, (0, *(i + 1 for i in perm)))
        back = np.transpose(p, (0, *(i + 1 for i in _inverse_perm(perm))))
        np.testing.assert_array_equal(back, v)


@pytest.mark.parametrize("upsampling, periodic", [("transpose", True), ("resize", False)])
def test_2dgan_upsampling_checkerboard(upsampling, periodic):
    """A 2DGAN branch fed a constant 5x5 image: the published stride-3 and stride-2
    transposed convolutions (kernel 5, uneven overlap) print a periodic pattern on the 30x30
    feature maps' interior, which only a uniform last kernel would average away;
    nearest-neighbour upsampling + convolution keeps the interior constant."""
    gen = build("2dgan", "cern-ecal", {"latent_dim": 4, "generator": {
        "filters": 3, "upsampling": upsampling}}, {}).generator
    branch = gen.branches[0]
    x = np.ones((1, 5, 5, 5), "float32")
    branch(x, training=False)
    for layer in branch.layers[:-1]:  # positive kernels, no bias: the pattern is the overlap's
        if layer.weights and "conv" in layer.name:
            layer.set_weights([np.full(w.shape, 0.1, "float32") if w.ndim > 1
                               else np.zeros(w.shape, "float32") for w in layer.get_weights()])
        x = layer(x, training=False)
    assert x.shape == (1, 30, 30, 3)
    interior = x.numpy()[0, 10:20, 10:20, 0]
    spread = interior.std() / interior.mean()
    assert (spread > 0.05) if periodic else (spread < 1e-5), (upsampling, spread)
    with pytest.raises(ConfigError, match="generator.upsampling"):
        build("2dgan", "cern-ecal", {**TINY_NETS["2dgan"], "generator": {
            **TINY_NETS["2dgan"].get("generator", {}), "upsampling": "bilinear"}}, {})


def test_generator_get_config_round_trip():
    gan = build("cramer", "rich-pid", TINY_NETS["cramer"], {"shower_mean": [0, 1, 2, 3, 4]})
    g = gan.generator
    clone = type(g).from_config(g.get_config())
    c = mid_range_conditions(get_detector("rich-pid"))
    z = np.ones((3, g.latent_dim), "float32")
    clone([z, c])
    clone.set_weights(g.get_weights())
    np.testing.assert_allclose(clone([z, c]).numpy(), g([z, c]).numpy(), rtol=1e-6)


def test_spectral_norm_state_round_trips_through_saved_weights(tmp_path):
    # The power-iteration vector u is state: a resumed run must get it back.
    cfg = {"generator": {"filters": 8}, "discriminator": {"filters": 8, "hidden": 16}}
    a = build("sagan", "lhcb-ecal", {**cfg, "seed": 1}, {"max_cell": 9000.0})
    a.compile()
    det = get_detector("lhcb-ecal")
    x = np.random.default_rng(0).gamma(1.0, 50.0, (4, 30, 30)).astype("float32")
    for _ in range(3):  # training calls move u away from its initial value
        a.discriminator([x, mid_range_conditions(det, 4)], training=True)
    a.save_weights(tmp_path / "m.weights.h5")
    b = build("sagan", "lhcb-ecal", {**cfg, "seed": 2}, {"max_cell": 9000.0})
    b.compile()

    def sn_u(gan):
        return [v.numpy() for v in gan.discriminator.weights if "sn_u" in v.path]

    assert sn_u(a) and len(sn_u(a)) == len(sn_u(b))
    assert not all(np.array_equal(x, y) for x, y in zip(sn_u(a), sn_u(b), strict=True))
    b.load_weights(tmp_path / "m.weights.h5")
    for x, y in zip(sn_u(a), sn_u(b), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("mode", ["log", "power"])
def test_generated_energies_are_capped_at_ten_times_the_largest_cell(mode):
    t = L.ShowerTransform(**L.shower_transform_args(
        get_detector("lhcb-ecal"), {"max_cell": 500.0}, {"mode": mode}))
    out = np.asarray(t.inverse(np.array([[1e3, -1.0, 0.5]], "float32")))
    assert np.isfinite(out).all()
    assert out[0, 0] == pytest.approx(5000.0, rel=1e-4)
    assert out[0, 1] == pytest.approx(0.0, abs=1e-12)
