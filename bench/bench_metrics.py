"""Benchmark the metrics library and the observables; prints one JSON object.

- PRD-AUC (10 runs, 20 clusters) on 2 x 50,000 samples of 900 dimensions (budget 60 s on
  2 cores), plus the known answers on the same sizes: same distribution ~1, disjoint 0.
- Fréchet distance on 2 x 100,000 samples of 64 dimensions (budget 5 s).
- Observables of 50,000 lhcb-ecal showers (the shared Geant4 file, 40,000 showers, tiled).
- With ``--kmeans``: PRD's clustering like for like on the same data. The library's numpy
  k-means (``tfcalo.metrics.prd.kmeans_labels``: k-means++ and at most 10 Lloyd iterations
  on a 10,000-row subsample, then one assignment of all rows) against scikit-learn's
  ``KMeans`` and ``MiniBatchKMeans`` with ``n_init=1`` fitted on the SAME subsample (same
  seed) and then ``predict`` on all rows; seconds (best of ``--repeats``, default 2, runs
  interleaved) and PRD-AUC for the same distribution, a slightly different one (gamma shape
  0.5 vs 0.55) and disjoint ones.

Usage: python bench/bench_metrics.py [--quick] [--kmeans] [--repeats N]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from tfcalo import physics
from tfcalo.metrics import frechet_distance, prd, prd_auc_score

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


def _sklearn_labels(estimator: str):
    """A drop-in for ``prd.kmeans_labels`` backed by scikit-learn (n_init=1, same subsample)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    def labels(x: np.ndarray, num_clusters: int, seed: int, fit_size: int = 10_000,
               **_: object) -> np.ndarray:
        rng = np.random.default_rng(seed)  # the same subsample as the numpy k-means
        sub = x[rng.choice(len(x), size=min(fit_size, len(x)), replace=False)]
        k = min(num_clusters, len(sub))
        if estimator == "KMeans":
            model = KMeans(k, n_init=1, random_state=seed)
        else:
            model = MiniBatchKMeans(k, n_init=1, random_state=seed, batch_size=1024)
        return model.fit(sub).predict(x)

    return labels


def kmeans_comparison(quick: bool = False, repeats: int = 2) -> dict:
    """PRD-AUC and seconds of 10 PRD runs per clustering backend on the bench data."""
    rng = np.random.default_rng(0)
    n = 5_000 if quick else 50_000
    real = rng.gamma(0.5, 1.0, (n, 900)).astype(np.float32)
    cases = {"same": rng.gamma(0.5, 1.0, (n, 900)).astype(np.float32)}
    cases["shape_0.55"] = rng.gamma(0.55, 1.0, (n, 900)).astype(np.float32)
    cases["disjoint"] = cases["same"] + 100.0
    own = prd.kmeans_labels
    backends = {"numpy": own, "sklearn_KMeans": _sklearn_labels("KMeans"),
                "sklearn_MiniBatchKMeans": _sklearn_labels("MiniBatchKMeans")}
    out: dict = {"n_per_sample": n, "dims": 900, "clusters": 20, "runs": 10,
                 "fit_size": 10_000, "repeats": repeats}
    for name in backends:
        out[name] = {"seconds": {}, "prd_auc": {}}
    try:
        for _ in range(repeats):
            for name, fn in backends.items():
                prd.kmeans_labels = fn
                for case, x in cases.items():
                    auc, sec = timed(prd_auc_score, x, real)
                    best = out[name]["seconds"].get(case)
                    out[name]["seconds"][case] = sec if best is None else min(best, sec)
                    out[name]["prd_auc"][case] = auc
    finally:
        prd.kmeans_labels = own
    return out


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    if "--kmeans" in sys.argv:
        reps = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 2
        print(json.dumps(kmeans_comparison(quick, reps), indent=1))
    else:
        print(json.dumps(main(quick=quick), indent=1))
