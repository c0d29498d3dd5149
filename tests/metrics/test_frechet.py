"""Fréchet distance against the closed form; FPD extrapolation; FRD."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from tfcalo.metrics import fpd, frd, frechet_distance, frechet_distance_gaussian


def test_closed_form_shifted_gaussians():
    # same covariance: d^2 = |mu1 - mu2|^2
    assert frechet_distance_gaussian([0, 0], np.eye(2), [3, 4], np.eye(2)) == pytest.approx(25.0)
    # 1D: (mu1-mu2)^2 + (s1 - s2)^2
    assert frechet_distance_gaussian([1.0], [[4.0]], [0.0], [[9.0]]) == pytest.approx(1 + 1)


def test_matches_scipy_sqrtm_on_random_covariances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    s1, s2 = a @ a.T + 0.1 * np.eye(8), b @ b.T + 0.1 * np.eye(8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance_gaussian(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)
    # symmetric in its arguments
    assert frechet_distance_gaussian(mu2, s2, mu1, s1) == pytest.approx(ref, rel=1e-8)


def test_samples_converge_to_closed_form_and_singular_is_stable():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200_000, 3))
    y = rng.normal(size=(200_000, 3)) * [1.0, 2.0, 1.0] + [1.0, 0.0, 0.0]
    assert frechet_distance(x, y) == pytest.approx(1.0 + 1.0, abs=0.03)
    # rank-deficient covariance (duplicated column) gives a finite, non-negative value
    xs = np.column_stack([x[:1000, 0], x[:1000, 0]])
    assert frechet_distance(xs, xs) == pytest.approx(0.0, abs=1e-6)
    assert frd(x[:5000], x[:5000]) == pytest.approx(0.0, abs=1e-9)


def test_fpd_extrapolates_to_zero_for_same_distribution():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(20_000, 4)) * [1, 10, 100, 1000]
    gen = rng.normal(size=(20_000, 4)) * [1, 10, 100, 1000]
    value, err = fpd(real, gen, min_samples=2_000, num_batches=5, num_points=5)
    assert value < 0.01 + 3 * err and err >= 0
    shifted = gen + [1.0, 0, 0, 0]  # one standard deviation on the first observable
    value, _ = fpd(real, shifted, min_samples=2_000, num_batches=5, num_points=5)
    assert value == pytest.approx(1.0, abs=0.1)


def test_fpd_is_unit_free_and_deterministic():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(6000, 3))
    gen = rng.normal(0.5, 1.2, size=(6000, 3))
    v1 = fpd(real, gen, min_samples=1000, num_batches=3, num_points=4, seed=7)
    v2 = fpd(real * 1000.0, gen * 1000.0, min_samples=1000, num_batches=3, num_points=4, seed=7)
    assert v1 == pytest.approx(v2, rel=1e-6)
    dict_real = {f"o{i}": real[:, i] for i in range(3)}
    dict_gen = {f"o{i}": gen[:, i] for i in range(3)}
    assert fpd(dict_real, dict_gen, min_samples=1000, num_batches=3, num_points=4, seed=7) == v1


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros((10, 2)), np.zeros((10, 3)))


def test_weighted_fits_equal_repetition_and_signed_weights_cancel():
    from tfcalo.metrics import gaussian_fit

    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 3))
    reps = rng.integers(1, 4, 50)
    mu_w, cov_w = gaussian_fit(x, reps)
    rep = np.repeat(x, reps, axis=0)
    np.testing.assert_allclose(mu_w, rep.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov_w, np.cov(rep.T, bias=True), rtol=1e-10)
    # a background entered with +1 and -1 weights on each side leaves the signals' distance
    sig_a, sig_b = rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)) + [0.5, 0.0]
    bkg = rng.normal(size=(1000, 2)) * 3 + [6.0, -6.0]
    a, b = np.vstack([sig_a, bkg, bkg]), np.vstack([sig_b, bkg[::-1], bkg[::-1]])
    w, ones = np.r_[np.ones(4000), np.ones(1000), -np.ones(1000)], np.ones(4000)
    signals = frechet_distance(sig_a, sig_b, ones, ones)  # weighted fits divide by sum(w)
    assert signals == pytest.approx(frechet_distance(sig_a, sig_b), rel=1e-3)
    assert frechet_distance(a, b, w, w) == pytest.approx(signals, rel=1e-9)
    assert frechet_distance(a, sig_b, w, ones) == pytest.approx(signals, rel=1e-9)
    assert frechet_distance(a, sig_b) > 10 * signals
    with pytest.raises(ValueError, match="must be positive"):
        gaussian_fit(x, -np.ones(50))


def test_fpd_weighted_both_sides():
    rng = np.random.default_rng(5)
    real_sig, gen_sig = rng.normal(size=(8000, 2)), rng.normal(size=(8000, 2))
    bkg_r, bkg_g = rng.normal(size=(3000, 2)) + 5.0, rng.normal(size=(3000, 2)) - 5.0
    real, gen = np.vstack([real_sig, bkg_r, bkg_r]), np.vstack([gen_sig, bkg_g, bkg_g])
    w = np.r_[np.ones(8000), np.ones(3000), -np.ones(3000)]
    kw = dict(min_samples=2_000, num_batches=5, num_points=4)
    both, err = fpd(real, gen, real_weights=w, gen_weights=w, **kw)
    one_side, _ = fpd(real, gen, real_weights=w, **kw)
    assert both < 0.05 + 3 * err
    assert one_side > 1.0
