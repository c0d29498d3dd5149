"""GFlash-style parametric EM shower simulator (numpy), following ../shared/physics/gflash.md.

The simulator draws, per shower, correlated (T, alpha) of a gamma longitudinal profile
(sheet 1.3-1.4, sampling corrections 2.3), integrates the deposited energy over steps of
``step_x0`` radiation lengths along the shower axis, applies gamma sampling fluctuations per
step (2.4), splits each step into spots whose number follows the spot profile (2.5) and whose
radii follow the two-component core/tail radial profile (3, 4), and projects the spots along
the momentum direction onto the detector grid (6). Inclined incidence therefore moves the
shower axis sideways with depth, which produces the asymmetry the LHCb metrics measure.

A geometry is a stack of sampling *sections* (absorber + active layers). The shower-level
parameters (Z_eff, F_S, e-hat, E_c, R_M) come from the first section, where the shower
develops; the depth in radiation lengths along the axis, the Moliere radius and the visible
(sampling) fraction are taken per section at each spot's depth.

Units: energies in GeV, lengths in cm, depth ``t`` in X0 along the axis, radii in R_M.

Example:
    >>> import numpy as np
    >>> from tfcalo.data.gflash import LHCB_ECAL_GEOMETRY, simulate_showers
    >>> rng = np.random.default_rng(0)
    >>> e = np.full(4, 10.0); p0 = np.zeros((4, 3)); u = np.tile([0.0, 0.0, 1.0], (4, 1))
    >>> out = simulate_showers(LHCB_ECAL_GEOMETRY, e, p0, u, rng)
    >>> out.image.shape, out.profile.shape
    ((4, 30, 30), (4, 66))
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc

E_S_MEV = 21.2  # scale energy of the Moliere radius (MeV)


@dataclass(frozen=True)
class Material:
    """PDG constants of one material (gflash.md section 5).

    Attributes: Z, A (g/mol), density (g/cm3), x0_gcm2 (g/cm2), ec_mev (MeV, electrons),
    dedx_min (MeV cm2/g).
    """

    name: str
    Z: float
    A: float
    density: float
    x0_gcm2: float
    ec_mev: float
    dedx_min: float


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        Material("Pb", 82.0, 207.2, 11.35, 6.37, 7.43, 1.122),
        Material("W", 74.0, 183.84, 19.3, 6.76, 7.97, 1.145),
        Material("Si", 14.0, 28.09, 2.329, 21.82, 40.19, 1.664),
        Material("polystyrene", 5.61, 11.15, 1.06, 43.79, 93.11, 1.936),
    )
}


@dataclass(frozen=True)
class Section:
    """``n_layers`` repetitions of (absorber of ``d_absorber`` cm + active of ``d_active`` cm).

    ``f_samp`` is the visible fraction of the energy deposited in this section (active /
    total deposit, including the electron-to-MIP ratio); None means the estimate of sheet
    2.1, f_samp = e-hat * f_mip.
    """

    n_layers: int
    absorber: str
    d_absorber: float
    active: str
    d_active: float
    f_samp: float | None = None

    @property
    def layer_thickness(self) -> float:
        return self.d_absorber + self.d_active

    @property
    def medium(self) -> EffectiveMedium:
        return effective_medium(self)


@dataclass(frozen=True)
class EffectiveMedium:
    """Effective homogeneous medium of a sampling section (gflash.md 2.1).

    Attributes: z_eff, a_eff, density (g/cm3), x0_cm, rm_cm, ec_mev, fs (sampling frequency
    F_S), ehat (electron-to-MIP ratio), f_samp_estimate (e-hat * f_mip).
    """

    z_eff: float
    a_eff: float
    density: float
    x0_cm: float
    rm_cm: float
    ec_mev: float
    fs: float
    ehat: float
    f_samp_estimate: float


@functools.cache
def effective_medium(section: Section) -> EffectiveMedium:
    """Compute the effective medium of ``section`` with the mass-weighted rules of sheet 2.1."""
    p, a = MATERIALS[section.absorber], MATERIALS[section.active]
    mass = (p.density * section.d_absorber, a.density * section.d_active)
    tot = sum(mass)
    w = (mass[0] / tot, mass[1] / tot)
    mats = (p, a)
    z_eff = sum(wi * m.Z for wi, m in zip(w, mats, strict=True))
    a_eff = sum(wi * m.A for wi, m in zip(w, mats, strict=True))
    rho = tot / section.layer_thickness
    x0_g = 1.0 / sum(wi / m.x0_gcm2 for wi, m in zip(w, mats, strict=True))
    x0_cm = x0_g / rho
    ec_over_x0 = sum(wi * m.ec_mev / m.x0_gcm2 for wi, m in zip(w, mats, strict=True))
    rm_g = E_S_MEV / ec_over_x0
    ec = x0_g * ec_over_x0
    fs = x0_cm / section.layer_thickness
    ehat = 1.0 / (1.0 + 0.007 * (p.Z - a.Z))
    loss = [d * m.density * m.dedx_min for d, m in
            ((section.d_absorber, p), (section.d_active, a))]
    f_mip = loss[1] / sum(loss)
    return EffectiveMedium(z_eff, a_eff, rho, x0_cm, rm_g / rho, ec, fs, ehat, ehat * f_mip)


@dataclass(frozen=True)
class Geometry:
    """A sampling calorimeter read out on a transverse grid.

    Attributes:
        name: label.
        sections: the layer stack, front to back.
        n_x, n_y: transverse cells; the grid is centred on x = y = 0.
        pitch_cm: transverse cell size (cm).
        c_s: stochastic term of the sampling fluctuations (sigma/E = c_s / sqrt(E/GeV)).
        c_k: constant term (the whole shower is scaled by 1 + c_k * N(0, 1)).
        step_x0: longitudinal integration step along the axis (X0).
        max_spots: spots processed at once (memory bound of one sub-batch).
    """

    name: str
    sections: tuple[Section, ...]
    n_x: int
    n_y: int
    pitch_cm: float
    c_s: float
    c_k: float
    step_x0: float = 0.1
    max_spots: int = 400_000

    @property
    def shower_medium(self) -> EffectiveMedium:
        """Medium whose parameters drive the shower-level profile (the first section)."""
        return self.sections[0].medium

    @property
    def layer_edges_cm(self) -> np.ndarray:
        """(L + 1,) depth of the layer boundaries from the front face (cm)."""
        th = np.concatenate([np.full(s.n_layers, s.layer_thickness) for s in self.sections])
        return np.concatenate([[0.0], np.cumsum(th)])

    @property
    def n_layers(self) -> int:
        return sum(s.n_layers for s in self.sections)

    @property
    def depth_cm(self) -> float:
        return float(self.layer_edges_cm[-1])

    @property
    def layer_f_samp(self) -> np.ndarray:
        """(L,) visible fraction of each layer."""
        return np.concatenate([
            np.full(s.n_layers, s.f_samp if s.f_samp is not None else s.medium.f_samp_estimate)
            for s in self.sections])

    def section_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Section boundaries in cm and in X0 at normal incidence, and each section's R_M (cm)."""
        z = [0.0]
        t = [0.0]
        rm = []
        for s in self.sections:
            thick = s.n_layers * s.layer_thickness
            z.append(z[-1] + thick)
            t.append(t[-1] + thick / s.medium.x0_cm)
            rm.append(s.medium.rm_cm)
        return np.array(z), np.array(t), np.array(rm)


# Sheet 5(a): LHCb-like shashlik, 66 x (2 mm Pb + 4 mm scintillator), 30x30 cells of 2 cm.
# Defaults are the sheet's (f_samp 0.16, 10 %/sqrt(E) (+) 1 %); the Geant4 reference file
# measures f_samp 0.1755 and 7.6 %/sqrt(E) (+) 0.4 %, see LHCB_ECAL_G4LIKE.
LHCB_ECAL_GEOMETRY = Geometry(
    name="lhcb-ecal",
    sections=(Section(66, "Pb", 0.2, "polystyrene", 0.4, f_samp=0.16),),
    n_x=30, n_y=30, pitch_cm=2.0, c_s=0.10, c_k=0.01,
)
LHCB_ECAL_G4LIKE = Geometry(
    name="lhcb-ecal-g4like",
    sections=(Section(66, "Pb", 0.2, "polystyrene", 0.4, f_samp=0.1755),),
    n_x=30, n_y=30, pitch_cm=2.0, c_s=0.076, c_k=0.004,
)
# Sheet 5(b): CLIC-like Si-W, 17 x (2.4 mm W + 0.5 mm Si) + 8 x (4.8 mm W + 0.5 mm Si),
# 25x25 pads of 5.1 mm; f_samp per section from sheet 2.1 (0.0248 / 0.0126), c_S = 0.165.
CERN_ECAL_GEOMETRY = Geometry(
    name="cern-ecal",
    sections=(Section(17, "W", 0.24, "Si", 0.05, f_samp=0.0248),
              Section(8, "W", 0.48, "Si", 0.05, f_samp=0.0126)),
    n_x=25, n_y=25, pitch_cm=0.51, c_s=0.165, c_k=0.011,
)


@dataclass
class ShowerBatch:
    """Output of :func:`simulate_showers` (visible energies in GeV).

    Attributes:
        image: (N, n_y, n_x) depth-summed visible energy [row = y, column = x].
        profile: (N, L) visible energy per layer, front to back.
        layers: (N, n_y, n_x, L) per-layer cells, only with ``per_layer=True``, else None.
        t_max: (N,) drawn depth of the maximum T of each shower (X0).
        alpha: (N,) drawn shape alpha of each shower.
    """

    image: np.ndarray
    profile: np.ndarray
    layers: np.ndarray | None
    t_max: np.ndarray
    alpha: np.ndarray


def longitudinal_parameters(energy: np.ndarray, medium: EffectiveMedium) -> dict[str, np.ndarray]:
    """Mean log (T, alpha), their spreads and correlation, homogeneous and sampling (2.3).

    Args:
        energy: (N,) shower energy in GeV.
        medium: the effective medium.
    Returns:
        dict with keys ``lnT_h, lna_h, sT_h, sa_h, rho_h`` (homogeneous, sheet 1.3) and
        ``lnT_s, lna_s, sT_s, sa_s, rho_s`` (sampling, sheet 2.3); sigmas capped at 0.5.
    """
    lny = np.log(np.asarray(energy, dtype=np.float64) * 1000.0 / medium.ec_mev)
    z, fs, eh = medium.z_eff, medium.fs, medium.ehat
    t_h = lny - 0.812
    a_h = 0.81 + (0.458 + 2.26 / z) * lny
    t_s = np.maximum(t_h - 0.55 / fs - 0.69 * (1.0 - eh), 1.0)
    a_s = np.maximum(a_h - 0.476 / fs, 1.1)
    cap = lambda x: np.minimum(x, 0.5)  # noqa: E731
    return {
        "lnT_h": np.log(t_h), "lna_h": np.log(a_h),
        "sT_h": cap(1.0 / (-1.4 + 1.26 * lny)), "sa_h": cap(1.0 / (-0.58 + 0.86 * lny)),
        "rho_h": 0.705 - 0.023 * lny,
        "lnT_s": np.log(t_s), "lna_s": np.log(a_s),
        "sT_s": cap(1.0 / (-2.5 + 1.25 * lny)), "sa_s": cap(1.0 / (-0.82 + 0.79 * lny)),
        "rho_s": 0.784 - 0.023 * lny,
    }


def radial_parameters(energy: np.ndarray, tau: np.ndarray, medium: EffectiveMedium
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampling radial parameters (R_C, R_T, p) in R_M units at scaled depth ``tau`` (sheet 3).

    ``energy`` (GeV) broadcasts against ``tau``; R_C and R_T are median radii, p in [0, 1].
    """
    lne = np.log(energy)
    z, fs, eh = medium.z_eff, medium.fs, medium.ehat
    rc = (0.0251 + 0.00319 * lne) + (0.1162 - 0.000381 * z) * tau
    k1, k2, k3, k4 = 0.659 - 0.00309 * z, 0.645, -2.59, 0.3585 + 0.0421 * lne
    rt = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    p1, p2, p3 = 2.632 - 0.00094 * z, 0.401 + 0.00187 * z, 1.313 - 0.0686 * lne
    arg = (p2 - tau) / p3
    p = p1 * np.exp(arg - np.exp(arg))
    e_tau = np.exp(-tau)
    rc = rc - 0.0203 * (1.0 - eh) + 0.0397 * e_tau / fs
    rt = rt - 0.14 * (1.0 - eh) - 0.495 * e_tau / fs
    p = p + (1.0 - eh) * (0.348 - 0.642 * np.exp(-((tau - 1.0) ** 2)) / fs)
    return np.maximum(rc, 1e-3), np.maximum(rt, 1e-3), np.clip(p, 0.0, 1.0)


def _correlated(rng: np.random.Generator, n: int, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two (N,) standard normal deviates with correlation ``rho`` (sheet 1.4)."""
    z1, z2 = rng.standard_normal((2, n))
    cp, cm = np.sqrt((1.0 + rho) / 2.0), np.sqrt((1.0 - rho) / 2.0)
    return cp * z1 + cm * z2, cp * z1 - cm * z2


def simulate_showers(geometry: Geometry, energy: np.ndarray, point: np.ndarray,
                     direction: np.ndarray, rng: np.random.Generator,
                     per_layer: bool = False) -> ShowerBatch:
    """Simulate N electron showers.

    Args:
        geometry: the calorimeter.
        energy: (N,) incident energy (GeV).
        point: (N, 3) entry point on the front face (cm; z is ignored, the face is z = 0).
        direction: (N, 3) momentum direction (need not be normalised; z component > 0).
        rng: the random generator (consumed deterministically for given inputs).
        per_layer: also return the (N, n_y, n_x, L) per-layer cells.
    Returns:
        a :class:`ShowerBatch` of visible energies in GeV.
    """
    energy = np.asarray(energy, dtype=np.float64)
    n = energy.shape[0]
    point = np.asarray(point, dtype=np.float64).reshape(n, 3)
    u = np.asarray(direction, dtype=np.float64).reshape(n, 3)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    med = geometry.shower_medium
    # Expected spots per shower bounds the sub-batch size (memory).
    n_spot = (10.3 / geometry.c_s) * energy ** 0.959
    k_steps = int(math.ceil(geometry.section_table()[1][-1] / geometry.step_x0))
    cost = n_spot + 2 * k_steps
    out = []
    start = 0
    while start < n:
        stop = start + 1
        acc = cost[start]
        while stop < n and acc + cost[stop] <= geometry.max_spots:
            acc += cost[stop]
            stop += 1
        out.append(_simulate_batch(geometry, med, energy[start:stop], point[start:stop],
                                   u[start:stop], rng, per_layer, k_steps))
        start = stop
    return ShowerBatch(
        image=np.concatenate([o.image for o in out]),
        profile=np.concatenate([o.profile for o in out]),
        layers=np.concatenate([o.layers for o in out]) if per_layer else None,
        t_max=np.concatenate([o.t_max for o in out]),
        alpha=np.concatenate([o.alpha for o in out]),
    )


def _simulate_batch(geo: Geometry, med: EffectiveMedium, energy: np.ndarray, point: np.ndarray,
                    u: np.ndarray, rng: np.random.Generator, per_layer: bool,
                    k_steps: int) -> ShowerBatch:
    n = energy.shape[0]
    lp = longitudinal_parameters(energy, med)
    # Individual homogeneous and sampling (T, alpha) from the same normals (Geant4 does so).
    g1, g2 = _correlated(rng, n, lp["rho_s"])
    t_s = np.maximum(np.exp(lp["lnT_s"] + lp["sT_s"] * g1), 1.0)
    a_s = np.maximum(np.exp(lp["lna_s"] + lp["sa_s"] * g2), 1.1)
    t_h = np.maximum(np.exp(lp["lnT_h"] + lp["sT_h"] * g1), 1.0)
    a_h = np.maximum(np.exp(lp["lna_h"] + lp["sa_h"] * g2), 1.1)
    b_s = (a_s - 1.0) / t_s
    # Steps along the axis, to the back face (in X0 along the path): t_end = T_z / u_z.
    z_b, t_b, rm_sec = geo.section_table()
    t_end = t_b[-1] / u[:, 2]
    h = t_end / k_steps
    edges = h[:, None] * np.arange(k_steps + 1)[None, :]                       # (n, K+1)
    de = energy[:, None] * np.diff(gammainc(a_s[:, None], b_s[:, None] * edges), axis=1)
    # Sampling fluctuations (sheet 2.4): Gamma(shape = dE / c_s^2, scale = c_s^2), dE in GeV.
    c2 = geo.c_s ** 2
    shape = de / c2
    de = np.where(shape > 0, rng.gamma(np.maximum(shape, 1e-300), c2), 0.0)
    de *= (1.0 + geo.c_k * rng.standard_normal(n))[:, None]
    # Spots per step from the spot profile (sheet 2.5, Geant4 form).
    a_sp = a_h * (0.844 + 0.0026 * med.z_eff)
    t_sp = t_h * (0.813 + 0.0019 * med.z_eff)
    b_sp = (a_sp - 1.0) / t_sp
    n_spot = (10.3 / geo.c_s) * energy ** 0.959
    nk = np.floor(n_spot[:, None] * np.diff(gammainc(a_sp[:, None], b_sp[:, None] * edges),
                                            axis=1))
    nk = np.where(de > 0, np.maximum(nk, 1), 0).astype(np.int64)
    # Radial parameters at the middle of each step (individual tau, sheet 3).
    a_bar = np.exp(lp["lna_s"])
    mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
    tau = mid / (a_s / b_s)[:, None] * (a_bar / (a_bar - 1.0))[:, None]
    rc, rt, pc = radial_parameters(energy[:, None], tau, med)
    # Expand to spots.
    flat = np.repeat(np.arange(n * k_steps), nk.ravel())
    sh = flat // k_steps
    m = flat.size
    espot = (de / np.maximum(nk, 1)).ravel()[flat]
    r1, r2, r3, r4 = rng.random((4, m))
    t = edges[:, :-1].ravel()[flat] + h[sh] * r1
    rmed = np.where(r2 < pc.ravel()[flat], rc.ravel()[flat], rt.ravel()[flat])
    r3 = np.minimum(r3, 1.0 - 1e-9)
    zn = np.interp(t * u[sh, 2], t_b, z_b)                    # depth of the axis point (cm)
    sec = np.clip(np.searchsorted(z_b, zn, side="right") - 1, 0, len(rm_sec) - 1)
    r = rm_sec[sec] * rmed * np.sqrt(r3 / (1.0 - r3))        # cm
    phi = (2.0 * np.pi) * r4
    # Frame (sheet 6): e1 = (u x z)/|u x z| (x if u || z), e2 = u x e1.
    uu = u
    e1 = np.stack([uu[:, 1], -uu[:, 0], np.zeros(n)], axis=1)
    norm = np.linalg.norm(e1, axis=1, keepdims=True)
    e1 = np.where(norm > 1e-12, e1 / np.maximum(norm, 1e-300), np.array([1.0, 0.0, 0.0]))
    e2 = np.cross(uu, e1)
    s = zn / u[sh, 2]
    cphi, sphi = r * np.cos(phi), r * np.sin(phi)
    pos = [point[sh, i] + s * u[sh, i] + cphi * e1[sh, i] + sphi * e2[sh, i] for i in range(3)]
    pos[2] = s * u[sh, 2] + cphi * e1[sh, 2] + sphi * e2[sh, 2]
    half_x, half_y = 0.5 * geo.n_x * geo.pitch_cm, 0.5 * geo.n_y * geo.pitch_cm
    ix = np.floor((pos[0] + half_x) / geo.pitch_cm).astype(np.int64)
    iy = np.floor((pos[1] + half_y) / geo.pitch_cm).astype(np.int64)
    layer_edges = geo.layer_edges_cm
    n_l = layer_edges.size - 1
    lay = np.searchsorted(layer_edges, pos[2], side="right") - 1
    inside_z = (pos[2] >= 0.0) & (lay < n_l)
    lay = np.clip(lay, 0, n_l - 1)
    vis = espot * geo.layer_f_samp[lay] * inside_z
    keep_xy = (ix >= 0) & (ix < geo.n_x) & (iy >= 0) & (iy < geo.n_y) & inside_z
    cell = (sh * geo.n_y + iy) * geo.n_x + ix
    profile = np.bincount((sh * n_l + lay)[keep_xy], weights=vis[keep_xy], minlength=n * n_l).reshape(n, n_l)
    layers = None
    if per_layer:
        idx = cell * n_l + lay
        layers = np.bincount(idx[keep_xy], weights=vis[keep_xy],
                             minlength=n * geo.n_y * geo.n_x * n_l)
        layers = layers.reshape(n, geo.n_y, geo.n_x, n_l)
        image = layers.sum(axis=3)
    else:
        image = np.bincount(cell[keep_xy], weights=vis[keep_xy],
                            minlength=n * geo.n_y * geo.n_x).reshape(n, geo.n_y, geo.n_x)
    return ShowerBatch(image=image, profile=profile, layers=layers, t_max=t_s, alpha=a_s)
