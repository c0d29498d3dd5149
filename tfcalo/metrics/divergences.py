"""Jensen-Shannon divergence and the fidelity score (weighted sum of per-observable JSDs).

``JSD(P||Q) = KL(P||M)/2 + KL(Q||M)/2`` with ``M = (P + Q)/2``, in bits (log base 2), so it
lies in [0, 1]: 0 for identical histograms, 1 for disjoint ones.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tfcalo.errors import ConfigError


def jsd(p_hist: np.ndarray, q_hist: np.ndarray) -> float:
    """JSD in bits of two histograms (counts or densities over the same bins; normalised here).

    ``scipy.spatial.distance.jensenshannon`` (base 2) squared: scipy returns the
    Jensen-Shannon *distance*, the square root of the divergence.
    """
    from scipy.spatial.distance import jensenshannon

    p = np.clip(np.asarray(p_hist, dtype=np.float64).ravel(), 0.0, None)
    q = np.clip(np.asarray(q_hist, dtype=np.float64).ravel(), 0.0, None)
    if p.shape != q.shape:
        raise ValueError(f"histograms differ in length: {p.shape} vs {q.shape}")
    if p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("a histogram is empty")
    return float(np.clip(jensenshannon(p, q, base=2.0) ** 2, 0.0, 1.0))


def jsd_fidelity(real_obs: Mapping[str, np.ndarray], gen_obs: Mapping[str, np.ndarray],
                 weights: Mapping[str, float] | None = None, bins: int = 50,
                 real_weights: np.ndarray | None = None,
                 gen_weights: np.ndarray | None = None) -> tuple[float, dict[str, float]]:
    """Fidelity score: weighted mean of per-observable JSDs between real and generated.

    Each observable is histogrammed in ``bins`` equal bins spanning the real sample's 0.1 to
    99.9 percentiles; values outside go to the first/last bin (so a generated tail counts).
    ``real_weights`` and ``gen_weights`` (sWeights, may be negative) weight the real and
    the generated histogram; bins with a negative total are set to 0 before normalising.

    Args:
        weights: per-observable weight (observables not named get 0); default all 1. The
            score is ``sum(w_k JSD_k) / sum(w_k)``, in [0, 1], lower is better.

    Returns:
        ``(score, {name: JSD})`` over the observables present in both dicts.
    """
    names = [n for n in real_obs if n in gen_obs]
    if not names:
        raise ValueError("real and generated observables have no name in common")
    if weights is None:
        weights = {n: 1.0 for n in names}
    else:
        unknown = [k for k in weights if k not in names]
        if unknown:
            raise ConfigError(f"fidelity weight '{unknown[0]}' names no observable "
                              f"(valid: {', '.join(names)})")
    per: dict[str, float] = {}
    for n in names:
        r = np.asarray(real_obs[n], dtype=np.float64)
        g = np.asarray(gen_obs[n], dtype=np.float64)
        lo, hi = np.percentile(r, [0.1, 99.9])
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        hr = np.histogram(np.clip(r, lo, hi), edges, weights=real_weights)[0]
        hg = np.histogram(np.clip(g, lo, hi), edges, weights=gen_weights)[0]
        per[n] = jsd(np.clip(hr, 0.0, None), np.clip(hg, 0.0, None))
    total_w = sum(float(weights.get(n, 0.0)) for n in names)
    if total_w <= 0:
        raise ConfigError("fidelity weights must have a positive sum")
    score = sum(float(weights.get(n, 0.0)) * per[n] for n in names) / total_w
    return float(score), per
