"""tfcalo.evaluation.plots: the binning and ratio helpers both reports draw with."""

from __future__ import annotations

import numpy as np
import pytest

from tfcalo.evaluation.plots import (
    RANGE_WIDEN,
    RATIO_NARROW,
    binned_fractions,
    format_number,
    ratio_limits,
    ratio_with_errors,
    robust_edges,
    slug,
)


def test_robust_edges_ignore_generated_outliers_and_go_log():
    rng = np.random.default_rng(0)
    real = rng.normal(10.0, 1.0, 2000)
    edges, log_x = robust_edges(real, 20)
    lo, hi = np.percentile(real, [0.5, 99.5])
    pad = RANGE_WIDEN * (hi - lo)
    assert not log_x and len(edges) == 21
    assert edges[0] == pytest.approx(lo - pad) and edges[-1] == pytest.approx(hi + pad)
    # positive, 2-500 spans > 2 decades -> log-spaced bins (constant ratio of edges)
    energy = np.geomspace(2.0, 500.0, 1000)
    edges, log_x = robust_edges(energy, 10)
    assert log_x and np.allclose(edges[1:] / edges[:-1], edges[1] / edges[0])
    # counts: integer-wide bins centred on integers
    edges, log_x = robust_edges(rng.integers(0, 100, 500).astype(float), 20)
    assert not log_x and np.all(edges % 1 == 0.5) and len(set(np.diff(edges))) == 1


def test_binned_fractions_count_overflow_and_errors():
    x = np.array([-5.0, 0.5, 1.5, 1.5, 9.0, np.nan, 20.0, 30.0])
    frac, err, below, above = binned_fractions(x, np.array([0.0, 1.0, 2.0]))
    assert frac == pytest.approx([1 / 8, 2 / 8])
    assert err == pytest.approx([1 / 8, np.sqrt(2) / 8])
    assert below == pytest.approx(1 / 8) and above == pytest.approx(4 / 8)
    w = np.array([1.0, 2.0, 1.0, 1.0, 0, 0, 0, 0])
    frac, err, below, above = binned_fractions(x, np.array([0.0, 1.0, 2.0]), w)
    assert frac == pytest.approx([2 / 5, 2 / 5]) and err[0] == pytest.approx(2 / 5)


def test_ratio_with_errors_and_limits():
    r, e = ratio_with_errors(np.array([2.0, 0.0, 1.0, 0.0]), np.array([0.2, 0.1, 0.1, 0.0]),
                             np.array([1.0, 2.0, 0.0, 0.0]), np.array([0.1, 0.1, 0.0, 0.0]))
    assert r[0] == 2.0 and e[0] == pytest.approx(2.0 * np.sqrt(0.01 + 0.01))
    assert r[1] == 0.0 and e[1] == pytest.approx(0.05)
    assert r[2] == np.inf and np.isnan(r[3])
    assert ratio_limits([np.array([0.9, 1.2, np.nan])]) == RATIO_NARROW
    assert ratio_limits([np.array([0.9, 2.5])]) == pytest.approx((0.0, 2.75))
    assert ratio_limits([np.array([0.9, 50.0, np.inf])]) == (0.0, 3.0)


def test_formatting_helpers():
    assert format_number(None) == "n/a" and format_number(0.123456) == "0.1235"
    assert format_number(True) == "True" and format_number("<b>") == "&lt;b&gt;"
    assert slug("sf/E [GeV]") == "sf_E__GeV_"
