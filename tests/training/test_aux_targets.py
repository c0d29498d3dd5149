"""The SAGAN's auxiliary regression targets are standardised with the training data's robust
statistics, so no target swamps the critic (on Geant4 the LHCb code's width_long, divided by
a fixed 2 cm, gave an auxiliary MSE of ~11,000 against a hinge loss of ~2)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfcalo.training.build as builder  # noqa: E402
from tfcalo import physics  # noqa: E402
from tfcalo.data.artifact import write_artifact  # noqa: E402
from tfcalo.data.dataset import Dataset  # noqa: E402
from tfcalo.detectors import get_detector  # noqa: E402
from tfcalo.training.run import with_target_stats  # noqa: E402

N_INGEST, N_TEST = 1500, 256
SAGAN = {"latent_dim": 4, "generator": {"filters": 4, "attention": False},
         "discriminator": {"filters": 4, "hidden": 8, "attention": False}}


def _read(f, start, stop):
    cond = np.column_stack([f["ParticlePoint"][start:stop], f["ParticleMomentum"][start:stop]])
    return f["EnergyDeposit"][start:stop].astype(np.float32), cond.astype(np.float32)


@pytest.fixture(scope="module")
def g4(shared_data, tmp_path_factory):
    """A Geant4 artifact of the first N_INGEST showers and N_TEST held-out showers."""
    out = tmp_path_factory.mktemp("g4")
    with h5py.File(shared_data / "g4_lhcb_ecal_train.h5", "r") as f:
        showers, cond = _read(f, 0, N_INGEST)
        test = _read(f, N_INGEST, N_INGEST + N_TEST)
    chunks = ((showers[i:i + 400], cond[i:i + 400], np.ones(len(cond[i:i + 400]), np.float32))
              for i in range(0, N_INGEST, 400))
    write_artifact(out, chunks, get_detector("lhcb-ecal"), seed=0)
    return out, test


def _mse_at_init(stats, targets, test):
    cfg = {**SAGAN, "discriminator": {**SAGAN["discriminator"], "aux_targets": targets}}
    gan = builder.build("sagan", "lhcb-ecal", cfg, stats)
    showers, cond = (tf.constant(a) for a in test)
    pred = gan.discriminator([showers, cond], training=False)["aux"]
    z = gan._targets(showers, cond, None)  # what the train step regresses on
    return dict(zip(targets, tf.reduce_mean(tf.square(pred - z), axis=0).numpy(), strict=True))


def test_every_standardised_target_has_mse_of_order_one_at_initialisation(g4):
    out, test = g4
    stats = Dataset.open(out).stats
    names = physics.observable_names("lhcb-ecal")  # every observable, width_long included
    assert set(names) <= set(stats["observables"])  # written at ingest
    mse = _mse_at_init(stats, names, test)
    bad = {k: float(v) for k, v in mse.items() if not 0.2 < v < 5.0}
    assert not bad, bad


def test_default_targets_are_defined_everywhere_and_preset_targets_too(g4):
    from tfcalo.pipelines.config import preset_dict

    out, test = g4
    defaults = builder.default_config("sagan", "lhcb-ecal")["discriminator"]["aux_targets"]
    presets = [preset_dict("aux-regressor", p)["train"]["model_config"]["discriminator"]
               ["aux_targets"] for p in ("quick", "full")]
    for targets in (defaults, *presets):
        assert {"width_along_pt", "width_across_pt"} <= set(targets)
        assert not {"width_long", "width_trans"} & set(targets)  # explode near px = 0
        mse = _mse_at_init(Dataset.open(out).stats, targets, test)
        assert all(0.2 < v < 5.0 for v in mse.values()), mse


def test_standardisation_centres_scales_and_clips(g4):
    out, _ = g4
    stats = Dataset.open(out).stats
    cfg = {**SAGAN, "discriminator": {**SAGAN["discriminator"], "aux_clip": 3.0,
                                      "aux_targets": ["width_long", "asymmetry_trans"]}}
    gan = builder.build("sagan", "lhcb-ecal", cfg, stats)
    st = [stats["observables"][n] for n in ("width_long", "asymmetry_trans")]
    assert gan.aux["centres"] == [s["median"] for s in st]
    assert gan.aux["scales"] == [s["scale"] for s in st]
    t = np.array([[st[0]["median"] + 2 * st[0]["scale"], st[1]["median"]],
                  [1e6, st[1]["median"] - 100 * st[1]["scale"]]], np.float32)
    np.testing.assert_allclose(gan.standardise_targets(t).numpy(), [[2, 0], [3, -3]], atol=1e-5)


def test_dataset_ingested_without_target_stats_gets_them_from_a_sample(g4, tmp_path):
    out, test = g4
    # an artifact written by an older tfcalo: stats.json without "observables"
    old = tmp_path / "old"
    old.mkdir()
    for p in out.iterdir():
        (old / p.name).symlink_to(p)
    stats = json.loads((out / "stats.json").read_text())
    new_obs = stats.pop("observables")
    (old / "stats.json").unlink()
    (old / "stats.json").write_text(json.dumps(stats))
    ds = Dataset.open(old)
    assert "observables" not in ds.stats
    messages = []
    filled = with_target_stats(ds, {"discriminator": {"aux_targets": ["width_long",
                                                                      "width_along_pt"]}},
                               messages.append)
    assert "width_long" in messages[0] and "older tfcalo" in messages[0]
    for name in ("width_long", "width_along_pt"):  # same training showers, another sample
        assert filled["observables"][name]["median"] == pytest.approx(
            new_obs[name]["median"], rel=0.1)
        assert filled["observables"][name]["scale"] == pytest.approx(
            new_obs[name]["scale"], rel=0.25)
    mse = _mse_at_init(filled, ["width_long", "width_along_pt"], test)
    assert all(0.2 < v < 5.0 for v in mse.values()), mse
    # nothing to do when the statistics are there, or without a regressor
    assert with_target_stats(Dataset.open(out), {"discriminator": {"aux_targets":
                                                                   ["width_long"]}}) \
        == Dataset.open(out).stats
    assert "observables" not in with_target_stats(ds, {"discriminator": {}})


def test_missing_statistics_are_reported_when_training_starts(caplog):
    cfg = {**SAGAN, "discriminator": {**SAGAN["discriminator"],
                                      "aux_targets": ["width_long", "asymmetry_trans"]}}
    stats = {"observables": {"asymmetry_trans": {"median": 0.1, "scale": 0.4}}}
    gan = builder.build("sagan", "lhcb-ecal", cfg, stats)
    assert gan.aux["unstandardised"] == ["width_long"]
    assert gan.aux["centres"] == [0.0, 0.1] and gan.aux["scales"] == [1.0, 0.4]
    with caplog.at_level("WARNING", logger="tfcalo"):
        gan.compile()
    assert "regression targets width_long" in caplog.text
