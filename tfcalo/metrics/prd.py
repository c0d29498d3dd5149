"""Precision and recall for distributions (PRD, Sajjadi et al. 2018, arXiv:1806.00035).

The algorithm follows the authors' ``prd_score.py`` (as used by the LHCb calorimeter GAN
papers): cluster the union of both samples into ``num_clusters`` bins with k-means,
histogram each sample over the clusters, and trace
``precision(lambda) = sum_w min(lambda * P_ref(w), P_eval(w))``, ``recall = precision / lambda``
for ``lambda = tan(theta)``, ``theta`` in ``(0, pi/2)``; the curves of ``num_runs``
clusterings are averaged.

k-means choice: a small numpy k-means (:func:`kmeans_labels`: k-means++ seeding, at most 10
Lloyd iterations on a random subsample of 10,000 rows, float32 matrix products, then one
assignment pass over all rows). Measured like for like against scikit-learn 1.9.1 with
``n_init=1`` fitted on the SAME 10,000-row subsample and then ``predict`` on all rows
(``python bench/bench_metrics.py --kmeans``: 10 PRD runs, 20 clusters, 2 x 50,000 x 900
gamma-distributed "showers", best of 2, idle 2-core CPU):

- numpy (this module): 8.1-8.4 s; PRD-AUC same 0.9997, gamma 0.5 vs 0.55 0.717, disjoint 0;
- scikit-learn KMeans: 8.9-21.6 s; 0.9996, 0.753, 0;
- scikit-learn MiniBatchKMeans (batch_size 1024): 4.0-4.6 s; 0.9996, 0.892, 0.

Over seeds 100/200/300 the "gamma 0.5 vs 0.55" AUC is 0.68/0.70/0.67 (numpy),
0.72/0.73/0.72 (KMeans) and 0.88/0.89/0.89 (MiniBatchKMeans): neither scikit-learn
backend gives the same PRD-AUC within 0.01 (MiniBatchKMeans, the faster one, sees much less
of a real difference), and KMeans is slower, so the numpy k-means stays (the blessing
thresholds of docs/thresholds.md are calibrated with it). Identical distributions give
PRD-AUC ~1 and disjoint ones 0 with every backend (tests/metrics/test_prd.py). A different
seed per run (``seed + r``) plays the role of the reference's random restarts.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

ArrayOrDict = np.ndarray | Mapping[str, np.ndarray]


def as_matrix(data: ArrayOrDict) -> np.ndarray:
    """``(N, k)`` float64 from an array (flattened per row) or an ordered dict of ``(N,)``."""
    if isinstance(data, Mapping):
        return np.column_stack([np.asarray(v, dtype=np.float64) for v in data.values()])
    a = np.asarray(data, dtype=np.float64)
    return a.reshape(len(a), -1)


def _assign(x: np.ndarray, centres: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Index of the nearest centre for every row of ``x`` (squared Euclidean)."""
    c_norm = (centres.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
    out = np.empty(len(x), dtype=np.int64)
    for i in range(0, len(x), chunk):  # chunks of rows bound the (chunk, k) temporary
        out[i:i + chunk] = np.argmin(c_norm - 2.0 * (x[i:i + chunk] @ centres.T), axis=1)
    return out


def kmeans_labels(x: np.ndarray, num_clusters: int, seed: int, fit_size: int = 10_000,
                  max_iter: int = 10, tol: float = 1e-3) -> np.ndarray:
    """Cluster labels ``(N,)`` of float32 rows ``x (N, D)``: k-means++ seeding and Lloyd
    iterations on a random subsample of ``fit_size`` rows (stopping when fewer than a
    fraction ``tol`` of labels change, or after ``max_iter``), then one assignment pass of
    all rows. Empty clusters are re-seeded on the subsample point farthest from its centre."""
    rng = np.random.default_rng(seed)
    sub = x[rng.choice(len(x), size=min(fit_size, len(x)), replace=False)]
    k = min(num_clusters, len(sub))
    sub_norm = (sub.astype(np.float64) ** 2).sum(axis=1)
    centres = [sub[rng.integers(len(sub))]]
    d2 = np.full(len(sub), np.inf)
    for _ in range(1, k):  # k-means++
        c = centres[-1].astype(np.float64)
        d2 = np.minimum(d2, np.clip(sub_norm - 2.0 * (sub @ centres[-1]) + c @ c, 0.0, None))
        prob = d2 / d2.sum() if d2.sum() > 0 else None
        centres.append(sub[rng.choice(len(sub), p=prob)])
    centres = np.array(centres, dtype=np.float32)
    labels = None
    for _ in range(max_iter):
        new = _assign(sub, centres)
        if labels is not None and np.mean(new != labels) < tol:
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        order = np.argsort(labels, kind="stable")
        starts = np.searchsorted(labels[order], np.arange(k))
        sums = np.zeros((k, sub.shape[1]))
        nz = counts > 0
        sums[nz] = np.add.reduceat(sub[order], starts[nz])
        for j in np.flatnonzero(counts == 0):  # loop over empty clusters only
            far = np.argmax(((sub - centres[labels]) ** 2).sum(axis=1))
            sums[j], counts[j] = sub[far], 1
        centres = (sums / counts[:, None]).astype(np.float32)
    return _assign(x, centres)


def _histogram(labels: np.ndarray, num_clusters: int, weights: np.ndarray | None) -> np.ndarray:
    """Normalised (weighted) cluster occupancy; clusters with a negative net weight count 0."""
    h = np.clip(np.bincount(labels, weights=weights, minlength=num_clusters), 0.0, None)
    if h.sum() <= 0:
        raise ValueError("a sample has no positive weight in any cluster")
    return h / h.sum()


def _cluster_histograms(union: np.ndarray, n_eval: int, num_clusters: int, seed: int,
                        eval_weights: np.ndarray | None = None,
                        ref_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    labels = kmeans_labels(union, num_clusters, seed)
    return (_histogram(labels[:n_eval], num_clusters, eval_weights),
            _histogram(labels[n_eval:], num_clusters, ref_weights))


def prd_from_histograms(eval_dist: np.ndarray, ref_dist: np.ndarray,
                        num_angles: int = 1001, epsilon: float = 1e-10
                        ) -> tuple[np.ndarray, np.ndarray]:
    """PRD curve ``(precision, recall)``, each ``(num_angles,)``, of two discrete distributions."""
    angles = np.linspace(epsilon, np.pi / 2 - epsilon, num=num_angles)
    slopes = np.tan(angles)
    precision = np.minimum(ref_dist[None, :] * slopes[:, None], eval_dist[None, :]).sum(axis=1)
    recall = precision / slopes
    return np.clip(precision, 0.0, 1.0), np.clip(recall, 0.0, 1.0)


def prd_curve(eval_data: ArrayOrDict, ref_data: ArrayOrDict, num_clusters: int = 20,
              num_angles: int = 1001, num_runs: int = 10, seed: int = 0,
              standardize: bool = False, eval_weights: np.ndarray | None = None,
              ref_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """PRD curve of ``eval_data`` (generated) w.r.t. ``ref_data`` (real), averaged over runs.

    Args:
        eval_data, ref_data: ``(N, ...)`` samples (flattened per row) or dicts of ``(N,)``.
        num_clusters: k-means clusters (the discrete state space).
        num_angles: number of slopes ``tan(theta)``.
        num_runs: independent clusterings (seeds ``seed .. seed + num_runs - 1``) averaged.
        standardize: scale every column by the reference mean/std first (use it for
            observables of different units; raw showers are clustered as they are).
        eval_weights, ref_weights: optional per-example weights (sWeights, may be
            negative) of each sample: the clustering is unweighted, the cluster histograms
            are weighted (a cluster with a negative net weight counts 0), and
            ``standardize`` uses the weighted reference mean/std.

    Returns:
        ``(precision, recall)``, each ``(num_angles,)`` in [0, 1].
    """
    x = as_matrix(eval_data)
    y = as_matrix(ref_data)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"eval has {x.shape[1]} features but ref has {y.shape[1]}")
    we = None if eval_weights is None else np.asarray(eval_weights, np.float64).ravel()
    wr = None if ref_weights is None else np.asarray(ref_weights, np.float64).ravel()
    if (we is not None and len(we) != len(x)) or (wr is not None and len(wr) != len(y)):
        raise ValueError("weights must have the same length as their samples")
    if standardize:
        if wr is None:
            mu, sd = y.mean(axis=0), y.std(axis=0)
        else:
            mu = wr @ y / wr.sum()
            sd = np.sqrt(np.clip(wr @ (y - mu) ** 2 / wr.sum(), 0.0, None))
        sd[sd == 0] = 1.0
        x, y = (x - mu) / sd, (y - mu) / sd
    from threadpoolctl import threadpool_limits

    union = np.vstack([x, y]).astype(np.float32)
    # One BLAS thread: k-means' many medium-size products ran 1.8x faster single-threaded
    # on a shared 2-core machine (multi-threaded OpenBLAS spin-waits under contention).
    with threadpool_limits(1, "blas"):
        curves = [prd_from_histograms(*_cluster_histograms(union, len(x), num_clusters, seed + r,
                                                           we, wr), num_angles)
                  for r in range(num_runs)]
    precision = np.mean([c[0] for c in curves], axis=0)
    recall = np.mean([c[1] for c in curves], axis=0)
    return precision, recall


def prd_auc(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the (recall, precision) curve (trapezoid, ``compute_auc_pr`` of the HEP code).

    Identical distributions give ~1 (precision 1 at every recall), disjoint ones 0.
    """
    r = np.round(np.asarray(recall, dtype=np.float64), 9)
    p = np.round(np.asarray(precision, dtype=np.float64), 9)
    order = np.argsort(r, kind="stable")
    return float(np.trapezoid(p[order], r[order]))


def prd_auc_score(eval_data: ArrayOrDict, ref_data: ArrayOrDict, **kwargs) -> float:
    """``prd_auc(*prd_curve(eval_data, ref_data, **kwargs))``."""
    return prd_auc(*prd_curve(eval_data, ref_data, **kwargs))


def seed000_score(real_showers: np.ndarray, gen_showers: np.ndarray,
                  real_obs: ArrayOrDict, gen_obs: ArrayOrDict, **kwargs) -> float:
    """The LHCb papers' quality score: min(PRD-AUC on raw showers, PRD-AUC on observables).

    Raw showers are clustered as they are; observables are standardised with the real
    sample's mean/std (they mix units). ``kwargs`` go to :func:`prd_curve`.
    """
    kwargs.pop("standardize", None)
    raw = prd_auc_score(gen_showers, real_showers, **kwargs)
    obs = prd_auc_score(gen_obs, real_obs, standardize=True, **kwargs)
    return min(raw, obs)
