"""tfcalo.evaluation.validation: metrics dict, energy bins, blessing, config and speed measurement.

The headline tests compare two halves of the Geant4 lhcb-ecal slice (ideal values, blessed)
and the same with the "generated" half's energy scaled by 1.1 (a broken generator: not
blessed). They need no model: the library takes arrays.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tfcalo.detectors import get_detector
from tfcalo.errors import ConfigError
from tfcalo.evaluation.validation import (
    DEFAULT_THRESHOLDS,
    GEANT4_MS_PER_SHOWER,
    EvaluateConfig,
    SpeedConfig,
    bless,
    energy_bin_metrics,
    evaluate_arrays,
    load_config,
    measure_speed,
    thresholds_for,
)

FAST = dict(threads=1, prd_runs=2, max_samples=1000)
N_HALF = 1000


def _lhcb_slice(shared_data, n):
    with h5py.File(shared_data / "g4_lhcb_ecal_train.h5", "r") as f:
        showers = f["EnergyDeposit"][:n].astype(np.float32)
        cond = np.hstack([f["ParticlePoint"][:n], f["ParticleMomentum"][:n]]).astype(np.float32)
    return showers, cond


@pytest.fixture(scope="module")
def halves(shared_data):
    s, c = _lhcb_slice(shared_data, 2 * N_HALF)
    return s[:N_HALF], c[:N_HALF], s[N_HALF:], c[N_HALF:]


@pytest.fixture(scope="module")
def ideal(halves):
    sr, cr, sg, cg = halves
    return evaluate_arrays("lhcb-ecal", sr, cr, sg, config=EvaluateConfig(**FAST),
                           gen_conditions=cg)


@pytest.fixture(scope="module")
def broken(halves):
    sr, cr, sg, cg = halves
    return evaluate_arrays("lhcb-ecal", sr, cr, sg * 1.1, config=EvaluateConfig(**FAST),
                           gen_conditions=cg)


def test_real_vs_real_gives_ideal_values_and_is_blessed(ideal):
    m = ideal.metrics
    assert m["prd_auc_raw"] > 0.95 and m["prd_auc_observables"] > 0.95
    assert m["prd_auc"] == min(m["prd_auc_raw"], m["prd_auc_observables"])
    assert abs(m["classifier_auc_observables"] - 0.5) < 0.06
    assert m["fpd"] < 1.0
    assert m["jsd_fidelity"] < 0.03
    assert m["ks_max"] < 0.08
    assert m["sf_ratio_max_deviation"] < 0.03
    assert ideal.blessing["blessed"] is True
    assert {c["metric"] for c in ideal.blessing["checks"]} == set(DEFAULT_THRESHOLDS["lhcb-ecal"])


def test_energy_scaled_generator_fails_blessing(ideal, broken):
    m = broken.metrics
    assert broken.blessing["blessed"] is False
    failed = {c["metric"] for c in broken.blessing["checks"] if not c["passed"]}
    assert {"sf_ratio_max_deviation", "ks_max", "classifier_auc_observables",
            "prd_auc"} <= failed
    # the sampling-fraction ratio is the scale factor times the real-vs-real ratio
    np.testing.assert_allclose(m["energy_bins"]["sf_ratio"],
                               1.1 * np.array(ideal.metrics["energy_bins"]["sf_ratio"]),
                               rtol=1e-6)
    # resolution is scale-free: the same as for the unscaled comparison
    np.testing.assert_allclose(m["energy_bins"]["resolution_ratio"],
                               ideal.metrics["energy_bins"]["resolution_ratio"], rtol=1e-6)
    assert m["fpd"] > 10 * max(ideal.metrics["fpd"], 0.1)
    assert m["classifier_auc_observables"] > 0.9


def test_metrics_dict_is_json_and_complete(ideal):
    m = json.loads(json.dumps(ideal.metrics))
    assert m["n_real"] == m["n_generated"] == N_HALF and m["weighted"] is False
    assert m["frd"] is None and m["classifier_auc_showers"] is None
    obs = m["observables"]
    assert "sampling_fraction" in obs and "asymmetry_long" in obs
    for v in obs.values():
        assert set(v) == {"ks", "w1", "w1_rel", "real_mean", "real_std", "gen_mean", "gen_std"}
    assert set(m["jsd_per_observable"]) == set(obs)
    eb = m["energy_bins"]
    assert len(eb["edges_gev"]) == EvaluateConfig().energy_bins + 1
    assert sum(eb["count_real"]) == N_HALF  # 2-100 GeV, 8 bins of ~125: none dropped
    # Geant4: sampling fraction 0.1755 and a resolution falling with energy
    np.testing.assert_allclose(eb["sf_real"], 0.1755, atol=0.003)
    assert eb["resolution_real"][0] > 2 * eb["resolution_real"][-1]
    for key in ("mean_real", "mean_gen"):
        assert ideal.plots[key].shape == (30, 30)
    assert ideal.plots["radial_real"].ndim == 1


def test_identical_samples_are_exact(halves):
    sr, cr, _, _ = halves
    res = evaluate_arrays("lhcb-ecal", sr[:300], cr[:300], sr[:300],
                          config=EvaluateConfig(**FAST, min_bin_count=5))
    m = res.metrics
    assert m["ks_max"] == 0.0 and m["w1_rel_max"] == 0.0 and m["jsd_fidelity"] == 0.0
    assert m["sf_ratio_max_deviation"] == 0.0 and m["resolution_ratio_max_deviation"] == 0.0
    assert m["prd_auc_raw"] > 0.99


def test_unit_weights_equal_unweighted(halves):
    sr, cr, sg, cg = halves
    cfg = EvaluateConfig(**FAST)
    a = evaluate_arrays("lhcb-ecal", sr[:300], cr[:300], sg[:300], None, cfg, gen_conditions=cg[:300])
    b = evaluate_arrays("lhcb-ecal", sr[:300], cr[:300], sg[:300], np.ones(300), cfg,
                        gen_conditions=cg[:300])
    assert a.metrics == b.metrics


def test_weighted_rich_pid_with_negative_sweights():
    """Weights change KS/W1 the way a reweighted sample should (rich-pid, no energy bins)."""
    rng = np.random.default_rng(0)
    n = 1500
    cond = np.column_stack([rng.uniform(2, 100, n), rng.uniform(2, 5, n),
                            rng.integers(10, 500, n)]).astype(np.float32)
    # real = signal (mean 0) + background (mean 3) with sWeights-like weights that cancel
    # the background; generated = signal only.
    is_bkg = rng.random(n) < 0.3
    real = rng.normal(0, 1, (n, 5)) + 3.0 * is_bkg[:, None]
    w = np.where(is_bkg, 0.0, 1.0) + rng.normal(0, 0.05, n)  # some slightly negative
    assert (w < 0).any()
    gen = rng.normal(0, 1, (n, 5))
    cfg = EvaluateConfig(**FAST)
    weighted = evaluate_arrays("rich-pid", real, cond, gen, w, cfg).metrics
    plain = evaluate_arrays("rich-pid", real, cond, gen, None, cfg).metrics
    assert weighted["weighted"] and not plain["weighted"]
    assert weighted["energy_bins"] is None and weighted["sf_ratio_max_deviation"] is None
    assert weighted["ks_max"] < 0.1 < plain["ks_max"]
    assert weighted["classifier_auc_observables"] < plain["classifier_auc_observables"]
    assert set(weighted["observables"]) == {"RichDLLe", "RichDLLmu", "RichDLLk", "RichDLLp",
                                            "RichDLLbt"}


def test_cern_ecal_profiles(shared_data):
    with h5py.File(shared_data / "g4_cern_ecal_train.h5", "r") as f:
        s = f["ECAL"][:400].astype(np.float32)
        e = f["energy"][:400].astype(np.float32)[:, None]
    res = evaluate_arrays("cern-ecal", s[:200], e[:200], s[200:],
                          config=EvaluateConfig(**FAST, energy_bins=4, min_bin_count=10),
                          gen_conditions=e[200:])
    p = res.plots
    assert p["mean_real"].shape == (25, 25, 25)
    assert p["longitudinal_real"].shape == (25,)
    np.testing.assert_allclose(p["longitudinal_real"].sum(), s[:200].sum() / 200, rtol=1e-5)
    eb = res.metrics["energy_bins"]
    assert 0.018 < min(eb["sf_real"]) and max(eb["sf_real"]) < 0.03  # README: 0.022-0.027


def test_energy_bin_metrics_known_answer():
    rng = np.random.default_rng(1)
    e = np.exp(rng.uniform(np.log(2), np.log(100), 4000))
    sf = 0.2 * (1 + 0.1 / np.sqrt(e) * rng.standard_normal(4000))
    out = energy_bin_metrics(e, sf, e, 1.05 * sf, n_bins=4, min_count=10)
    np.testing.assert_allclose(out["sf_ratio"], 1.05, rtol=1e-9)
    np.testing.assert_allclose(out["resolution_ratio"], 1.0, rtol=1e-9)
    np.testing.assert_allclose(out["edges_gev"][0], e.min())
    # relative resolution ~ 0.1/sqrt(E): falls with energy
    assert np.all(np.diff(out["resolution_real"]) < 0)
    # bins with too few showers are dropped
    few = energy_bin_metrics(e, sf, e[:30], sf[:30], n_bins=4, min_count=10)
    assert len(few["centre_gev"]) < 4


def test_bless_ops_and_missing_metric():
    m = {"prd_auc": 0.8, "fpd": 2.0, "frd": None}
    b = bless(m, {"prd_auc": 0.7, "fpd": 1.0})
    assert b["blessed"] is False
    by = {c["metric"]: c for c in b["checks"]}
    assert by["prd_auc"] == {"metric": "prd_auc", "value": 0.8, "threshold": 0.7, "op": ">=",
                             "passed": True, "critical": None, "how": "fixed (configured)"}
    assert by["fpd"]["op"] == "<=" and by["fpd"]["passed"] is False
    assert bless(m, {"prd_auc": 0.8})["blessed"] is True  # boundary passes
    assert bless(m, {"frd": 1.0})["blessed"] is False  # not computed: fails
    assert bless(m, {})["blessed"] is False  # nothing checked: not blessed


def test_config_validation():
    cfg = load_config({"seed": 3, "thresholds": {"fpd": 2}, "speed": {"batch_sizes": [1, 10],
                                                                       "repeats": [3, 1]}})
    assert cfg.seed == 3 and cfg.speed.batch_sizes == [1, 10]
    assert thresholds_for("lhcb-ecal", cfg)["fpd"] == 2.0
    assert thresholds_for("lhcb-ecal", cfg)["prd_auc"] == DEFAULT_THRESHOLDS["lhcb-ecal"]["prd_auc"]
    with pytest.raises(ConfigError, match="unknown config key 'max_sample'; did you mean 'max_samples'"):
        load_config({"max_sample": 10})
    with pytest.raises(ConfigError, match="'thresholds.prd_au'; did you mean 'thresholds.prd_auc'"):
        load_config({"thresholds": {"prd_au": 0.5}})
    with pytest.raises(ConfigError, match="'thresholds.fpd' must be a number"):
        load_config({"thresholds": {"fpd": "low"}})
    with pytest.raises(ConfigError, match="same length"):
        load_config({"speed": {"batch_sizes": [1, 100], "repeats": [1]}})
    with pytest.raises(ConfigError, match="same length"):
        SpeedConfig(batch_sizes=[1], repeats=[1, 2])
    with pytest.raises(ConfigError, match="positive"):
        load_config({"speed": {"batch_sizes": [0], "repeats": [1]}})
    with pytest.raises(ConfigError, match="'speed.enable'; did you mean 'speed.enabled'"):
        load_config({"speed": {"enable": False}})
    with pytest.raises(ConfigError, match="'bins' must be at least 1"):
        load_config({"bins": 0})


def test_mismatched_arrays_rejected(halves):
    sr, cr, sg, _ = halves
    with pytest.raises(ValueError, match="do not match"):
        evaluate_arrays("lhcb-ecal", sr[:10], cr[:9], sg[:10])


def test_measure_speed_protocol():
    calls = []

    def sample(cond, batch):
        calls.append((len(cond), batch))
        return np.zeros((len(cond), 30, 30), np.float32)

    cond = np.ones((7, 6), np.float32)
    out = measure_speed(sample, "lhcb-ecal", cond, SpeedConfig(batch_sizes=[1, 20], repeats=[3, 2]))
    # one warm-up call + the timed repeats, each with exactly `batch` conditions
    assert calls == [(1, 1)] * 4 + [(20, 20)] * 3
    assert set(out["batch"]) == {"1", "20"} and out["batch"]["20"]["repeats"] == 2
    g4 = GEANT4_MS_PER_SHOWER["lhcb-ecal"]["ms_per_shower"]
    assert out["geant4_ms_per_shower"] == g4 == 150.0
    for b, v in out["batch"].items():
        assert v["ms_per_shower"] > 0
        np.testing.assert_allclose(out["speedup"][b], g4 / v["ms_per_shower"])
    rich = measure_speed(sample, "rich-pid", np.ones((2, 3)), SpeedConfig(batch_sizes=[2], repeats=[1]))
    assert rich["geant4_ms_per_shower"] is None and rich["speedup"] == {}


def test_profile_deviations_measure_the_shape_in_the_bulk(shared_data):
    """Two halves of Geant4 cern-ecal showers agree within a few % in the bulk, and do so
    whatever their energy scale (x2: the profiles are normalised); the same showers 5 %
    wider (transversely stretched by one-pad shifts of 5 % of the energy) or one layer deeper
    do not."""
    from tfcalo.metrics.profiles import profile_deviations

    with h5py.File(shared_data / "g4_cern_ecal_train.h5", "r") as f:
        s = f["ECAL"][:800].astype(np.float32)
    real, other = s[:400], s[400:]
    same = profile_deviations(get_detector("cern-ecal"), real, other * 2.0)
    assert same["longitudinal_profile_max_deviation"] < 0.05
    assert same["radial_profile_max_deviation"] < 0.05
    deeper = np.roll(other, 1, axis=3)
    deeper[..., 0] = 0
    assert profile_deviations(get_detector("cern-ecal"), real, deeper)[
        "longitudinal_profile_max_deviation"] > 0.2
    wider = 0.9 * other + 0.05 * np.roll(other, 1, axis=1) + 0.05 * np.roll(other, -1, axis=1)
    assert profile_deviations(get_detector("cern-ecal"), real, wider)[
        "radial_profile_max_deviation"] > 0.05
    assert profile_deviations(get_detector("lhcb-ecal"), real[:0, 0], real[:0, 0]) == {}
