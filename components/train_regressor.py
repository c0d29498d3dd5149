"""Train-regressor component: the physics regressor behind FRD (seed 003).

Input: ``examples`` (Examples). Output: ``regressor`` (Regressor): ``regressor.keras`` (the
Keras model, loadable with ``tfcalo.models.regressor.load_regressor``), ``regressor.json``
(detector, config, training history, and linearity/resolution on the test split: mu90 and
sigma90 of the prediction per bin of the true energy). Parameters: ``epochs``,
``batch_size``, ``limit`` (training examples, 0 = all), ``config`` (regressor config: filters,
embedding_dim, learning_rate), ``seed``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tfcalo.engine.runner import Artifact, Component, log

VERSION = "1"


def _energy_bins(detector: str, energy: np.ndarray, n: int = 6) -> np.ndarray:
    lo, hi = float(energy.min()), float(energy.max())
    return np.geomspace(max(lo, 1e-3), hi * 1.0001, n + 1)


def run_train_regressor(examples: str | Path, out_dir: str | Path, epochs: int = 3,
                        batch_size: int = 128, limit: int = 0, config: dict | None = None,
                        seed: int = 0) -> dict:
    """Train the regressor on the train split and report it on the test split.

    Writes into the existing directory ``out_dir``; returns the artifact properties
    (``metrics``: mean |linearity - 1| and mean resolution over energy bins).
    """
    from tfcalo.data.dataset import Dataset
    from tfcalo.models import regressor as reg

    ds = Dataset.open(examples)
    det = ds.detector
    train = ds.load("train", limit=limit or None)
    test = ds.load("test")
    log(f"training the {det.name} regressor on {len(train['showers'])} showers, {epochs} epochs")
    model = reg.build_regressor(det, config)
    history = reg.train_regressor(model, train["showers"], train["conditions"], epochs=epochs,
                                  batch_size=batch_size, seed=seed)
    pred = model.predict(test["showers"], batch_size=512, verbose=0)
    true = reg.regression_targets(det, test["conditions"])
    energy_true, energy_pred = true[:, 0], pred[:, 0]
    lr = reg.linearity_resolution(energy_pred, energy_true, _energy_bins(det.name, energy_true))
    ok = np.isfinite(lr["linearity"])
    metrics = {
        "regressor_linearity_dev": float(np.mean(np.abs(lr["linearity"][ok] - 1.0))) if ok.any() else None,
        "regressor_resolution": float(np.mean(lr["resolution"][ok])) if ok.any() else None,
    }
    reg.save_regressor(model, out_dir)
    record = {
        "detector": det.name,
        "targets": reg.target_names(det),
        "config": model.tfcalo_config,
        "history": history,
        "test": {k: [None if not np.isfinite(v) else float(v) for v in np.asarray(a, float)]
                 for k, a in lr.items()},
        "metrics": metrics,
        "data_content_hash": ds.content_hash,
    }
    Path(out_dir, "regressor.json").write_text(json.dumps(record, indent=2))
    log(f"regressor linearity deviation {metrics['regressor_linearity_dev']}, "
        f"resolution {metrics['regressor_resolution']}")
    return {"detector": det.name, "metrics": metrics}


def _execute(inputs: dict[str, Artifact], outputs: dict[str, Path],
             params: dict[str, Any]) -> dict[str, dict]:
    props = run_train_regressor(inputs["examples"].uri, outputs["regressor"],
                                epochs=int(params["epochs"]),
                                batch_size=int(params["batch_size"]),
                                limit=int(params["limit"]), config=params["config"] or None,
                                seed=int(params["seed"]))
    return {"regressor": props}


COMPONENT = Component(
    name="train-regressor",
    version=VERSION,
    inputs={"examples": "Examples"},
    outputs={"regressor": "Regressor"},
    parameters={"epochs": 3, "batch_size": 128, "limit": 0, "config": {}, "seed": 0},
    executor=_execute,
)
