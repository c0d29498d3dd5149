"""sPlot: per-event signal sWeights from an extended maximum-likelihood fit of a mass variable.

The mass model is a Gaussian signal plus an exponential background, both normalised on the
fit range [low, high]. :func:`fit_mass` minimises the extended negative log-likelihood
``sum_k N_k - sum_e ln(sum_k N_k f_k(m_e))`` with scipy (through the equivalent
fraction fit, since N_s + N_b = N at the optimum); :func:`sweights_from_pdfs` then
computes the sPlot weights (Pivk & Le Diberder, NIM A 555 (2005) 356) with the shapes fixed:

    V^-1_ij = sum_e f_i(m_e) f_j(m_e) / (sum_k N_k f_k(m_e))^2
    w_i(e)  = sum_j V_ij f_j(m_e) / sum_k N_k f_k(m_e)

Weights of the signal sum to the fitted signal yield and some are negative. Any control
variable that is independent of the mass within each species is then unfolded by weighting
with ``w_signal``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import ndtr

from tfcalo.errors import ConfigError


@dataclass(frozen=True)
class MassFit:
    """Result of :func:`fit_mass` (mass unit of the input).

    Attributes: n_signal, n_background (yields), mu, sigma (Gaussian), slope (exponential
    slope per unit mass), low, high (fit range), converged.
    """

    n_signal: float
    n_background: float
    mu: float
    sigma: float
    slope: float
    low: float
    high: float
    converged: bool

    def pdfs(self, mass: np.ndarray) -> np.ndarray:
        """(2, N) normalised signal and background densities at ``mass``."""
        return np.stack([_gauss(mass, self.mu, self.sigma, self.low, self.high),
                         _expo(mass, self.slope, self.low, self.high)])


def _gauss(m: np.ndarray, mu: float, sigma: float, lo: float, hi: float) -> np.ndarray:
    norm = ndtr((hi - mu) / sigma) - ndtr((lo - mu) / sigma)
    return np.exp(-0.5 * ((m - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi) * norm)


def _expo(m: np.ndarray, slope: float, lo: float, hi: float) -> np.ndarray:
    width = hi - lo
    lam = slope * width  # dimensionless slope over the range
    if abs(lam) < 1e-8:
        return np.full_like(np.asarray(m, dtype=np.float64), 1.0 / width)
    x = (m - lo) / width
    # lam * exp(lam * x) / expm1(lam) / width, written to stay finite for large |lam|.
    if lam > 0:
        return lam * np.exp(lam * (x - 1.0)) / (-np.expm1(-lam)) / width
    return lam * np.exp(lam * x) / np.expm1(lam) / width


def fit_mass(mass: np.ndarray, low: float, high: float, mu0: float, sigma0: float) -> MassFit:
    """Extended ML fit of Gaussian signal + exponential background on [low, high].

    Args:
        mass: (N,) mass values; those outside [low, high] raise ConfigError.
        low, high: fit range.
        mu0, sigma0: starting values of the peak position and width.
    Returns:
        the fitted :class:`MassFit`.
    """
    m = np.asarray(mass, dtype=np.float64)
    if m.size < 10:
        raise ConfigError(f"sPlot needs at least 10 events in the mass fit, got {m.size}")
    if m.min() < low or m.max() > high:
        raise ConfigError(f"mass values must lie in the fit range [{low}, {high}]")
    n = m.size
    width = high - low
    # At the extended-ML optimum N_s + N_b = N, so fit the signal fraction with well-scaled
    # parameters (fraction, peak in units of the range, log width, slope over the range).

    def nll(par: np.ndarray) -> float:
        frac, xmu, ls, lam = par
        dens = (frac * _gauss(m, low + xmu * width, np.exp(ls) * width, low, high)
                + (1.0 - frac) * _expo(m, lam / width, low, high))
        return -np.sum(np.log(np.maximum(dens, 1e-300)))

    x0 = np.array([0.5, (mu0 - low) / width, np.log(sigma0 / width), 0.0])
    bounds = [(0.0, 1.0), (0.0, 1.0), (np.log(1e-4), 0.0), (-50.0, 50.0)]
    res = minimize(nll, x0, method="L-BFGS-B", bounds=bounds)
    frac, xmu, ls, lam = res.x
    return MassFit(float(frac * n), float((1.0 - frac) * n), float(low + xmu * width),
                   float(np.exp(ls) * width), float(lam / width),
                   float(low), float(high), bool(res.success))


def sweights_from_pdfs(pdfs: np.ndarray, yields: np.ndarray) -> np.ndarray:
    """sPlot weights of every species.

    Args:
        pdfs: (K, N) normalised density of each species at each event's mass.
        yields: (K,) fitted yields.
    Returns:
        (K, N) weights; row k sums to yields[k] (when the yields are the ML ones).
    """
    f = np.asarray(pdfs, dtype=np.float64)
    y = np.asarray(yields, dtype=np.float64)
    denom = y @ f                                          # (N,)
    vinv = (f / denom) @ (f / denom).T                     # (K, K)
    v = np.linalg.inv(vinv)
    return (v @ f) / denom


def splot(mass: np.ndarray, low: float, high: float, mu0: float, sigma0: float
          ) -> tuple[np.ndarray, MassFit]:
    """Fit ``mass`` and return the per-event signal sWeights (N,) and the fit."""
    fit = fit_mass(mass, low, high, mu0, sigma0)
    w = sweights_from_pdfs(fit.pdfs(np.asarray(mass, dtype=np.float64)),
                           np.array([fit.n_signal, fit.n_background]))
    return w[0], fit
