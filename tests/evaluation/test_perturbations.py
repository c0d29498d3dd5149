"""tfcalo.evaluation.perturbations: each known-bad perturbation does what it says, in numbers.

Synthetic showers check the definitions exactly; a slice of the Geant4 lhcb-ecal and
cern-ecal files checks the measured effect on the observables the blessing looks at.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tfcalo import physics
from tfcalo.data import richtoy
from tfcalo.evaluation.perturbations import (
    scale_energy,
    smear_energy,
    stretch_about,
    stretch_matrix,
    stretch_transverse,
    widen_transverse,
)


@pytest.fixture(scope="module")
def lhcb(shared_data):
    with h5py.File(shared_data / "g4_lhcb_ecal_train.h5", "r") as f:
        s = f["EnergyDeposit"][:600].astype(np.float32)
        c = np.hstack([f["ParticlePoint"][:600], f["ParticleMomentum"][:600]]).astype(np.float32)
    return s, c


def _gaussian_images(n: int, sigma_cells: float, rng) -> np.ndarray:
    """(n, 30, 30) round Gaussian showers (a few cells wide) at random sub-cell centres."""
    y, x = np.mgrid[0:30, 0:30].astype(np.float64)
    cx, cy = 14.5 + rng.uniform(-1, 1, n), 14.5 + rng.uniform(-1, 1, n)
    img = np.exp(-((x[None] - cx[:, None, None]) ** 2 + (y[None] - cy[:, None, None]) ** 2)
                 / (2 * sigma_cells ** 2))
    return (1000.0 * img / img.sum(axis=(1, 2), keepdims=True)).astype(np.float32)


def test_scale_energy_multiplies_every_value():
    rng = np.random.default_rng(0)
    s = rng.gamma(2.0, 3.0, (5, 30, 30)).astype(np.float32)
    np.testing.assert_allclose(scale_energy(s, 1.02), 1.02 * s, rtol=1e-6)
    assert scale_energy(s, 1.05).dtype == np.float32


def test_smear_energy_is_a_per_shower_factor_of_the_given_width():
    rng = np.random.default_rng(1)
    s = rng.gamma(2.0, 3.0, (20000, 5, 5)).astype(np.float32)
    out = smear_energy(s, 0.03, seed=4)
    factor = out.sum(axis=(1, 2)) / s.sum(axis=(1, 2))
    # one factor per shower: the normalised shape is untouched
    np.testing.assert_allclose(out / factor[:, None, None], s, rtol=1e-5)
    assert abs(factor.mean() - 1.0) < 0.001 and abs(factor.std() - 0.03) < 0.001
    np.testing.assert_array_equal(smear_energy(s, 0.03, seed=4), out)  # seeded


def test_smear_adds_in_quadrature_to_the_resolution(lhcb):
    s, c = lhcb
    sf = physics.sampling_fraction("lhcb-ecal", s, c)
    sf_smeared = physics.sampling_fraction("lhcb-ecal", smear_energy(s, 0.03, 1), c)
    rel = sf_smeared / sf
    np.testing.assert_allclose(rel.std(), 0.03, rtol=0.1)
    np.testing.assert_allclose(rel.mean(), 1.0, atol=0.004)


def test_stretch_matrix_conserves_energy_inside_the_grid():
    m = stretch_matrix(np.array([10.3, 14.5]), 30, 1.05)
    cols = m.sum(axis=1)  # fraction of each source cell kept on the grid
    np.testing.assert_allclose(cols[:, 3:27], 1.0, atol=1e-12)
    assert (m >= 0).all()
    np.testing.assert_allclose(stretch_matrix(np.array([7.2]), 30, 1.0)[0], np.eye(30),
                               atol=1e-12)


def test_stretch_transverse_on_wide_gaussians():
    """Energy and centroid kept; for showers smooth on the cell scale the widths follow the
    piecewise-constant model exactly."""
    img = _gaussian_images(50, 3.0, np.random.default_rng(2))
    out = stretch_transverse(img, "lhcb-ecal", 1.05)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), img.sum(axis=(1, 2)), rtol=1e-4)
    np.testing.assert_allclose(physics.centre_of_gravity(out, "lhcb-ecal"),
                               physics.centre_of_gravity(img, "lhcb-ecal"), atol=1e-3)
    w0 = physics.widths(img, "lhcb-ecal") / 2.0  # cell units (2 cm cells)
    w1 = physics.widths(out, "lhcb-ecal") / 2.0
    # piecewise-constant cells (variance V + 1/12) stretched by f, re-binned (+ 1/12,
    # Sheppard): V' = f^2 (V + 1/12) + 1/12, i.e. widths x1.0596 at 3 cells
    expected = np.sqrt((1.05 ** 2 * (w0 ** 2 + 1 / 12) + 1 / 12) / w0 ** 2)
    np.testing.assert_allclose(w1 / w0, expected, rtol=1e-3)
    assert np.all(w1 / w0 > 1.055)
    np.testing.assert_allclose(stretch_transverse(img, "lhcb-ecal", 1.0), img, atol=1e-4)


def test_widen_transverse_on_geant4_lhcb(lhcb):
    s, c = lhcb
    out, f = widen_transverse(s, "lhcb-ecal", 1.05)
    o, w = physics.observables("lhcb-ecal", s, c), physics.observables("lhcb-ecal", out, c)
    for axis in ("width_x", "width_y"):
        np.testing.assert_allclose(w[axis].mean() / o[axis].mean(), 1.05, atol=0.003)
    # the shower's core is narrower than a cell: the density needs less than x1.05
    assert 1.02 < f < 1.045
    np.testing.assert_allclose(w["sampling_fraction"] / o["sampling_fraction"], 1.0, atol=0.01)
    assert abs(np.median(w["sampling_fraction"] / o["sampling_fraction"]) - 1) < 1e-4
    np.testing.assert_allclose(w["cog_x"], o["cog_x"], atol=0.3)  # cm; cells are 2 cm


def test_widen_transverse_on_geant4_cern(shared_data):
    with h5py.File(shared_data / "g4_cern_ecal_train.h5", "r") as f:
        s = f["ECAL"][:200].astype(np.float32)
    out, _ = widen_transverse(s, "cern-ecal", 1.05)
    w0, w1 = physics.widths(s, "cern-ecal"), physics.widths(out, "cern-ecal")
    np.testing.assert_allclose(w1[:, :2].mean() / w0[:, :2].mean(), 1.05, atol=0.003)
    # depth untouched, up to the tails stretched off the grid's edge (more in rear layers)
    np.testing.assert_allclose(w1[:, 2], w0[:, 2], rtol=0.005)
    np.testing.assert_allclose(np.median(w1[:, 2] / w0[:, 2]), 1.0, atol=1e-4)
    np.testing.assert_allclose(physics.longitudinal_profile(out, "cern-ecal").mean(axis=0),
                               physics.longitudinal_profile(s, "cern-ecal").mean(axis=0),
                               rtol=0.01)
    lost = 1 - out.sum(axis=(1, 2, 3)) / s.sum(axis=(1, 2, 3))
    assert lost.max() < 0.01 and np.median(lost) < 1e-4


def test_stretch_about_the_true_mean_widens_the_rich_toy_response():
    rng = np.random.default_rng(3)
    species = np.full(50000, richtoy.SIGNAL_PDG)
    kin = np.column_stack([np.full(50000, 20.0), np.full(50000, 3.0), np.full(50000, 100.0)])
    dll = richtoy.dll_response(rng, species, kin)
    mean = richtoy.dll_mean(species, kin)
    out = stretch_about(dll, mean, 1.05)
    np.testing.assert_allclose(out.std(axis=0) / dll.std(axis=0), 1.05, rtol=1e-4)
    np.testing.assert_allclose(out.mean(axis=0), dll.mean(axis=0), atol=0.01)
    np.testing.assert_allclose(dll.mean(axis=0), mean[0], atol=0.1)  # the toy's truth
