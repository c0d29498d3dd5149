"""The export component: a trained run directory -> a verified SavedModel (+ optional ONNX).

Inputs: ``model`` (type ``Model``, a trained run directory) and optionally ``evaluation``
(type ``Evaluation``, a directory holding ``blessing.json`` and usually ``metrics.json``).
Output: ``saved_model`` (type ``SavedModel``): the directory of
:func:`tfcalo.export.export_generator` (saved_model.pb, variables/, model_card.json and, with
``onnx``, model.onnx). Parameters: ``force`` (export an unblessed model), ``onnx``.

:func:`run_export` is the same work as a plain function (used by ``tfcalo export``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfcalo.pipeline import Artifact, Component

VERSION = "1"


def run_export(model_path: str | Path, out_dir: str | Path,
               evaluation: str | Path | None = None, force: bool = False,
               onnx: bool = False, overwrite: bool = False) -> dict:
    """Export the generator of run directory ``model_path`` to ``out_dir``.

    Args:
        model_path: trained run directory (run.json + weights).
        out_dir: SavedModel output directory (written atomically; must be empty or missing
            unless ``overwrite``).
        evaluation: evaluation artifact directory whose blessing.json decides whether the
            model may be exported (no evaluation = not blessed).
        force: export even if not blessed (recorded in the model card).
        onnx: also write and check ``model.onnx``.
        overwrite: replace an earlier export in ``out_dir`` (never a directory that is not
            a tfcalo export, nor one that is, contains or lies inside an input).

    Returns:
        the model card dict.

    Raises:
        tfcalo.errors.NotBlessedError, ArtifactError, OutputExistsError (see
        :func:`tfcalo.export.export_run`).
    """
    from tfcalo.atomic import check_output
    from tfcalo.export import export_run

    # the output may not be, contain or lie inside an input; --overwrite only replaces an
    # earlier export (model_card.json + saved_model.pb), once the new one is verified
    check_output(out_dir, "export", [model_path, evaluation], overwrite)
    return export_run(model_path, out_dir, evaluation=evaluation, force=force, onnx=onnx,
                      overwrite=overwrite)


def card_properties(card: dict) -> dict:
    """The artifact properties recorded for a model card (small, JSON-able)."""
    onnx = card.get("onnx") or {}
    return {
        "detector": card["detector"],
        "latent_dim": card["latent_dim"],
        "blessed": bool(card["blessing"]["blessed"]),
        "forced": bool(card["blessing"].get("forced")),
        "verification_max_abs_diff": card["verification"]["max_abs_diff"],
        "onnx": bool(onnx),
        "onnx_max_abs_diff": onnx.get("max_abs_diff"),
        "training_data_hash": card.get("training_data_hash"),
    }


def executor(inputs: dict[str, Artifact], outputs: dict[str, Path],
             params: dict[str, Any]) -> dict[str, dict]:
    """Pipeline executor: export ``inputs["model"]`` into ``outputs["saved_model"]``."""
    evaluation = inputs.get("evaluation")
    card = run_export(inputs["model"].uri, outputs["saved_model"],
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
