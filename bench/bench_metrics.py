"""Benchmark the metrics library and the observables; prints one JSON object.

- PRD-AUC (10 runs, 20 clusters) on 2 x 50,000 samples of 900 dimensions (budget 60 s on
  2 cores), plus the known answers on the same sizes: same distribution ~1, disjoint 0.
- Fréchet distance on 2 x 100,000 samples of 64 dimensions (budget 5 s).
- Observables of 50,000 lhcb-ecal showers (the shared Geant4 file, 40,000 showers, tiled).

Usage: python bench/bench_metrics.py [--quick]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from tfcalo import physics
from tfcalo.metrics import frechet_distance, prd_auc_score

G4 = Path(__file__).resolve().parents[2] / "shared" / "data" / "g4_lhcb_ecal_train.h5"


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main(quick: bool = False) -> dict:
    rng = np.random.default_rng(0)
    n = 5_000 if quick else 50_000
    res: dict = {"n_prd": n}
    # shower-like data: gamma-distributed cells, 900 dimensions
    real = rng.gamma(0.5, 1.0, (n, 900)).astype(np.float32)
    same = rng.gamma(0.5, 1.0, (n, 900)).astype(np.float32)
    res["prd_auc_same"], res["prd_seconds"] = timed(prd_auc_score, same, real)
    res["prd_auc_disjoint"], _ = timed(prd_auc_score, same + 100.0, real)
    res["prd_budget_seconds"] = 60.0
    del real, same

    m = 10_000 if quick else 100_000
    x = rng.normal(size=(m, 64))
    y = rng.normal(size=(m, 64)) + 0.1
    res["frechet_value"], res["frechet_seconds"] = timed(frechet_distance, x, y)
    res["frechet_expected"] = 64 * 0.01
    res["frechet_budget_seconds"] = 5.0

    if G4.is_file():
        import h5py

        with h5py.File(G4, "r") as f:
            k = 5_000 if quick else 40_000
            img = f["EnergyDeposit"][:k]
            cond = np.column_stack([f["ParticlePoint"][:k], f["ParticleMomentum"][:k]])
        reps = int(np.ceil((5_000 if quick else 50_000) / k))
        img = np.concatenate([img] * reps)[: 5_000 if quick else 50_000]
        cond = np.concatenate([cond] * reps)[: len(img)]
        obs, sec = timed(physics.observables, "lhcb-ecal", img, cond)
        res.update(observables_n=len(img), observables_count=len(obs),
                   observables_seconds=sec)
    return res


if __name__ == "__main__":
    print(json.dumps(main(quick="--quick" in sys.argv), indent=1))
