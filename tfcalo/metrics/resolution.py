"""Core statistics mu90/sigma90 and per-energy-bin response (sampling fraction, resolution)."""

from __future__ import annotations

import numpy as np


def mu90_sigma90(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the smallest interval holding 90% of the entries.

    The interval holds ``ceil(0.9 N)`` sorted entries; among all such windows the one of
    smallest width is taken (Werther 2022; CALICE convention). Returns NaNs for empty input.
    """
    v = np.sort(np.asarray(x, dtype=np.float64).ravel())
    n = len(v)
    if n == 0:
        return float("nan"), float("nan")
    k = max(int(np.ceil(0.9 * n - 1e-9)), 1)
    widths = v[k - 1:] - v[: n - k + 1]
    i = int(np.argmin(widths))
    core = v[i:i + k]
    return float(core.mean()), float(core.std())


def mu90_sigma90_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mu90_sigma90` of every row of ``x`` ``(R, n)`` at once (n >= 1).

    Returns ``(mu90 (R,), sigma90 (R,))``; the same numbers as calling
    :func:`mu90_sigma90` on each row (moments from cumulative sums about the row median).
    """
    v = np.sort(np.asarray(x, dtype=np.float64), axis=1)
    n_rows, n = v.shape
    k = max(int(np.ceil(0.9 * n - 1e-9)), 1)
    i = np.argmin(v[:, k - 1:] - v[:, : n - k + 1], axis=1)
    ref = v[:, n // 2]
    d = v - ref[:, None]
    zero = np.zeros((n_rows, 1))
    c1 = np.concatenate([zero, np.cumsum(d, axis=1)], axis=1)
    c2 = np.concatenate([zero, np.cumsum(d * d, axis=1)], axis=1)
    r = np.arange(n_rows)
    m1 = (c1[r, i + k] - c1[r, i]) / k
    m2 = (c2[r, i + k] - c2[r, i]) / k
    return m1 + ref, np.sqrt(np.clip(m2 - m1 * m1, 0.0, None))


def bootstrap_resolution(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``sigma90 / mu90`` of ``n_boot`` bootstrap resamples of ``x`` ``(n,)``: ``(n_boot,)``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if len(x) == 0:
        return np.full(n_boot, np.nan)
    mu, sd = mu90_sigma90_rows(x[rng.integers(0, len(x), (n_boot, len(x)))])
    with np.errstate(divide="ignore", invalid="ignore"):
        return sd / mu


def binned_response(energy: np.ndarray, deposit: np.ndarray, bin_edges: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """Sampling fraction and resolution per bin of primary energy.

    Args:
        energy: primary energy ``(N,)`` (e.g. GeV).
        deposit: deposited energy ``(N,)`` in the SAME unit as ``energy`` (convert lhcb-ecal
            MeV deposits first, or use ``physics.sampling_fraction``).
        bin_edges: ``(B+1,)`` increasing edges; entries outside are ignored.

    Returns:
        dict of ``(B,)`` arrays aligned on the bins (so real/generated ratios are a plain
        division): ``bin_centres``, ``n``, ``sf_mean``, ``sf_err`` (error of the mean),
        ``mu90``, ``sigma90`` (of deposit/energy) and ``resolution = sigma90 / mu90``.
        Empty bins hold NaN (n = 0).
    """
    e = np.asarray(energy, dtype=np.float64)
    d = np.asarray(deposit, dtype=np.float64)
    edges = np.asarray(bin_edges, dtype=np.float64)
    sf = np.divide(d, e, out=np.zeros_like(d), where=e != 0)
    idx = np.digitize(e, edges) - 1
    nb = len(edges) - 1
    out = {k: np.full(nb, np.nan) for k in ("sf_mean", "sf_err", "mu90", "sigma90", "resolution")}
    out["bin_centres"] = 0.5 * (edges[:-1] + edges[1:])
    out["n"] = np.bincount(idx[(idx >= 0) & (idx < nb)], minlength=nb).astype(np.int64)
    order = np.argsort(idx, kind="stable")
    groups = np.split(sf[order], np.searchsorted(idx[order], np.arange(nb + 1)))[1:-1]
    for b, g in enumerate(groups):  # loop over bins, not over showers
        if len(g) == 0:
            continue
        out["sf_mean"][b] = g.mean()
        out["sf_err"][b] = g.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else np.nan
        out["mu90"][b], out["sigma90"][b] = mu90_sigma90(g)
        out["resolution"][b] = out["sigma90"][b] / out["mu90"][b] if out["mu90"][b] else np.nan
    return out


def compare_response(energy_real: np.ndarray, sf_real: np.ndarray, energy_gen: np.ndarray,
                     sf_gen: np.ndarray, bin_edges: np.ndarray) -> dict:
    """Per-energy-bin sampling fraction and resolution of two samples, and their ratios.

    The one per-bin comparison of generated with real showers (the evaluation's energy bins
    and the ensemble report's fixed-width bins both use it).

    Args:
        energy_real, sf_real: ``(N,)`` primary energy and sampling fraction
            (deposited / primary) of the real showers.
        energy_gen, sf_gen: ``(M,)`` the same for the generated showers (for conditional
            generators usually the real energies).
        bin_edges: ``(B+1,)`` increasing edges in the unit of the energies.

    Returns:
        ``real`` and ``gen``: :func:`binned_response` of each sample on the same bins, and
        ``(B,)`` arrays ``sf_ratio`` (gen / real mean sampling fraction), ``sf_ratio_err``
        (its statistical error: relative errors of the means added in quadrature) and
        ``resolution_ratio`` (gen / real sigma90/mu90); NaN where a bin is empty.
    """
    e_r, e_g = np.asarray(energy_real), np.asarray(energy_gen)
    r = binned_response(e_r, np.asarray(sf_real) * e_r, bin_edges)
    g = binned_response(e_g, np.asarray(sf_gen) * e_g, bin_edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        sf_ratio = g["sf_mean"] / r["sf_mean"]
        sf_ratio_err = np.abs(sf_ratio) * np.hypot(r["sf_err"] / r["sf_mean"],
                                                    g["sf_err"] / g["sf_mean"])
        resolution_ratio = g["resolution"] / r["resolution"]
    return {"real": r, "gen": g, "sf_ratio": sf_ratio, "sf_ratio_err": sf_ratio_err,
            "resolution_ratio": resolution_ratio}
