"""The export component: a trained run directory -> a verified SavedModel (+ optional ONNX).

Inputs: ``model`` (type ``Model``, a trained run directory) and optionally ``evaluation``
(type ``Evaluation``, a directory holding ``blessing.json`` and usually ``metrics.json``).
Output: ``saved_model`` (type ``SavedModel``): the directory of
:func:`tfcalo.export.savedmodel.export_run` (saved_model.pb, variables/, model_card.json and,
with ``onnx``, model.onnx). Parameters: ``force`` (export an unblessed model), ``onnx``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfcalo.engine.runner import Artifact, Component
from tfcalo.export.savedmodel import card_properties, export_run

VERSION = "1"


def executor(inputs: dict[str, Artifact], outputs: dict[str, Path],
             params: dict[str, Any]) -> dict[str, dict]:
    """Pipeline executor: export ``inputs["model"]`` into ``outputs["saved_model"]``."""
    evaluation = inputs.get("evaluation")
    card = export_run(inputs["model"].uri, outputs["saved_model"],
                      evaluation=evaluation.uri if evaluation is not None else None,
                      force=bool(params.get("force", False)),
                      onnx=bool(params.get("onnx", False)), overwrite=True)
    return {"saved_model": card_properties(card)}


COMPONENT = Component(
    name="export",
    version=VERSION,
    inputs={"model": "Model", "evaluation": "Evaluation"},
    outputs={"saved_model": "SavedModel"},
    parameters={"force": False, "onnx": False},
    executor=executor,
)
