"""Precision and recall for distributions (PRD, Sajjadi et al. 2018, arXiv:1806.00035).

The algorithm follows the authors' ``prd_score.py`` (as used by the LHCb calorimeter GAN
papers): cluster the union of both samples into ``num_clusters`` bins with k-means,
histogram each sample over the clusters, and trace
``precision(lambda) = sum_w min(lambda * P_ref(w), P_eval(w))``, ``recall = precision / lambda``
for ``lambda = tan(theta)``, ``theta`` in ``(0, pi/2)``; the curves of ``num_runs``
clusterings are averaged.

k-means choice: sklearn ``MiniBatchKMeans`` (batch 4096, ``n_init=3``, float32 input) instead
of full Lloyd k-means. On 2 x 50,000 samples of 900 dimensions full k-means with 10 restarts
per run takes minutes on 2 cores; mini-batch k-means keeps the whole 10-run PRD under a
minute (bench/bench_metrics.py) and still gives PRD-AUC ~1 for identical and 0 for
disjoint distributions (tests/metrics/test_prd.py).
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


def _cluster_histograms(eval_data: np.ndarray, ref_data: np.ndarray, num_clusters: int,
                        seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import MiniBatchKMeans

    union = np.vstack([eval_data, ref_data]).astype(np.float32)
    km = MiniBatchKMeans(n_clusters=num_clusters, n_init=3, batch_size=4096,
                         random_state=seed, max_no_improvement=10)
    labels = km.fit_predict(union)
    n_eval = len(eval_data)
    p_eval = np.bincount(labels[:n_eval], minlength=num_clusters) / n_eval
    p_ref = np.bincount(labels[n_eval:], minlength=num_clusters) / len(ref_data)
    return p_eval, p_ref


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
              standardize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """PRD curve of ``eval_data`` (generated) w.r.t. ``ref_data`` (real), averaged over runs.

    Args:
        eval_data, ref_data: ``(N, ...)`` samples (flattened per row) or dicts of ``(N,)``.
        num_clusters: k-means clusters (the discrete state space).
        num_angles: number of slopes ``tan(theta)``.
        num_runs: independent clusterings (seeds ``seed .. seed + num_runs - 1``) averaged.
        standardize: scale every column by the reference mean/std first (use it for
            observables of different units; raw showers are clustered as they are).

    Returns:
        ``(precision, recall)``, each ``(num_angles,)`` in [0, 1].
    """
    x = as_matrix(eval_data)
    y = as_matrix(ref_data)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"eval has {x.shape[1]} features but ref has {y.shape[1]}")
    if standardize:
        mu, sd = y.mean(axis=0), y.std(axis=0)
        sd[sd == 0] = 1.0
        x, y = (x - mu) / sd, (y - mu) / sd
    curves = [prd_from_histograms(*_cluster_histograms(x, y, num_clusters, seed + r), num_angles)
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
