"""Blessing thresholds that know the sample size: tolerance, statistical critical value, cap.

A default threshold is a :class:`Rule`. At evaluation time it becomes one number::

    threshold = min(cap, max(tolerance, critical))          (metrics where lower is better)

- ``critical`` is the value that a PERFECT generator (one that samples the real
  distribution) exceeds with probability at most :data:`ALPHA` at this evaluation's sample
  sizes: the real-vs-real comparison passes whatever the sample size (up to that
  probability). It shrinks like 1/sqrt(n), see :func:`critical_values`.
- ``tolerance`` is the physics tolerance: differences smaller than this are accepted even
  when a large sample makes them significant. Each detector's tolerances are set below the
  effect of the smallest known-bad perturbation (energy scale x1.02, x1.05, an extra 3 %
  smear, transverse widths x1.05), so those fail at every sample size large enough to see
  them (docs/thresholds.md, bench/bench_thresholds.py).
- ``cap``: a defect this large always fails, even on a sample too small to see it
  significantly (then real-vs-real may fail too, and the report's baseline column says so).

Metrics without a null distribution (PRD-AUC, Frechet distances, JSD) use a fixed number
(``Rule(tolerance=..., statistical=False)``). A plain number in the evaluate config's
``thresholds`` overrides a rule and is used as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Probability that a perfect generator fails one check by chance (one-sided 3 sigma). The
#: checks over many observables or energy bins are Bonferroni-corrected inside the check.
ALPHA = 0.0027


@dataclass(frozen=True)
class Rule:
    """A sample-size-aware threshold (see the module docstring).

    Attributes:
        tolerance: physics tolerance (for ``>=`` metrics: the fixed minimum).
        cap: never looser than this (None: no cap).
        statistical: widen to the statistical critical value at this sample size.
    """

    tolerance: float
    cap: float | None = None
    statistical: bool = True

    def describe(self) -> str:
        parts = [f"max({self.tolerance:g}, critical value)" if self.statistical
                 else f"{self.tolerance:g}"]
        if self.cap is not None:
            parts = [f"min({self.cap:g}, {parts[0]})"]
        return parts[0]


#: Both calorimeters pass their real-vs-real calibration with the same rules.
_CALORIMETER_RULES: dict[str, Rule] = {
    "prd_auc": Rule(0.6, statistical=False),
    "classifier_auc_observables": Rule(0.55, cap=0.75),
    "ks_max": Rule(0.03, cap=0.3),
    "sf_ratio_max_deviation": Rule(0.015, cap=0.04),
    "resolution_ratio_max_deviation": Rule(0.15, cap=0.3),
    "resolution_ratio_mean_deviation": Rule(0.05, cap=0.2),
}

#: Default rules per detector (calibration: docs/thresholds.md). Checked metrics only; the
#: other metrics are reported beside their real-vs-real value without a verdict.
DEFAULT_RULES: dict[str, dict[str, Rule]] = {
    "lhcb-ecal": _CALORIMETER_RULES,
    "cern-ecal": _CALORIMETER_RULES,
    "rich-pid": {
        "classifier_auc_observables": Rule(0.52, cap=0.65),
        "ks_max": Rule(0.008, cap=0.2),
    },
}


def z_one_sided(alpha: float) -> float:
    """Standard-normal quantile exceeded with probability ``alpha``."""
    from scipy.stats import norm

    return float(norm.isf(alpha))


def ks_critical(n: float, m: float, alpha: float = ALPHA, n_tests: int = 1) -> float:
    """Asymptotic two-sample KS critical value ``c(a) sqrt((n + m) / (n m))``.

    ``c(a) = sqrt(-ln(a / 2) / 2)`` with ``a = alpha / n_tests`` (Bonferroni over the
    observables of ``ks_max``). ``n``, ``m`` are (effective) sample sizes. Conservative
    for discrete observables (ties make the statistic smaller).
    """
    if n <= 0 or m <= 0:
        return math.inf
    a = alpha / max(n_tests, 1)
    return math.sqrt(-math.log(a / 2) / 2) * math.sqrt((n + m) / (n * m))


def auc_critical(n1: float, n2: float, alpha: float = ALPHA) -> float:
    """AUC a classifier reaches on held-out samples of ``n1``, ``n2`` by chance.

    Under the null hypothesis (identical samples) the Mann-Whitney AUC has mean 1/2 and
    variance ``(n1 + n2 + 1) / (12 n1 n2)``; returns ``1/2 + z(alpha) sigma``.
    """
    if n1 <= 0 or n2 <= 0:
        return math.inf
    return 0.5 + z_one_sided(alpha) * math.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2))


def kish(weights: np.ndarray | None, n: int) -> float:
    """Kish effective sample size ``(sum w)^2 / sum w^2`` (``n`` when unweighted)."""
    if weights is None:
        return float(n)
    w = np.asarray(weights, np.float64)
    s2 = float(np.sum(w * w))
    return float(np.sum(w) ** 2 / s2) if s2 > 0 else 0.0


def critical_values(metrics: dict, alpha: float = ALPHA) -> dict[str, float]:
    """Statistical critical value of every checkable metric at this evaluation's sizes.

    Reads ``metrics["statistics"]`` (effective sizes, number of observables, the
    classifier's held-out sizes) and the per-bin errors in ``metrics["energy_bins"]``
    (``sf_ratio_err``, ``resolution_ratio_err``: errors of the generated/real ratios, from
    the spread of the sampling fraction and a bootstrap of sigma90/mu90).

    - ``ks_max``: :func:`ks_critical`, Bonferroni over the observables.
    - ``classifier_auc_*``: :func:`auc_critical` on the held-out effective sizes.
    - ``sf_ratio_max_deviation``, ``resolution_ratio_max_deviation``: ``z sigma`` of the
      worst bin, ``z`` two-sided and Bonferroni over the bins.
    - ``resolution_ratio_mean_deviation``: ``exp(z sigma_m) - 1`` for the mean of the
      bins' log-ratios (``sigma_m = sqrt(sum sigma_b^2) / B``), ``z`` two-sided.
    """
    st = metrics.get("statistics") or {}
    out: dict[str, float] = {}
    n_r, n_g = st.get("n_eff_real"), st.get("n_eff_generated")
    if n_r and n_g:
        out["ks_max"] = ks_critical(n_r, n_g, alpha, int(st.get("n_observables", 1)))
    for key in ("classifier_auc_observables", "classifier_auc_showers"):
        sizes = st.get(f"{key}_test_sizes")
        if sizes:
            out[key] = auc_critical(sizes[0], sizes[1], alpha)
    eb = metrics.get("energy_bins") or {}
    for key in ("sf_ratio", "resolution_ratio"):
        err = [e for e in eb.get(f"{key}_err", []) if e is not None and np.isfinite(e)]
        if err:
            z = z_one_sided(alpha / (2 * len(err)))
            out[f"{key}_max_deviation"] = z * max(err)
    ratios, errs = eb.get("resolution_ratio", []), eb.get("resolution_ratio_err", [])
    rel = [e / r for r, e in zip(ratios, errs, strict=False)
           if r and e is not None and np.isfinite(e) and r > 0]
    if rel:
        sigma_m = math.sqrt(sum(x * x for x in rel)) / len(rel)
        out["resolution_ratio_mean_deviation"] = math.expm1(z_one_sided(alpha / 2) * sigma_m)
    return out


def resolve(metric: str, spec: Rule | float, critical: float | None
            ) -> tuple[float, str]:
    """The threshold number for ``metric`` and a sentence saying how it was set.

    ``spec`` is a :class:`Rule` or a fixed number (a user override). ``critical`` is the
    metric's statistical critical value (None: none known, the tolerance alone applies).
    """
    if not isinstance(spec, Rule):
        return float(spec), "fixed (configured)"
    value = spec.tolerance
    how = f"tolerance {spec.tolerance:g}"
    if spec.statistical and critical is not None and math.isfinite(critical):
        if critical > value:
            value = critical
            how = f"statistical critical value {critical:.4g} (> tolerance {spec.tolerance:g})"
        else:
            how += f" (statistical critical value {critical:.4g} is smaller)"
    elif spec.statistical:
        value = spec.cap if spec.cap is not None else value
        how = "no statistical critical value: the cap"
    if spec.cap is not None and value > spec.cap:
        value = spec.cap
        how += f", capped at {spec.cap:g} (sample too small to see smaller defects)"
    return float(value), how
