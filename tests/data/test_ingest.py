"""tfcalo.data.ingest: run_ingest round trips, refusals, warnings, bounded memory.

The pipeline component is tested in tests/components/test_ingest.py."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import h5py
import numpy as np
import pytest

from tfcalo.data import ingest
from tfcalo.data.dataset import Dataset
from tfcalo.data.formats import CommunityWriter
from tfcalo.errors import InputFileError, OutputExistsError


def write_cern(path, n, seed=0, ep=None):
    rng = np.random.default_rng(seed)
    ep = rng.uniform(2, 500, n) if ep is None else np.asarray(ep, float)
    showers = rng.random((n, 25, 25, 25)).astype(np.float32) * 1e-3
    with CommunityWriter(path, "cern-ecal") as w:
        w.write(showers, ep[:, None])
    return showers, ep


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_ingest_round_trip_and_source_untouched(tmp_path):
    src = tmp_path / "c.h5"
    showers, ep = write_cern(src, 40)
    before = sha(src)
    summary = ingest.run_ingest(src, tmp_path / "ds", "cern-ecal", split="0.5,0.25,0.25",
                                seed=2, chunk_size=16)
    assert sha(src) == before
    assert summary["total"] == 40 and sum(summary["counts"].values()) == 40
    assert summary["source_sha256"] == before
    ds = Dataset.open(tmp_path / "ds")
    assert ds.schema["provenance"]["source_sha256"] == before
    assert ds.schema["split"]["fractions"] == [0.5, 0.25, 0.25]
    d = ds.load("val")
    np.testing.assert_array_equal(d["showers"], showers[d["index"]])
    assert not list(tmp_path.glob(".ds.tmp-*"))


def test_same_source_same_seed_same_hash_and_split(tmp_path):
    src = tmp_path / "c.h5"
    write_cern(src, 30)
    a = ingest.run_ingest(src, tmp_path / "a", "cern-ecal", seed=1, chunk_size=7)
    b = ingest.run_ingest(src, tmp_path / "b", "cern-ecal", seed=1, chunk_size=11)
    c = ingest.run_ingest(src, tmp_path / "c", "cern-ecal", seed=2)
    assert a["content_hash"] == b["content_hash"] != c["content_hash"]
    assert a["counts"] == b["counts"]
    ia = Dataset.open(tmp_path / "a").load("train")["index"]
    ib = Dataset.open(tmp_path / "b").load("train")["index"]
    np.testing.assert_array_equal(ia, ib)


def test_refuses_non_empty_output_unless_overwrite(tmp_path):
    src = tmp_path / "c.h5"
    write_cern(src, 5)
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(OutputExistsError, match="not empty"):
        ingest.run_ingest(src, out, "cern-ecal")
    assert (out / "keep.txt").exists()
    with pytest.raises(OutputExistsError, match="not a tfcalo dataset artifact"):
        ingest.run_ingest(src, out, "cern-ecal", overwrite=True)  # not ours: never replaced
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()
    ingest.run_ingest(src, out, "cern-ecal", split=(1, 0, 0))
    ingest.run_ingest(src, out, "cern-ecal", split=(0, 1, 0), overwrite=True)
    assert Dataset.open(out).count("val") == 5


def test_bad_content_leaves_no_output(tmp_path):
    src = tmp_path / "c.h5"
    write_cern(src, 30, ep=[5.0] * 29 + [np.nan])
    with pytest.raises(InputFileError, match="NaN"):
        ingest.run_ingest(src, tmp_path / "ds", "cern-ecal", chunk_size=8)
    assert list(tmp_path.iterdir()) == [src]


def test_out_of_range_conditions_warn_with_count(tmp_path):
    src = tmp_path / "c.h5"
    write_cern(src, 10, ep=[1.0, 600.0, 700.0] + [50.0] * 7)
    summary = ingest.run_ingest(src, tmp_path / "ds", "cern-ecal")
    assert summary["out_of_range"] == {"Ep": 3}
    assert summary["warnings"] == ["3 examples have Ep outside the cern-ecal range [2, 500]"]


def test_shared_geant4_slice_ingests(shared_data, tmp_path):
    src = tmp_path / "g4.h5"
    with h5py.File(shared_data / "g4_lhcb_ecal_train.h5") as f, h5py.File(src, "w") as g:
        for key in f:
            g[key] = f[key][:300]
        e = f["EnergyDeposit"][:300]
    summary = ingest.run_ingest(src, tmp_path / "ds", "lhcb-ecal", chunk_size=128)
    assert summary["total"] == 300 and summary["warnings"] == []
    ds = Dataset.open(tmp_path / "ds")
    assert ds.stats["sf_slope"] == pytest.approx(0.175, abs=0.01)  # README: 0.1755
    d = ds.load("test")
    np.testing.assert_array_equal(d["showers"], e[d["index"]])


_PEAK = """
import sys, tracemalloc
from tfcalo.data.ingest import run_ingest
from tfcalo.data import formats
import tensorflow  # noqa: F401  (import cost outside the measurement)
seen = []
orig = formats.Source.iter_chunks
def spy(self, chunk_size, clip_negative=False):
    for c in orig(self, chunk_size, clip_negative):
        seen.append(self.max_rows_read)
        yield c
formats.Source.iter_chunks = spy
tracemalloc.start()
for src in sys.argv[2:]:
    tracemalloc.reset_peak()
    run_ingest(src, src + ".ds", "cern-ecal", chunk_size=int(sys.argv[1]))
    print(tracemalloc.get_traced_memory()[1], max(seen))
"""


def test_memory_bounded_by_chunk_size(tmp_path):
    """Peak traced memory of ingest does not grow with the source size (4x more showers)."""
    srcs = [tmp_path / f"c{n}.h5" for n in (64, 256)]
    for n, src in zip((64, 256), srcs, strict=True):
        write_cern(src, n)
    res = subprocess.run([sys.executable, "-c", _PEAK, "32", *map(str, srcs)],
                         capture_output=True, text=True, check=True)
    rows = [tuple(map(int, line.split())) for line in res.stdout.strip().splitlines()]
    assert [r[1] for r in rows] == [32, 32]  # never read more than one chunk
    peaks = [r[0] for r in rows]
    chunk_bytes = 32 * 25**3 * 4  # 2 MB
    assert peaks[1] < peaks[0] + chunk_bytes  # 192 more showers would be 12 MB
    assert peaks[1] < 6 * chunk_bytes
