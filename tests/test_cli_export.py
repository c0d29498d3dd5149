"""`tfcalo export` and `tfcalo generate` (in-process with click's CliRunner)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from cli_helpers import assert_one_sentence_error, invoke
from tiny_generators import TinyGenerator

import tfcalo.training.build


@pytest.fixture(scope="module")
def gen():
    return TinyGenerator("lhcb-ecal", latent_dim=4, seed=5)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, gen):
    """A run dir; tfcalo.training.build.load_generator is patched to return the tiny generator."""
    d = tmp_path_factory.mktemp("run")
    (d / "run.json").write_text(json.dumps({"model": "tiny", "detector": "lhcb-ecal",
                                            "data": {"content_hash": "fp"}}))
    mp = pytest.MonkeyPatch()
    mp.setattr(tfcalo.training.build, "load_generator", lambda path: gen, raising=False)
    yield d
    mp.undo()


@pytest.fixture(scope="module")
def unblessed_eval(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    (d / "blessing.json").write_text(json.dumps(
        {"blessed": False, "checks": [{"metric": "prd_auc", "passed": False}]}))
    return d


@pytest.fixture(scope="module")
def exported(run_dir, unblessed_eval, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "model"
    result = invoke("export", "--model", run_dir, "--out", out, "--evaluation",
                    unblessed_eval, "--force")
    assert result.exit_code == 0, result.output
    assert "exported lhcb-ecal generator" in result.stdout and "forced" in result.stdout
    return out


def test_export_force_writes_card(exported):
    card = json.loads((exported / "model_card.json").read_text())
    assert card["blessing"]["forced"] is True and card["blessing"]["blessed"] is False
    assert card["training_data_hash"] == "fp" and card["model"] == "tiny"
    assert card["onnx"] is None


def test_export_to_a_relative_out(run_dir, tmp_path, monkeypatch):
    """README's `tfcalo export --model run1 --out sm1 --force`: the verification child runs
    in another directory, so the relative path must not reach it as is (issue 10, 2)."""
    monkeypatch.chdir(tmp_path)
    result = invoke("export", "--model", run_dir, "--out", "sm1", "--force")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sm1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm1"]


def test_export_unblessed_refused(run_dir, unblessed_eval, tmp_path):
    result = invoke("export", "--model", run_dir, "--out", tmp_path / "m",
                    "--evaluation", unblessed_eval)
    assert_one_sentence_error(result, "not blessed", "prd_auc", "--force")
    assert not (tmp_path / "m").exists()
    result = invoke("export", "--model", run_dir, "--out", tmp_path / "m")
    assert_one_sentence_error(result, "has no blessing")


def test_export_bad_paths(run_dir, tmp_path, exported):
    assert_one_sentence_error(invoke("export", "--model", tmp_path / "nope", "--out",
                                     tmp_path / "m"), "does not exist")
    (tmp_path / "not_a_run").mkdir()
    assert_one_sentence_error(invoke("export", "--model", tmp_path / "not_a_run", "--out",
                                     tmp_path / "m"), "not a trained run directory")
    assert_one_sentence_error(invoke("export", "--model", run_dir, "--out", tmp_path / "m",
                                     "--evaluation", tmp_path / "noeval"),
                              "evaluation directory", "does not exist")
    assert_one_sentence_error(invoke("export", "--model", run_dir, "--out", exported,
                                     "--force"), "not empty")


def read_lhcb(path):
    with h5py.File(path) as f:
        return f["EnergyDeposit"][:], f["ParticlePoint"][:], f["ParticleMomentum"][:]


def test_generate_energy_seeds(exported, tmp_path):
    a, b, c = (tmp_path / f"{k}.h5" for k in "abc")
    r = invoke("generate", exported, "--energy", 50, "-n", 4, "-o", a, "--seed", 1)
    assert r.exit_code == 0, r.output
    assert "wrote 4 lhcb-ecal showers" in r.stdout
    assert invoke("generate", exported, "--energy", 50, "-n", 4, "-o", b, "--seed", 1,
                  "--batch-size", 4).exit_code == 0
    assert invoke("generate", exported, "--energy", 50, "-n", 4, "-o", c,
                  "--seed", 2).exit_code == 0
    sa, pa, ma = read_lhcb(a)
    assert sa.shape == (4, 30, 30)
    np.testing.assert_array_equal(sa, read_lhcb(b)[0])
    assert np.max(np.abs(sa - read_lhcb(c)[0])) > 1e-4
    np.testing.assert_array_equal(pa, np.zeros((4, 3)))
    np.testing.assert_array_equal(ma, np.tile([0, 0, 50], (4, 1)))
    assert_one_sentence_error(invoke("generate", exported, "--energy", 50, "-o", a),
                              "exists", "--overwrite")


def test_generate_tilted_and_from_run_dir(run_dir, gen, tmp_path):
    out = tmp_path / "t.h5"
    r = invoke("generate", run_dir, "--energy", 5, "--px", 3, "--x", 2, "-n", 2, "-o", out)
    assert r.exit_code == 0, r.output
    showers, point, mom = read_lhcb(out)
    np.testing.assert_allclose(point, [[2, 0, 0]] * 2)
    np.testing.assert_allclose(mom, [[3, 0, 4]] * 2)
    from tfcalo.models.noise import latent_noise

    noise = latent_noise(0, 2, 4)  # the noise of --seed 0 (every seeded path draws it)
    cond = np.array([[2, 0, 0, 3, 0, 4]] * 2, np.float32)
    np.testing.assert_allclose(showers, gen([noise, cond]), rtol=1e-5)


def test_generate_conditions_file(exported, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("x,y,z,px,py,pz\n0,0,0,0,0,10\n1,1,0,0,0,80\n")
    out = tmp_path / "c.h5"
    r = invoke("generate", exported, "--conditions", csv, "-n", 5, "-o", out)
    assert r.exit_code == 0, r.output
    _, _, mom = read_lhcb(out)
    np.testing.assert_array_equal(mom[:, 2], [10, 80, 10, 80, 10])
    csv.write_text("x,y,pz\n0,0,10\n")
    assert_one_sentence_error(invoke("generate", exported, "--conditions", csv, "-o",
                                     tmp_path / "d.h5"), "lacks column", "z, px, py")


def test_generate_user_errors(exported, tmp_path):
    out = tmp_path / "o.h5"
    assert_one_sentence_error(invoke("generate", tmp_path / "nope", "--energy", 5, "-o", out),
                              "does not exist")
    assert_one_sentence_error(invoke("generate", tmp_path, "--energy", 5, "-o", out),
                              "neither a tfcalo SavedModel")
    assert_one_sentence_error(invoke("generate", exported, "-o", out), "exactly one of")
    assert_one_sentence_error(invoke("generate", exported, "--energy", 5, "--pz", 2,
                                     "-o", out), "|p| = 2 GeV")
    assert_one_sentence_error(invoke("generate", exported, "--conditions", out, "--px", 1,
                                     "-o", out), "only go with --energy")
    assert not out.exists()


@pytest.mark.parametrize("cmd", ["export", "generate"])
def test_help_has_examples(cmd):
    r = invoke(cmd, "--help")
    assert r.exit_code == 0 and "Example:" in r.output and f"tfcalo {cmd} " in r.output
