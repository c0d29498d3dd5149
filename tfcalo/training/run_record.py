"""The run record: ``run.json`` of a trained run directory, its schema and its one reader.

A trained run directory (:func:`tfcalo.training.run.train_run`) holds ``run.json``, a JSON
object rewritten after every epoch. The keys this code base writes:

- ``model`` (str): ``2dgan``, ``sagan``, ``cramer``, or ``ensemble`` for an AdaGAN ensemble
  artifact (the ensemble component; its members and betas are in ``ensemble.json``, see
  :mod:`tfcalo.training.adagan`);
- ``detector`` (str): detector name (:func:`tfcalo.detectors.get_detector`);
- ``config`` (dict): the full resolved model config (:mod:`tfcalo.training.build`);
- ``stats`` (dict): the training dataset's stats.json;
- ``data`` (dict): ``path`` and ``content_hash`` of the training dataset artifact (the
  training-data fingerprint: :func:`data_hash`);
- ``seed``, ``latent_dim``, ``weights``, ``weighting``, ``batch_size``, ``steps_per_epoch``,
  ``epochs``, ``epochs_done``, ``history`` (one dict per epoch), ``final``, ``finished``,
  ``resumed_from``, ``strategy``, ``replicas``, ``versions``, ``started``, ``ended`` and,
  with model selection, ``selection`` (docs/internals.md, "Trained run directory").

An ensemble's run.json carries ``model``, ``detector``, ``data``, ``stats``, ``seed``,
``members`` and ``betas`` only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tfcalo.errors import ArtifactError

RUN_JSON = "run.json"
GENERATOR_WEIGHTS = "generator.weights.h5"


def read_run(run_dir: str | Path, required: Sequence[str] = ()) -> dict:
    """The ``run.json`` record of a run directory.

    Args:
        run_dir: trained run directory (or ensemble artifact).
        required: keys that must be present with a string value (e.g. ``("model",
            "detector")`` to rebuild the generator).

    Returns:
        The record (a dict), as written.

    Raises:
        ArtifactError: no run.json, not valid JSON, not a JSON object, or a required key
            missing (one sentence naming the file).

    Example:
        >>> read_run("runs/sagan", required=("model", "detector"))["model"]  # doctest: +SKIP
        'sagan'
    """
    path = Path(run_dir) / RUN_JSON
    if not path.is_file():
        raise ArtifactError(f"{run_dir} is not a trained run directory (no {RUN_JSON})")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ArtifactError(f"{path} is not a run record (a JSON object)")
    missing = [k for k in required if not isinstance(record.get(k), str)]
    if missing:
        raise ArtifactError(f"{path} is not a valid run record (needs {', '.join(required)}; "
                            f"missing or not a string: {', '.join(missing)})")
    return record


def data_hash(record: dict) -> str | None:
    """The training-data fingerprint of a run record (``data.content_hash``), or None."""
    data = record.get("data")
    value = data.get("content_hash") if isinstance(data, dict) else None
    return str(value) if value else None


__all__ = ["GENERATOR_WEIGHTS", "RUN_JSON", "data_hash", "read_run"]
