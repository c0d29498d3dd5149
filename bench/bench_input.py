"""Benchmark of the tf.data input pipeline: showers/s delivered as batches (prints JSON).

Ingests a slice of the shared Geant4 files (or the built-in simulator if they are absent)
into a temporary artifact, then times full passes of ``Dataset.tf_dataset`` (shuffle,
parallel interleave over shards, batch, decode_raw after batching, prefetch). Targets: at
least 20,000 lhcb-ecal and 2,000 cern-ecal showers/s on 2 cores.

Usage: python bench/bench_input.py [--n-lhcb 20000] [--n-cern 3000] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {"lhcb-ecal": "g4_lhcb_ecal_train.h5", "cern-ecal": "g4_cern_ecal_train.h5"}


def _source(detector: str, n: int, tmp: Path) -> Path:
    import h5py

    from tfcalo.data.formats import open_source

    src = SHARED / FILES[detector]
    out = tmp / f"{detector}.h5"
    if src.exists():
        with open_source(src, detector) as s:
            n = min(n, s.n)
        with h5py.File(src) as f, h5py.File(out, "w") as g:
            for key in ("EnergyDeposit", "ParticlePoint", "ParticleMomentum", "ECAL", "energy"):
                if key in f:
                    g[key] = f[key][:n]
    else:
        from tfcalo.data.simulate import simulate_to_file

        simulate_to_file(detector, n, 0, out)
    return out


def bench(detector: str, n: int, batch_size: int, passes: int, tmp: Path) -> dict:
    from tfcalo.data.dataset import Dataset
    from tfcalo.data.ingest import run_ingest

    src = _source(detector, n, tmp)
    t0 = time.perf_counter()
    summary = run_ingest(src, tmp / f"{detector}-ds", detector, split=(1.0, 0.0, 0.0))
    ingest_s = time.perf_counter() - t0
    ds = Dataset.open(tmp / f"{detector}-ds")
    tfds = ds.tf_dataset("train", batch_size, shuffle=True, seed=0)
    for _ in tfds.take(2):  # warm up (graph tracing, autotune)
        pass
    rates = []
    for _ in range(passes):
        t0, count = time.perf_counter(), 0
        for showers, _, _ in tfds:
            count += int(showers.shape[0])
        rates.append(count / (time.perf_counter() - t0))
    return {"detector": detector, "examples": summary["total"],
            "shards": len(ds.schema["shards"]["train"]), "batch_size": batch_size,
            "ingest_examples_per_s": round(summary["total"] / ingest_s, 1),
            "input_showers_per_s": round(max(rates), 1),
            "input_showers_per_s_all_passes": [round(r, 1) for r in rates]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-lhcb", type=int, default=20000)
    parser.add_argument("--n-cern", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    targets = {"lhcb-ecal": 20000, "cern-ecal": 2000}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for det, n in (("lhcb-ecal", args.n_lhcb), ("cern-ecal", args.n_cern)):
            r = bench(det, n, args.batch_size, args.passes, Path(tmp))
            r["target_showers_per_s"] = targets[det]
            r["meets_target"] = r["input_showers_per_s"] >= targets[det]
            results.append(r)
    print(json.dumps({"bench": "input", "cpus": os.cpu_count(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
