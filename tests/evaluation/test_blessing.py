"""tfcalo.evaluation.blessing: the statistical critical values are what they claim (checked against
simulated null distributions), rules resolve to tolerance / critical value / cap, and the
per-bin errors that set the energy-bin critical values match the real scatter."""

from __future__ import annotations

import numpy as np
import pytest

from tfcalo.evaluation import blessing as B
from tfcalo.evaluation.validation import DEFAULT_THRESHOLDS, bless, energy_bin_metrics
from tfcalo.metrics import ks_statistic, mu90_sigma90, mu90_sigma90_rows, weighted_auc


def test_ks_critical_known_value_and_scaling():
    # the 5 % two-sample critical value at N = 1,000 per side is 1.358 sqrt(2/1000)
    assert B.ks_critical(1000, 1000, alpha=0.05) == pytest.approx(0.0607, abs=2e-4)
    assert B.ks_critical(4000, 4000, 0.05) == pytest.approx(B.ks_critical(1000, 1000, 0.05) / 2)
    # Bonferroni over 20 observables: the 0.25 % critical value of one
    assert B.ks_critical(1000, 1000, 0.05, n_tests=20) == pytest.approx(
        B.ks_critical(1000, 1000, 0.0025))


def test_ks_critical_matches_the_null_distribution():
    rng = np.random.default_rng(0)
    n = 400
    stats = np.array([ks_statistic(rng.normal(size=n), rng.normal(size=n))
                      for _ in range(1500)])
    rate = np.mean(stats > B.ks_critical(n, n, alpha=0.05))
    assert 0.025 < rate < 0.065  # asymptotic formula, slightly conservative at finite n


def test_auc_critical_matches_the_null_distribution():
    rng = np.random.default_rng(1)
    n1, n2 = 300, 500
    aucs = np.array([weighted_auc(rng.normal(size=n1), rng.normal(size=n2))
                     for _ in range(2000)])
    assert aucs.mean() == pytest.approx(0.5, abs=0.003)
    rate = np.mean(aucs > B.auc_critical(n1, n2, alpha=0.05))
    assert 0.035 < rate < 0.065


def test_kish_effective_size():
    assert B.kish(None, 7) == 7.0
    assert B.kish(np.ones(10), 10) == pytest.approx(10.0)
    assert B.kish(np.r_[np.ones(10), np.zeros(10)], 20) == pytest.approx(10.0)
    assert B.kish(np.r_[np.ones(10), -np.ones(5)], 15) == pytest.approx(25 / 15)


def test_resolve_tolerance_critical_cap():
    rule = B.Rule(0.03, cap=0.2)
    assert B.resolve("ks_max", rule, 0.01)[0] == 0.03  # a large sample: the tolerance
    value, how = B.resolve("ks_max", rule, 0.07)
    assert value == 0.07 and "statistical critical value" in how
    value, how = B.resolve("ks_max", rule, 0.5)  # a tiny sample: the cap still rejects
    assert value == 0.2 and "capped" in how
    assert B.resolve("prd_auc", B.Rule(0.6, statistical=False), 0.9)[0] == 0.6
    assert B.resolve("ks_max", 0.123, 0.5) == (0.123, "fixed (configured)")


def test_critical_values_use_effective_sizes():
    m = {"statistics": {"n_eff_real": 1000.0, "n_eff_generated": 1000.0, "n_observables": 1,
                        "classifier_auc_observables_test_sizes": [500.0, 500.0]}}
    crit = B.critical_values(m, alpha=0.05)
    assert crit["ks_max"] == pytest.approx(0.0607, abs=2e-4)
    assert crit["classifier_auc_observables"] == pytest.approx(
        0.5 + 1.6449 * np.sqrt(1001 / (12 * 500 * 500)), rel=1e-4)
    m["statistics"]["n_eff_real"] = 250.0  # sWeights: fewer effective showers, looser
    assert B.critical_values(m, alpha=0.05)["ks_max"] > crit["ks_max"]


def test_mu90_sigma90_rows_equals_the_loop():
    x = np.random.default_rng(2).gamma(3.0, 1.0, (6, 257))
    mu, sd = mu90_sigma90_rows(x)
    for i in range(6):
        np.testing.assert_allclose((mu[i], sd[i]), mu90_sigma90(x[i]), rtol=1e-12)


def _bins_once(rng, n, res_gen=0.05, scale=1.0, n_boot=60):
    e = np.exp(rng.uniform(np.log(10), np.log(40), 2 * n))
    sf = 0.2 * (1 + 0.05 * rng.standard_normal(2 * n))
    sf_g = 0.2 * scale * (1 + res_gen * rng.standard_normal(2 * n))
    return energy_bin_metrics(e[:n], sf[:n], e[n:], sf_g[n:], n_bins=2, min_count=5,
                              n_boot=n_boot, seed=int(rng.integers(1 << 30)))


def test_energy_bin_errors_match_the_scatter_of_repeated_samples():
    rng = np.random.default_rng(3)
    runs = [_bins_once(rng, 600) for _ in range(120)]
    for key in ("sf_ratio", "resolution_ratio"):
        values = np.array([r[key] for r in runs])
        errors = np.array([r[f"{key}_err"] for r in runs])
        np.testing.assert_allclose(errors.mean(axis=0), values.std(axis=0), rtol=0.2)
    # 300 showers per bin and 5 % spread: sqrt(2) 5 % / sqrt(300) = 0.41 %
    np.testing.assert_allclose(np.mean([r["sf_ratio_err"] for r in runs]), 0.0041, rtol=0.1)


@pytest.mark.parametrize("n", [60, 6000])
def test_resolution_off_by_half_fails_at_every_sample_size(n):
    rng = np.random.default_rng(4)
    eb = _bins_once(rng, n, res_gen=0.075)  # generated resolution 1.5 x the real one
    m = {"energy_bins": eb,
         "resolution_ratio_max_deviation": max(abs(r - 1) for r in eb["resolution_ratio"]),
         "resolution_ratio_mean_deviation": abs(np.expm1(np.mean(np.log(eb["resolution_ratio"]))))}
    rules = {k: DEFAULT_THRESHOLDS["lhcb-ecal"][k] for k in
             ("resolution_ratio_max_deviation", "resolution_ratio_mean_deviation")}
    res = bless(m, rules)
    assert not any(c["passed"] for c in res["checks"]), res["checks"]


def test_energy_scale_x105_fails_the_sampling_fraction_at_every_sample_size():
    for n in (60, 6000):
        eb = _bins_once(np.random.default_rng(5), n, scale=1.05)
        m = {"energy_bins": eb,
             "sf_ratio_max_deviation": max(abs(r - 1) for r in eb["sf_ratio"])}
        res = bless(m, {"sf_ratio_max_deviation": DEFAULT_THRESHOLDS["cern-ecal"][
            "sf_ratio_max_deviation"]})
        assert res["blessed"] is False, (n, res["checks"])
