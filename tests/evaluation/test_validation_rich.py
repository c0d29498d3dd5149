"""The rich-pid evaluation with sWeights: both sides weighted, conditions in the classifier.

The real sample is the RICH toy (kaon signal + pion background, sPlot sWeights from the mass
fit), whose kinematics depend on the species (kaons are harder), as in a D* calibration
sample. Generated DLLs are produced for EVERY real track, signal and background alike, so the
generated side must carry the same sWeights to describe the kaon population:

- a perfect generator (the toy's true kaon response at each track's kinematics) passes, with
  KS near its statistical floor (measured 0.010-0.018 per DLL at N = 20,000; comparing the
  sWeighted kaons with the unweighted generated sample instead gives KS(RichDLLbt) = 0.15);
- a generator that ignores the kinematics (kaon DLLs drawn from the marginal) has the right
  one-dimensional distributions (KS as small) but is caught by the classifier, which sees
  the conditions as features (measured AUC 0.77 vs 0.50 real vs real; 0.53 without them).
"""

from __future__ import annotations

import numpy as np
import pytest

from tfcalo import metrics as M
from tfcalo.data import richtoy
from tfcalo.evaluation.validation import EvaluateConfig, evaluate_arrays

N = 20_000
FAST = dict(threads=1, prd_runs=2)


@pytest.fixture(scope="module")
def toy() -> dict:
    real = richtoy.generate(N, seed=3)
    cond = real["conditions"]
    rng = np.random.default_rng(0)
    perfect = richtoy.dll_response(rng, np.full(N, richtoy.SIGNAL_PDG), cond.astype(np.float64))
    ref = richtoy.generate(4 * N, seed=4)
    kaons = ref["showers"][ref["extra"]["species"] == richtoy.SIGNAL_PDG]
    marginal = kaons[rng.integers(0, len(kaons), N)]
    assert (real["weights"] < 0).mean() > 0.2  # sWeights: many negative
    return {"dll": real["showers"], "cond": cond, "w": real["weights"],
            "species": real["extra"]["species"],
            "perfect": perfect.astype(np.float32), "marginal": marginal.astype(np.float32)}


def test_toy_kinematics_depend_on_the_species(toy):
    kaon = toy["species"] == richtoy.SIGNAL_PDG
    p = toy["cond"][:, 0]
    assert np.median(p[kaon]) > 1.5 * np.median(p[~kaon])


@pytest.fixture(scope="module")
def perfect(toy):
    return evaluate_arrays("rich-pid", toy["dll"], toy["cond"], toy["perfect"], toy["w"],
                           EvaluateConfig(**FAST))


def test_perfect_generator_passes_with_both_sides_weighted(toy, perfect):
    m = perfect.metrics
    assert m["weighted"] and m["weighted_generated"] and m["classifier_conditions"]
    ks = {k: v["ks"] for k, v in m["observables"].items()}
    assert max(ks.values()) < 0.035, ks
    assert m["classifier_auc_observables"] < 0.55, m["classifier_auc_observables"]
    for name, v in m["observables"].items():  # weighted moments agree on both sides
        assert abs(v["gen_mean"] - v["real_mean"]) < 0.05 * v["real_std"], (name, v)
        assert v["gen_std"] == pytest.approx(v["real_std"], rel=0.05), (name, v)
    assert m["jsd_fidelity"] < 0.01 and m["prd_auc"] > 0.9
    assert m["baseline"]["classifier_auc_observables"] < 0.56
    assert perfect.blessing["blessed"], perfect.blessing


def test_unweighted_generated_side_is_the_old_mismatch(toy):
    # The pre-fix comparison (sWeighted kaons vs generated DLLs of all tracks, unweighted):
    # the generated kinematics are those of kaons AND pions, and RichDLLbt shows it.
    res = evaluate_arrays("rich-pid", toy["dll"], toy["cond"], toy["perfect"], toy["w"],
                          EvaluateConfig(**FAST, baseline=False, weight_generated=False))
    m = res.metrics
    assert not m["weighted_generated"]
    assert m["observables"]["RichDLLbt"]["ks"] > 0.1
    # explicit generated weights are used as given
    explicit = evaluate_arrays("rich-pid", toy["dll"], toy["cond"], toy["perfect"], toy["w"],
                               EvaluateConfig(**FAST, baseline=False, weight_generated=False),
                               gen_weights=toy["w"]).metrics
    assert explicit["observables"]["RichDLLbt"]["ks"] < 0.035


def test_generator_ignoring_the_kinematics_is_caught_by_the_conditional_classifier(toy, perfect):
    res = evaluate_arrays("rich-pid", toy["dll"], toy["cond"], toy["marginal"], toy["w"],
                          EvaluateConfig(**FAST))
    m, perfect = res.metrics, perfect.metrics
    # every marginal distribution is right ...
    assert m["ks_max"] < 0.035, m["ks_max"]
    # ... but the DLLs do not follow p, eta, nTracks
    baseline = m["baseline"]["classifier_auc_observables"]
    assert m["classifier_auc_observables"] > baseline + 0.15, (m["classifier_auc_observables"],
                                                              baseline)
    assert m["classifier_auc_observables"] > perfect["classifier_auc_observables"] + 0.15
    checks = {c["metric"]: c["passed"] for c in res.blessing["checks"]}
    assert checks["classifier_auc_observables"] is False and not res.blessing["blessed"]
    # without the conditions as features the classifier cannot see it
    blind = M.classifier_auc_observables(toy["dll"], toy["marginal"], toy["w"],
                                         gen_weights=toy["w"])
    assert blind < 0.58
