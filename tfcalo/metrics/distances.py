"""One-dimensional two-sample distances with optional (possibly negative) weights.

Both are computed from weighted empirical CDFs ``F(x) = sum_{x_i <= x} w_i / sum w`` on the
merged sorted support, so sWeights (which may be negative) enter linearly and either sample
may be weighted; with unit weights they equal scipy's ``ks_2samp(...).statistic`` and
``wasserstein_distance``. With negative weights an ECDF need not be monotone (it estimates
the signal CDF with noise); both statistics stay well defined. A sample's total weight must be
positive.
"""

from __future__ import annotations

import numpy as np


def _cdfs(a: np.ndarray, b: np.ndarray, wa: np.ndarray | None, wb: np.ndarray | None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    wa = np.ones_like(a) if wa is None else np.asarray(wa, dtype=np.float64).ravel()
    wb = np.ones_like(b) if wb is None else np.asarray(wb, dtype=np.float64).ravel()
    if len(wa) != len(a) or len(wb) != len(b):
        raise ValueError("weights must have the same length as their samples")
    if wa.sum() <= 0 or wb.sum() <= 0:
        raise ValueError("the total weight of a sample must be positive, got "
                         f"{wa.sum():.6g} and {wb.sum():.6g}")
    support = np.unique(np.concatenate([a, b]))

    def cdf(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        cw = np.concatenate([[0.0], np.cumsum(w[order])]) / w.sum()
        return cw[np.searchsorted(x[order], support, side="right")]

    return support, cdf(a, wa), cdf(b, wb)


def ks_statistic(a: np.ndarray, b: np.ndarray, wa: np.ndarray | None = None,
                 wb: np.ndarray | None = None) -> float:
    """Kolmogorov-Smirnov statistic ``max |F_a - F_b|`` of weighted empirical CDFs."""
    _, fa, fb = _cdfs(a, b, wa, wb)
    return float(np.max(np.abs(fa - fb)))


def wasserstein1(a: np.ndarray, b: np.ndarray, wa: np.ndarray | None = None,
                 wb: np.ndarray | None = None) -> float:
    """1-Wasserstein distance ``integral |F_a - F_b| dx`` of weighted empirical CDFs."""
    support, fa, fb = _cdfs(a, b, wa, wb)
    return float(np.sum(np.abs(fa - fb)[:-1] * np.diff(support)))
