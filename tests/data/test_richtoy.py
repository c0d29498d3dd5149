"""RICH PID toy and sPlot: sWeights unfold the signal DLL distributions."""

from __future__ import annotations

import numpy as np
import pytest

from tfcalo.data import richtoy
from tfcalo.data.sweights import fit_mass, splot, sweights_from_pdfs
from tfcalo.errors import ConfigError


@pytest.fixture(scope="module")
def sample() -> dict:
    return richtoy.generate(20000, seed=3)


def test_sweights_recover_signal_dll_means_unweighted_do_not(sample):
    dll, sw = sample["showers"].astype(np.float64), sample["weights"].astype(np.float64)
    is_sig = sample["extra"]["species"] == richtoy.SIGNAL_PDG
    for j, name in enumerate(("e", "mu", "k", "p", "bt")):
        truth = dll[is_sig, j].mean()
        wmean = np.sum(sw * dll[:, j]) / sw.sum()
        err = np.sqrt(np.sum(sw**2 * (dll[:, j] - wmean) ** 2)) / sw.sum()
        assert abs(wmean - truth) < 3 * err, name
        raw = dll[:, j].mean()
        assert abs(raw - truth) > 10 * err, name


def test_sweights_sum_to_signal_yield_and_some_are_negative(sample):
    sw = sample["weights"]
    n_sig = np.sum(sample["extra"]["species"] == richtoy.SIGNAL_PDG)
    assert sw.sum() == pytest.approx(n_sig, abs=3 * np.sqrt(n_sig))
    assert (sw < 0).mean() > 0.05
    np.testing.assert_array_equal(sample["extra"]["sweight"], sw)


def test_toy_layout_and_species_separation(sample):
    assert sample["showers"].shape == (20000, 5) and sample["conditions"].shape == (20000, 3)
    p, eta, ntr = sample["conditions"].T
    assert (p >= 3).all() and (p <= 150).all() and (eta > 1.8).all() and (eta < 5).all()
    assert np.array_equal(ntr, np.round(ntr))
    m = sample["extra"]["mass"]
    assert (m >= richtoy.MASS_RANGE[0]).all() and (m <= richtoy.MASS_RANGE[1]).all()
    sp = sample["extra"]["species"]
    dllk = sample["showers"][:, 2]
    assert dllk[sp == richtoy.SIGNAL_PDG].mean() > 15 > 0 > -10 > dllk[sp == richtoy.BACKGROUND_PDG].mean()


def test_mass_fit_recovers_generated_shape(sample):
    fit = fit_mass(sample["extra"]["mass"], *richtoy.MASS_RANGE, 1860.0, 12.0)
    assert fit.converged
    assert fit.mu == pytest.approx(richtoy.MASS_PEAK, abs=0.5)
    assert fit.sigma == pytest.approx(richtoy.MASS_WIDTH, rel=0.05)
    assert fit.slope == pytest.approx(richtoy.BKG_SLOPE, rel=0.1)
    assert fit.n_signal + fit.n_background == pytest.approx(20000)


def test_sweights_known_answer_for_disjoint_species():
    # Non-overlapping densities: every event belongs to one species, weights are exactly 0/1.
    f = np.array([[1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 1.0]])
    w = sweights_from_pdfs(f, np.array([2.0, 3.0]))
    np.testing.assert_allclose(w, f, atol=1e-12)


def test_splot_agrees_with_sweights_package(sample):
    sweights = pytest.importorskip("sweights")
    m = sample["extra"]["mass"].astype(np.float64)
    ours, fit = splot(m, *richtoy.MASS_RANGE, richtoy.MASS_PEAK, richtoy.MASS_WIDTH)
    sig = lambda x: fit.pdfs(np.asarray(x, dtype=np.float64))[0]  # noqa: E731
    bkg = lambda x: fit.pdfs(np.asarray(x, dtype=np.float64))[1]  # noqa: E731
    ref = sweights.SWeight(m, [sig, bkg], [fit.n_signal, fit.n_background],
                           (richtoy.MASS_RANGE,), method="summation", checks=False)
    np.testing.assert_allclose(ours, ref.get_weight(0, m), rtol=1e-6, atol=1e-6)


def test_chunks_concatenate_to_the_whole_sample():
    whole = richtoy.generate(300, seed=1)
    chunks = list(richtoy.simulate_chunks(300, seed=1, chunk_size=128))
    assert [len(c["weights"]) for c in chunks] == [128, 128, 44]
    np.testing.assert_array_equal(np.concatenate([c["extra"]["mass"] for c in chunks]),
                                  whole["extra"]["mass"])


def test_fit_errors_name_the_problem():
    with pytest.raises(ConfigError, match="fit range"):
        fit_mass(np.array([1800.0] * 20), 1810.0, 1920.0, 1865.0, 8.0)
    with pytest.raises(ConfigError, match="at least 10"):
        fit_mass(np.array([1865.0] * 3), 1810.0, 1920.0, 1865.0, 8.0)
