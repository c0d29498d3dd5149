"""tfcalo.export.sampling: samplers from SavedModels and run directories, conditions input."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from tiny_generators import TinyGenerator

import tfcalo.training.build
from tfcalo.errors import ArtifactError, ConfigError, InputFileError, OutputExistsError
from tfcalo.export.sampling import (
    Sampler,
    generate_to_file,
    load_sampler,
    point_conditions,
    read_conditions_file,
)
from tfcalo.export.savedmodel import build_card, write_saved_model
from tfcalo.models.noise import latent_noise


@pytest.fixture(scope="module")
def gen():
    return TinyGenerator("cern-ecal", latent_dim=3, seed=2)


@pytest.fixture(scope="module")
def saved_dir(tmp_path_factory, gen):
    """A SavedModel + card written directly (no verification subprocess: fast)."""
    out = tmp_path_factory.mktemp("sm")
    write_saved_model(gen, gen.detector, out)
    card = build_card(gen.detector, 3, training_data_hash="h", metrics={}, blessing=None)
    (out / "model_card.json").write_text(json.dumps(card))
    return out


@pytest.fixture()
def run_dir(tmp_path, gen, monkeypatch):
    """A run directory whose generator comes from a patched tfcalo.training.build.load_generator."""
    (tmp_path / "run.json").write_text(json.dumps(
        {"model": "tiny", "detector": "cern-ecal", "data": {"content_hash": "fp1"}}))
    calls = []

    def load_generator(path):
        calls.append(path)
        return gen

    monkeypatch.setattr(tfcalo.training.build, "load_generator", load_generator, raising=False)
    return tmp_path


COND = np.array([[10.0], [50.0], [200.0], [2.0], [480.0]], np.float32)


def test_run_dir_sampler_matches_generator(run_dir, gen):
    s = load_sampler(run_dir)
    assert s.detector.name == "cern-ecal" and s.latent_dim == 3
    assert s.card["training_data_hash"] == "fp1" and s.card["model"] == "tiny"
    got = s.sample(COND, seed=4)
    noise = latent_noise(4, 5, 3).numpy()  # the seeded noise of every generation path
    np.testing.assert_allclose(got, gen([noise, COND]), rtol=1e-6)
    assert got.shape == (5, 25, 25, 25) and got.dtype == np.float32


def test_saved_model_sampler_equals_run_sampler(saved_dir, run_dir):
    a = load_sampler(saved_dir)
    assert a.detector.name == "cern-ecal" and a.card["training_data_hash"] == "h"
    np.testing.assert_allclose(a.sample(COND, seed=1), load_sampler(run_dir).sample(COND, seed=1),
                               rtol=1e-5, atol=1e-6)


def test_seed_and_batch_size(saved_dir):
    s = load_sampler(saved_dir)
    full = s.sample(COND, seed=7, batch_size=1024)
    np.testing.assert_array_equal(full, s.sample(COND, seed=7, batch_size=1024))
    # same noise per shower whatever the batch size (outputs agree to float rounding)
    np.testing.assert_allclose(full, s.sample(COND, seed=7, batch_size=2), rtol=1e-6)
    assert np.max(np.abs(full - s.sample(COND, seed=8))) > 1e-4
    np.testing.assert_allclose(s.sample(COND[0], seed=7), full[:1], rtol=1e-6)


def test_wrong_condition_shape(saved_dir):
    with pytest.raises(ValueError, match=r"shape \(N, 1\).*Received: shape=\(2, 2\)"):
        load_sampler(saved_dir).sample(np.zeros((2, 2)))


def test_from_generator_wraps_in_memory_model(gen):
    s = Sampler.from_generator(gen, "cern-ecal")
    assert s.card == {"detector": "cern-ecal", "latent_dim": 3}
    assert s.sample(COND[:2]).shape == (2, 25, 25, 25)


def test_bad_paths(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        load_sampler(tmp_path / "missing")
    with pytest.raises(ArtifactError, match="neither a tfcalo SavedModel"):
        load_sampler(tmp_path)
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="JSON object"):
        load_sampler(tmp_path)
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(ArtifactError, match="missing or not a string: detector"):
        load_sampler(tmp_path)


def test_csv_conditions(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("pz,comment,x,y,z,px,py\n50,a,1,2,0,3,4\n\n100,b,-1,-2,0,0,0\n")
    cond = read_conditions_file(p, "lhcb-ecal")
    np.testing.assert_array_equal(cond, [[1, 2, 0, 3, 4, 50], [-1, -2, 0, 0, 0, 100]])
    p.write_text("x,y,z\n1,2,3\n")
    with pytest.raises(InputFileError, match="lacks column.*px, py, pz"):
        read_conditions_file(p, "lhcb-ecal")
    p.write_text("Ep\n10\nabc\n")
    with pytest.raises(InputFileError, match="non-numeric"):
        read_conditions_file(p, "cern-ecal")
    p.write_text("Ep\n")
    with pytest.raises(InputFileError, match="no rows"):
        read_conditions_file(p, "cern-ecal")
    with pytest.raises(InputFileError, match="does not exist"):
        read_conditions_file(tmp_path / "none.csv", "cern-ecal")


def test_hdf5_conditions(tmp_path):
    p = tmp_path / "c.h5"
    with h5py.File(p, "w") as f:
        f["Ep"] = np.array([5.0, 7.5])
        f["other"] = np.zeros(3)
    np.testing.assert_array_equal(read_conditions_file(p, "cern-ecal"), [[5.0], [7.5]])
    with pytest.raises(InputFileError, match="lacks column.*p, eta, nTracks"):
        read_conditions_file(p, "rich-pid")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(InputFileError, match="not an HDF5 file"):
        read_conditions_file(bad, "cern-ecal")


def test_point_conditions():
    np.testing.assert_array_equal(point_conditions("cern-ecal", 50.0), [50.0])
    np.testing.assert_array_equal(point_conditions("lhcb-ecal", 50.0), [0, 0, 0, 0, 0, 50])
    row = point_conditions("lhcb-ecal", 5.0, px=3.0, x=1.5)
    np.testing.assert_allclose(row, [1.5, 0, 0, 3, 0, 4])
    np.testing.assert_allclose(point_conditions("lhcb-ecal", 5.0, px=3.0, pz=4.0)[3:], [3, 0, 4])
    with pytest.raises(ConfigError, match=r"\|p\| = 3 GeV but --energy is 5"):
        point_conditions("lhcb-ecal", 5.0, pz=3.0)
    with pytest.raises(ConfigError, match="not below --energy"):
        point_conditions("lhcb-ecal", 5.0, px=4.0, py=4.0)
    with pytest.raises(ConfigError, match="--px is not allowed"):
        point_conditions("cern-ecal", 5.0, px=1.0)
    with pytest.raises(ConfigError, match="--conditions FILE"):
        point_conditions("rich-pid", 5.0)
    with pytest.raises(ConfigError, match="must be positive"):
        point_conditions("cern-ecal", 0.0)


def test_generate_to_file(tmp_path, saved_dir):
    s = load_sampler(saved_dir)
    out = tmp_path / "g.h5"
    assert generate_to_file(s, COND, out, seed=3, batch_size=2) == 5
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["ECAL"][:], s.sample(COND, seed=3, batch_size=2))
        np.testing.assert_array_equal(f["energy"][:], COND[:, 0])
    with pytest.raises(OutputExistsError, match="--overwrite"):
        generate_to_file(s, COND, out)
    generate_to_file(s, COND[:2], out, overwrite=True)
    with h5py.File(out) as f:
        assert f["ECAL"].shape == (2, 25, 25, 25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.h5"]
