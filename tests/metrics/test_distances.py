"""KS / W1 against scipy, weights, JSD and the fidelity score, mu90/sigma90, binned response."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tfcalo.errors import ConfigError
from tfcalo.metrics import (
    binned_response,
    compare_response,
    jsd,
    jsd_fidelity,
    ks_statistic,
    mu90_sigma90,
    wasserstein1,
)


@pytest.fixture
def samples():
    rng = np.random.default_rng(0)
    return rng.normal(size=700), rng.normal(0.3, 1.5, size=500)


def test_ks_w1_match_scipy_unweighted(samples):
    a, b = samples
    assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    assert wasserstein1(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-10)
    # symmetric in argument order
    assert ks_statistic(b, a) == pytest.approx(ks_statistic(a, b))
    assert wasserstein1(b, a) == pytest.approx(wasserstein1(a, b))


def test_weights_of_ones_equal_unweighted_and_match_scipy_weighted(samples):
    a, b = samples
    assert ks_statistic(a, b, np.ones(700), np.ones(500)) == ks_statistic(a, b)
    assert wasserstein1(a, b, np.ones(700), np.ones(500)) == pytest.approx(wasserstein1(a, b))
    wa = np.random.default_rng(1).uniform(0.1, 2, 700)
    assert wasserstein1(a, b, wa) == pytest.approx(
        stats.wasserstein_distance(a, b, wa, None), rel=1e-10)


def test_integer_weights_equal_repetition_and_negative_weights_cancel():
    a = np.array([0.0, 1.0, 2.0])
    b = np.array([0.5, 1.5])
    rep = np.array([0.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    assert ks_statistic(a, b, [1, 2, 3]) == pytest.approx(ks_statistic(rep, b))
    assert wasserstein1(a, b, [1, 2, 3]) == pytest.approx(wasserstein1(rep, b))
    # a "background" entry at 5 with +1 and -1 sWeights cancels exactly
    a2, w2 = np.r_[a, 5.0, 5.0], np.r_[1, 1, 1, 1.0, -1.0]
    assert wasserstein1(a2, b, w2) == pytest.approx(wasserstein1(a, b))
    assert ks_statistic(a2, b, w2) == pytest.approx(ks_statistic(a, b))


def test_distance_errors():
    with pytest.raises(ValueError, match="same length"):
        ks_statistic([1.0, 2.0], [1.0], wa=[1.0])
    with pytest.raises(ValueError, match="total weight"):
        wasserstein1([1.0, 2.0], [1.0], wa=[1.0, -1.0])


def test_jsd_known_values():
    assert jsd([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-12)  # normalised
    assert jsd([1, 0], [0, 1]) == pytest.approx(1.0)
    p, q = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    m = (p + q) / 2
    ref = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.log2(1 / m[0])
    assert jsd(p, q) == pytest.approx(ref)
    assert jsd(q, p) == pytest.approx(ref)
    with pytest.raises(ValueError, match="empty"):
        jsd([0, 0], [1, 1])


def test_jsd_fidelity_weighted_sum_and_errors():
    rng = np.random.default_rng(2)
    real = {"a": rng.normal(size=5000), "b": rng.normal(size=5000)}
    gen = {"a": rng.normal(size=5000), "b": rng.normal(5.0, 1.0, size=5000), "extra": np.ones(5000)}
    score, per = jsd_fidelity(real, gen)
    assert set(per) == {"a", "b"}
    assert per["a"] < 0.01 and per["b"] > 0.9
    assert score == pytest.approx((per["a"] + per["b"]) / 2)
    only_a, _ = jsd_fidelity(real, gen, weights={"a": 1.0})
    assert only_a == pytest.approx(per["a"])
    unit, _ = jsd_fidelity(real, gen, real_weights=np.ones(5000))
    assert unit == pytest.approx(score)
    with pytest.raises(ConfigError, match="'c'"):
        jsd_fidelity(real, gen, weights={"c": 1.0})


def test_mu90_sigma90():
    x = np.r_[np.arange(90, dtype=float), [1e6] * 10]  # 10 % outliers are dropped
    mu, sd = mu90_sigma90(x)
    assert mu == pytest.approx(44.5) and sd == pytest.approx(np.arange(90).std())
    g = np.random.default_rng(3).normal(2.0, 0.5, 200_000)
    mu, sd = mu90_sigma90(g)
    # core of a Gaussian: mean 2, sigma90 = 0.5 * 0.7906 (truncated at +-1.645 sigma)
    assert mu == pytest.approx(2.0, abs=0.01) and sd == pytest.approx(0.5 * 0.7906, rel=0.01)
    assert np.isnan(mu90_sigma90([])[0])


def test_binned_response():
    energy = np.array([5.0, 6.0, 15.0, 16.0, 17.0, 50.0])
    deposit = 0.2 * energy
    r = binned_response(energy, deposit, [0.0, 10.0, 20.0, 30.0])
    np.testing.assert_allclose(r["bin_centres"], [5, 15, 25])
    np.testing.assert_array_equal(r["n"], [2, 3, 0])
    np.testing.assert_allclose(r["sf_mean"][:2], [0.2, 0.2])
    np.testing.assert_allclose(r["resolution"][:2], [0.0, 0.0], atol=1e-12)
    assert np.isnan(r["mu90"][2])


def test_compare_response_ratios():
    rng = np.random.default_rng(3)
    e = rng.uniform(1.0, 30.0, 4000)
    sf = rng.normal(0.2, 0.01, 4000)
    c = compare_response(e, sf, e, 1.05 * sf, [0.0, 10.0, 20.0, 30.0])
    np.testing.assert_allclose(c["sf_ratio"], 1.05, rtol=1e-12)
    np.testing.assert_allclose(c["resolution_ratio"], 1.0, rtol=1e-9)
    expected_err = 1.05 * np.hypot(c["real"]["sf_err"] / c["real"]["sf_mean"],
                                   c["gen"]["sf_err"] / c["gen"]["sf_mean"])
    np.testing.assert_allclose(c["sf_ratio_err"], expected_err, rtol=1e-12)
    empty = compare_response(e, sf, e[:0], sf[:0], [0.0, 10.0])
    assert np.isnan(empty["sf_ratio"][0])


def test_both_sides_weighted_negative_sweights_cancel():
    # sPlot-like: each sample = its signal + a background entered once with +1 and once with
    # -1 weight (the net background is zero): the weighted ECDFs are the signals' ECDFs.
    rng = np.random.default_rng(4)
    sig_a, sig_b = rng.normal(size=400), rng.normal(0.2, 1.0, size=300)
    bkg_a, bkg_b = rng.normal(5.0, 1.0, size=200), rng.normal(-4.0, 1.0, size=150)
    a = np.r_[sig_a, bkg_a, bkg_a]
    b = np.r_[sig_b, bkg_b, bkg_b]
    wa = np.r_[np.ones(400), np.ones(200), -np.ones(200)]
    wb = np.r_[np.ones(300), np.ones(150), -np.ones(150)]
    assert ks_statistic(a, b, wa, wb) == pytest.approx(ks_statistic(sig_a, sig_b), abs=1e-12)
    assert wasserstein1(a, b, wa, wb) == pytest.approx(wasserstein1(sig_a, sig_b), rel=1e-9)
    # weighting only one side compares a signal with a signal + background mixture
    assert ks_statistic(a, b, wa, None) > ks_statistic(sig_a, sig_b) + 0.2
    with pytest.raises(ValueError, match="must be positive"):
        ks_statistic(a, b, wa, -wb)


def test_jsd_fidelity_weights_the_generated_histogram():
    rng = np.random.default_rng(5)
    real = {"x": rng.normal(size=5000)}
    bkg = rng.normal(4.0, 0.5, size=2000)
    gen = {"x": np.r_[rng.normal(size=5000), bkg, bkg]}
    wg = np.r_[np.ones(5000), np.ones(2000), -np.ones(2000)]
    weighted, _ = jsd_fidelity(real, gen, gen_weights=wg)
    plain, _ = jsd_fidelity(real, gen)
    assert weighted < 0.01 < 0.05 < plain
