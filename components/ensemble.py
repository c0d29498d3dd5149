"""Ensemble component: add a trained generator to an AdaGAN mixture.

Inputs: ``model`` (Model, the run directory of G_t), optionally ``previous`` (Model: the ensemble of
G_0..G_{t-1}) and ``weights`` (Weights from boost-weight: its ``beta`` property is the new
component's mixture weight). Output: ``ensemble`` (type Model: an ensemble is a model): ``ensemble.json`` listing
member run dirs and betas, plus a ``run.json`` so that evaluate, export and generate treat the
ensemble like any trained model. The work is :func:`tfcalo.training.adagan.assemble`.
"""

from __future__ import annotations

from pathlib import Path

from tfcalo.engine.runner import Artifact, Component, log
from tfcalo.training.adagan import assemble

VERSION = "2"


def _execute(inputs: dict[str, Artifact], outputs: dict[str, Path], params: dict) -> dict:
    previous = inputs.get("previous")
    weights = inputs.get("weights")
    beta = float(weights.properties["beta"]) if weights is not None else 1.0
    props = assemble(outputs["ensemble"], inputs["model"].uri,
                     previous.uri if previous is not None else None, beta, log=log)
    return {"ensemble": props}


COMPONENT = Component(
    name="ensemble",
    version=VERSION,
    inputs={"model": "Model", "previous": "Model?", "weights": "Weights?"},
    outputs={"ensemble": "Model"},
    parameters={},
    executor=_execute,
)
