"""The generator's moment-matching loss: the features (layer profile or p_T-frame moments,
standardised deposit), the energy basis, the reduction's value and gradient against a
direct computation (weights of either sign), config errors, and training with it moves the
mean longitudinal profile to the real one where the adversarial terms alone do not. (1 vs 2 replicas: test_distribution.py.)"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfcalo import physics  # noqa: E402
from tfcalo.detectors import get_detector  # noqa: E402
from tfcalo.errors import ConfigError  # noqa: E402
from tfcalo.models.moments import (  # noqa: E402
    energy_basis,
    moment_feature_groups,
    moment_feature_weights,
    moment_features,
    transverse_widths,
)
from tfcalo.training.build import build  # noqa: E402
from tfcalo.training.objectives import MOMENT_SCALE_FLOOR, moment_matching_share  # noqa: E402

CURVE_STATS = {"observables": {"sampling_fraction": {"median": 0.025}},
               "sampling_fraction_curve": {"log_energy_gev": [np.log(2.0), np.log(500.0)],
                                           "sf_mean": [0.03, 0.02],
                                           "log_sf_spread": [0.2, 0.02]}}
SMOOTH = {"latent_dim": 4,
          "generator": {"filters": 2, "output": "shape_energy", "layer_model": "smooth",
                        "energy_head": "location_scale", "sf_reference": "curve"},
          "discriminator": {"filters": 2, "hidden": 4}}


def test_energy_basis_is_legendre_in_log_energy_over_the_detector_range():
    ep = tf.constant([[2.0], [np.sqrt(2.0 * 500.0)], [500.0], [1000.0]])
    from tfcalo.detectors import get_detector

    basis = energy_basis(get_detector("cern-ecal"), ep).numpy()
    np.testing.assert_allclose(basis[:, 0], 1.0)
    np.testing.assert_allclose(basis[:, 1], [-1.0, 0.0, 1.0, 1.0], atol=1e-6)  # clipped
    np.testing.assert_allclose(basis[:, 2], [1.0, -0.5, 1.0, 1.0], atol=1e-6)


def test_features_are_the_profiles_widths_and_the_deposit_in_units_of_the_resolution():
    gan = build("2dgan", "cern-ecal", SMOOTH, CURVE_STATS)
    rng = np.random.default_rng(0)
    showers = rng.random((3, 25, 25, 25)).astype("float32") ** 8  # uneven: widths differ
    ep = np.array([[2.0], [2.0], [500.0]], "float32")
    # deposits: on the curve, one resolution (20 %) above it at 2 GeV, 2 below at 500 GeV
    target = ep[:, 0] * np.array([0.03, 0.03, 0.02]) * np.exp([0.0, 0.2, -0.04])
    showers *= (target / showers.reshape(3, -1).sum(axis=1))[:, None, None, None]
    f = moment_features(gan.generator, tf.constant(showers), tf.constant(ep)).numpy()
    assert f.shape == (3, 25 + 2 + 2)
    np.testing.assert_allclose(f[:, :25], showers.sum(axis=(1, 2)) / target[:, None],
                               rtol=1e-4)
    np.testing.assert_allclose(f[:, 25:27], physics.widths(showers, "cern-ecal")[:, :2],
                               rtol=1e-4)
    np.testing.assert_allclose(f[:, 27], [0.0, 1.0, -2.0], atol=1e-3)
    np.testing.assert_allclose(f[:, 28], [0.0, 1.0, 4.0], atol=1e-3)
    # a generator making every cell (no reference deposit): the layer profile only
    cells = build("2dgan", "cern-ecal", {"latent_dim": 4, "generator": {"filters": 2},
                                         "discriminator": {"filters": 2, "hidden": 4}}, {})
    assert moment_features(cells.generator, tf.constant(showers), tf.constant(ep)).shape == (3, 27)


def test_transverse_widths_of_a_one_column_shower_are_near_zero_with_finite_gradients():
    """All energy in one (x, y) column: both widths ~0 (not NaN from a negative variance),
    and their gradient with respect to the cells is finite."""
    column = np.zeros((1, 25, 25, 25), "float32")
    column[0, 12, 7, :] = 1.0
    x = tf.constant(column)
    with tf.GradientTape() as tape:
        tape.watch(x)
        w = transverse_widths(x, get_detector("cern-ecal"))
        total = tf.reduce_sum(w)
    grad = tape.gradient(total, x).numpy()
    np.testing.assert_allclose(w.numpy(), 0.0, atol=1e-2)
    assert np.isfinite(grad).all()


def test_features_of_a_detector_without_layers_are_its_moments_in_the_pt_frame():
    """lhcb-ecal: width along / across p_T, skewness along p_T and the largest cell
    fraction, as tfcalo.physics computes them, for every direction (p_T = 0, px = 0, py = 0, oblique), finite and with
    finite gradients for a shower in one cell."""
    from tfcalo.physics import max_cell_fraction, pt_frame_moments

    gan = build("sagan", "lhcb-ecal", {"latent_dim": 3, "generator": {"filters": 2},
                                       "discriminator": {"filters": 2, "hidden": 4}}, {})
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:30, 0:30]
    cond = np.array([[0, 0, 0, 0.0, 0.0, 20], [0, 0, 0, 0.0, 2.0, 20], [0, 0, 0, 3.0, 0.0, 20],
                     [0, 0, 0, -1.0, 2.0, 20], [0, 0, 0, 2.0, 1.0, 20]], "float32")
    showers = []
    for i in range(5):  # tilted blobs with an exponential tail along +x
        cx, cy = 12 + rng.random() * 4, 13 + rng.random() * 3
        dx, dy = xx - cx, yy - cy
        img = np.exp(-0.5 * (dx ** 2 / (1.0 + i) + dy ** 2 / 2.0 - 0.6 * dx * dy / (1.5 + i)))
        img += 0.3 * np.exp(-np.abs(xx - cx - 2) / 3.0 - np.abs(yy - cy)) * (xx > cx)
        showers.append(1000.0 * img)
    showers = np.asarray(showers, "float32")
    f = moment_features(gan.generator, tf.constant(showers), tf.constant(cond)).numpy()
    assert f.shape == (5, 4)
    np.testing.assert_allclose(f[:, :3], pt_frame_moments(showers, cond, 2.0)[:, :3],
                               rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(f[:, 3], max_cell_fraction(showers), rtol=1e-4)
    assert abs(f[2, 2]) > 0.1 and f[2, 0] > f[2, 1]  # tail and extent along p_T = +x
    one = np.zeros((1, 30, 30), "float32")
    one[0, 10, 10] = 5.0
    x = tf.Variable(one)
    with tf.GradientTape() as tape:
        g = moment_features(gan.generator, x, tf.constant(cond[4:]))
        loss = tf.reduce_sum(g)
    assert np.all(np.isfinite(g.numpy())) and np.all(np.isfinite(tape.gradient(loss, x).numpy()))


def _direct(real, fake, basis, w, v=None):
    """The loss written out with numpy (float64); v: the features' weights."""
    real, fake, basis, w = (np.asarray(a, np.float64) for a in (real, fake, basis, w))
    v = np.ones(real.shape[1]) if v is None else np.asarray(v, np.float64)
    den = max(w.sum(), 0.1 * np.abs(w).sum())
    scale = np.maximum((np.abs(w)[:, None] * np.abs(real)).sum(0) / np.abs(w).sum(),
                       MOMENT_SCALE_FLOOR)
    m = np.einsum("i,ik,if->kf", w, basis, fake - real) / den / scale
    return (v * m ** 2).sum() / (v.sum() * len(m))


@pytest.mark.parametrize("weights", [[1.0, 1.0, 1.0, 1.0, 1.0], [1.0, -0.5, 2.0, 0.7, 1.3]])
@pytest.mark.parametrize("features", [None, [0.2, 0.2, 0.2, 0.2, 0.2, 1.0]])
def test_reduction_value_and_gradient_match_the_direct_computation(weights, features):
    from tfcalo.training.objectives import global_weight_sum

    rng = np.random.default_rng(1)
    real = (rng.random((5, 6)) * [1.0, 0.5, 0.1, 0.01, 0.001, 2.0]).astype("float32")
    fake = tf.Variable(rng.random((5, 6)).astype("float32"))
    basis = np.stack([np.ones(5), rng.uniform(-1, 1, 5), rng.uniform(-0.5, 1, 5)], 1)
    w = tf.constant(weights, tf.float32)
    with tf.GradientTape() as tape:
        share, value = moment_matching_share(tf.constant(real), fake,
                                             tf.constant(basis, tf.float32), w,
                                             global_weight_sum(w), features)
    grad = tape.gradient(share, fake).numpy()
    expected = _direct(real, fake.numpy(), basis, weights, features)
    np.testing.assert_allclose(float(value), expected, rtol=1e-4)
    np.testing.assert_allclose(float(share), expected, rtol=1e-4)  # one replica: the loss
    eps, numeric = 1e-3, np.zeros_like(grad)
    for i in range(5):
        for j in range(6):
            up, down = fake.numpy().astype(np.float64), fake.numpy().astype(np.float64)
            up[i, j] += eps
            down[i, j] -= eps
            numeric[i, j] = (_direct(real, up, basis, weights, features)
                             - _direct(real, down, basis, weights, features)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=2e-2, atol=1e-6)
    same, value0 = moment_matching_share(tf.constant(real), tf.constant(real),
                                         tf.constant(basis, tf.float32), w, global_weight_sum(w))
    assert float(value0) == 0.0 and float(same) == 0.0


def test_group_balance_weighs_each_group_of_features_alike():
    """cern-ecal, energy factorised: 25 layer fractions, 2 widths, 2 deposit columns; with
    "groups" each group's weights sum to 1, with "features" every column is 1."""
    gan = build("2dgan", "cern-ecal", SMOOTH, CURVE_STATS)
    assert moment_feature_groups(gan.generator) == [("layer_profile", 25),
                                                    ("transverse_widths", 2), ("deposit", 2)]
    v = moment_feature_weights(gan.generator, "groups")
    np.testing.assert_allclose([v[:25].sum(), v[25:27].sum(), v[27:].sum()], 1.0, rtol=1e-6)
    np.testing.assert_array_equal(moment_feature_weights(gan.generator, "features"), 1.0)
    with pytest.raises(ConfigError, match="objective.moment_balance"):
        build("2dgan", "cern-ecal", {**SMOOTH, "objective": {"moment_balance": "group"}},
              CURVE_STATS)


@pytest.mark.parametrize("model,detector,weight", [("cramer", "rich-pid", 1.0),
                                                   ("2dgan", "cern-ecal", -1.0)])
def test_moment_weight_needs_a_calorimeter_and_a_non_negative_value(model, detector, weight):
    with pytest.raises(ConfigError, match="objective.moment_weight"):
        build(model, detector, {"objective": {"moment_weight": weight}}, {})


def _real_showers(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Showers with a known longitudinal profile (a Gamma-like peak at layer 5) and Ep."""
    z = np.arange(25)
    profile = (z + 0.5) ** 2 * np.exp(-(z + 0.5) / 2.0)
    profile /= profile.sum()
    xy = np.exp(-0.5 * ((np.arange(25) - 12) / 1.5) ** 2)
    cell = xy[:, None, None] * xy[None, :, None] * profile[None, None, :]
    cell /= cell.sum()
    ep = np.exp(rng.uniform(np.log(10.0), np.log(100.0), n)).astype("float32")
    showers = cell[None] * (0.025 * ep)[:, None, None, None]
    return showers.astype("float32"), ep[:, None], profile


def _mean_layer_profile(gan, ep, rng) -> np.ndarray:
    z = rng.standard_normal((len(ep), gan.latent_dim)).astype("float32")
    showers = gan.generator([z, ep], training=False).numpy()
    p = showers.sum(axis=(1, 2))
    return (p / p.sum(axis=1, keepdims=True)).mean(axis=0)


@pytest.mark.timeout(300)
def test_training_with_moments_moves_the_mean_longitudinal_profile_to_the_data():
    """A smooth-layer 2DGAN starts with a flat longitudinal profile; 40 generator steps whose
    only shape signal is the moment loss bring its mean profile to the data's peaked one
    (L1 distance more than halved), while the same steps without it leave it flat."""
    rng = np.random.default_rng(0)
    real, ep, profile = _real_showers(64, rng)
    ds = tf.data.Dataset.from_tensor_slices((real, ep, np.ones(64, "float32"))).repeat(5)
    distances = {}
    for weight in (0.0, 300.0):
        cfg = {"latent_dim": 4, "optimizer": {"generator_lr": 0.02},
               "objective": {"adv_weight": 0.0, "moment_weight": weight},
               "generator": {"filters": 2, "output": "shape_energy", "layer_model": "smooth",
                             "sf_ref": 0.025},
               "discriminator": {"filters": 2, "hidden": 4}}
        gan = build("2dgan", "cern-ecal", cfg, {})
        gan.compile()
        before = np.abs(_mean_layer_profile(gan, ep, rng) - profile).sum()
        gan.fit(ds.batch(8), epochs=1, verbose=0)
        distances[weight] = (before, np.abs(_mean_layer_profile(gan, ep, rng) - profile).sum())
    before, after = distances[300.0]
    assert after < 0.5 * before, distances
    before0, after0 = distances[0.0]
    assert after0 > 0.8 * before0, distances


def test_sagan_on_lhcb_trains_with_moments_and_reduces_them():
    """The SAGAN with hinge loss and auxiliary regressor on lhcb-ecal (the g4 preset's
    recipe, tiny): its generator's moment loss (widths, skewness, deposit) is logged, finite,
    and falls when it is the only generator signal."""
    from tfcalo.data.simulate import simulate_chunks

    real = next(simulate_chunks("lhcb-ecal", 64, seed=3, chunk_size=64))
    stats = {"observables": {"sampling_fraction": {"median": 0.2}}}
    cfg = {"latent_dim": 4, "optimizer": {"generator_lr": 0.01},
           "objective": {"name": "hinge", "adv_weight": 0.0, "moment_weight": 100.0},
           "generator": {"filters": 2, "output": "shape_energy"},
           "discriminator": {"filters": 2, "hidden": 4,
                             "aux_targets": ["width_along_pt", "asymmetry_long"]}}
    gan = build("sagan", "lhcb-ecal", cfg, stats)
    gan.compile()
    ds = tf.data.Dataset.from_tensor_slices(
        (real["showers"], real["conditions"], np.ones(64, "float32"))).batch(16).repeat(8)
    history = gan.fit(ds, epochs=2, verbose=0).history["g_moments"]
    assert np.all(np.isfinite(history)) and history[1] < 0.5 * history[0], history
