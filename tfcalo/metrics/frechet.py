"""Fréchet distances: FPD on standardised observables, FRD on a regressor's embedding.

``d^2 = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})`` between Gaussian fits. The
trace of the matrix square root is computed stably as the sum of square roots of the
(clipped, non-negative) eigenvalues of the symmetric matrix ``S_1^{1/2} S_2 S_1^{1/2}``, which
has the same spectrum as ``S_1 S_2``; no complex ``sqrtm`` and no imaginary residue.

Weights (sWeights, possibly negative) enter the Gaussian fits linearly: weighted mean
``sum(w x) / sum(w)`` and covariance ``sum(w (x - mu)(x - mu)^T) / sum(w)``. A signed-weight
covariance can have small negative eigenvalues; they are clipped at 0 in the square roots.
"""

from __future__ import annotations

import numpy as np

from tfcalo.metrics.prd import ArrayOrDict, as_matrix


def gaussian_fit(x: np.ndarray, weights: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(k,)`` and covariance ``(k, k)`` of samples ``(N, k)``, float64.

    Unweighted: the unbiased covariance. With ``weights (N,)`` (may be negative, positive
    sum): the weighted mean and ``sum(w (x - mu)(x - mu)^T) / sum(w)``.
    """
    x = np.asarray(x, dtype=np.float64)
    if weights is None:
        mu = x.mean(axis=0)
        xc = x - mu
        return mu, (xc.T @ xc) / max(len(x) - 1, 1)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != len(x):
        raise ValueError(f"weights {w.shape} do not match samples {x.shape}")
    total = w.sum()
    if total <= 0:
        raise ValueError("the total weight of a sample must be positive")
    mu = w @ x / total
    xc = x - mu
    return mu, (xc.T * w) @ xc / total


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_gaussian(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray,
                              s2: np.ndarray) -> float:
    """Closed-form squared Fréchet (2-Wasserstein) distance between two Gaussians."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(s1).astype(np.float64), np.atleast_2d(s2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ValueError(f"shape mismatch: means {mu1.shape} vs {mu2.shape}, "
                         f"covariances {s1.shape} vs {s2.shape}")
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt, 0.0))


def frechet_distance(x: ArrayOrDict, y: ArrayOrDict, wx: np.ndarray | None = None,
                     wy: np.ndarray | None = None) -> float:
    """Fréchet distance between Gaussian fits of samples ``x (N, k)`` and ``y (M, k)``,
    optionally weighted (``wx (N,)``, ``wy (M,)``, see :func:`gaussian_fit`)."""
    return frechet_distance_gaussian(*gaussian_fit(as_matrix(x), wx),
                                     *gaussian_fit(as_matrix(y), wy))


def frd(real_emb: np.ndarray, gen_emb: np.ndarray, real_weights: np.ndarray | None = None,
        gen_weights: np.ndarray | None = None) -> float:
    """Fréchet Regression Distance: Fréchet distance on regressor embeddings ``(N, d)``."""
    return frechet_distance(real_emb, gen_emb, real_weights, gen_weights)


def fpd(real_obs: ArrayOrDict, gen_obs: ArrayOrDict, min_samples: int = 5_000,
        max_samples: int = 50_000, num_batches: int = 20, num_points: int = 10,
        seed: int = 0, real_weights: np.ndarray | None = None,
        gen_weights: np.ndarray | None = None) -> tuple[float, float]:
    """Fréchet Physics Distance with the 1/N extrapolation of jetnet (arXiv:2211.10295).

    Observables are standardised with the REAL sample's mean and std (jetnet divides by the
    max |value|; standardising is unit-free in the same way and robust to outliers in the
    tails). For ``num_points`` batch sizes evenly spaced in 1/N between ``min_samples`` and
    ``max_samples`` (both capped by the smaller sample), ``num_batches`` bootstrap batches
    are drawn from each sample and their Fréchet distances averaged; a straight line in 1/N
    (intercept and slope >= 0, scipy ``curve_fit``) is extrapolated to N = inf.

    ``real_weights`` / ``gen_weights`` (e.g. sWeights, may be negative) weight the
    standardisation and every batch's Gaussian fit; batches are drawn uniformly and carry
    their examples' weights.

    Returns:
        ``(value, error)``: the intercept and its fit uncertainty.
    """
    from scipy.optimize import curve_fit

    x = as_matrix(real_obs)
    y = as_matrix(gen_obs)
    wx = None if real_weights is None else np.asarray(real_weights, np.float64).ravel()
    wy = None if gen_weights is None else np.asarray(gen_weights, np.float64).ravel()
    if wx is None:
        mu, sd = x.mean(axis=0), x.std(axis=0)
    else:
        mu, cov = gaussian_fit(x, wx)
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    sd[sd == 0] = 1.0
    x, y = (x - mu) / sd, (y - mu) / sd
    n_max = min(max_samples, len(x), len(y))
    n_min = min(min_samples, max(n_max // 2, 2))
    batches = (1.0 / np.linspace(1.0 / n_min, 1.0 / n_max, num_points)).astype(np.int64)
    rng = np.random.default_rng(seed)
    vals = []

    def batch_distance(n: int) -> float:
        ix, iy = rng.integers(0, len(x), n), rng.integers(0, len(y), n)
        return frechet_distance(x[ix], y[iy], None if wx is None else wx[ix],
                                None if wy is None else wy[iy])

    for n in batches:
        vals.append(np.mean([batch_distance(n) for _ in range(num_batches)]))
    params, cov = curve_fit(lambda t, a, b: a + b * t, 1.0 / batches, np.asarray(vals),
                            bounds=([0.0, 0.0], [np.inf, np.inf]))
    return float(params[0]), float(np.sqrt(np.diag(cov)[0]))
