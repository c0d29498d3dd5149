"""Model selection by physics: known answers of the score, and the callback keeps the better
of two epochs whose physics differs (a perfect generator vs the same with energy x1.05)."""

from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfcalo.data.simulate import lhcb_showers, simulate_chunks  # noqa: E402
from tfcalo.training.selection import (  # noqa: E402
    BEST_WEIGHTS,
    SELECTION_JSON,
    PhysicsSelection,
    physics_scores,
)


@pytest.fixture(scope="module")
def showers():
    """Real (simulated) lhcb-ecal showers, and an independent 'perfect' generation at the
    same conditions (the simulator itself)."""
    real = next(simulate_chunks("lhcb-ecal", 1500, seed=1, chunk_size=1500))
    perfect = lhcb_showers(real["conditions"], np.random.default_rng(2))
    return real["showers"], real["conditions"], np.asarray(perfect, np.float32)


def test_scores_known_answers(showers):
    real, cond, perfect = showers
    # the simulator's skewness along p_T is heavy-tailed (std 1.4 about a mean of 0.8): its
    # mean over 1,500 showers moves by +-6 % between draws, hence the shape tolerance here
    good = physics_scores("lhcb-ecal", real, cond, perfect, tolerances={"shape": 0.3})
    assert good["sf_max_deviation"] < 0.01 and good["classifier_auc"] < 0.6
    assert good["score"] < 1.0, good
    scaled = physics_scores("lhcb-ecal", real, cond, perfect * 1.05)
    assert scaled["sf_max_deviation"] == pytest.approx(0.05, abs=0.01)
    assert scaled["score"] >= scaled["sf_max_deviation"] / 0.02 > 2.0


def test_lhcb_score_judges_the_shower_shape(showers):
    """lhcb-ecal: the score has a shape term, the worst mean of the widths along and across
    p_T and the skewness along p_T: the real showers at 1.05 times their energy have the
    same shape (term 0); smeared over the neighbouring columns (same energy) they are
    > 5 % off, and the term is that over the 5 % tolerance."""
    real, cond, _ = showers
    only_shape = {"auc": 1e9, "sf": 1e9, "resolution": 1e9}
    same = physics_scores("lhcb-ecal", real, cond, real * 1.05, tolerances=only_shape)
    wide = 0.5 * real + 0.25 * (np.roll(real, 1, axis=2) + np.roll(real, -1, axis=2))
    bad = physics_scores("lhcb-ecal", real, cond, wide, tolerances=only_shape)
    assert same["shape_max_deviation"] == pytest.approx(0.0, abs=1e-5)
    assert 0.05 < bad["shape_max_deviation"] < 0.5, bad
    assert bad["score"] == pytest.approx(bad["shape_max_deviation"] / 0.05)


def test_cern_score_judges_the_transverse_widths():
    """cern-ecal: the shape term is the worse of the mean widths along x and y: 0 for the
    real showers at 1.01 times their energy, > 5 % for showers smeared over the neighbouring
    x columns (the x width grows, y does not)."""
    from tfcalo.data.simulate import simulate_chunks as sim

    real = next(sim("cern-ecal", 60, seed=1, chunk_size=60))
    r, c = real["showers"], real["conditions"]
    only_shape = {"auc": 1e9, "sf": 1e9, "resolution": 1e9, "profile": 1e9}
    same = physics_scores("cern-ecal", r, c, r * 1.01, tolerances=only_shape, n_bins=1)
    wide = 0.5 * r + 0.25 * (np.roll(r, 1, axis=1) + np.roll(r, -1, axis=1))
    bad = physics_scores("cern-ecal", r, c, wide, tolerances=only_shape, n_bins=1)
    assert same["shape_max_deviation"] == pytest.approx(0.0, abs=1e-5)
    assert 0.05 < bad["shape_max_deviation"] < 0.6, bad
    assert bad["score"] == pytest.approx(bad["shape_max_deviation"] / 0.05)


@pytest.mark.parametrize("tolerances, message", [
    ({"aux": 0.5}, "tolerance 'aux' is unknown .*did you mean 'auc'"),
    ({"auc": 0.0}, "tolerance 'auc' must be a positive number"),
    ({"sf": "2 %"}, "tolerance 'sf' must be a positive number"),
])
def test_bad_tolerances_are_config_errors(showers, tolerances, message):
    from tfcalo.errors import ConfigError

    real, cond, perfect = showers
    with pytest.raises(ConfigError, match=message):
        physics_scores("lhcb-ecal", real[:50], cond[:50], perfect[:50], tolerances=tolerances)


def test_volume_score_judges_the_longitudinal_profile():
    """cern-ecal: the score has a profile term: a generation with its layers shifted by one
    (showers one layer deeper, same energy) is 0.29 off in the profile's bulk (an independent
    one 0.06), and the profile term is that over the 5 % tolerance."""
    from tfcalo.data.simulate import simulate_chunks as sim

    real = next(sim("cern-ecal", 300, seed=1, chunk_size=300))
    other = next(sim("cern-ecal", 300, seed=2, chunk_size=300))
    cond = real["conditions"]
    # the same energies (the simulator draws them from its seed): pair by sorting
    order_r, order_o = np.argsort(cond[:, 0]), np.argsort(other["conditions"][:, 0])
    r, o, c = real["showers"][order_r], other["showers"][order_o], cond[order_r]
    only_profile = {"auc": 1e9, "sf": 1e9, "resolution": 1e9}  # the other terms ~0
    good = physics_scores("cern-ecal", r, c, o, tolerances=only_profile)
    deeper = np.roll(o, 1, axis=3)
    deeper[..., 1] += deeper[..., 0]
    deeper[..., 0] = 0
    bad = physics_scores("cern-ecal", r, c, deeper, tolerances=only_profile)
    assert good["longitudinal_profile_max_deviation"] < 0.1
    assert bad["longitudinal_profile_max_deviation"] > 0.2
    assert bad["score"] == pytest.approx(bad["longitudinal_profile_max_deviation"] / 0.05)
    assert good["score"] < 2.0 < 4.0 < bad["score"]


def test_callback_keeps_the_better_epoch_and_survives_a_resume(showers, tmp_path):
    import keras

    real, cond, perfect = showers
    generator = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    outputs = {0: perfect, 1: perfect * 1.05}  # epoch 1 is good, epoch 2 is 5 % off
    state = {"epoch": 0}

    def generate(c):
        return outputs[state["epoch"]]

    cb = PhysicsSelection("lhcb-ecal", real, cond, tmp_path, generate=generate,
                          save=generator.save_weights)
    for epoch, value in ((0, 1.0), (1, 2.0)):
        state["epoch"] = epoch
        generator.layers[0].kernel.assign([[value]])  # the weights of that epoch
        logs: dict = {}
        cb.on_epoch_end(epoch, logs)
        assert {"sel_score", "sel_classifier_auc", "sel_sf_max_deviation"} <= set(logs)
    record = json.loads((tmp_path / SELECTION_JSON).read_text())
    assert record["best_epoch"] == 1 and set(record["scores"]) == {"1", "2"}
    assert record["scores"]["2"]["score"] > record["scores"]["1"]["score"]
    generator.load_weights(str(tmp_path / BEST_WEIGHTS))
    assert float(generator.layers[0].kernel.numpy()[0, 0]) == 1.0  # epoch 1's weights
    # a resumed run remembers the best score: a worse third epoch does not replace it
    resumed = PhysicsSelection("lhcb-ecal", real, cond, tmp_path, generate=generate,
                               save=generator.save_weights)
    assert resumed.best_epoch == 1
    generator.layers[0].kernel.assign([[3.0]])
    resumed.on_epoch_end(2, {})
    generator.load_weights(str(tmp_path / BEST_WEIGHTS))
    assert float(generator.layers[0].kernel.numpy()[0, 0]) == 1.0
