"""Benchmark: a full lhcb-ecal evaluation of 50,000 showers (excluding generation).

"Real" showers are drawn (with replacement) from the shared Geant4 file
../shared/data/g4_lhcb_ecal_train.h5 (40,000 showers); "generated" showers are other draws,
perturbed cell by cell (5 % log-normal noise) and scaled by 1.02, so that every metric has
something to measure. Times evaluate_arrays (all metrics, default config) and write_report
(plots, report.html, TensorBoard) and prints JSON. Target: at most 180 s in total.

Usage: python bench/bench_evaluate.py [--n 50000] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from tfcalo.evaluation.report import write_report
from tfcalo.evaluation.validation import EvaluateConfig, evaluate_arrays

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "g4_lhcb_ecal_train.h5"
BUDGET_S = 180.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    with h5py.File(DATA, "r") as f:
        showers = f["EnergyDeposit"][:].astype(np.float32)
        cond = np.hstack([f["ParticlePoint"][:], f["ParticleMomentum"][:]]).astype(np.float32)
    rng = np.random.default_rng(0)
    ir, ig = rng.integers(0, len(showers), args.n), rng.integers(0, len(showers), args.n)
    real, cr = showers[ir], cond[ir]
    gen = showers[ig] * np.exp(0.05 * rng.standard_normal((args.n, 30, 30))).astype(np.float32)
    gen *= 1.02
    cg = cond[ig]
    del showers
    cfg = EvaluateConfig(threads=args.threads)
    t0 = time.perf_counter()
    result = evaluate_arrays("lhcb-ecal", real, cr, gen, config=cfg, gen_conditions=cg)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_report(tmp, result, {"bench": "bench_evaluate"}, bins=cfg.bins)
        n_png = len(list((Path(tmp) / "plots").glob("*.png")))
    t2 = time.perf_counter()
    m = result.metrics
    print(json.dumps({
        "benchmark": "evaluate_lhcb_ecal",
        "n_showers": args.n,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "metrics_s": round(t1 - t0, 2),
        "report_s": round(t2 - t1, 2),
        "total_s": round(t2 - t0, 2),
        "budget_s": BUDGET_S,
        "within_budget": (t2 - t0) <= BUDGET_S,
        "plots": n_png,
        "prd_auc": round(m["prd_auc"], 4),
        "fpd": round(m["fpd"], 4),
        "classifier_auc_observables": round(m["classifier_auc_observables"], 4),
        "sf_ratio_max_deviation": round(m["sf_ratio_max_deviation"], 4),
        "blessed": result.blessing["blessed"],
    }, indent=2))


if __name__ == "__main__":
    main()
