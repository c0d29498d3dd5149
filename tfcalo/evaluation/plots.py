"""Plotting and formatting helpers shared by the validation report and the ensemble report.

Both reports draw real against generated distributions with a generated/real ratio panel
below: :func:`robust_edges` and :func:`hist_bins` choose the bins from the real sample,
:func:`binned_fractions` and :func:`ratio_with_errors` give the drawn numbers with their
statistical errors, :func:`ratio_limits`, :func:`ratio_points` and :func:`finish_ratio_axis`
draw the ratio panel (values off scale as arrows), :func:`outside_text` says how much of a
sample lies outside the drawn range. :func:`pyplot` returns matplotlib's pyplot on the Agg
backend (no display needed); :func:`format_number`, :func:`slug` and :func:`json_default`
format numbers for HTML, file names and JSON.
"""

from __future__ import annotations

import html
import math

import numpy as np

#: Colours of the real and the generated sample in every plot.
REAL_COLOR, GEN_COLOR = "#1f1f1f", "#d62728"


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported on first use; no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: Percentiles of the real distribution that set an observable histogram's range, and the
#: fraction of that range added on each side (on the log scale for log-x histograms).
ROBUST_PERCENTILES, RANGE_WIDEN = (0.5, 99.5), 0.05
#: Positive observables whose robust range spans more decades than this get log-spaced bins.
LOG_X_DECADES = 2.0
#: The ratio panel's y range when every ratio lies inside it; wider ranges in RATIO_WIDE.
RATIO_NARROW, RATIO_WIDE, RATIO_MAX = (0.5, 1.5), (0.0, 2.0), 3.0
DPI = 100


def axis_label(label: str, unit: str) -> str:
    """``"label [unit]"``, or just the label for a dimensionless quantity (unit "")."""
    return f"{label} [{unit}]" if unit else label


def hist_bins(n: int, max_bins: int) -> int:
    """Bins for ``n`` showers: sqrt(n) (at least 10), at most ``max_bins``."""
    return int(min(max_bins, max(10, round(math.sqrt(max(n, 0))))))


def robust_edges(real: np.ndarray, bins: int) -> tuple[np.ndarray, bool]:
    """Histogram edges from the real distribution alone; returns ``(edges, log_x)``.

    The range is the ROBUST_PERCENTILES of the finite real values widened by RANGE_WIDEN of
    its span on each side, so outliers (of either sample) do not squeeze the bulk into a few
    bins. Positive values spanning more than LOG_X_DECADES decades get ``bins``
    log-spaced edges (``log_x`` True). Integer-valued data (cell counts) get bins a whole
    number of integers wide with edges at half-integers (at most ``bins`` over the real
    range), so no bin holds one integer more than its neighbour. Unweighted (sWeights can be
    negative; the range only needs to hold the bulk).
    """
    x = np.asarray(real, np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.linspace(-0.5, 0.5, bins + 1), False
    lo, hi = (float(v) for v in np.percentile(x, ROBUST_PERCENTILES))
    if hi <= lo:
        half = max(0.5, 0.05 * abs(lo))
        return np.linspace(lo - half, hi + half, bins + 1), False
    if lo > 0 and hi / lo > 10 ** LOG_X_DECADES:
        pad = (hi / lo) ** RANGE_WIDEN
        return np.geomspace(lo / pad, hi * pad, bins + 1), True
    if np.all(x == np.round(x)):  # counts: integer-wide bins centred on the integers
        width = max(1, math.ceil((hi - lo + 1) / bins))
        start = math.floor(lo - RANGE_WIDEN * (hi - lo))
        n = math.ceil((math.ceil(hi + RANGE_WIDEN * (hi - lo)) - start + 1) / width)
        return start - 0.5 + width * np.arange(n + 1), False
    pad = RANGE_WIDEN * (hi - lo)
    return np.linspace(lo - pad, hi + pad, bins + 1), False


def binned_fractions(x: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Fraction of ALL showers in each bin, its statistical error, and the fractions outside.

    Args:
        x: (N,) values (non-finite ones count as outside).
        edges: (B+1,) increasing bin edges.
        weights: (N,) per-shower weights or None.

    Returns:
        ``(fraction (B,), error (B,), below, above)``: fraction = sum of weights in the bin /
        sum of all weights, error = sqrt(sum of squared weights in the bin) / sum of all
        weights (Poisson for unit weights), below = underflow fraction, above = the rest
        (overflow and non-finite values), so sum(fraction) + below + above = 1.
    """
    x = np.asarray(x, np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, np.float64)
    total = float(w.sum())
    if len(x) == 0 or total == 0:
        zero = np.zeros(len(edges) - 1)
        return zero, zero, 0.0, 0.0
    ok = np.isfinite(x)
    h = np.histogram(x[ok], edges, weights=w[ok])[0]
    h2 = np.histogram(x[ok], edges, weights=w[ok] ** 2)[0]
    frac = h / total
    below = float(w[ok & (x < edges[0])].sum() / total)
    return frac, np.sqrt(h2) / abs(total), below, float(1.0 - frac.sum() - below)


def ratio_with_errors(num: np.ndarray, num_err: np.ndarray, den: np.ndarray,
                      den_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin-wise ``num / den`` and its error (relative errors added in quadrature).

    Bins with ``den <= 0`` give NaN (``+inf`` if ``num > 0`` there: generated showers where
    the reference has none); bins with ``num == 0`` give 0 with error ``num_err / den``.
    """
    num, den = np.asarray(num, float), np.asarray(den, float)
    num_err, den_err = np.asarray(num_err, float), np.asarray(den_err, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(den > 0, num / den, np.where(num > 0, np.inf, np.nan))
        rel = np.sqrt(np.where(num > 0, (num_err / num) ** 2, 0.0)
                      + np.where(den > 0, (den_err / den) ** 2, 0.0))
        err = np.where(num > 0, np.abs(ratio) * rel, num_err / den)
    err = np.where(np.isfinite(ratio), err, np.nan)
    return ratio, err


def ratio_limits(ratios: list[np.ndarray]) -> tuple[float, float]:
    """RATIO_NARROW if every finite ratio lies inside it, else RATIO_WIDE stretched up to
    RATIO_MAX to hold the largest finite ratio (larger ones are drawn as arrows)."""
    vals = np.concatenate([np.ravel(np.asarray(r, float)) for r in ratios]) if ratios else \
        np.zeros(0)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0 or (vals.min() >= RATIO_NARROW[0] and vals.max() <= RATIO_NARROW[1]):
        return RATIO_NARROW
    return RATIO_WIDE[0], float(min(RATIO_MAX, max(RATIO_WIDE[1], 1.1 * vals.max())))


def ratio_points(rax, x: np.ndarray, ratio: np.ndarray, lim: tuple[float, float],
                  err: np.ndarray | None = None, xerr=None, color: str = GEN_COLOR,
                  marker: str = "o", markersize: float = 3, **line) -> None:
    """Ratio points with error bars; values beyond ``lim`` as arrows at the panel edge."""
    x, ratio = np.asarray(x, float), np.asarray(ratio, float)
    inside = np.isfinite(ratio) & (ratio >= lim[0]) & (ratio <= lim[1])
    if line:
        rax.plot(x, np.where(inside, ratio, np.nan), color=color, **line)
    sel = inside
    xe = None
    if xerr is not None:
        xe = np.asarray(xerr, float)
        xe = xe[:, sel] if xe.ndim == 2 else xe[sel]
    rax.errorbar(x[sel], ratio[sel], yerr=None if err is None else np.asarray(err)[sel],
                 xerr=xe, fmt=marker, color=color, markersize=markersize, elinewidth=0.8,
                 capsize=0, linestyle="none")
    span = lim[1] - lim[0]
    high = ratio > lim[1]  # includes +inf
    low = np.isfinite(ratio) & (ratio < lim[0])
    rax.plot(x[high], np.full(high.sum(), lim[1] - 0.06 * span), "^", color=color,
             markersize=markersize + 2, linestyle="none")
    rax.plot(x[low], np.full(low.sum(), lim[0] + 0.06 * span), "v", color=color,
             markersize=markersize + 2, linestyle="none")


def finish_ratio_axis(rax, lim: tuple[float, float], xlabel: str) -> None:
    """Ratio panel decoration: the line at 1, the y range ``lim``, labels and a y grid."""
    rax.axhline(1.0, color="grey", linewidth=0.8)
    rax.set_ylim(*lim)
    rax.set_ylabel("gen / real")
    rax.set_xlabel(xlabel)
    rax.grid(axis="y", alpha=0.3)


def outside_text(below: float, above: float) -> str:
    """Legend suffix such as " (3% below, 45% above range)"; empty if nothing is outside."""
    def pct(f: float) -> str:
        return f"{100 * f:.1f}%" if f < 0.1 else f"{100 * f:.0f}%"

    parts = [f"{pct(f)} {side}" for f, side in ((below, "below"), (above, "above"))
             if f >= 0.0005]
    return f" ({', '.join(parts)} range)" if parts else ""


def slug(name: str) -> str:
    """A file-name-safe form of ``name``: characters other than letters, digits, - and _
    become _."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def format_number(x) -> str:
    """A value for an HTML table: 4 significant digits, "n/a" for None, escaped text."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int | float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.4g}"
    return html.escape(str(x))


def json_default(x):
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as Python values."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x)}")
