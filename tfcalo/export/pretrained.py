"""The pretrained generators tfcalo ships as package data, ``tfcalo/pretrained/<name>/``.

A pretrained model is an ordinary tfcalo SavedModel export (``saved_model.pb``,
``variables/``, ``model_card.json`` with its content hash) plus, in ``validation/``, the
evaluation that justifies it: ``metrics.json``, ``blessing.json``, ``report.html`` and its
``plots/``. Its model card adds two entries to an export's:

- ``training``: ``{"pipeline", "preset", "seed", "data"}``: how to reproduce it
  (``tfcalo pipeline run <pipeline> --preset <preset> --data <data>``);
- ``speed`` (optional): generation speed measured by ``bench/bench_pretrained.py --record``.

:func:`install_pretrained` builds such a directory from a pipeline's export and evaluation;
:func:`pretrained_summaries` is what ``tfcalo models`` lists.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tfcalo.atomic import atomic_dir, atomic_write_text
from tfcalo.errors import ArtifactError, ConfigError

#: Where the pretrained models live: ``pretrained/<name>/`` holds a SavedModel export and its
#: validation report.
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
MODEL_CARD = "model_card.json"
SAVED_MODEL_PB = "saved_model.pb"
VALIDATION_DIR = "validation"
#: What of an evaluation directory is copied into ``validation/`` (not its TensorBoard log).
VALIDATION_FILES = ("metrics.json", "blessing.json", "report.html")
PLOTS_DIR = "plots"


def _root(root: str | Path | None) -> Path:
    return PRETRAINED_DIR if root is None else Path(root)


def is_saved_model_dir(path: str | Path) -> bool:
    """True if ``path`` looks like a tfcalo SavedModel (model_card.json + saved_model.pb)."""
    path = Path(path)
    return (path / MODEL_CARD).is_file() and (path / SAVED_MODEL_PB).is_file()


def pretrained_names(root: str | Path | None = None) -> list[str]:
    """Names of the pretrained models shipped with tfcalo (may be empty)."""
    root = _root(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if is_saved_model_dir(p))


def pretrained_path(name: str, root: str | Path | None = None) -> Path | None:
    """The directory of pretrained model ``name``, or None if there is no such model."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = _root(root) / name
    return path if is_saved_model_dir(path) else None


def is_pretrained(path: str | Path) -> bool:
    """True if ``path`` is a model directory inside the pretrained directory."""
    path = Path(path).resolve()
    return is_saved_model_dir(path) and path.parent == _root(None).resolve()


def _read_card(path: Path) -> dict:
    try:
        card = json.loads((path / MODEL_CARD).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path / MODEL_CARD} is not readable JSON ({exc})") from None
    if not isinstance(card, dict):
        raise ArtifactError(f"{path / MODEL_CARD} does not hold a JSON object")
    return card


def headline_metrics(metrics: dict) -> dict:
    """The few figures a physicist looks at first, from an evaluation's metrics.json:
    classifier AUC on observables, PRD-AUC (min of raw and observables), the worst energy
    bin's |sampling-fraction ratio - 1| and |resolution ratio - 1|, and the observables'
    largest KS distance (those present)."""
    keys = ("classifier_auc_observables", "prd_auc", "sf_ratio_max_deviation",
            "resolution_ratio_max_deviation", "ks_max")
    return {k: float(metrics[k]) for k in keys if isinstance(metrics.get(k), int | float)}


def install_pretrained(export_dir: str | Path, evaluation_dir: str | Path, name: str, *,
                       training: dict, root: str | Path | None = None,
                       overwrite: bool = False,
                       reports: dict[str, str | Path] | None = None) -> Path:
    """Make the export ``export_dir`` the pretrained model ``name`` (atomically).

    Args:
        export_dir: a tfcalo SavedModel export (``tfcalo export`` or a pipeline's export).
        evaluation_dir: the evaluation of that model on held-out data (``tfcalo evaluate``
            or a pipeline's evaluate component): metrics.json, blessing.json, report.html,
            plots.
        name: directory name under ``root`` (letters, digits, ``-``, ``_``, ``.``).
        training: how the model was made: ``pipeline``, ``preset``, ``seed`` and ``data``.
        root: the pretrained directory (default: tfcalo's package data).
        overwrite: replace an existing model of that name.
        reports: further report directories to ship, ``{subdirectory name: directory}``
            (e.g. ``{"ensemble_report": ...}``); copied without TensorBoard logs.

    Returns:
        The new model directory; its card carries ``training`` and the headline metrics.

    Raises:
        ConfigError: a bad name or a ``training`` entry missing.
        ArtifactError: ``export_dir`` is no export, ``evaluation_dir`` has no metrics.json
            or a report directory does not exist.
    """
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ConfigError(f"pretrained model name {name!r} must be letters, digits, - _ .")
    missing = [k for k in ("pipeline", "preset", "seed", "data") if k not in training]
    if missing:
        raise ConfigError(f"training record lacks {', '.join(missing)}")
    export_dir, evaluation_dir = Path(export_dir), Path(evaluation_dir)
    if not is_saved_model_dir(export_dir):
        raise ArtifactError(f"{export_dir} is not a tfcalo SavedModel export "
                            f"({MODEL_CARD} + {SAVED_MODEL_PB})")
    metrics_file = evaluation_dir / "metrics.json"
    if not metrics_file.is_file():
        raise ArtifactError(f"evaluation {evaluation_dir} has no metrics.json")
    reports = {k: Path(v) for k, v in (reports or {}).items()}
    for key, directory in reports.items():
        if not directory.is_dir():
            raise ArtifactError(f"report directory {directory} ({key}) does not exist")
        if key in (VALIDATION_DIR, "variables", "assets") or not key.replace("_", "").isalnum():
            raise ConfigError(f"report name {key!r} must be letters, digits and _ and not "
                              f"{VALIDATION_DIR}, variables or assets")
    metrics = json.loads(metrics_file.read_text())
    card = _read_card(export_dir)
    with atomic_dir(_root(root) / name, overwrite=overwrite) as tmp:
        for item in export_dir.iterdir():
            if item.name == MODEL_CARD:
                continue
            if item.is_dir():
                shutil.copytree(item, tmp / item.name)
            else:
                shutil.copy2(item, tmp / item.name)
        val = tmp / VALIDATION_DIR
        val.mkdir()
        for f in (evaluation_dir / n for n in VALIDATION_FILES):
            if f.is_file():
                shutil.copy2(f, val / f.name)
        if (evaluation_dir / PLOTS_DIR).is_dir():
            shutil.copytree(evaluation_dir / PLOTS_DIR, val / PLOTS_DIR)
        for key, directory in reports.items():
            shutil.copytree(directory, tmp / key, ignore=shutil.ignore_patterns("tensorboard"))
        card["name"] = name
        card["training"] = dict(training)
        card["headline_metrics"] = headline_metrics(metrics)
        card["validation"] = {"dir": VALIDATION_DIR,
                              "test_showers": (metrics.get("provenance") or {}).get(
                                  "test_showers")}
        if reports:
            card["reports"] = sorted(reports)
        atomic_write_text(tmp / MODEL_CARD, json.dumps(card, indent=2, sort_keys=True))
    return _root(root) / name


def record_speed(path: str | Path, speed: dict) -> None:
    """Write a speed measurement (``bench/bench_pretrained.py``) into the card at ``path``
    (the card is outside the content hash, so the export stays verifiable)."""
    path = Path(path)
    card = _read_card(path)
    card["speed"] = speed
    atomic_write_text(path / MODEL_CARD, json.dumps(card, indent=2, sort_keys=True))


def pretrained_summaries(root: str | Path | None = None) -> list[dict]:
    """One dict per shipped model: name, detector, blessed, training, headline metrics and
    showers/s at the largest measured batch (None where the card lacks it)."""
    out = []
    for name in pretrained_names(root):
        card = _read_card(_root(root) / name)
        speed = (card.get("speed") or {}).get("batches") or {}
        best = max(speed, key=int) if speed else None
        out.append({
            "name": name,
            "detector": card.get("detector"),
            "blessed": bool((card.get("blessing") or {}).get("blessed")),
            "training": card.get("training") or {},
            "metrics": card.get("headline_metrics") or {},
            "showers_per_s": (None if best is None
                              else (int(best), float(speed[best]["showers_per_s"]))),
        })
    return out


__all__ = ["PRETRAINED_DIR", "headline_metrics", "install_pretrained", "is_pretrained",
           "pretrained_names",
           "pretrained_path", "pretrained_summaries", "record_speed"]
