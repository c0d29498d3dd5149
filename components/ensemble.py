"""Ensemble component: add a trained generator to an AdaGAN mixture.

Inputs: ``model`` (Model, the run directory of G_t), optionally ``previous`` (Model: the ensemble of
G_0..G_{t-1}) and ``weights`` (Weights from boost-weight: its ``beta`` property is the new
component's mixture weight). Output: ``ensemble`` (type Model: an ensemble is a model): ``ensemble.json`` listing
member run dirs and betas, plus a ``run.json`` so that evaluate, export and generate treat the
ensemble like any trained model.
"""

from __future__ import annotations

import json
from pathlib import Path

from tfcalo.pipeline import Artifact, Component, log

VERSION = "2"


def assemble(out_dir: str | Path, model_dir: str | Path, previous: str | Path | None = None,
             beta: float = 1.0) -> dict:
    """Write the ensemble previous + [model] with weight ``beta`` for the new member."""
    from tfcalo import ensemble

    members, betas, data = [], [], None
    if previous is not None:
        rec = ensemble.read_ensemble(previous)
        members, betas = rec["members"], rec["betas"]
    else:
        beta = 1.0
    info = json.loads((Path(model_dir) / "run.json").read_text())
    members = [*members, str(Path(model_dir).resolve())]
    betas = ensemble.updated_mixture(betas, beta)
    data = info.get("data")
    record = ensemble.write_ensemble(out_dir, members, betas)
    run = {"model": "ensemble", "detector": info["detector"], "data": data,
           "stats": info.get("stats"), "members": record["members"], "betas": betas,
           "seed": info.get("seed")}
    (Path(out_dir) / "run.json").write_text(json.dumps(run, indent=2))
    log(f"ensemble of {len(members)} generators, betas {[round(b, 4) for b in betas]}")
    return {"size": len(members), "betas": betas}


def _execute(inputs: dict[str, Artifact], outputs: dict[str, Path], params: dict) -> dict:
    previous = inputs.get("previous")
    weights = inputs.get("weights")
    beta = float(weights.properties["beta"]) if weights is not None else 1.0
    props = assemble(outputs["ensemble"], inputs["model"].uri,
                     previous.uri if previous is not None else None, beta)
    return {"ensemble": props}


COMPONENT = Component(
    name="ensemble",
    version=VERSION,
    inputs={"model": "Model", "previous": "Model?", "weights": "Weights?"},
    outputs={"ensemble": "Model"},
    parameters={},
    executor=_execute,
)
