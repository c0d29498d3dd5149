"""`tfcalo data ingest` and `tfcalo data inspect` (CliRunner, in process)."""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from tfcalo.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def lhcb_file(path, n=20, seed=0, **edit):
    rng = np.random.default_rng(seed)
    arrays = {
        "EnergyDeposit": rng.exponential(10.0, (n, 30, 30)).astype(np.float32),
        "ParticlePoint": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        "ParticleMomentum": np.tile([1.0, 1.0, 50.0], (n, 1)).astype(np.float32),
    }
    arrays.update(edit)
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            if v is not None:
                f[k] = v
    return path


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


def test_ingest_then_inspect(tmp_path):
    src = lhcb_file(tmp_path / "s.h5", n=50)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    r = run("data", "ingest", src, "-o", tmp_path / "ds", "--detector", "lhcb-ecal",
            "--split", "0.6,0.2,0.2", "--seed", "4")
    assert r.exit_code == 0, r.output
    assert "wrote 50 lhcb-ecal examples" in r.stdout
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
    schema = json.loads((tmp_path / "ds" / "schema.json").read_text())
    assert schema["split"] == {"fractions": [0.6, 0.2, 0.2], "seed": 4,
                               "method": "splitmix64 hash of the example index"}
    r = run("data", "inspect", tmp_path / "ds", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["kind"] == "artifact" and sum(info["counts"].values()) == 50
    r = run("data", "inspect", src, "--json")
    info = json.loads(r.stdout)
    total = h5py.File(src)["EnergyDeposit"][:].sum(dtype=np.float64)
    assert info["counts"] == {"all": 50} and info["layout"] == "lhcb"
    assert info["stats"]["energy_sum"] == pytest.approx(total, rel=1e-6)
    assert info["stats"]["conditions"]["pz"]["min"] == pytest.approx(50.0)
    r = run("data", "inspect", src)
    assert "examples: all 50" in r.stdout and "energy sum over all showers" in r.stdout


def test_ingest_weights_from_and_clip_negative(tmp_path):
    e = np.ones((10, 30, 30), np.float32)
    e[2, 0, 0] = -0.5
    src = lhcb_file(tmp_path / "s.h5", n=10, EnergyDeposit=e)
    with h5py.File(src, "a") as f:
        f["sweight"] = np.linspace(-1, 1, 10).astype(np.float32)
    r = run("data", "ingest", src, "-o", tmp_path / "ds", "--detector", "lhcb-ecal",
            "--weights-from", "sweight", "--clip-negative", "--split", "1,0,0")
    assert r.exit_code == 0, r.output
    assert "clipped 1 negative cells" in r.stderr
    from tfcalo.data.dataset import Dataset

    d = Dataset.open(tmp_path / "ds").load("train")
    np.testing.assert_allclose(d["weights"], np.linspace(-1, 1, 10)[d["index"]], rtol=1e-6)
    assert d["showers"].min() == 0.0


def test_out_of_range_warning_on_stderr(tmp_path):
    p = np.tile([0.0, 0.0, 0.0], (20, 1)).astype(np.float32)
    p[:3, 0] = 99.0
    src = lhcb_file(tmp_path / "s.h5", ParticlePoint=p)
    r = run("data", "ingest", src, "-o", tmp_path / "ds", "--detector", "lhcb-ecal")
    assert r.exit_code == 0
    assert "Warning:" in r.stderr and "3 examples have x outside the lhcb-ecal range" in r.stderr


def test_non_empty_output_refused_then_overwrite(tmp_path):
    src = lhcb_file(tmp_path / "s.h5")
    out = tmp_path / "ds"
    out.mkdir()
    (out / "old").write_text("x")
    assert_user_error(run("data", "ingest", src, "-o", out, "--detector", "lhcb-ecal"),
                      str(out), "--overwrite")
    assert (out / "old").exists()
    # --overwrite replaces only a dataset artifact tfcalo wrote, never another directory
    assert_user_error(run("data", "ingest", src, "-o", out, "--detector", "lhcb-ecal",
                          "--overwrite"), str(out), "not a tfcalo dataset artifact")
    assert [p.name for p in out.iterdir()] == ["old"]
    ds = tmp_path / "ds2"
    assert run("data", "ingest", src, "-o", ds, "--detector", "lhcb-ecal").exit_code == 0
    r = run("data", "ingest", src, "-o", ds, "--detector", "lhcb-ecal", "--overwrite",
            "--split", "1,0,0")
    assert r.exit_code == 0, r.output
    assert json.loads((ds / "schema.json").read_text())["counts"]["train"] == 20


def _truncated(tmp_path):
    p = lhcb_file(tmp_path / "src.h5", n=60)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    return p


def _text(tmp_path):
    p = tmp_path / "src.h5"
    p.write_text("x,y\n1,2\n")
    return p


def _empty(tmp_path):
    p = tmp_path / "src.h5"
    p.write_bytes(b"")
    return p


def _nan(tmp_path):
    e = np.ones((20, 30, 30), np.float32)
    e[13, 4, 4] = np.inf
    return lhcb_file(tmp_path / "src.h5", EnergyDeposit=e)


def _negative(tmp_path):
    e = np.ones((20, 30, 30), np.float32)
    e[5, 4, 4] = -2.0
    return lhcb_file(tmp_path / "src.h5", EnergyDeposit=e)


BAD = {
    "missing file": (lambda t: t / "src.h5", "lhcb-ecal", ["src.h5", "does not exist"]),
    "not hdf5": (_text, "lhcb-ecal", ["src.h5", "not an HDF5 file"]),
    "truncated": (_truncated, "lhcb-ecal", ["src.h5"]),
    "empty": (_empty, "lhcb-ecal", ["src.h5", "is empty"]),
    "missing key": (lambda t: lhcb_file(t / "src.h5", ParticleMomentum=None), "lhcb-ecal",
                    ["src.h5", "'ParticleMomentum'", "keys found: EnergyDeposit, ParticlePoint"]),
    "lengths": (lambda t: lhcb_file(t / "src.h5", ParticlePoint=np.zeros((7, 3))), "lhcb-ecal",
                ["src.h5", "20 rows", "7"]),
    "shape": (lambda t: lhcb_file(t / "src.h5", EnergyDeposit=np.zeros((20, 32, 32))),
              "lhcb-ecal", ["src.h5", "(20, 32, 32)", "(N, 30, 30)"]),
    "nan/inf": (_nan, "lhcb-ecal", ["src.h5", "NaN or infinite", "example 13"]),
    "negative": (_negative, "lhcb-ecal", ["src.h5", "negative", "--clip-negative"]),
    "unknown detector": (lambda t: lhcb_file(t / "src.h5"), "lhcb_ecal",
                         ["unknown detector 'lhcb_ecal'", "did you mean 'lhcb-ecal'"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_sentence_exit_2_no_output(tmp_path, case):
    make, detector, fragments = BAD[case]
    src = make(tmp_path)
    before = src.read_bytes() if src.exists() else None
    r = run("data", "ingest", src, "-o", tmp_path / "ds", "--detector", detector)
    assert_user_error(r, *fragments)
    assert not (tmp_path / "ds").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds")]
    if before is not None:
        assert src.read_bytes() == before


def test_inspect_bad_paths(tmp_path):
    assert_user_error(run("data", "inspect", tmp_path / "none.h5"), "none.h5", "does not exist")
    (tmp_path / "dir").mkdir()
    assert_user_error(run("data", "inspect", tmp_path / "dir"), "not a tfcalo dataset")
    with h5py.File(tmp_path / "odd.h5", "w") as f:
        f["foo"] = np.zeros(3)
    assert_user_error(run("data", "inspect", tmp_path / "odd.h5"), "odd.h5", "keys found: foo")
