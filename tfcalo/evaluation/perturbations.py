"""Known-bad "generators": deliberate perturbations of real showers that calibrate blessing.

Each function takes real showers (the canonical arrays of a detector) and returns a copy
that a generator with one precisely known defect would have produced. The blessing
thresholds of :mod:`tfcalo.evaluation.blessing` are set so that real-vs-real passes and each of these
fails (``bench/bench_thresholds.py``, ``docs/thresholds.md``).

- :func:`scale_energy`: every cell (or DLL) times ``factor``: an energy-scale error, the
  sampling fraction changes by exactly ``factor``.
- :func:`smear_energy`: every shower times its own ``1 + rel_sigma * g`` (``g`` standard
  normal): an extra per-shower Gaussian smear of the energy of ``rel_sigma`` (relative),
  added in quadrature to the resolution; the shower's shape is unchanged.
- :func:`stretch_transverse`: the transverse energy density stretched by ``factor`` about the
  shower's own energy centroid (total energy and centroid unchanged);
  :func:`widen_transverse` picks the density factor for which the mean measured transverse
  widths (``width_x``, ``width_y``) grow by exactly the requested factor.
- :func:`stretch_about`: tabular responses (rich-pid DLLs) stretched about a given centre
  (e.g. the true conditional mean): the resolution grows by ``factor``.

Example:
    >>> wide = stretch_transverse(showers, "lhcb-ecal", 1.05)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from tfcalo.detectors import Detector, get_detector

#: Showers per chunk of :func:`stretch_transverse` (bounds the (chunk, n, n) matrices).
CHUNK = 1024


def scale_energy(showers: np.ndarray, factor: float) -> np.ndarray:
    """All values times ``factor`` (float32 copy): an energy-scale (or DLL-scale) error.

    Args:
        showers: (N, *shower_shape) in the detector's unit.
        factor: scale factor (1.02 = 2 % too much energy).
    """
    return (np.asarray(showers, np.float32) * np.float32(factor)).astype(np.float32)


def smear_energy(showers: np.ndarray, rel_sigma: float, seed: int = 0) -> np.ndarray:
    """Each shower times ``1 + rel_sigma * g`` with its own standard-normal ``g``.

    The relative resolution of the total (and visible) energy grows in quadrature by
    ``rel_sigma``; shapes (normalised showers) are unchanged. Factors are clipped at 0.

    Args:
        showers: (N, *shower_shape).
        rel_sigma: relative Gaussian smear (0.03 = an extra 3 %).
        seed: seed of the per-shower factors.

    Returns:
        float32 (N, *shower_shape).
    """
    s = np.asarray(showers, np.float32)
    g = np.random.default_rng(seed).standard_normal(len(s))
    f = np.clip(1.0 + rel_sigma * g, 0.0, None).astype(np.float32)
    return s * f.reshape((-1,) + (1,) * (s.ndim - 1))


def stretch_matrix(centre: np.ndarray, n: int, factor: float) -> np.ndarray:
    """Rebinning matrices ``(N, n, n)`` of a 1-D stretch about per-shower centres.

    Cell ``k`` covers ``[k - 1/2, k + 1/2]`` (index units) and its energy is spread uniformly
    over it; the stretch maps that interval to ``[c + f (k - 1/2 - c), c + f (k + 1/2 - c)]``
    and ``M[i, j, k]`` is the fraction of cell ``k``'s energy that lands in target cell ``j``
    (overlap / stretched length). Columns sum to 1 except where the stretched cell leaves
    the grid (its outer part is lost: only edge cells, of negligible energy in a contained
    shower).

    Args:
        centre: (N,) stretch centre of each shower, in cell-index units.
        n: cells along the axis.
        factor: stretch factor (> 0).
    """
    c = np.asarray(centre, np.float64)[:, None, None]
    k = np.arange(n, dtype=np.float64)[None, None, :]
    j = np.arange(n, dtype=np.float64)[None, :, None]
    lo = c + factor * (k - 0.5 - c)
    hi = c + factor * (k + 0.5 - c)
    overlap = np.clip(np.minimum(hi, j + 0.5) - np.maximum(lo, j - 0.5), 0.0, None)
    return overlap / (hi - lo)


def stretch_transverse(showers: np.ndarray, detector: Detector | str, factor: float
                       ) -> np.ndarray:
    """Stretch each shower's transverse energy distribution by ``factor`` about its centroid.

    The cells are read as a piecewise-constant energy density; the density is stretched
    along both transverse axes about the shower's energy-weighted centroid (over all
    layers for cern-ecal: one transverse stretch per shower, the longitudinal profile is
    untouched), keeping its integral, and re-integrated over the cells. Energy and centroid
    are conserved (up to the energy pushed off the grid's edge). The cell-centre widths
    grow by more than ``factor``: reading the cells as uniform adds 1/12 cell^2 to the
    variance ``V`` before the stretch and re-binning adds it again, so
    ``V' = factor^2 (V + 1/12) + 1/12`` (cell units) for showers smooth on the cell scale,
    and more for cores narrower than a cell (x1.05 gives widths x1.07 on the Geant4
    showers); :func:`widen_transverse` corrects for that.

    Args:
        showers: lhcb-ecal (N, 30, 30) [y, x] or cern-ecal (N, 25, 25, 25) [x, y, layer].
        detector: detector spec or name (not tabular).
        factor: width factor (1.05 = 5 % too wide).

    Returns:
        float32 array of the same shape.
    """
    det = get_detector(detector)
    if det.kind not in ("image2d", "volume3d"):
        raise ValueError(f"detector {det.name} has no transverse cells to stretch")
    s = np.asarray(showers, np.float32)
    out = np.empty_like(s)
    for start in range(0, len(s), CHUNK):
        x = s[start:start + CHUNK].astype(np.float64)
        if det.kind == "image2d":  # [n, y, x]
            img = x
        else:  # [n, x, y, layer] -> transverse image [n, y, x]
            img = x.sum(axis=3).transpose(0, 2, 1)
        tot = img.sum(axis=(1, 2))
        safe = np.where(tot > 0, tot, 1.0)
        cy = (img.sum(axis=2) * np.arange(img.shape[1])).sum(axis=1) / safe
        cx = (img.sum(axis=1) * np.arange(img.shape[2])).sum(axis=1) / safe
        cy = np.where(tot > 0, cy, (img.shape[1] - 1) / 2)
        cx = np.where(tot > 0, cx, (img.shape[2] - 1) / 2)
        my = stretch_matrix(cy, img.shape[1], factor)
        mx = stretch_matrix(cx, img.shape[2], factor)
        if det.kind == "image2d":
            y = np.einsum("njk,nkx->njx", my, x)
            y = np.einsum("nik,nyk->nyi", mx, y)
        else:
            y = np.einsum("nik,nkyl->niyl", mx, x)
            y = np.einsum("njk,nxkl->nxjl", my, y)
        out[start:start + CHUNK] = y
    return out


def stretch_about(values: np.ndarray, centre: np.ndarray, factor: float) -> np.ndarray:
    """``centre + factor * (values - centre)``: tabular responses ``factor`` times wider.

    Args:
        values: (N, k) responses (rich-pid DLLs).
        centre: (N, k) or (k,) centre of each response, e.g. the true conditional mean
            (then the resolution grows by ``factor`` and the means are unchanged).
        factor: stretch factor.
    """
    v = np.asarray(values, np.float64)
    c = np.asarray(centre, np.float64)
    return (c + factor * (v - c)).astype(np.float32)


def _mean_width(showers: np.ndarray, det: Detector) -> float:
    from tfcalo.physics import widths

    w = widths(showers, det)[:, :2]  # transverse (x, y) widths, cm
    return float(w.mean())


def width_matched_factor(showers: np.ndarray, detector: Detector | str, factor: float,
                         max_showers: int = 500, tol: float = 1e-4) -> float:
    """Density stretch factor for which the mean transverse width grows by ``factor``.

    Secant iterations on the first ``max_showers`` showers: the mean over showers and over
    x and y of the energy-weighted cell-centre width (:func:`tfcalo.physics.widths`) of
    :func:`stretch_transverse`'s output, divided by that of the input, equals ``factor``
    within ``tol`` (the ratio is smooth and nearly linear in the density factor).
    """
    det = get_detector(detector)
    s = np.asarray(showers, np.float32)[:max_showers]
    base = _mean_width(s, det)

    def ratio(f: float) -> float:
        return _mean_width(stretch_transverse(s, det, f), det) / base

    f0, r0 = 1.0, 1.0
    f1, r1 = factor, ratio(factor)
    for _ in range(20):
        if abs(r1 - factor) < tol or r1 == r0:
            break
        f0, r0, f1 = f1, r1, f1 + (factor - r1) * (f1 - f0) / (r1 - r0)
        r1 = ratio(f1)
    return float(f1)


def widen_transverse(showers: np.ndarray, detector: Detector | str, factor: float
                     ) -> tuple[np.ndarray, float]:
    """Showers whose mean transverse widths are ``factor`` times the input's.

    :func:`stretch_transverse` with the density factor of :func:`width_matched_factor`.

    Returns:
        ``(showers float32, density factor used)``.
    """
    f = width_matched_factor(showers, detector, factor)
    return stretch_transverse(showers, detector, f), f
