"""PRD curve / PRD-AUC known answers and invariances."""

from __future__ import annotations

import numpy as np
import pytest

from tfcalo.metrics import prd_auc, prd_auc_score, prd_curve, seed000_score
from tfcalo.metrics.prd import prd_from_histograms


def test_histogram_prd_known_answers():
    p = np.array([0.25, 0.25, 0.5])
    prec, rec = prd_from_histograms(p, p, num_angles=1001)
    assert prd_auc(prec, rec) == pytest.approx(1.0, abs=2e-3)
    prec, rec = prd_from_histograms(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert prd_auc(prec, rec) == 0.0
    # half overlap: Q = (0.5, 0.5, 0), P = (0, 0.5, 0.5): max precision = max recall = 0.5
    prec, rec = prd_from_histograms(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5]))
    assert prec.max() == pytest.approx(0.5, abs=1e-3) and rec.max() == pytest.approx(0.5, abs=1e-3)
    assert prd_auc(prec, rec) == pytest.approx(0.25, abs=2e-3)


def test_same_distribution_near_one_disjoint_zero():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3000, 20)), rng.normal(size=(3000, 20))
    assert prd_auc_score(a, b, num_runs=3) > 0.95
    assert prd_auc_score(a + 50.0, b, num_runs=3) == 0.0


def test_partial_mode_collapse_lowers_recall():
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=20, size=(4, 5))
    ref = centres[rng.integers(0, 4, 4000)] + rng.normal(size=(4000, 5))
    gen = centres[rng.integers(0, 2, 4000)] + rng.normal(size=(4000, 5))  # two modes only
    prec, rec = prd_curve(gen, ref, num_runs=3, num_clusters=8)
    assert prec.max() > 0.9 and 0.35 < rec.max() < 0.65
    assert 0.3 < prd_auc(prec, rec) < 0.7


def test_deterministic_and_accepts_dicts():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(500, 3)), rng.normal(0.3, 1, size=(500, 3))
    c1 = prd_curve(a, b, num_runs=2, seed=5)
    c2 = prd_curve(a, b, num_runs=2, seed=5)
    np.testing.assert_array_equal(c1[0], c2[0])
    da = {k: a[:, i] for i, k in enumerate("xyz")}
    db = {k: b[:, i] for i, k in enumerate("xyz")}
    np.testing.assert_array_equal(prd_curve(da, db, num_runs=2, seed=5)[0], c1[0])


def test_permutation_invariance_approximately():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2000, 4)), rng.normal(0.5, 1, size=(2000, 4))
    s1 = prd_auc_score(a, b, num_runs=5)
    s2 = prd_auc_score(a[rng.permutation(2000)], b[rng.permutation(2000)], num_runs=5)
    assert s1 == pytest.approx(s2, abs=0.03)


def test_feature_mismatch_raises():
    with pytest.raises(ValueError, match="features"):
        prd_curve(np.zeros((10, 3)), np.zeros((10, 4)))


def test_seed000_score_is_min_of_raw_and_observables():
    rng = np.random.default_rng(4)
    real = rng.gamma(2.0, 1.0, (1500, 6, 6))
    gen = rng.gamma(2.0, 1.0, (1500, 6, 6))
    real_obs = {"e": real.sum(axis=(1, 2)), "m": real.max(axis=(1, 2))}
    bad_obs = {"e": gen.sum(axis=(1, 2)) * 3.0, "m": gen.max(axis=(1, 2))}
    good = seed000_score(real, gen, real_obs, real_obs, num_runs=2)
    raw = prd_auc_score(gen, real, num_runs=2)
    assert good == pytest.approx(min(raw, 1.0), abs=0.02) and good > 0.9
    bad = seed000_score(real, gen, real_obs, bad_obs, num_runs=2)
    assert bad < 0.2  # the observables are off even though the raw cells look alike


def test_weighted_cluster_histograms_cancel_a_signed_background():
    rng = np.random.default_rng(6)
    sig_r, sig_g = rng.normal(size=(3000, 4)), rng.normal(size=(3000, 4))
    bkg = rng.normal(size=(1500, 4)) + 8.0
    ref = np.vstack([sig_r, bkg, bkg])
    w = np.r_[np.ones(3000), np.ones(1500), -np.ones(1500)]
    plain = prd_auc_score(sig_g, ref, num_runs=2)
    weighted = prd_auc_score(sig_g, ref, num_runs=2, ref_weights=w)
    assert plain < 0.7 and weighted > 0.9
    # weights on the evaluated (generated) side too
    gen = np.vstack([sig_g, bkg - 16.0, bkg - 16.0])
    both = prd_auc_score(gen, ref, num_runs=2, eval_weights=w, ref_weights=w)
    assert both > 0.9
    with pytest.raises(ValueError, match="same length"):
        prd_curve(gen, ref, num_runs=1, eval_weights=w[:10])
