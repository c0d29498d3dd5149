"""The AdaGAN ensemble report (tfcalo.evaluation.ensemble_report) and its pipeline component.

Known answers on arrays (a "member" that is the real showers themselves has sampling-fraction
ratio 1 and the real PCA variances; one scaled by 1.1 has ratio 1.1 in every bin), then the
whole report from paths: two untrained tiny 2DGAN run directories (built and saved the way
``tfcalo.training.build.load_generator`` reads them: no training, so the file stays fast), ensembles
assembled with the ensemble component, and fake evaluation directories.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from tfcalo.components import ensemble_report as component
from train_helpers import TINY, _toy_chunks

from tfcalo.data.artifact import write_artifact
from tfcalo.data.dataset import Dataset
from tfcalo.detectors import get_detector
from tfcalo.engine.runner import Artifact
from tfcalo.errors import ArtifactError, ConfigError
from tfcalo.evaluation import ensemble_report as er
from tfcalo.training.adagan import assemble

T = 2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """cern-ecal simulated showers, half of them in the test split."""
    path = tmp_path_factory.mktemp("data") / "ds"
    path.mkdir()
    write_artifact(path, _toy_chunks("cern-ecal", 120, 0), get_detector("cern-ecal"),
                   split=(0.5, 0.0, 0.5), seed=0, provenance={"source": "toy:cern-ecal:120"})
    return path


@pytest.fixture(scope="module")
def test_split(dataset) -> dict:
    return Dataset.open(dataset).load("test")


def _tiny_run(out: Path, dataset: Path, seed: int, energy_scale: float = 1.0) -> Path:
    """An untrained tiny 2DGAN saved as a run directory (run.json + generator weights); its
    energies are multiplied by ``energy_scale`` (through the output transform's scale)."""
    from tfcalo.training import build as builder

    ds = Dataset.open(dataset)
    config = {**TINY["2dgan"], "seed": seed}
    gan = builder.build("2dgan", "cern-ecal", config, ds.stats)
    out.mkdir(parents=True)
    gan.generator.transform.scale.assign(gan.generator.transform.scale * energy_scale)
    gan.generator.save_weights(str(out / "generator.weights.h5"))
    (out / "run.json").write_text(json.dumps({
        "model": "2dgan", "detector": "cern-ecal", "config": config, "stats": ds.stats,
        "data": {"path": str(dataset), "content_hash": ds.content_hash}, "seed": seed,
        "finished": True}))
    return out


def _fake_evaluation(out: Path, prd_auc: float, fpd: float) -> Path:
    out.mkdir(parents=True)
    (out / "metrics.json").write_text(json.dumps({
        "prd_auc": prd_auc, "fpd": fpd, "fpd_error": 0.1, "jsd_fidelity": 0.3,
        "classifier_auc_observables": 0.9, "ks_max": 0.4, "frd": None, "blessed": False}))
    (out / "blessing.json").write_text(json.dumps({"blessed": False, "checks": [
        {"metric": "prd_auc", "value": prd_auc, "threshold": 0.5, "op": ">=", "passed": False}]}))
    return out


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, dataset) -> dict:
    root = tmp_path_factory.mktemp("ens")
    members = [_tiny_run(root / f"train-{t}", dataset, seed=t, energy_scale=1.0 + 9 * t)
               for t in range(T)]  # G1 deposits 10x G0's energy: their SFs differ
    ensembles = []
    for t in range(T):
        out = root / f"ensemble-{t}"
        out.mkdir()
        assemble(out, members[t], ensembles[-1] if ensembles else None, beta=1.0 / (t + 1))
        ensembles.append(out)
    evaluations = [_fake_evaluation(root / f"eval-{t}", 0.2 + 0.1 * t, 5.0 - t)
                   for t in range(T)]
    return {"members": members, "ensembles": ensembles, "evaluations": evaluations}


def _html_images(page: Path) -> list[str]:
    return re.findall(r"<img src='([^']+)'", page.read_text())


# -- arrays: known answers -----------------------------------------------------------------


def test_real_stand_in_has_unit_ratios_and_real_pca(tmp_path, test_split):
    real, cond = test_split["showers"], test_split["conditions"]
    page = er.report_from_arrays(tmp_path, "cern-ecal", real, cond,
                                 {"ensemble": real * 1.1, "G0": real, "G1": real * 1.1},
                                 betas={"G0": 0.5, "G1": 0.5}, min_bin_count=5)
    numbers = json.loads((tmp_path / er.SUMMARY_JSON).read_text())
    sfb = numbers["sampling_fraction"]
    assert sfb["centre_gev"], "some 10 GeV bin must hold 5 showers"
    assert all(c >= 5 for c in sfb["count"])
    np.testing.assert_allclose(sfb["sets"]["G0"]["ratio"], 1.0, rtol=1e-9)
    np.testing.assert_allclose(sfb["sets"]["G1"]["ratio"], 1.1, rtol=1e-6)
    assert numbers["sets"]["G0"]["sf_10gev_max_deviation"] == pytest.approx(0.0, abs=1e-9)
    assert numbers["sets"]["G1"]["sf_10gev_max_deviation"] == pytest.approx(0.1, rel=1e-5)
    # Profiles scale with the energy; the stand-in reproduces them exactly.
    for name in ("longitudinal", "radial", "transverse_x", "transverse_y"):
        assert numbers["sets"]["G0"][f"{name}_max_deviation"] == pytest.approx(0.0, abs=1e-12)
        assert numbers["sets"]["G1"][f"{name}_max_deviation"] == pytest.approx(0.1, rel=1e-5)
    # PCA: the real variances along the real components are sklearn's explained-variance
    # ratios, and the stand-in's are identical; the scaled set's differ.
    from sklearn.decomposition import PCA

    x = er.pca_features("cern-ecal", real)
    ref = PCA(n_components=len(numbers["pca"]["real"]["variance_fraction"]),
              random_state=0).fit(x).explained_variance_ratio_
    np.testing.assert_allclose(numbers["pca"]["real"]["variance_fraction"], ref, rtol=1e-6)
    assert numbers["pca"]["G0"] == numbers["pca"]["real"]
    assert numbers["sets"]["G0"]["pc1_ks"] == 0.0
    assert numbers["sets"]["G1"]["pca_variance_ratio_max_deviation"] > 0.0
    assert numbers["sets"]["G1"]["pc1_ks"] > 0.0
    assert numbers["sets"]["G0"]["beta"] == 0.5
    for src in _html_images(page):
        assert (tmp_path / src).is_file(), src


def test_sf_bins_fixed_width_and_min_count():
    e = np.array([2.0, 5.0, 9.9, 12.0, 15.0, 35.0])
    sf = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    out = er.sf_bins(e, sf, {"g": 2 * sf}, bin_width_gev=10.0, min_count=2)
    assert out["edges_gev"] == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert out["centre_gev"] == [5.0, 15.0]  # the 30-40 GeV bin has 1 shower
    np.testing.assert_allclose(out["sf_real"], [0.2, 0.45])
    np.testing.assert_allclose(out["sets"]["g"]["ratio"], [2.0, 2.0])
    assert out["sets"]["g"]["ratio_max_deviation"] == pytest.approx(1.0)
    empty = er.sf_bins(e, sf, {"g": sf}, min_count=10)
    assert empty["centre_gev"] == [] and empty["sets"]["g"]["ratio_max_deviation"] is None
    with pytest.raises(ConfigError, match="bin_width_gev"):
        er.sf_bins(e, sf, {}, bin_width_gev=0.0)


def test_report_without_populated_bins_says_so(tmp_path, test_split):
    real, cond = test_split["showers"][:12], test_split["conditions"][:12]
    page = er.report_from_arrays(tmp_path, "cern-ecal", real, cond, {"ensemble": real},
                                 min_bin_count=1000)
    assert "No 10 GeV bin holds 1000 real showers" in page.read_text()
    assert not (tmp_path / "plots" / "sampling_fraction.png").exists()


def test_tabular_detector_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="calorimeter"):
        er.report_from_arrays(tmp_path, "rich-pid", np.zeros((4, 5)), np.ones((4, 3)), {})


# -- metrics against T -------------------------------------------------------------------


def test_metrics_vs_t_series(artifacts):
    mvt = er.metrics_vs_t(artifacts["evaluations"], artifacts["ensembles"])
    assert mvt["T"] == [1, 2] and len(mvt["prefixes"]) == T
    assert mvt["series"]["prd_auc"] == pytest.approx([0.2, 0.3])
    assert mvt["series"]["fpd"] == [5.0, 4.0] and mvt["errors"]["fpd"] == [0.1, 0.1]
    assert "frd" not in mvt["series"]  # None in every prefix
    assert mvt["prefixes"][1]["betas"] == pytest.approx([0.5, 0.5])
    assert mvt["thresholds"]["prd_auc"] == {"threshold": 0.5, "op": ">="}


def test_metrics_vs_t_missing_metrics_json(tmp_path):
    (tmp_path / "eval").mkdir()
    with pytest.raises(ArtifactError, match="has no metrics.json"):
        er.metrics_vs_t([tmp_path / "eval"])
    (tmp_path / "eval" / "metrics.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not readable JSON"):
        er.metrics_vs_t([tmp_path / "eval"])


# -- the whole report from paths, and the component ------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory, dataset, artifacts) -> tuple[Path, dict]:
    comp = component.make_component(T)
    inputs = {"data": Artifact("Examples", dataset, {}, "d")}
    for t in range(T):
        inputs[f"ensemble_{t}"] = Artifact("Model", artifacts["ensembles"][t], {}, f"e{t}")
        inputs[f"member_{t}"] = Artifact("Model", artifacts["members"][t], {}, f"m{t}")
        inputs[f"evaluation_{t}"] = Artifact("Evaluation", artifacts["evaluations"][t], {},
                                             f"v{t}")
    out = tmp_path_factory.mktemp("report") / "report"
    out.mkdir()
    props = comp.executor(inputs, {"report": out},
                          {**comp.parameters, "min_bin_count": 5, "limit": 40})
    return out, props["report"]


def test_component_writes_the_report(executed, artifacts):
    out, props = executed
    page = out / er.REPORT_HTML
    text = page.read_text()
    images = _html_images(page)
    for src in images:
        assert (out / src).is_file(), src
    names = {Path(s).name for s in images}
    assert {"metric_vs_T_prd_auc.png", "metric_vs_T_fpd.png", "profile_longitudinal.png",
            "profile_radial.png", "pca_components.png", "pca_variance.png"} <= names
    assert "sampling_fraction.png" in names
    mvt = json.loads((out / er.METRICS_VS_T).read_text())
    assert len(mvt["prefixes"]) == T and mvt["T"] == [1, 2]
    numbers = json.loads((out / er.SUMMARY_JSON).read_text())
    assert set(numbers["sets"]) == {"real", "ensemble", "G0", "G1"}
    assert numbers["n_real"] == 40
    assert [numbers["sets"][f"G{t}"]["beta"] for t in range(T)] == pytest.approx([0.5, 0.5])
    assert "G1" in text and "0.5" in text
    # The ensemble is the 0.5/0.5 mixture of its members (G1 deposits 10x G0's energy): its
    # sampling fraction is the mean of theirs. With 40 showers the ratio has a ~15 %
    # statistical error; an ensemble of G0 alone would give 2/11 = 0.18,
    # of G1 alone 20/11 = 1.8.
    sfs = numbers["sampling_fraction"]["sets"]
    ens, g0, g1 = (np.array(sfs[k]["sf"]) for k in ("ensemble", "G0", "G1"))
    assert np.all(g1 / g0 > 5)
    n = np.array(numbers["sampling_fraction"]["count"])
    ratio = np.sum(n * ens) / np.sum(n * (g0 + g1) / 2)  # all bins: ~15 % statistical error
    assert 0.6 < ratio < 1.5, ratio
    # Untrained generators are far from real: the PCs of the real set match themselves only.
    assert numbers["sets"]["real"]["pc1_ks"] == 0.0
    assert numbers["sets"]["ensemble"]["pc1_ks"] > 0.3
    # Properties: the series and a few flat numbers for `tfcalo pipeline runs`.
    assert props["metrics_vs_T"]["prd_auc"] == pytest.approx([0.2, 0.3])
    flat = props["metrics"]
    assert flat["T"] == T and flat["prd_auc_T1"] == pytest.approx(0.2)
    assert flat["prd_auc_T2"] == pytest.approx(0.3) and flat["fpd_T2"] == 4.0
    assert all(isinstance(v, int | float) for v in flat.values())
    json.dumps(props)


def test_report_input_errors(tmp_path, dataset, artifacts):
    ens, mem, evs = artifacts["ensembles"], artifacts["members"], artifacts["evaluations"]
    with pytest.raises(ConfigError, match="one evaluation per generator"):
        er.ensemble_report(tmp_path / "a", dataset, ens, mem, evs[:1])
    with pytest.raises(ConfigError, match="limit"):
        er.ensemble_report(tmp_path / "b", dataset, ens, mem, evs, limit=1)
    with pytest.raises(ArtifactError, match="does not exist"):
        er.ensemble_report(tmp_path / "c", tmp_path / "nowhere", ens, mem, evs)
    with pytest.raises(ArtifactError, match="has 2 members but 1 member runs"):
        er.ensemble_report(tmp_path / "d", dataset, ens[1:], mem[:1], evs[:1])


def test_component_factory_and_pipeline_wiring():
    comp = component.make_component(3)
    assert comp.name == "ensemble-report" and comp.version == "1"
    assert comp.outputs == {"report": "Report"}
    assert comp.inputs["data"] == "Examples" and comp.inputs["evaluation_2"] == "Evaluation"
    assert comp.inputs["ensemble_0"] == comp.inputs["member_2"] == "Model"
    assert len(comp.inputs) == 1 + 3 * 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="at least one generator"):
            component.make_component(bad)

    from tfcalo.pipelines import build
    from tfcalo.pipelines.config import resolve_config

    cfg = resolve_config("ensemble", "quick", None, ["ensemble.members=3",
                                                     "evaluate.limit=50"], None)
    node = next(n for n in build("ensemble", cfg).nodes if n.id == "ensemble-report")
    assert node.inputs["data"] == ("ingest", "examples")
    for t in range(3):
        assert node.inputs[f"ensemble_{t}"] == (f"ensemble-{t}", "ensemble")
        assert node.inputs[f"member_{t}"] == (f"train-{t}", "model")
        assert node.inputs[f"evaluation_{t}"] == (f"evaluate-ensemble-{t}", "evaluation")
    assert node.params["limit"] == 50


def test_curves_with_ratio_errors_and_off_scale(tmp_path):
    """Error bars propagate into the ratio; off-scale and infinite ratios do not break the plot."""
    from tfcalo.evaluation.plots import pyplot, ratio_limits, ratio_with_errors

    x = np.array([5.0, 15.0, 25.0])
    real, gen = np.array([0.02, 0.02, 0.0]), np.array([0.2, 0.021, 0.1])
    e_real, e_gen = np.full(3, 0.001), np.full(3, 0.01)
    curves = {"real": real, "ensemble": gen}
    er._curves_with_ratio(pyplot(), tmp_path / "c.png", x, curves, "E [GeV]", "sf", "t",
                          errors={"real": e_real, "ensemble": e_gen})
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    ratio, err = ratio_with_errors(gen, e_gen, real, e_real)
    assert ratio[0] == pytest.approx(10.0) and ratio[2] == np.inf
    assert err[1] == pytest.approx(1.05 * np.hypot(0.01 / 0.021, 0.05))
    assert ratio_limits([ratio]) == (0.0, 3.0)
