"""Benchmark: calibration table of the blessing thresholds (docs/thresholds.md).

For each detector, two disjoint random halves A and B of real showers are compared with
:func:`tfcalo.evaluation.evaluate_arrays` (A as "real", B as "generated" at B's conditions):
B itself (real vs real), and B with a known defect (:mod:`tfcalo.evaluation.perturbations`): energy
x1.02, x1.05, an extra 3 % per-shower smear, transverse widths x1.05. Prints JSON: per
detector and case every checked metric's value, threshold and verdict, the informational
metrics, and what the perturbation measurably did (mean sampling-fraction ratio, mean
width ratio, resolution ratio).

- lhcb-ecal, cern-ecal: Geant4 showers of ../shared/data (README there), a random subset.
- rich-pid: the built-in RICH toy (:mod:`tfcalo.data.richtoy`, sWeighted kaon signal on a
  pion background, both halves weighted). Perturbations act on every track's DLLs (the
  sWeights then extract the perturbed kaon response): DLL x1.02 and x1.05 (separation
  scale), each track's DLLs times ``1 + 0.03 g`` (smear), and the DLLs stretched by 1.05
  about their true conditional mean for the track's species (resolution x1.05).

Usage: python bench/bench_thresholds.py [--n-lhcb 2500] [--n-cern 2500] [--n-rich 250000]
       [--prd-runs 2] [--seed 0] [--detectors lhcb-ecal,cern-ecal,rich-pid]
(the --n-* are showers per half). About 2.5 minutes on a 2-core CPU with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import h5py
import numpy as np

from tfcalo import physics
from tfcalo.evaluation import perturbations as P
from tfcalo.evaluation.validation import METRIC_OPS, EvaluateConfig, evaluate_arrays

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {"lhcb-ecal": "g4_lhcb_ecal_train.h5", "cern-ecal": "g4_cern_ecal_train.h5"}


def load_geant4(detector: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``2 n`` random showers and conditions of the shared Geant4 file (canonical layout)."""
    path = DATA / FILES[detector]
    with h5py.File(path, "r") as f:
        total = len(f["ParticleEnergy" if detector == "lhcb-ecal" else "energy"])
        if 2 * n > total:
            raise SystemExit(f"{path} holds {total} showers; asked for 2 x {n}")
        idx = np.sort(np.random.default_rng(seed).choice(total, 2 * n, replace=False))
        if detector == "lhcb-ecal":
            showers = f["EnergyDeposit"][idx].astype(np.float32)
            cond = np.hstack([f["ParticlePoint"][idx], f["ParticleMomentum"][idx]])
        else:
            showers = f["ECAL"][idx].astype(np.float32)
            cond = f["energy"][idx][:, None]
    return showers, cond.astype(np.float32)


def calorimeter_cases(detector: str, b: np.ndarray, seed: int) -> dict[str, tuple]:
    """name -> (generated showers, description)."""
    wide, f = P.widen_transverse(b, detector, 1.05)
    return {
        "real": (b, "real vs real (disjoint halves)"),
        "energy_x1.02": (P.scale_energy(b, 1.02), "every cell x1.02"),
        "energy_x1.05": (P.scale_energy(b, 1.05), "every cell x1.05"),
        "smear_3pct": (P.smear_energy(b, 0.03, seed), "each shower x (1 + 0.03 g)"),
        "widths_x1.05": (wide, f"transverse density stretched x{f:.4f} about the centroid "
                               "(mean width_x, width_y x1.05)"),
    }


def effect(detector: str, real_b: np.ndarray, gen: np.ndarray, cond: np.ndarray) -> dict:
    """What a perturbation measurably did to B (same showers, same conditions)."""
    o_r = physics.observables(detector, real_b, cond)
    o_g = physics.observables(detector, gen, cond)
    out = {}
    if "sampling_fraction" in o_r:
        out["sf_ratio_mean"] = float(o_g["sampling_fraction"].mean()
                                     / o_r["sampling_fraction"].mean())
        rel = o_g["sampling_fraction"] / np.where(o_r["sampling_fraction"] > 0,
                                                  o_r["sampling_fraction"], np.nan)
        out["sf_ratio_rms"] = float(np.nanstd(rel))
    if "width_x" in o_r:
        out["width_ratio_mean"] = float((o_g["width_x"].mean() + o_g["width_y"].mean())
                                        / (o_r["width_x"].mean() + o_r["width_y"].mean()))
    return out


def run_case(detector, a, ca, wa, g, cb, wb, cfg) -> dict:
    res = evaluate_arrays(detector, a, ca, g, wa, cfg, gen_conditions=cb, gen_weights=wb)
    m = res.metrics
    checks = {c["metric"]: {"value": c["value"], "threshold": c["threshold"], "op": c["op"],
                            "critical": c["critical"], "passed": c["passed"]}
              for c in res.blessing["checks"]}
    info = {k: m.get(k) for k in METRIC_OPS if k not in checks and m.get(k) is not None}
    worst = max(m["observables"], key=lambda k: m["observables"][k]["ks"])
    return {"blessed": res.blessing["blessed"],
            "failed": [k for k, c in checks.items() if not c["passed"]],
            "checks": checks, "info": info, "ks_worst_observable": worst,
            "n_eff": [m["statistics"]["n_eff_real"], m["statistics"]["n_eff_generated"]]}


def calorimeter(detector: str, n: int, cfg: EvaluateConfig, seed: int) -> dict:
    showers, cond = load_geant4(detector, n, seed)
    a, b, ca, cb = showers[:n], showers[n:], cond[:n], cond[n:]
    out = {"source": str(DATA / FILES[detector]), "n_per_side": n, "cases": {}}
    for name, (g, what) in calorimeter_cases(detector, b, seed + 1).items():
        t0 = time.perf_counter()
        row = run_case(detector, a, ca, None, g, cb, None, cfg)
        row.update({"perturbation": what, "effect": effect(detector, b, g, cb),
                    "seconds": round(time.perf_counter() - t0, 1)})
        out["cases"][name] = row
    return out


def rich(n: int, cfg: EvaluateConfig, seed: int) -> dict:
    from tfcalo.data import richtoy

    d = richtoy.generate(2 * n, seed)
    s, c, w = d["showers"], d["conditions"], d["weights"].astype(np.float64)
    species = d["extra"]["species"]
    a, b = slice(0, n), slice(n, 2 * n)
    centre = richtoy.dll_mean(species[b], c[b].astype(np.float64))
    cases = {
        "real": (s[b], "real vs real (disjoint halves, both sWeighted)"),
        "energy_x1.02": (P.scale_energy(s[b], 1.02), "DLLs x1.02"),
        "energy_x1.05": (P.scale_energy(s[b], 1.05), "DLLs x1.05"),
        "smear_3pct": (P.smear_energy(s[b], 0.03, seed + 1), "each track's DLLs x (1 + 0.03 g)"),
        "widths_x1.05": (P.stretch_about(s[b], centre, 1.05),
                         "DLLs stretched x1.05 about the true conditional mean"),
    }
    out = {"source": "tfcalo.data.richtoy (sWeighted kaons on pions)", "n_per_side": n,
           "cases": {}}
    for name, (g, what) in cases.items():
        t0 = time.perf_counter()
        row = run_case("rich-pid", s[a], c[a], w[a], g, c[b], w[b], cfg)
        row.update({"perturbation": what, "seconds": round(time.perf_counter() - t0, 1)})
        out["cases"][name] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-lhcb", type=int, default=2500)
    ap.add_argument("--n-cern", type=int, default=2500)
    ap.add_argument("--n-rich", type=int, default=250000)
    ap.add_argument("--prd-runs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--detectors", default="lhcb-ecal,cern-ecal,rich-pid")
    args = ap.parse_args()
    cfg = EvaluateConfig(threads=args.threads, prd_runs=args.prd_runs, seed=args.seed,
                         baseline=False, tensorboard=False)
    t0 = time.perf_counter()
    out: dict = {"benchmark": "thresholds", "cpu_count": os.cpu_count(),
                 "config": {"prd_runs": args.prd_runs, "seed": args.seed,
                            "energy_bins": cfg.energy_bins, "max_samples": cfg.max_samples},
                 "detectors": {}}
    for det in args.detectors.split(","):
        if det == "rich-pid":
            out["detectors"][det] = rich(args.n_rich, cfg, args.seed)
        else:
            n = args.n_lhcb if det == "lhcb-ecal" else args.n_cern
            out["detectors"][det] = calorimeter(det, n, cfg, args.seed)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
