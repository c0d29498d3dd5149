"""The pretrained models shipped as package data (tfcalo/pretrained/<name>/).

- install_pretrained builds a model directory (export + validation report + training record)
  atomically and refuses bad input with one sentence; `tfcalo models` lists what is shipped;
- every shipped model is verified against its content hash and carries the validation report
  and training record its card promises;
- the shipped lhcb-ecal-g4 generator, loaded by TensorFlow alone in a child process,
  reproduces Geant4's sampling fraction per energy bin within 3 % on showers of the test split
  of its training file (a broken re-export is caught here), and works by name in
  `tfcalo generate` and `load_sampler`;
- the shipped cern-ecal-g4 ensemble, loaded the same way at batch sizes 1, 2 and 1,000,
  reproduces the sampling fraction per energy bin within 5 % on its test split.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_helpers import assert_one_sentence_error, invoke
from g4_slices import read_rows
from tiny_generators import TinyGenerator

from tfcalo.data.artifact import split_assignment
from tfcalo.errors import ArtifactError, ConfigError, OutputExistsError
from tfcalo.export import pretrained
from tfcalo.export.integrity import verify_export_hash
from tfcalo.export.sampling import load_sampler
from tfcalo.export.savedmodel import export_generator

REPO = Path(__file__).resolve().parents[2]
TRAINING = {"pipeline": "aux-regressor", "preset": "g4", "seed": 0, "data": "g4.h5"}


@pytest.fixture(scope="module")
def export_and_eval(tmp_path_factory):
    """A tiny lhcb-ecal export and a fake evaluation directory beside it."""
    base = tmp_path_factory.mktemp("ship")
    export_generator(TinyGenerator("lhcb-ecal", latent_dim=4, seed=3), "lhcb-ecal",
                     base / "model", force=True)
    ev = base / "eval"
    ev.mkdir()
    (ev / "metrics.json").write_text(json.dumps({
        "classifier_auc_observables": 0.81, "prd_auc": 0.9, "sf_ratio_max_deviation": 0.012,
        "resolution_ratio_max_deviation": 0.4, "ks_max": 0.1, "fpd": 1.0,
        "provenance": {"test_showers": 4068}}))
    (ev / "report.html").write_text("<html></html>")
    (ev / "plots").mkdir()
    (ev / "plots" / "sf.png").write_bytes(b"\x89PNG")
    (ev / "showers.h5").write_bytes(b"big")  # not part of a validation report
    return base / "model", ev


def test_install_pretrained_ships_export_report_and_record(export_and_eval, tmp_path,
                                                            monkeypatch):
    model, ev = export_and_eval
    path = pretrained.install_pretrained(model, ev, "tiny-g4", training=TRAINING,
                                         root=tmp_path)
    assert path == tmp_path / "tiny-g4"
    assert sorted(p.name for p in (path / "validation").iterdir()) == [
        "metrics.json", "plots", "report.html"]
    assert (path / "validation" / "plots" / "sf.png").is_file()
    card = json.loads((path / "model_card.json").read_text())
    assert card["training"] == TRAINING
    assert card["headline_metrics"] == {
        "classifier_auc_observables": 0.81, "prd_auc": 0.9, "sf_ratio_max_deviation": 0.012,
        "resolution_ratio_max_deviation": 0.4, "ks_max": 0.1}
    assert card["validation"] == {"dir": "validation", "test_showers": 4068}
    verify_export_hash(path)  # the card changed, the hashed files did not
    pretrained.record_speed(path, {"batches": {"1": {"showers_per_s": 300.0},
                                               "10000": {"showers_per_s": 15000.0}}})
    verify_export_hash(path)
    (row,) = pretrained.pretrained_summaries(tmp_path)
    assert row["name"] == "tiny-g4" and row["detector"] == "lhcb-ecal"
    assert row["showers_per_s"] == (10000, 15000.0)

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    listed = invoke("models")
    assert listed.exit_code == 0, listed.output
    assert "tiny-g4  (lhcb-ecal; not blessed; pipeline aux-regressor --preset g4, seed 0)" \
        in listed.output
    assert "classifier AUC 0.81" in listed.output and "15,000 showers/s" in listed.output
    assert pretrained.is_pretrained(path) and not pretrained.is_pretrained(model)


def test_install_pretrained_refuses_bad_input_and_keeps_what_is_shipped(export_and_eval,
                                                                        tmp_path):
    model, ev = export_and_eval
    with pytest.raises(ConfigError, match="name"):
        pretrained.install_pretrained(model, ev, "../up", training=TRAINING, root=tmp_path)
    with pytest.raises(ConfigError, match="lacks seed"):
        pretrained.install_pretrained(model, ev, "x", root=tmp_path,
                                      training={k: v for k, v in TRAINING.items() if k != "seed"})
    with pytest.raises(ArtifactError, match="has no metrics.json"):
        pretrained.install_pretrained(model, tmp_path, "x", training=TRAINING, root=tmp_path)
    with pytest.raises(ArtifactError, match="is not a tfcalo SavedModel export"):
        pretrained.install_pretrained(ev, ev, "x", training=TRAINING, root=tmp_path)
    first = pretrained.install_pretrained(model, ev, "x", training=TRAINING, root=tmp_path)
    before = (first / "model_card.json").read_text()
    with pytest.raises(OutputExistsError, match="not empty"):
        pretrained.install_pretrained(model, ev, "x", training=TRAINING, root=tmp_path)
    assert (first / "model_card.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x"]  # no temporary directory left


def test_models_ship_command(export_and_eval, tmp_path, monkeypatch):
    model, ev = export_and_eval
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    args = ["models", "ship", model, "--evaluation", ev, "--name", "y", "--pipeline", "p",
            "--preset", "q", "--seed", 1, "--data", "d.h5"]
    empty = invoke("models")
    assert empty.exit_code == 0 and "no pretrained models" in empty.output
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "y" / "model_card.json").read_text())
    assert card["training"] == {"pipeline": "p", "preset": "q", "seed": 1, "data": "d.h5"}
    assert_one_sentence_error(invoke(*args), "not empty", "--overwrite")
    assert invoke(*args, "--overwrite").exit_code == 0
    assert_one_sentence_error(invoke(*args[:4], tmp_path / "none", *args[5:]),
                              "has no metrics.json")
    assert_one_sentence_error(invoke(*args, "--overwrite", "--ensemble-report",
                                     tmp_path / "none"), "does not exist")
    report = tmp_path / "report"
    (report / "plots").mkdir(parents=True)
    (report / "tensorboard").mkdir()
    (report / "ensemble_report.html").write_text("<html></html>")
    (report / "plots" / "sf.png").write_bytes(b"png")
    assert invoke(*args, "--overwrite", "--ensemble-report", report).exit_code == 0
    shipped = tmp_path / "y" / "ensemble_report"
    assert (shipped / "ensemble_report.html").is_file() and (shipped / "plots" / "sf.png").is_file()
    assert not (shipped / "tensorboard").exists()
    assert json.loads((tmp_path / "y" / "model_card.json").read_text())["reports"] == [
        "ensemble_report"]
    assert invoke("models").output.startswith("y  (lhcb-ecal")


# --------------------------------------------------------------------------- shipped models


@pytest.mark.parametrize("name", pretrained.pretrained_names())
def test_shipped_models_are_complete_and_verified(name):
    path = pretrained.pretrained_path(name)
    verify_export_hash(path)
    card = json.loads((path / "model_card.json").read_text())
    assert set(card["training"]) >= {"pipeline", "preset", "seed", "data"}
    assert card["training_data_hash"]
    for f in ("metrics.json", "report.html"):
        assert (path / "validation" / f).is_file()
    assert list((path / "validation" / "plots").glob("*.png"))
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    assert size < 20e6, f"{name} is {size / 1e6:.1f} MB"


LHCB = "lhcb-ecal-g4"
N_TEST = 2000
SF_BINS = np.geomspace(2.0, 100.0, 6)  # GeV, 5 bins

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    assert "tfcalo" not in sys.modules
    model = tf.saved_model.load(sys.argv[1])
    cond = np.load(sys.argv[2])
    for batch in [int(b) for b in sys.argv[4].split(",") if b] + [len(cond)]:
        out = model.generate(tf.constant(cond[:batch]), seed=tf.constant(7, tf.int64))
        showers = out["showers"].numpy()
        assert len(showers) == batch and np.isfinite(showers).all() and showers.min() >= 0
    np.save(sys.argv[3], showers.reshape(len(showers), -1).sum(axis=1))
    assert "tfcalo" not in sys.modules
""")


def deposits_by_tensorflow_alone(name: str, cond: np.ndarray, tmp_path: Path,
                                 small_batches: str = "") -> np.ndarray:
    """Per-shower deposits of the shipped model ``name`` for ``cond``, generated in a child
    process that imports TensorFlow and not tfcalo (after batches ``small_batches``, e.g.
    "1,2", whose outputs it checks for size and sanity)."""
    np.save(tmp_path / "cond.npy", cond)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(pretrained.pretrained_path(name)),
                           str(tmp_path / "cond.npy"), str(tmp_path / "dep.npy"),
                           small_batches], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    generated = np.load(tmp_path / "dep.npy")
    assert generated.shape == (len(cond),)
    return generated


def assert_sampling_fraction_per_bin(generated: np.ndarray, deposit: np.ndarray,
                                     energy: np.ndarray, bins: np.ndarray, tolerance: float,
                                     min_count: int) -> None:
    """The mean deposit / primary energy of ``generated`` within ``tolerance`` of Geant4's
    ``deposit`` (same units) in every primary-energy bin (``bins`` in GeV, ``energy`` per
    shower), each bin holding more than ``min_count`` showers."""
    which = np.digitize(energy, bins) - 1
    for b in range(len(bins) - 1):
        sel = which == b
        assert sel.sum() > min_count, (bins[b], sel.sum())
        ratio = np.mean(generated[sel] / energy[sel]) / np.mean(deposit[sel] / energy[sel])
        assert abs(ratio - 1) < tolerance, (f"sampling fraction {bins[b]:.0f}-"
                                            f"{bins[b + 1]:.0f} GeV off by {ratio - 1:+.1%}")


def deposits_generated_by_name(name: str, energy: float, n: int, key: str) -> np.ndarray:
    """Per-shower deposits (the file's energy unit) of ``tfcalo generate NAME -n N --energy E
    -o showers.h5`` run in the current directory; ``key`` is the file's shower dataset."""
    result = invoke("generate", name, "-n", n, "--energy", energy, "-o", "showers.h5")
    assert result.exit_code == 0, result.output
    with h5py.File("showers.h5", "r") as f:
        return f[key][:].reshape(n, -1).sum(axis=1)


def _test_split_slice(shared_data: Path):
    """(conditions (N, 6), deposits (N,) MeV, energies (N,) GeV) of the first N_TEST showers
    of the test split the g4 preset's ingest makes (its seed and fractions)."""
    preset = tomllib.loads((REPO / "pipelines" / "presets" / "aux-regressor.g4.toml").read_text())
    seed, split = preset["data"]["seed"], preset["data"]["split"]
    with h5py.File(shared_data / "g4_lhcb_ecal_train.h5", "r") as f:
        n = len(f["ParticleEnergy"])
        test = np.flatnonzero(split_assignment(np.arange(n), seed, split) == 2)[:N_TEST]
        stop = int(test[-1]) + 1
        deposit = f["EnergyDeposit"][:stop].reshape(stop, -1).sum(axis=1)[test]
        cond = np.concatenate([f["ParticlePoint"][:stop], f["ParticleMomentum"][:stop]],
                              axis=1)[test]
        energy = f["ParticleEnergy"][:stop][test]
    return cond.astype(np.float32), deposit, energy


def test_lhcb_generator_is_shipped():
    assert LHCB in pretrained.pretrained_names()


def test_shipped_lhcb_generator_has_geant4_sampling_fraction(shared_data, tmp_path):
    cond, deposit, energy = _test_split_slice(shared_data)
    generated = deposits_by_tensorflow_alone(LHCB, cond, tmp_path)
    assert_sampling_fraction_per_bin(generated, deposit, energy, SF_BINS, 0.03, min_count=200)


def test_shipped_lhcb_generator_works_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    deposits = deposits_generated_by_name(LHCB, 50, 20, "EnergyDeposit")
    # 50 GeV at Geant4's sampling fraction 0.1755 (README of ../shared/data), in MeV
    assert np.all(np.abs(deposits / (50e3 * 0.1755) - 1) < 0.1)
    sampler = load_sampler(LHCB)
    assert sampler.detector.name == "lhcb-ecal"
    listed = invoke("models")
    assert LHCB in listed.output and "classifier AUC" in listed.output
    missing = invoke("generate", "lhcb-ecal-g5", "--energy", 50, "-o", "x.h5")
    assert_one_sentence_error(missing, "does not exist nor a pretrained model", LHCB)


CERN = "cern-ecal-g4"
CERN_BINS = np.geomspace(2.0, 500.0, 5)  # GeV, 4 bins


def test_cern_ensemble_is_shipped():
    assert CERN in pretrained.pretrained_names()
    card = json.loads((pretrained.pretrained_path(CERN) / "model_card.json").read_text())
    assert card["detector"] == "cern-ecal" and card["training"]["pipeline"] == "ensemble"


def test_shipped_cern_ensemble_has_geant4_sampling_fraction(shared_data, tmp_path):
    """TensorFlow alone, batch sizes 1, 2 and 1,000; the sampling fraction per energy bin of
    the first 1,000 showers of the g4 preset's test split within 5 % of Geant4's."""
    preset = tomllib.loads((REPO / "pipelines" / "presets" / "ensemble.g4.toml").read_text())
    seed, split = preset["data"]["seed"], preset["data"]["split"]
    with h5py.File(shared_data / "g4_cern_ecal_train.h5", "r") as f:
        energy = f["energy"][:].astype(np.float32)
        test = np.flatnonzero(split_assignment(np.arange(len(energy)), seed, split) == 2)[:1000]
        deposit = read_rows(f["ECAL"], test).reshape(len(test), -1).sum(axis=1, dtype=np.float64)
    energy = energy[test]
    generated = deposits_by_tensorflow_alone(CERN, energy[:, None], tmp_path, "1,2")
    assert_sampling_fraction_per_bin(generated, deposit, energy, CERN_BINS, 0.05, min_count=150)


def test_shipped_cern_ensemble_works_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    deposits = deposits_generated_by_name(CERN, 100, 20, "ECAL")
    # 100 GeV at Geant4's sampling fraction 0.024 (README of ../shared/data): within 15 %
    assert np.all(np.abs(deposits / (100 * 0.024) - 1) < 0.15)
    assert CERN in invoke("models").output
