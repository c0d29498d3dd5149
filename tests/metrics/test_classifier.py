"""Classifier two-sample AUC: weighted AUC formula, separable vs identical, sWeights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tfcalo.metrics import classifier_auc_observables, classifier_auc_showers, weighted_auc


def test_weighted_auc_matches_sklearn_and_handles_ties():
    rng = np.random.default_rng(0)
    sp, sn = rng.normal(1, 1, 300), rng.normal(0, 1, 400)
    ref = roc_auc_score(np.r_[np.ones(300), np.zeros(400)], np.r_[sp, sn])
    assert weighted_auc(sp, sn) == pytest.approx(ref, abs=1e-12)
    w = rng.uniform(0.1, 2.0, 300)
    ref_w = roc_auc_score(np.r_[np.ones(300), np.zeros(400)], np.r_[sp, sn],
                          sample_weight=np.r_[w, np.ones(400)])
    assert weighted_auc(sp, sn, w) == pytest.approx(ref_w, abs=1e-12)
    assert weighted_auc([1.0, 1.0], [1.0]) == 0.5  # ties count one half
    assert weighted_auc(np.r_[sp, 9.0, 9.0], sn, np.r_[np.ones(300), 1.0, -1.0]) == \
        pytest.approx(weighted_auc(sp, sn))  # +1/-1 sWeights cancel exactly


def test_observables_auc_identical_vs_separable():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(1000, 3))
    same = rng.normal(size=(1000, 3))
    shifted = rng.normal(size=(1000, 3)) + [3.0, 0.0, 0.0]
    assert classifier_auc_observables(real, same) == pytest.approx(0.5, abs=0.07)
    assert classifier_auc_observables(real, shifted) > 0.95
    as_dict = {f"o{i}": real[:, i] for i in range(3)}
    gen_dict = {f"o{i}": shifted[:, i] for i in range(3)}
    assert classifier_auc_observables(as_dict, gen_dict) == \
        classifier_auc_observables(real, shifted)


def test_observables_auc_with_sweights_removes_background():
    """Real = signal + background with sPlot-like +/- weights; gen = signal only."""
    rng = np.random.default_rng(2)
    sig = rng.normal(size=(3000, 2))
    bkg = rng.normal(size=(3000, 2)) + [4.0, 0.0]
    # background enters twice: once with +1 and once with -1 weight -> net zero
    real = np.vstack([sig, bkg, bkg + rng.normal(scale=0.01, size=bkg.shape)])
    w = np.r_[np.ones(3000), np.ones(3000), -np.ones(3000)]
    gen = rng.normal(size=(3000, 2))
    unweighted = classifier_auc_observables(real, gen)
    weighted = classifier_auc_observables(real, gen, real_weights=w)
    assert unweighted > 0.7
    assert weighted == pytest.approx(0.5, abs=0.07)
    with pytest.raises(ValueError, match="positive weight"):
        classifier_auc_observables(real, gen, real_weights=-np.ones(len(real)))


def test_showers_auc_small_keras_network():
    rng = np.random.default_rng(3)
    real = rng.gamma(2.0, 1.0, (600, 6, 6)).astype(np.float32)
    same = rng.gamma(2.0, 1.0, (600, 6, 6)).astype(np.float32)
    hot = same.copy()
    hot[:, 2, 2] += 20.0
    assert classifier_auc_showers(real, hot) > 0.9
    assert classifier_auc_showers(real, same) == pytest.approx(0.5, abs=0.1)


def test_observables_auc_weights_the_generated_side_too():
    """Both samples carry sWeights (a generated example inherits its condition's weight)."""
    rng = np.random.default_rng(4)
    real = rng.normal(size=(3000, 2))
    bkg = rng.normal(size=(3000, 2)) + [4.0, 0.0]
    gen = np.vstack([rng.normal(size=(3000, 2)), bkg, bkg])
    wg = np.r_[np.ones(3000), np.ones(3000), -np.ones(3000)]
    assert classifier_auc_observables(real, gen) > 0.7  # the background is separable
    assert classifier_auc_observables(real, gen, gen_weights=wg) == pytest.approx(0.5, abs=0.07)
    with pytest.raises(ValueError, match="generated sample has no positive weight"):
        classifier_auc_observables(real, gen, gen_weights=-np.ones(len(gen)))


def test_observables_auc_with_conditions_catches_a_generator_that_ignores_them():
    rng = np.random.default_rng(5)
    n = 4000
    c_real, c_gen = rng.uniform(0, 1, (n, 1)), rng.uniform(0, 1, (n, 1))
    real = rng.normal(size=(n, 1)) + 6.0 * c_real          # x | c ~ N(6c, 1)
    gen = rng.normal(size=(n, 1)) + 6.0 * rng.uniform(0, 1, (n, 1))  # right marginal only
    good = rng.normal(size=(n, 1)) + 6.0 * c_gen
    assert classifier_auc_observables(real, gen) == pytest.approx(0.5, abs=0.05)
    assert classifier_auc_observables(real, gen, real_conditions=c_real,
                                      gen_conditions=c_gen) > 0.7
    assert classifier_auc_observables(real, good, real_conditions=c_real,
                                      gen_conditions=c_gen) == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="both samples or of neither"):
        classifier_auc_observables(real, gen, real_conditions=c_real)
