"""Train-regressor component: a real (tiny) regressor artifact, reloaded for FRD."""

from __future__ import annotations

import json

import numpy as np
from tfcalo.components.train_regressor import run_train_regressor

from tfcalo.data.ingest import run_ingest
from tfcalo.data.simulate import simulate_to_file
from tfcalo.models.regressor import load_embedding


def test_regressor_artifact_reports_linearity_and_embeds(tmp_path):
    src = tmp_path / "showers.h5"
    simulate_to_file("cern-ecal", 300, 3, src)
    run_ingest(src, tmp_path / "ds", "cern-ecal", split=(0.7, 0.0, 0.3), seed=0)
    out = tmp_path / "reg"
    out.mkdir()
    props = run_train_regressor(tmp_path / "ds", out, epochs=16, batch_size=32,
                                config={"filters": [4], "embedding_dim": 8}, seed=0)
    record = json.loads((out / "regressor.json").read_text())
    assert record["targets"] == ["Ep"]
    assert props["metrics"]["regressor_resolution"] is not None
    # The energy regressor learns something: predictions correlate with the true energy.
    from tfcalo.data.dataset import Dataset
    from tfcalo.models.regressor import load_regressor

    test = Dataset.open(tmp_path / "ds").load("test")
    pred = load_regressor(out).predict(test["showers"], verbose=0)[:, 0]
    corr = np.corrcoef(np.log(pred.clip(1e-3)), np.log(test["conditions"][:, 0]))[0, 1]
    assert corr > 0.5, corr
    emb = load_embedding(out)(test["showers"], test["conditions"])
    assert emb.shape == (len(test["showers"]), 8) and np.isfinite(emb).all()
