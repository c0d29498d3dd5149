"""Shower observables (pure numpy, vectorised over showers, float64 accumulation).

Conventions (see ../shared/physics/gflash.md section 7):

- lhcb-ecal images are ``(N, 30, 30)`` in MeV indexed ``[row = y, column = x]``; the cell
  centre of column ``j`` is at ``x = (j - 14.5) * 2 cm`` (the grid is centred on the beam
  axis), rows likewise for y. Conditions are ``[x, y, z, px, py, pz]`` in cm / GeV.
- cern-ecal volumes are ``(N, 25, 25, 25)`` in GeV indexed ``[x, y, layer]``; transverse
  centres at ``(i - 12) * 0.51 cm``, layer centres at the depth of the middle of each layer
  of the CLIC-like stack (17 x 2.9 mm then 8 x 5.3 mm, see :data:`CERN_LAYER_THICKNESS_CM`).
- rich-pid "showers" are the five DLLs; their observables are the DLLs themselves.

Every function works in chunks of :data:`CHUNK` showers so that memory stays bounded
(a 50,000 x 900 float64 temporary would be 360 MB); there is no Python loop over showers.
Empty showers (zero total energy) give 0 for every ratio-type observable instead of NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import unknown_name

CHUNK = 4096

#: Thickness of each cern-ecal layer in cm: 17 x (2.4 mm W + 0.5 mm Si), 8 x (4.8 mm W + 0.5 mm Si).
CERN_LAYER_THICKNESS_CM = np.array([0.29] * 17 + [0.53] * 8)

#: lhcb-ecal absolute cell thresholds (MeV) and cern-ecal ones (GeV) for the hit counts.
CELL_THRESHOLDS = {"lhcb-ecal": (1.0, 10.0, 100.0), "cern-ecal": (1e-4, 1e-3, 1e-2)}

#: Relative thresholds alpha (cell >= alpha * total) of the LHCb sparsity observables.
SPARSITY_LEVELS = (1e-3, 1e-2, 1e-1)

#: Names of the :func:`pt_frame_moments` columns in :func:`observables` (lhcb-ecal).
PT_MOMENT_NAMES = ("width_along_pt", "width_across_pt", "skewness_along_pt", "skewness_across_pt")

#: LHCb metric code constant: the reference point is the entry point moved ZOFF cell
#: pitches along the momentum direction (``zoff = 25`` in calogan_metrics.py).
ZOFF_CELLS = 25.0

_MEV_PER = {"MeV": 1.0, "GeV": 1000.0}


def _chunked(fn: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    """Apply ``fn`` to aligned slices of ``arrays`` of at most CHUNK rows; concatenate."""
    n = len(arrays[0])
    if n <= CHUNK:
        return fn(*arrays)
    return np.concatenate([fn(*(a[i:i + CHUNK] for a in arrays)) for i in range(0, n, CHUNK)])


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0."""
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def _nonzero(v: np.ndarray) -> np.ndarray:
    """Replace exact zeros by a tiny value (the LHCb formulas divide by px and by py)."""
    return np.where(v == 0, 1e-12, v)


# ---------------------------------------------------------------- geometry
def cell_centres(detector: str | Detector) -> tuple[np.ndarray, ...]:
    """Cell-centre coordinates in cm along each shower axis.

    Returns:
        lhcb-ecal: ``(y_rows (30,), x_cols (30,))``; cern-ecal: ``(x (25,), y (25,), z (25,))``
        where z is the depth of the middle of each layer behind the front face.
    """
    det = get_detector(detector)
    if det.kind == "tabular":
        raise ValueError(f"detector {det.name} has no cells")
    pitch = det.cell_size_cm
    if det.kind == "image2d":
        h, w = det.shower_shape
        return (np.arange(h) - (h - 1) / 2) * pitch, (np.arange(w) - (w - 1) / 2) * pitch
    nx, ny, nz = det.shower_shape
    if nz == len(CERN_LAYER_THICKNESS_CM):
        edges = np.concatenate([[0.0], np.cumsum(CERN_LAYER_THICKNESS_CM)])
        z = 0.5 * (edges[:-1] + edges[1:])
    else:  # pragma: no cover - other stacks: uniform layers of one pitch
        z = (np.arange(nz) + 0.5) * pitch
    return (np.arange(nx) - (nx - 1) / 2) * pitch, (np.arange(ny) - (ny - 1) / 2) * pitch, z


def _transverse_image(showers: np.ndarray, det: Detector) -> np.ndarray:
    """(N, rows=y, cols=x) float64 transverse image (3D volumes summed over layers)."""
    s = np.asarray(showers, dtype=np.float64)
    if det.kind == "volume3d":
        return s.sum(axis=3).transpose(0, 2, 1)  # [x, y] -> [y, x]
    return s


# ---------------------------------------------------------------- basic observables
def total_energy(showers: np.ndarray) -> np.ndarray:
    """Sum of all cells per shower, float64 ``(N,)``, in the shower's energy unit."""
    s = np.asarray(showers)
    return _chunked(lambda a: a.reshape(len(a), -1).sum(axis=1, dtype=np.float64), s)


def primary_energy_gev(detector: str | Detector, conditions: np.ndarray) -> np.ndarray:
    """Primary energy in GeV ``(N,)``: cern-ecal Ep; lhcb-ecal |p| (electrons: E = |p|)."""
    det = get_detector(detector)
    c = np.asarray(conditions, dtype=np.float64)
    if det.name == "cern-ecal":
        return c[:, 0]
    if det.name == "lhcb-ecal":
        return np.sqrt((c[:, 3:6] ** 2).sum(axis=1))
    raise ValueError(f"detector {det.name} has no primary energy")


def sampling_fraction(detector: str | Detector, showers: np.ndarray,
                      conditions: np.ndarray) -> np.ndarray:
    """Deposited / primary energy ``(N,)``, dimensionless.

    The deposit is converted to GeV first (lhcb-ecal deposits are in MeV while the primary
    momentum is in GeV, so a 10 GeV electron depositing 1750 MeV gives 0.175).
    """
    det = get_detector(detector)
    deposit_gev = total_energy(showers) * _MEV_PER[det.energy_unit] / 1000.0
    return _safe_div(deposit_gev, primary_energy_gev(det, conditions))


def centre_of_gravity(showers: np.ndarray, detector: str | Detector) -> np.ndarray:
    """Energy-weighted mean cell position in cm, ``(N, 2)`` as (x, y) or ``(N, 3)`` (x, y, z)."""
    return _moments(showers, get_detector(detector))[0]


def widths(showers: np.ndarray, detector: str | Detector) -> np.ndarray:
    """Energy-weighted standard deviations sqrt(<x^2> - <x>^2) in cm, same layout as the COG."""
    return _moments(showers, get_detector(detector))[1]


def _moments(showers: np.ndarray, det: Detector) -> tuple[np.ndarray, np.ndarray]:
    """First and second central moments along every spatial axis (cm), float64."""
    axes = cell_centres(det)

    def one(s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, dtype=np.float64)
        total = s.reshape(len(s), -1).sum(axis=1)
        out = []
        if det.kind == "image2d":  # [y, x]
            projections = [(s.sum(axis=1), axes[1]), (s.sum(axis=2), axes[0])]
        else:  # [x, y, z]
            projections = [(s.sum(axis=(2, 3)), axes[0]), (s.sum(axis=(1, 3)), axes[1]),
                           (s.sum(axis=(1, 2)), axes[2])]
        for proj, coord in projections:
            m1 = _safe_div(proj @ coord, total)
            m2 = _safe_div(proj @ coord**2, total)
            out.append((m1, np.sqrt(np.clip(m2 - m1**2, 0.0, None))))
        return np.stack([m for m, _ in out] + [w for _, w in out], axis=1)

    res = _chunked(one, np.asarray(showers))
    k = res.shape[1] // 2
    return res[:, :k], res[:, k:]


def longitudinal_profile(showers: np.ndarray, detector: str | Detector) -> np.ndarray:
    """Energy per layer ``(N, L)`` (3D detectors only), float64, in the energy unit."""
    det = get_detector(detector)
    if det.kind != "volume3d":
        raise ValueError(f"detector {det.name} has no layers (longitudinal profile needs 3D)")
    return _chunked(lambda s: s.sum(axis=(1, 2), dtype=np.float64), np.asarray(showers))


def transverse_profile_x(showers: np.ndarray, detector: str | Detector) -> np.ndarray:
    """Energy per column (x) ``(N, W)`` float64."""
    det = get_detector(detector)
    return _chunked(lambda s: _transverse_image(s, det).sum(axis=1), np.asarray(showers))


def transverse_profile_y(showers: np.ndarray, detector: str | Detector) -> np.ndarray:
    """Energy per row (y) ``(N, H)`` float64."""
    det = get_detector(detector)
    return _chunked(lambda s: _transverse_image(s, det).sum(axis=2), np.asarray(showers))


def radial_profile(showers: np.ndarray, detector: str | Detector, n_bins: int = 10) -> np.ndarray:
    """Energy in rings around the shower's own transverse centre of gravity, ``(N, n_bins)``.

    Ring k holds the cells whose centre lies at distance r in ``[k, k+1)`` cell pitches from
    (x̄, ȳ); cells beyond ``n_bins`` pitches are not counted. 3D showers are summed over
    layers first. float64, in the energy unit.
    """
    det = get_detector(detector)
    centres = cell_centres(det)
    yc, xc = centres[:2] if det.kind == "image2d" else (centres[1], centres[0])
    pitch = det.cell_size_cm

    def one(s: np.ndarray) -> np.ndarray:
        img = _transverse_image(s, det)  # (n, H=y, W=x)
        n = len(img)
        total = img.reshape(n, -1).sum(axis=1)
        mx = _safe_div(img.sum(axis=1) @ xc, total)
        my = _safe_div(img.sum(axis=2) @ yc, total)
        r = np.hypot(xc[None, None, :] - mx[:, None, None], yc[None, :, None] - my[:, None, None])
        k = np.floor(r / pitch).astype(np.int64)
        keep = k < n_bins
        flat = (np.arange(n)[:, None, None] * n_bins + k)[keep]
        return np.bincount(flat, weights=img[keep], minlength=n * n_bins).reshape(n, n_bins)

    return _chunked(one, np.asarray(showers))


def n_cells_above(showers: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Number of cells with energy strictly above each absolute threshold, ``(N, T)`` float64."""
    t = np.asarray(thresholds, dtype=np.float64)

    def one(s: np.ndarray) -> np.ndarray:
        flat = s.reshape(len(s), -1)
        return np.stack([(flat > ti).sum(axis=1) for ti in t], axis=1).astype(np.float64)

    return _chunked(one, np.asarray(showers))


def sparsity(showers: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Fraction of cells with ``E_i >= alpha * S`` for each relative threshold alpha, ``(N, T)``.

    This is ``get_ms_ratio2`` of the LHCb metric code (``get_sparsity_level`` uses
    ``alpha = logspace(-5, 0, 50)``). Empty showers give 0.
    """
    a = np.asarray(thresholds, dtype=np.float64)

    def one(s: np.ndarray) -> np.ndarray:
        flat = np.asarray(s, dtype=np.float64).reshape(len(s), -1)
        total = flat.sum(axis=1)
        frac = np.stack([(flat >= total[:, None] * ai).sum(axis=1) for ai in a], axis=1)
        frac = frac / flat.shape[1]
        return np.where(total[:, None] > 0, frac, 0.0)

    return _chunked(one, np.asarray(showers))


def max_cell_fraction(showers: np.ndarray) -> np.ndarray:
    """Largest single cell over the shower's total energy, ``(N,)`` in [0, 1] (dimensionless).

    Empty showers (total 0) give 0.
    """
    def one(s: np.ndarray) -> np.ndarray:
        flat = np.asarray(s, dtype=np.float64).reshape(len(s), -1)
        return _safe_div(flat.max(axis=1) if flat.shape[1] else np.zeros(len(s)),
                         flat.sum(axis=1))

    return _chunked(one, np.asarray(showers))


# ---------------------------------------------------------------- moments in the p_T frame
def pt_direction(conditions: np.ndarray) -> np.ndarray:
    """Unit vector of the transverse momentum in the (x, y) plane, ``(N, 2)`` float64.

    ``conditions`` are lhcb-ecal rows ``[x, y, z, px, py, pz]`` (cm, GeV); the direction is
    ``(px, py) / hypot(px, py)``. Where ``p_T = 0`` (normal incidence) the direction is
    undefined and the x axis ``(1, 0)`` is used, so the "along" moments become the x moments
    and the "across" ones the y moments.
    """
    c = np.asarray(conditions, dtype=np.float64)
    px, py = c[:, 3], c[:, 4]
    pt = np.hypot(px, py)
    ok = pt > 0
    ux = np.where(ok, _safe_div(px, pt), 1.0)
    uy = np.where(ok, _safe_div(py, pt), 0.0)
    return np.column_stack([ux, uy])


def pt_frame_moments(images: np.ndarray, conditions: np.ndarray,
                     cell_size_cm: float = 2.0) -> np.ndarray:
    """Second and third moments of the energy along and across p_T about the centroid.

    For each shower the cell centres (cm, ``(j - (W-1)/2) * cell_size_cm`` for column j = x,
    likewise rows = y) are measured from the energy centroid (x̄, ȳ) and projected on
    ``u = p_T / |p_T|`` (:func:`pt_direction`; the x axis when p_T = 0) and on
    ``v = (-u_y, u_x)`` (u turned by +90 degrees):
    ``a = (x - x̄) u_x + (y - ȳ) u_y``, ``b = -(x - x̄) u_y + (y - ȳ) u_x``. With E the cell
    energies and S their sum, ``mu_k(a) = sum(E a^k) / S`` and

    - ``width_along = sqrt(mu_2(a))``, ``width_across = sqrt(mu_2(b))`` (cm),
    - ``skewness_along = mu_3(a) / mu_2(a)^1.5``, ``skewness_across`` likewise (dimensionless;
      positive along means a tail downstream, towards +p_T).

    Unlike the LHCb code's widths (:func:`shower_width`) these are finite and continuous for
    every direction, including px = 0 or py = 0. Empty showers give 0 for all four, and a
    skewness is 0 where its width is below 1e-6 cell pitches (a single cell or a line of
    cells across the axis).

    Args:
        images: ``(N, H, W)`` energies [row = y, column = x] (any energy unit).
        conditions: ``(N, 6)`` ``[x, y, z, px, py, pz]`` in cm and GeV (only px, py are used).
        cell_size_cm: cell pitch in cm.

    Returns:
        float64 ``(N, 4)``: width_along (cm), width_across (cm), skewness_along,
        skewness_across.
    """
    h, w = np.shape(images)[1:]
    xc = (np.arange(w) - (w - 1) / 2) * cell_size_cm
    yc = (np.arange(h) - (h - 1) / 2) * cell_size_cm
    eps = (1e-6 * cell_size_cm) ** 2

    def one(img: np.ndarray, cond: np.ndarray) -> np.ndarray:
        img = np.asarray(img, dtype=np.float64)
        u = pt_direction(cond)
        ux, uy = u[:, 0, None, None], u[:, 1, None, None]
        total = img.sum(axis=(1, 2))
        mx = _safe_div(img.sum(axis=1) @ xc, total)
        my = _safe_div(img.sum(axis=2) @ yc, total)
        dx = xc[None, None, :] - mx[:, None, None]  # (n, 1, W)
        dy = yc[None, :, None] - my[:, None, None]  # (n, H, 1)
        out = []
        for coord in (dx * ux + dy * uy, dy * ux - dx * uy):  # along u, along v
            e_a = img * coord
            m2 = np.clip(_safe_div((e_a * coord).sum(axis=(1, 2)), total), 0.0, None)
            m3 = _safe_div((e_a * coord * coord).sum(axis=(1, 2)), total)
            sig = m2 > eps  # rounding leaves ~1e-30 for a single cell: no skewness there
            out.append((np.sqrt(m2), np.where(sig, m3 / np.where(sig, m2, 1.0) ** 1.5, 0.0)))
        return np.column_stack([out[0][0], out[1][0], out[0][1], out[1][1]])

    return _chunked(one, np.asarray(images), np.asarray(conditions))


# ---------------------------------------------------------------- LHCb asymmetry and width
def _lhcb_geometry(conditions: np.ndarray, pitch: float) -> tuple[np.ndarray, ...]:
    """Reference point (cell units) and momentum components of the LHCb metric code."""
    c = np.asarray(conditions, dtype=np.float64)
    px, py, pz = _nonzero(c[:, 3]), _nonzero(c[:, 4]), _nonzero(c[:, 5])
    x_ref = c[:, 0] / pitch + ZOFF_CELLS * px / pz
    y_ref = c[:, 1] / pitch + ZOFF_CELLS * py / pz
    return x_ref, y_ref, px, py


def _cell_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """meshgrid(x, y) of cell centres in cell-pitch units (-14.5..14.5 for 30 cells)."""
    h, w = shape
    return np.meshgrid(np.arange(w) - (w - 1) / 2, np.arange(h) - (h - 1) / 2)


def asymmetry(images: np.ndarray, conditions: np.ndarray, orthogonal: bool = False,
              cell_size_cm: float = 2.0) -> np.ndarray:
    """LHCb shower asymmetry ``(N,)`` in [-1, 1] (``get_assymetry`` of calogan_metrics.py).

    Geometry is in cell-pitch units exactly as the LHCb code (cell centres at -14.5..14.5,
    ``meshgrid(x, y)`` so column <-> x and row <-> y); the entry point (cm) is divided by
    ``cell_size_cm`` first, and the reference point is the entry point moved ``zoff = 25``
    pitches along p: ``(X_r, Y_r) = (x0 + 25 px/pz, y0 + 25 py/pz)``. This convention is
    kept so that the numbers are comparable with the papers (gflash.md section 7).

    - ``orthogonal=False`` (longitudinal): the boundary is the line through (X_r, Y_r)
      perpendicular to p_T; ``A = (E_fwd - E_bwd) / S`` where forward is downstream along +p_T.
    - ``orthogonal=True`` (transverse): the line along p_T, ``A = (E_above - E_below) / S``.

    Args:
        images: ``(N, H, W)`` energies [row = y, column = x].
        conditions: ``(N, 6)`` ``[x, y, z, px, py, pz]`` in cm and GeV.
    """
    xx, yy = _cell_grid(np.shape(images)[1:])

    def one(img: np.ndarray, cond: np.ndarray) -> np.ndarray:
        img = np.asarray(img, dtype=np.float64)
        x_ref, y_ref, px, py = _lhcb_geometry(cond, cell_size_cm)
        x_ref, y_ref, px, py = (v[:, None, None] for v in (x_ref, y_ref, px, py))
        if orthogonal:
            line = (xx - x_ref) * py / px + y_ref
            sign = np.ones_like(py)
        else:
            line = -(xx - x_ref) * px / py + y_ref
            sign = np.where(py > 0, 1.0, -1.0)
        forward = (yy - line) * sign >= 0
        total = img.sum(axis=(1, 2))
        diff = np.where(forward, img, -img).sum(axis=(1, 2))
        return _safe_div(diff, total)

    return _chunked(one, np.asarray(images), np.asarray(conditions))


def shower_width(images: np.ndarray, conditions: np.ndarray, orthogonal: bool = False,
                 cell_size_cm: float = 2.0) -> np.ndarray:
    """LHCb shower width ``(N,)`` in cm (``get_shower_width`` of calogan_metrics.py).

    Copied as written (gflash.md section 7 warns that its slopes are along / across p_T only
    in the transposed-axis convention; copying keeps the numbers comparable with the papers):
    a line of slope px/py (``orthogonal=False``) or -py/px (``orthogonal=True``) through the
    reference point splits the grid; the cells on the boundary of the half-plane are
    weighted by their energy, and ``sigma = sqrt(<u^2> - <u>^2)`` with
    ``u = sqrt(1 + (py/px)^2) * x``. The LHCb code returns sigma in cell pitches; here it
    is multiplied by ``cell_size_cm`` to give cm (divide by 2 for the papers' numbers).
    Showers with no energy on the boundary give 0 (the LHCb code gives NaN).
    """
    xx, yy = _cell_grid(np.shape(images)[1:])

    def one(img: np.ndarray, cond: np.ndarray) -> np.ndarray:
        img = np.asarray(img, dtype=np.float64)
        x_ref, y_ref, px, py = _lhcb_geometry(cond, cell_size_cm)
        rescale = np.sqrt(1.0 + (py / px) ** 2)[:, None, None]
        x_ref, y_ref, px, py = (v[:, None, None] for v in (x_ref, y_ref, px, py))
        if orthogonal:
            line = -(xx - x_ref) * py / px + y_ref
            sign = np.ones_like(py)
        else:
            line = (xx - x_ref) * px / py + y_ref
            sign = np.where(py < 0, 1.0, -1.0)
        zz = ((yy - line) * sign >= 0).astype(np.float64)
        edge = np.zeros_like(zz)
        edge[:, :, :-1] += np.abs(np.diff(zz, axis=2))
        edge[:, :-1, :] += np.abs(np.diff(zz, axis=1))
        ww = np.clip(edge, 0.0, 1.0) * img
        u = rescale * xx
        s0 = ww.sum(axis=(1, 2))
        s1 = _safe_div((ww * u).sum(axis=(1, 2)), s0)
        s2 = _safe_div((ww * u * u).sum(axis=(1, 2)), s0)
        return np.sqrt(np.clip(s2 - s1 * s1, 0.0, None)) * cell_size_cm

    return _chunked(one, np.asarray(images), np.asarray(conditions))


def lhcb_physical_stats(images: np.ndarray, conditions: np.ndarray,
                        cell_size_cm: float = 2.0) -> np.ndarray:
    """The LHCb papers' physics-metric vector ``(N, 54)``: [A, A_perp, width, width_perp,
    sparsity at logspace(-5, 0, 50)] (``get_physical_stats``; widths in cm)."""
    return np.column_stack([
        asymmetry(images, conditions, False, cell_size_cm),
        asymmetry(images, conditions, True, cell_size_cm),
        shower_width(images, conditions, False, cell_size_cm),
        shower_width(images, conditions, True, cell_size_cm),
        sparsity(images, np.logspace(-5, 0, 50)),
    ])


# ---------------------------------------------------------------- per-detector sets
def _fmt(t: float) -> str:
    return f"{t:g}"


def observables(detector: str | Detector, showers: np.ndarray,
                conditions: np.ndarray) -> dict[str, np.ndarray]:
    """All scalar observables of a detector, as an insertion-ordered dict of float64 ``(N,)``.

    lhcb-ecal: total_energy (MeV), sampling_fraction, cog_x, cog_y, width_x, width_y (cm),
    asymmetry_long, asymmetry_trans, width_long, width_trans (LHCb metric code, widths in
    cm; width_* explode near px = 0, keep them for comparison with the papers),
    width_along_pt, width_across_pt (cm), skewness_along_pt, skewness_across_pt
    (:func:`pt_frame_moments`, defined everywhere), n_cells_above_{1,10,100}MeV,
    sparsity_{1e-3,1e-2,1e-1} (fraction of cells >= a*S), max_cell_fraction.

    cern-ecal: total_energy (GeV), sampling_fraction, cog_x, cog_y, cog_z, width_x, width_y,
    width_z (cm; z is depth behind the front face), n_cells_above_{1e-4,1e-3,0.01}GeV.

    rich-pid: the five DLLs under their names.
    """
    det = get_detector(detector)
    s = np.asarray(showers)
    c = np.asarray(conditions)
    if len(s) != len(c):
        raise ValueError(f"{len(s)} showers but {len(c)} condition rows")
    if det.kind == "tabular":
        s64 = s.astype(np.float64)
        return {name: s64[:, i] for i, name in enumerate(det.shower_names)}
    out: dict[str, np.ndarray] = {}
    out["total_energy"] = total_energy(s)
    out["sampling_fraction"] = sampling_fraction(det, s, c)
    cog, wid = _moments(s, det)
    names = "xyz"[: cog.shape[1]]
    for i, a in enumerate(names):
        out[f"cog_{a}"] = cog[:, i]
    for i, a in enumerate(names):
        out[f"width_{a}"] = wid[:, i]
    if det.name == "lhcb-ecal":
        pitch = det.cell_size_cm
        out["asymmetry_long"] = asymmetry(s, c, False, pitch)
        out["asymmetry_trans"] = asymmetry(s, c, True, pitch)
        out["width_long"] = shower_width(s, c, False, pitch)
        out["width_trans"] = shower_width(s, c, True, pitch)
        pt_mom = pt_frame_moments(s, c, pitch)
        for i, name in enumerate(PT_MOMENT_NAMES):
            out[name] = pt_mom[:, i]
    thresholds = CELL_THRESHOLDS.get(det.name, ())
    if thresholds:
        counts = n_cells_above(s, thresholds)
        for i, t in enumerate(thresholds):
            out[f"n_cells_above_{_fmt(t)}{det.energy_unit}"] = counts[:, i]
    if det.name == "lhcb-ecal":
        sp = sparsity(s, SPARSITY_LEVELS)
        for i, a in enumerate(SPARSITY_LEVELS):
            out[f"sparsity_{_fmt(a)}"] = sp[:, i]
        out["max_cell_fraction"] = max_cell_fraction(s)
    return out


def observable_names(detector: str | Detector) -> list[str]:
    """Names (in order) that :func:`observables` returns for ``detector``."""
    det = get_detector(detector)
    one = np.zeros((1, *det.shower_shape), dtype=np.float32)
    cond = np.ones((1, det.n_conditions), dtype=np.float32)
    return list(observables(det, one, cond))


def regression_targets(detector: str | Detector, showers: np.ndarray, conditions: np.ndarray,
                       names: Sequence[str]) -> np.ndarray:
    """Stack the named observables into ``(N, k)`` float64 (SAGAN auxiliary regressor targets).

    An unknown name raises UnknownNameError suggesting the nearest valid one.
    """
    det = get_detector(detector)
    valid = observable_names(det)
    for name in names:
        if name not in valid:
            raise unknown_name(f"observable for {det.name}", name, valid)
    obs = observables(det, showers, conditions)
    return np.column_stack([obs[n] for n in names]) if names else np.zeros((len(showers), 0))


#: Interquartile range of a unit normal: ``IQR / 1.349`` estimates sigma for Gaussian data.
IQR_PER_SIGMA = 1.349


def sampling_fraction_curve(energy_gev: np.ndarray, sf: np.ndarray, n_bins: int = 12,
                            min_count: int = 20) -> dict | None:
    """The calorimeter's response per primary-energy bin, the reference curves of
    energy-factorised generators (``tfcalo.models.layers.reference_sf``): the mean sampling
    fraction and the robust spread of its log (IQR / 1.349, a relative resolution).

    Args:
        energy_gev: (N,) primary energies (GeV).
        sf: (N,) sampling fractions (deposit / primary energy, the detector's units).
        n_bins: log-spaced bins between the smallest and largest energy (fewer for a small
            sample: about 2 min_count showers per bin).
        min_count: bins with fewer finite entries are left out.

    Returns:
        ``{"log_energy_gev": [...], "sf_mean": [...], "log_sf_spread": [...], "n": [...]}``
        (log of each bin's median energy, increasing; a single bin gives a flat curve over
        the energy range), or None for fewer than ``min_count`` usable showers.
    """
    e, f = np.asarray(energy_gev, np.float64), np.asarray(sf, np.float64)
    ok = np.isfinite(e) & np.isfinite(f) & (e > 0) & (f > 0)
    e, f = e[ok], f[ok]
    if len(e) < min_count or e.max() <= e.min():
        return None
    # a small sample gets fewer bins (about 2 min_count showers each), at least one
    n_bins = max(1, min(n_bins, len(e) // (2 * min_count)))
    edges = np.geomspace(e.min(), e.max() * (1 + 1e-9), n_bins + 1)
    which = np.digitize(e, edges) - 1
    xs, ys, spreads, ns = [], [], [], []
    for b in range(n_bins):
        sel = (which == b) & (f > 0)
        if sel.sum() >= min_count:
            q25, q75 = np.quantile(np.log(f[sel]), [0.25, 0.75])
            xs.append(float(np.log(np.median(e[sel]))))
            ys.append(float(np.mean(f[sel])))
            spreads.append(float((q75 - q25) / IQR_PER_SIGMA))
            ns.append(int(sel.sum()))
    if not xs:
        return None
    if len(xs) == 1:  # one bin: a flat curve over the sample's energy range
        xs = [float(np.log(e.min())), float(np.log(e.max()))]
        ys, spreads, ns = ys * 2, spreads * 2, ns * 2
    return {"log_energy_gev": xs, "sf_mean": ys, "log_sf_spread": spreads, "n": ns}


def observable_stats(values: dict[str, np.ndarray]) -> dict[str, dict]:
    """Robust location and scale of each observable (for standardising regression targets).

    Args:
        values: ``{name: (N,) array}`` (e.g. from :func:`observables`); non-finite entries
            are ignored.

    Returns:
        ``{name: {"median", "q25", "q75", "scale", "n"}}`` as JSON-ready floats, in the
        observable's unit. ``scale = (q75 - q25) / 1.349`` (sigma for a Gaussian, blind to
        the tails: a handful of exploding values cannot inflate it); when the IQR is 0 (an
        observable that is mostly one value) the standard deviation is used, and 1.0 when
        that is 0 too or nothing is finite (then the median is 0).
    """
    out: dict[str, dict] = {}
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        if len(v) == 0:
            out[name] = {"median": 0.0, "q25": 0.0, "q75": 0.0, "scale": 1.0, "n": 0}
            continue
        q25, med, q75 = np.quantile(v, [0.25, 0.5, 0.75])
        scale = (q75 - q25) / IQR_PER_SIGMA
        if not scale > 0:
            scale = float(v.std())
        if not scale > 0:
            scale = 1.0
        out[name] = {"median": float(med), "q25": float(q25), "q75": float(q75),
                     "scale": float(scale), "n": int(len(v))}
    return out


#: Readable label and unit of the observables whose unit does not depend on the detector
#: ("" = dimensionless); energy-like ones and cell counts are handled in observable_axis.
_OBSERVABLE_AXES: dict[str, tuple[str, str]] = {
    "sampling_fraction": ("sampling fraction (deposited / primary energy)", ""),
    "cog_x": ("centre of gravity x", "cm"),
    "cog_y": ("centre of gravity y", "cm"),
    "cog_z": ("centre of gravity z (depth)", "cm"),
    "width_x": ("shower width x", "cm"),
    "width_y": ("shower width y", "cm"),
    "width_z": ("shower width z (depth)", "cm"),
    "asymmetry_long": ("longitudinal asymmetry", ""),
    "asymmetry_trans": ("transverse asymmetry", ""),
    "width_long": ("longitudinal shower width", "cm"),
    "width_trans": ("transverse shower width", "cm"),
    "width_along_pt": ("shower width along p_T (RMS)", "cm"),
    "width_across_pt": ("shower width across p_T (RMS)", "cm"),
    "skewness_along_pt": ("skewness along p_T", ""),
    "skewness_across_pt": ("skewness across p_T", ""),
    "max_cell_fraction": ("largest cell / total energy", ""),
}


def observable_axis(detector: str | Detector, name: str) -> tuple[str, str]:
    """(readable label, unit) of an :func:`observables` entry, for plot axes.

    The unit is ``""`` for dimensionless quantities (fractions, asymmetries, DLLs); energies
    are in the detector's ``energy_unit`` (GeV for cern-ecal, MeV for lhcb-ecal), positions
    and widths in cm, hit counts in ``"cells"``. Unknown names get their own name with
    underscores as spaces and no unit.
    """
    det = get_detector(detector)
    if name == "total_energy":
        return "total deposited energy", det.energy_unit
    if name in _OBSERVABLE_AXES:
        return _OBSERVABLE_AXES[name]
    prefix = "n_cells_above_"
    if name.startswith(prefix) and name.endswith(det.energy_unit):
        return f"cells above {name[len(prefix):-len(det.energy_unit)]} {det.energy_unit}", "cells"
    if name.startswith("sparsity_"):
        return f"fraction of cells with E >= {name[len('sparsity_'):]} x total", ""
    return name.replace("_", " "), ""
