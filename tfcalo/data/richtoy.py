"""RICH PID toy: kinematics -> five DLL responses, a kaon signal on a pion background, sWeights.

It imitates an LHCb PID calibration sample (D*+ -> D0(-> K- pi+) pi+): every track has
kinematics (p in GeV, eta, nTracks), five DLL responses (RichDLLe, RichDLLmu, RichDLLk,
RichDLLp, RichDLLbt) and a reconstructed mass m(K pi) in MeV. Signal kaons peak in the mass
(Gaussian, ``MASS_PEAK`` +- ``MASS_WIDTH``), combinatorial pions are exponential in it. The
mass is drawn independently of the kinematics and DLLs within each species, which is what
sPlot needs; :mod:`tfcalo.data.sweights` then fits the mass and gives per-track signal
sWeights that unfold the kaon DLL distributions (some weights are negative).

Toy model (not a detector simulation): the separation power falls with momentum as the
Cherenkov angles saturate, the kaon is below the gas radiator threshold under ~9.3 GeV
(RichDLLbt then favours "below threshold"), and the resolution grows with the occupancy
nTracks and away from eta = 3. The five DLLs share a correlated noise component.

Output rows (see :func:`generate`): canonical showers = DLLs (N, 5), conditions =
[p, eta, nTracks] (N, 3), weights = signal sWeights (N,), extra = {"mass", "species" (PDG
id: 321 kaon signal, 211 pion background), "sweight"}.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tfcalo.data.sweights import splot

MASS_RANGE = (1810.0, 1920.0)  # MeV
MASS_PEAK = 1864.84
MASS_WIDTH = 8.0
SIGNAL_FRACTION = 0.45
BKG_SLOPE = -0.012  # per MeV
SIGNAL_PDG, BACKGROUND_PDG = 321, 211

# Mean DLL (vs pion hypothesis) at full separation, per species: e, mu, k, p, bt.
_MEAN = {
    SIGNAL_PDG: np.array([-12.0, -6.0, 45.0, 20.0, 25.0]),
    BACKGROUND_PDG: np.array([-4.0, -1.5, -30.0, -25.0, -20.0]),
}


def kinematics(rng: np.random.Generator, species: np.ndarray) -> np.ndarray:
    """(N, 3) [p (GeV), eta, nTracks] for tracks of the given species (kaons are harder)."""
    n = species.shape[0]
    sig = species == SIGNAL_PDG
    p = np.exp(rng.normal(np.where(sig, np.log(25.0), np.log(12.0)), 0.7, n))
    p = np.clip(p, 3.0, 150.0)
    eta = rng.uniform(np.where(sig, 2.0, 1.9), np.where(sig, 4.8, 4.6), n)
    ntr = np.clip(np.round(rng.gamma(4.0, 40.0, n)), 5.0, 800.0)
    return np.column_stack([p, eta, ntr])


def dll_mean(species: np.ndarray, kin: np.ndarray) -> np.ndarray:
    """(N, 5) true mean DLLs [e, mu, k, p, bt] given the species (PDG) and kinematics."""
    p = kin[:, 0]
    sep = np.exp(-p / 70.0) * (1.0 - np.exp(-p / 4.0))              # separation power
    mean = np.where((species == SIGNAL_PDG)[:, None], _MEAN[SIGNAL_PDG], _MEAN[BACKGROUND_PDG])
    mean = mean * sep[:, None]
    below = (species == SIGNAL_PDG) & (p < 9.3)                       # kaon below threshold
    mean[:, 4] = np.where(below, mean[:, 4] + 15.0, mean[:, 4] - 10.0 * below)
    return mean


def dll_response(rng: np.random.Generator, species: np.ndarray, kin: np.ndarray) -> np.ndarray:
    """(N, 5) DLLs [e, mu, k, p, bt] given the species (PDG) and kinematics (N, 3)."""
    p, eta, ntr = kin[:, 0], kin[:, 1], kin[:, 2]
    n = p.shape[0]
    mean = dll_mean(species, kin)
    res = 4.0 * (1.0 + ntr / 300.0) * (1.0 + 0.1 * (eta - 3.0) ** 2)
    common = rng.standard_normal(n)[:, None]
    own = rng.standard_normal((n, 5))
    scale = np.array([0.6, 0.4, 1.5, 1.3, 1.0])
    return mean + res[:, None] * scale * (0.6 * common + 0.8 * own)


def generate(n: int, seed: int) -> dict:
    """Generate ``n`` tracks and their sWeights (one fit over the whole sample).

    Returns:
        the canonical dict ``{"showers" (N, 5), "conditions" (N, 3), "weights" (N,),
        "extra": {"mass", "species", "sweight"}}`` (float32, species int32).
    """
    rng = np.random.default_rng([seed, 0x51C4])
    species = np.where(rng.random(n) < SIGNAL_FRACTION, SIGNAL_PDG, BACKGROUND_PDG)
    kin = kinematics(rng, species)
    dll = dll_response(rng, species, kin)
    lo, hi = MASS_RANGE
    mass = np.empty(n)
    sig = species == SIGNAL_PDG
    # Signal: Gaussian truncated to the range (rejection); background: exponential (inverse CDF).
    m_sig = rng.normal(MASS_PEAK, MASS_WIDTH, 2 * sig.sum() + 100)
    m_sig = m_sig[(m_sig >= lo) & (m_sig <= hi)][: sig.sum()]
    mass[sig] = m_sig
    lam = BKG_SLOPE * (hi - lo)
    u = rng.random((~sig).sum())
    mass[~sig] = lo + (hi - lo) * np.log1p(u * np.expm1(lam)) / lam
    sw, _ = splot(mass, lo, hi, MASS_PEAK, MASS_WIDTH)
    sw = sw.astype(np.float32)
    return {
        "showers": dll.astype(np.float32),
        "conditions": kin.astype(np.float32),
        "weights": sw,
        "extra": {"mass": mass.astype(np.float32), "species": species.astype(np.int32),
                  "sweight": sw},
    }


def simulate_chunks(n: int, seed: int, chunk_size: int = 1000) -> Iterator[dict]:
    """Generate all ``n`` tracks, fit the sWeights over the whole sample, yield chunks."""
    full = generate(n, seed)
    for start in range(0, n, chunk_size):
        sl = slice(start, start + chunk_size)
        yield {
            "showers": full["showers"][sl], "conditions": full["conditions"][sl],
            "weights": full["weights"][sl],
            "extra": {k: v[sl] for k, v in full["extra"].items()},
        }
