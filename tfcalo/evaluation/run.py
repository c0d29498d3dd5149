"""Evaluate a model on a dataset artifact into an evaluation directory.

The library behind ``tfcalo evaluate`` and the pipelines' evaluate component:
:func:`evaluate_to_dir` opens the model (:func:`tfcalo.export.sampling.load_sampler`: a trained run
directory, an ensemble or a SavedModel), generates showers for the conditions of the
dataset's test split, computes every metric and the blessing
(:func:`tfcalo.evaluation.validation.evaluate_arrays`), times generation, and writes the
report (:func:`tfcalo.evaluation.report.write_report`): ``metrics.json``, ``blessing.json``,
``plots/``, ``report.html`` and ``tensorboard/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfcalo.errors import ArtifactError, TfcaloError
from tfcalo.evaluation import validation as ev


def _require(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{what} {path} does not exist")
    return path


def load_embedding(regressor_path: str | Path) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``embed(showers, conditions) -> (N, D)`` from a regressor artifact (for FRD).

    Raises:
        ArtifactError: the artifact is missing or cannot be loaded (one sentence; a Keras
            file holding Python code is refused by Keras safe mode).
    """
    from tfcalo.models import regressor as reg

    path = _require(regressor_path, "regressor artifact")
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
        model: trained run directory, ensemble artifact or SavedModel directory.
        data: canonical dataset artifact directory (its ``test`` split is used).
        out_dir: directory to fill (created; files inside are overwritten).
        config: evaluation config (``limit`` caps the test showers, ``seed`` the noise).
        regressor: optional regressor artifact for the Frechet Regression Distance.
        provenance: extra provenance entries for the report.

    Returns:
        The :class:`tfcalo.evaluation.validation.EvaluationResult` (also written to
        ``out_dir``).

    Raises:
        ArtifactError: a missing input, a model of another detector than the data, or fewer
            than 2 test showers.

    Example:
        >>> cfg = load_config({"limit": 5000})                                # doctest: +SKIP
        >>> evaluate_to_dir("runs/sagan", "dataset", "eval", cfg).blessing   # doctest: +SKIP
    """
    from tfcalo.data.dataset import Dataset
    from tfcalo.evaluation import report
    from tfcalo.export.sampling import load_sampler, resolve_model

    model = resolve_model(model)
    data = _require(data, "dataset artifact")
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


__all__ = ["evaluate_to_dir", "load_embedding"]
