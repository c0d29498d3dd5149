"""The evaluate component: generate for the test split, compute every metric, report, bless.

Inputs: ``model`` (a trained run directory or SavedModel), ``data`` (canonical dataset
artifact) and optionally ``regressor`` (an energy regressor artifact; enables FRD).
Output: ``evaluation`` (type Evaluation: metrics.json, blessing.json, plots/, report.html,
tensorboard/); the export component reads its blessing.json. Parameters are the fields of
:class:`tfcalo.evaluation.validation.EvaluateConfig`. The work is
:func:`tfcalo.evaluation.run.evaluate_to_dir`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfcalo.engine.runner import Artifact, Component
from tfcalo.evaluation import validation as ev
from tfcalo.evaluation.run import evaluate_to_dir

VERSION = "1"


def _executor(inputs: dict[str, Artifact], outputs: dict[str, Path],
              params: dict[str, Any]) -> dict[str, dict]:
    config = ev.load_config(params)
    regressor = inputs.get("regressor")
    result = evaluate_to_dir(
        inputs["model"].uri, inputs["data"].uri, outputs["evaluation"], config,
        regressor=regressor.uri if regressor is not None else None,
        provenance={"model_fingerprint": inputs["model"].fingerprint,
                    "data_fingerprint": inputs["data"].fingerprint},
    )
    summary = {k: result.metrics.get(k) for k in ev.METRIC_OPS}
    return {"evaluation": {"metrics": summary, "blessed": result.blessing["blessed"]}}


#: The component (the ``regressor`` input is optional: leave it unconnected to skip FRD).
COMPONENT = Component(
    name="evaluate",
    version=VERSION,
    inputs={"model": "Model", "data": "Examples", "regressor": "Regressor?"},
    outputs={"evaluation": "Evaluation"},
    parameters=ev.config_dict(ev.EvaluateConfig()),
    executor=_executor,
)
