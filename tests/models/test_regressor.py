"""Tiny regressor: shapes, physical outputs after a few steps, embedding, save/load, errors."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from tfcalo.errors import ConfigError
from tfcalo.models.regressor import (
    build_regressor,
    embedding_model,
    linearity_resolution,
    regression_targets,
    train_regressor,
)

TINY = {"filters": [4], "embedding_dim": 8}


def test_lhcb_targets_and_shapes():
    cond = np.array([[0, 0, 0, 3.0, 4.0, 12.0]], np.float32)
    np.testing.assert_allclose(regression_targets("lhcb-ecal", cond), [[13.0, 0.25, 1 / 3]],
                               rtol=1e-6)
    m = build_regressor("lhcb-ecal", TINY)
    assert m.output_shape == (None, 3)
    assert embedding_model(m).output_shape == (None, 8)
    with pytest.raises(ConfigError, match="did you mean 'filters'"):
        build_regressor("lhcb-ecal", {"filter": [4]})
    with pytest.raises(ConfigError, match="rich-pid"):
        regression_targets("rich-pid", np.ones((1, 3)))


def test_cern_regressor_learns_energy_and_round_trips(shared_data, tmp_path):
    with h5py.File(shared_data / "g4_cern_ecal_train.h5", "r") as f:
        showers = f["ECAL"][:256]
        energy = f["energy"][:256][:, None]
    m = build_regressor("cern-ecal", TINY)
    hist = train_regressor(m, showers, energy, epochs=3, batch_size=64, seed=0)
    assert hist["loss"][-1] < hist["loss"][0]
    pred = m.predict(showers, verbose=0)[:, 0]
    # outputs are physical GeV: correlated with Ep and on the same scale
    assert np.corrcoef(pred, energy[:, 0])[0, 1] > 0.8
    assert 0.5 < np.mean(pred) / np.mean(energy) < 2.0
    m.save(tmp_path / "r.keras")
    again = keras.models.load_model(tmp_path / "r.keras")
    np.testing.assert_allclose(again.predict(showers[:8], verbose=0), pred[:8, None], rtol=1e-4,
                               atol=1e-3)
    train_regressor(again, showers[:64], energy[:64], epochs=1, batch_size=64, seed=0)


def test_linearity_resolution():
    true = np.repeat([10.0, 20.0], 1000)
    pred = true * 1.1 + np.random.default_rng(0).normal(0, 1.0, 2000)
    r = linearity_resolution(pred, true, [5, 15, 25, 35])
    np.testing.assert_allclose(r["linearity"][:2], [1.1, 1.1], rtol=0.01)
    np.testing.assert_allclose(r["resolution"][:2], [0.79 / 11, 0.79 / 22], rtol=0.1)
    assert r["n"].tolist() == [1000, 1000, 0] and np.isnan(r["mu90"][2])
