"""The evaluate component: declarations, a pipeline run (optional regressor left out, cache),
and parameter validation."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from tfcalo.components.evaluate import COMPONENT
from tiny_generators import TinyGenerator
from train_helpers import _toy_chunks

from tfcalo.engine.runner import Artifact, Component, Node, Pipeline, run_pipeline
from tfcalo.errors import ConfigError
from tfcalo.evaluation.validation import METRIC_OPS, EvaluateConfig

FAST = {"threads": 1, "prd_runs": 1, "energy_bins": 2, "min_bin_count": 5,
        "tensorboard": False, "speed": {"enabled": True, "batch_sizes": [1, 5],
                                        "repeats": [1, 1]}}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    from tfcalo.data.artifact import write_artifact
    from tfcalo.detectors import get_detector
    from tfcalo.export.savedmodel import build_card, write_saved_model

    root = tmp_path_factory.mktemp("src")
    ds = root / "ds"
    ds.mkdir()
    write_artifact(ds, _toy_chunks("lhcb-ecal", 80, 0), get_detector("lhcb-ecal"),
                   split=(0.5, 0.0, 0.5), seed=0, provenance={"source": "toy",
                                                              "source_sha256": "toy"})
    gen = TinyGenerator("lhcb-ecal", latent_dim=3, seed=2)
    sm = root / "sm"
    sm.mkdir()
    write_saved_model(gen, gen.detector, sm)
    (sm / "model_card.json").write_text(json.dumps(
        build_card(gen.detector, 3, training_data_hash="h", metrics={}, blessing=None)))
    return ds, sm


def _copier(name: str, kind: str, src) -> Component:
    def executor(inputs, outputs, params):
        shutil.copytree(src, outputs["out"], dirs_exist_ok=True)
        return {"out": {}}

    return Component(name, "1", {}, {"out": kind}, {}, executor)


def test_declarations():
    assert COMPONENT.name == "evaluate"
    assert COMPONENT.inputs == {"model": "Model", "data": "Examples", "regressor": "Regressor?"}
    assert COMPONENT.outputs == {"evaluation": "Evaluation"}
    assert set(COMPONENT.parameters) == {f.name for f in dataclasses.fields(EvaluateConfig)}
    json.dumps(COMPONENT.parameters)  # JSON-able defaults (they go into fingerprints)


def test_pipeline_run_without_regressor(sources, tmp_path):
    ds, sm = sources
    pipe = Pipeline("t", [
        Node("data", _copier("const-data", "Examples", ds)),
        Node("model", _copier("const-model", "Model", sm)),
        Node("evaluate", COMPONENT, FAST, {"model": ("model", "out"), "data": ("data", "out")}),
    ])
    result = run_pipeline(pipe, tmp_path / "root")
    assert all(n.status == "ran" for n in result.nodes.values()), result.status
    art = result.output("evaluate", "evaluation")
    assert art.type == "Evaluation"
    for name in ("metrics.json", "blessing.json", "report.html"):
        assert (art.uri / name).is_file()
    blessing = json.loads((art.uri / "blessing.json").read_text())
    metrics = json.loads((art.uri / "metrics.json").read_text())
    assert art.properties["blessed"] == blessing["blessed"]
    assert set(art.properties["metrics"]) == set(METRIC_OPS)  # flat: list_runs shows them
    assert art.properties["metrics"]["prd_auc"] == metrics["prd_auc"]
    assert metrics["n_real"] == 40 and set(metrics["speed"]["batch"]) == {"1", "5"}
    assert metrics["provenance"]["data_fingerprint"] == result.output("data", "out").fingerprint
    # a second run is served from the cache
    again = run_pipeline(pipe, tmp_path / "root")
    assert again.nodes["evaluate"].status == "cached"


def test_bad_parameter_is_config_error(sources, tmp_path):
    ds, sm = sources
    inputs = {"model": Artifact("Model", sm, {}, "m"), "data": Artifact("Examples", ds, {}, "d")}
    with pytest.raises(ConfigError, match="'speed.batch_sizes' and 'speed.repeats'"):
        COMPONENT.executor(inputs, {"evaluation": tmp_path},
                           {**COMPONENT.parameters, "speed": {"batch_sizes": [1]}})
    assert not any(tmp_path.iterdir())
