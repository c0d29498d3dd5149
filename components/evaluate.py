"""The evaluate component: generate for the test split, compute every metric, report, bless.

Inputs: ``model`` (a trained run directory or SavedModel), ``data`` (canonical dataset
artifact) and optionally ``regressor`` (an energy regressor artifact; enables FRD).
Output: ``evaluation`` (type Evaluation: metrics.json, blessing.json, plots/, report.html,
tensorboard/); the export component reads its blessing.json. Parameters are the fields of
:class:`tfcalo.evaluation.EvaluateConfig`.

:func:`evaluate_to_dir` is the same work for the ``tfcalo evaluate`` command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfcalo import evaluation as ev
from tfcalo.errors import ArtifactError
from tfcalo.pipeline import Artifact, Component

VERSION = "1"


def _require(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{what} {path} does not exist")
    return path


def load_embedding(regressor_path: str | Path):
    """``embed(showers, conditions) -> (N, D)`` from a regressor artifact (for FRD)."""
    from tfcalo.errors import TfcaloError
    from tfcalo.models import regressor as reg

    path = _require(Path(regressor_path), "regressor artifact")
    try:
        return reg.load_embedding(path)
    except TfcaloError:
        raise
    except Exception as exc:  # a file we did not write: one sentence, no traceback
        text = str(exc).strip().splitlines()
        first = text[0][:200] if text else type(exc).__name__
        if "safe_mode" in str(exc) or "arbitrary code" in str(exc):
            raise ArtifactError(
                f"regressor artifact {path} contains Python code (e.g. a Lambda layer) that "
                "Keras safe mode refuses to load; use a regressor trained by tfcalo") from None
        raise ArtifactError(f"regressor artifact {path} could not be loaded ({first})") from None


def evaluate_to_dir(
    model: str | Path,
    data: str | Path,
    out_dir: str | Path,
    config: ev.EvaluateConfig,
    regressor: str | Path | None = None,
    provenance: dict | None = None,
) -> ev.EvaluationResult:
    """Generate for the test split of ``data`` with ``model``, evaluate, write the report.

    Args:
        model: trained run directory or SavedModel directory.
        data: canonical dataset artifact directory (its ``test`` split is used).
        out_dir: directory to fill (created; files inside are overwritten).
        config: evaluation config (``limit`` caps the test showers, ``seed`` the noise).
        regressor: optional regressor artifact for the Frechet Regression Distance.
        provenance: extra provenance entries for the report.

    Returns:
        The :class:`tfcalo.evaluation.EvaluationResult` (also written to ``out_dir``).
    """
    from tfcalo import report
    from tfcalo.data.dataset import Dataset
    from tfcalo.sampling import load_sampler

    model = _require(Path(model), "model path")
    data = _require(Path(data), "dataset artifact")
    dataset = Dataset.open(data)
    sampler = load_sampler(model)
    if sampler.detector.name != dataset.detector.name:
        raise ArtifactError(
            f"model {model} simulates {sampler.detector.name} but dataset {data} holds "
            f"{dataset.detector.name} showers"
        )
    test = dataset.load("test", limit=config.limit)
    if len(test["showers"]) < 2:
        raise ArtifactError(f"dataset {data} has fewer than 2 showers in its test split")
    real, cond, weights = test["showers"], test["conditions"], test["weights"]
    gen = sampler.sample(cond, seed=config.seed, batch_size=config.batch_size)
    embed = load_embedding(regressor) if regressor is not None else None
    result = ev.evaluate_arrays(sampler.detector, real, cond, gen, weights, config, embed)
    if config.speed.enabled:
        def sample(c: np.ndarray, batch: int) -> np.ndarray:
            return sampler.sample(c, seed=config.seed, batch_size=batch)

        result.metrics["speed"] = ev.measure_speed(sample, sampler.detector, cond,
                                                   config.speed)
    result.metrics["config"] = ev.config_dict(config)
    prov = {
        "model": str(model.resolve()),
        "model_kind": sampler.card.get("source", "savedmodel"),
        "model_name": sampler.card.get("model") or sampler.card.get("model_name"),
        "model_training_data_hash": sampler.card.get("training_data_hash"),
        "data": str(data.resolve()),
        "data_content_hash": getattr(dataset, "content_hash", None),
        "detector": sampler.detector.name,
        "test_showers": int(len(real)),
        "regressor": str(Path(regressor).resolve()) if regressor is not None else None,
        "seed": config.seed,
    }
    prov.update(provenance or {})
    report.write_report(out_dir, result, prov, bins=config.bins,
                        tensorboard=config.tensorboard)
    return result


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
