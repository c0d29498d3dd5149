"""Train component: an "Examples" artifact (+ optional "Weights") -> a "Model" run directory.

Library use::

    from tfcalo.components.train import run_train
    record = run_train("dataset", "runs/sagan", model="sagan", epochs=5, seed=1)

Pipeline use: ``COMPONENT`` with input ``examples`` (Examples) and optional ``weights``
(Weights: sWeights or boosting weights replacing the stored ones by example index), output
``model`` (Model: the run directory of docs/internals.md); parameters ``model``,
``config`` (partial nested config dict over the model's defaults), ``epochs``, ``seed``,
``strategy``, ``batch_size``, ``steps_per_epoch``, ``weighting`` (``loss`` or
``resample``: how the weights are used) and ``select_every``/``select_n``/
``select_tolerances`` (model selection by physics: keep the best-scoring epoch, see
:mod:`tfcalo.training.selection`). The work is :func:`tfcalo.training.run.train_run`;
this module only adapts it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tfcalo.engine.runner import Artifact, Component, current_context, log
from tfcalo.errors import ConfigError

#: Properties copied from run.json into the Model artifact's record.
_PROPERTY_KEYS = ("model", "detector", "seed", "epochs_done", "latent_dim", "batch_size",
                  "replicas", "final")


def run_train(data: str | Path, out: str | Path, model: str, **kwargs: Any) -> dict:
    """Train ``model`` on dataset artifact ``data`` into run directory ``out``; return run.json.

    Keyword arguments (config, epochs, seed, strategy, weights, weighting, batch_size,
    steps_per_epoch, overwrite, verbose, log, ...) are those of
    :func:`tfcalo.training.run.train_run`, which documents them and the run directory.
    """
    from tfcalo.training.run import train_run

    return train_run(data, model, out, **kwargs)


def executor(inputs: dict[str, Artifact], outputs: dict[str, Path],
             params: dict[str, Any]) -> dict[str, dict]:
    """Pipeline executor: train, then move the finished run into ``outputs["model"]``.

    Under the runner the run directory is ``<work dir>/model``
    (:attr:`tfcalo.engine.runner.ExecutionContext.work_dir`), which survives a crash: a rerun
    after a kill resumes from the last epoch's backup (at most one epoch is lost) instead of
    starting in a new temporary directory, and a run that had finished is taken as it is.
    """
    if not params.get("model"):
        raise ConfigError("the train component needs the parameter 'model' (2dgan, sagan or cramer)")
    from tfcalo.training.run import read_run, run_state

    ctx = current_context()
    out = outputs["model"] if ctx is None else ctx.work_dir / "model"
    if out != outputs["model"] and run_state(out) == "finished":
        log(f"taking the run that finished before this process was interrupted ({out})")
        return _publish_run(out, outputs["model"], read_run(out))
    weights = inputs.get("weights")
    record = run_train(
        inputs["examples"].uri, out, model=params["model"],
        config=params.get("config") or None, epochs=params.get("epochs"),
        seed=params.get("seed"), strategy=params.get("strategy", "auto"),
        weights=weights.uri if weights is not None else None,
        weighting=params.get("weighting", "loss"),
        batch_size=params.get("batch_size"), steps_per_epoch=params.get("steps_per_epoch"),
        verbose=0, log=log, select_every=int(params.get("select_every", 0)),
        select_n=int(params.get("select_n", 2000)),
        select_tolerances=params.get("select_tolerances") or None,
    )
    return _publish_run(out, outputs["model"], record)


def _publish_run(run_dir: Path, output: Path, record: dict) -> dict[str, dict]:
    """Move finished ``run_dir`` to the (empty) output directory; the artifact properties."""
    if run_dir != output:
        os.rmdir(output)
        os.replace(run_dir, output)
    props = {key: record.get(key) for key in _PROPERTY_KEYS}
    props["data_content_hash"] = record["data"]["content_hash"]
    return {"model": props}


_PARAMETERS = {"model": None, "config": {}, "epochs": 10, "seed": 0, "strategy": "auto",
               "batch_size": 64, "steps_per_epoch": None, "weighting": "loss",
               "select_every": 0, "select_n": 2000, "select_tolerances": {}}

COMPONENT = Component(
    name="train",
    version="1",
    inputs={"examples": "Examples", "weights": "Weights?"},
    outputs={"model": "Model"},
    parameters=_PARAMETERS,
    executor=executor,
)

__all__ = ["COMPONENT", "executor", "run_train"]
