"""Built-in simulators: conditions, determinism, chunking, files and the CLI command."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from tfcalo.cli import main
from tfcalo.data import simulate
from tfcalo.data.simulate import cern_showers, simulate_chunks, simulate_to_file
from tfcalo.errors import ConfigError, OutputExistsError, UnknownNameError


def _collect(detector: str, n: int, seed: int, chunk_size: int) -> dict:
    chunks = list(simulate_chunks(detector, n, seed, chunk_size))
    assert all(len(c["weights"]) <= chunk_size for c in chunks)
    return {k: np.concatenate([c[k] for c in chunks]) for k in ("showers", "conditions", "weights")}


@pytest.mark.parametrize("detector,n", [("lhcb-ecal", 70), ("cern-ecal", 9), ("rich-pid", 500)])
def test_deterministic_for_a_seed_whatever_the_chunk_size(detector, n):
    a = _collect(detector, n, 11, 7)
    b = _collect(detector, n, 11, 1000)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = _collect(detector, n, 12, 1000)
    assert not np.array_equal(a["showers"], c["showers"])


def test_lhcb_chunks_canonical_and_gun_ranges():
    d = _collect("lhcb-ecal", 200, 3, 64)
    assert d["showers"].shape == (200, 30, 30) and d["showers"].dtype == np.float32
    assert d["conditions"].shape == (200, 6) and d["conditions"].dtype == np.float32
    np.testing.assert_array_equal(d["weights"], 1.0)
    x, y, z, px, py, pz = d["conditions"].T
    e = np.sqrt(px**2 + py**2 + pz**2)
    assert (np.abs(x) <= 0.5).all() and (np.abs(y) <= 0.5).all() and (z == 0).all()
    assert (np.abs(px / pz) <= 0.3).all() and (np.abs(py / pz) <= 0.25).all()
    assert e.min() >= 2.0 - 1e-4 and e.max() <= 100.0 + 1e-3
    # MeV: sampling fraction about 0.16 of the energy in MeV
    sf = d["showers"].sum(axis=(1, 2)) / (1000.0 * e)
    assert sf.mean() == pytest.approx(0.16, rel=0.03)


def test_lhcb_image_axes_row_y_column_x():
    rng = np.random.default_rng(0)
    cond = np.array([[9.0, -11.0, 0.0, 0.0, 0.0, 20.0]] * 3)
    img = simulate.lhcb_showers(cond, rng).sum(axis=0)
    row, col = np.unravel_index(np.argmax(img), img.shape)
    assert (col, row) == (int((9.0 + 30) // 2), int((-11.0 + 30) // 2))


def test_cern_layout_energy_range_and_sampling_fraction():
    d = _collect("cern-ecal", 6, 1, 4)
    assert d["showers"].shape == (6, 25, 25, 25) and d["conditions"].shape == (6, 1)
    assert (d["conditions"] >= 2.0).all() and (d["conditions"] <= 500.0).all()
    rng = np.random.default_rng(2)
    sf = {}
    for e in (10.0, 200.0):
        s = cern_showers(np.full(30, e), np.zeros((30, 3)), rng)
        sf[e] = s.sum(axis=(1, 2, 3)).mean() / e
    # sheet check 7: about 0.0225 at 10 GeV falling slowly to 0.0200 at 200 GeV
    assert sf[10.0] == pytest.approx(0.0225, abs=0.0015)
    assert sf[200.0] == pytest.approx(0.0200, abs=0.0015)
    assert sf[10.0] > sf[200.0]
    # [x, y, layer]: an entry point at +x moves the energy along the first axis.
    s = cern_showers(np.full(2, 50.0), np.array([[1.53, 0.0, 0.0]] * 2), rng).sum(axis=(0, 3))
    assert np.unravel_index(np.argmax(s), s.shape) == (15, 12)


def test_generation_is_lazy_so_memory_does_not_grow_with_n(monkeypatch):
    calls = []
    real = simulate._block

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(simulate, "_block", counting)
    first = next(iter(simulate_chunks("lhcb-ecal", 10**9, 0, 10)))
    assert first["showers"].shape == (10, 30, 30)
    assert len(calls) == 1


@pytest.mark.parametrize("kwargs,exc", [
    ({"n": 0}, ConfigError), ({"chunk_size": 0}, ConfigError), ({"seed": -1}, ConfigError),
    ({"detector": "lhcb"}, UnknownNameError)])
def test_bad_arguments_raise_user_errors(kwargs, exc):
    args = {"detector": "lhcb-ecal", "n": 5, "seed": 0, "chunk_size": 10} | kwargs
    with pytest.raises(exc):
        next(iter(simulate_chunks(**args)))


def test_simulate_to_file_layout_refuses_overwrite_and_reads_back(tmp_path):
    from tfcalo.data.formats import open_source

    path = tmp_path / "showers.h5"
    simulate_to_file("lhcb-ecal", 20, 5, path, chunk_size=8)
    with h5py.File(path) as f:
        assert set(f) >= {"EnergyDeposit", "ParticlePoint", "ParticleMomentum"}
        assert f["EnergyDeposit"].shape == (20, 30, 30)
    src = open_source(path, "lhcb-ecal")
    got = [c for c in src.iter_chunks(100)]
    want = _collect("lhcb-ecal", 20, 5, 1000)
    np.testing.assert_allclose(got[0][0], want["showers"])
    np.testing.assert_allclose(got[0][1], want["conditions"], rtol=1e-6, atol=1e-6)
    with pytest.raises(OutputExistsError, match="showers.h5"):
        simulate_to_file("lhcb-ecal", 5, 5, path)
    simulate_to_file("lhcb-ecal", 5, 6, path, overwrite=True)
    with h5py.File(path) as f:
        assert f["EnergyDeposit"].shape == (5, 30, 30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["showers.h5"]
    with pytest.raises(OutputExistsError, match="directory"):
        simulate_to_file("lhcb-ecal", 5, 6, tmp_path, overwrite=True)


def test_rich_pid_file_has_sweight_column_for_ingest(tmp_path):
    from tfcalo.data.formats import open_source

    path = tmp_path / "pid.h5"
    simulate_to_file("rich-pid", 400, 1, path, chunk_size=150)
    src = open_source(path, "rich-pid", weights_from="sweight")
    _, _, w = next(iter(src.iter_chunks(1000)))
    want = _collect("rich-pid", 400, 1, 1000)
    np.testing.assert_allclose(w, want["weights"], rtol=1e-6)
    assert (w < 0).any()


def test_failed_simulation_leaves_no_file(tmp_path, monkeypatch):
    real = simulate.simulate_chunks

    def failing(*args, **kwargs):
        it = real(*args, **kwargs)
        yield next(it)
        raise RuntimeError("disk full")

    monkeypatch.setattr(simulate, "simulate_chunks", failing)
    with pytest.raises(RuntimeError):
        simulate_to_file("lhcb-ecal", 20, 0, tmp_path / "x.h5", chunk_size=5)
    assert list(tmp_path.iterdir()) == []


def test_cli_simulate_writes_refuses_and_helps(tmp_path):
    runner = CliRunner()
    out = tmp_path / "showers.h5"
    args = ["data", "simulate", "--detector", "cern-ecal", "-n", "3", "--seed", "1",
            "-o", str(out), "--chunk-size", "2"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        assert f["ECAL"].shape == (3, 25, 25, 25) and f["energy"].shape == (3,)
    res = runner.invoke(main, args)
    assert res.exit_code == 2
    assert "Error:" in res.output and "--overwrite" in res.output and "Traceback" not in res.output
    assert runner.invoke(main, args + ["--overwrite"]).exit_code == 0
    res = runner.invoke(main, ["data", "simulate", "--help"])
    assert "tfcalo data simulate --detector lhcb-ecal -n 10000 --seed 1 -o showers.h5" in res.output
