"""tfcalo.evaluation.report: PNG plots, report.html with relative image links, metrics/blessing JSON,
TensorBoard scalars and images."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

from tfcalo.evaluation.plots import format_number
from tfcalo.evaluation.report import render_html, scalar_metrics, write_report
from tfcalo.evaluation.validation import EvaluateConfig, evaluate_arrays

CFG = EvaluateConfig(threads=1, prd_runs=1, max_samples=300, min_bin_count=10, energy_bins=3)


@pytest.fixture(scope="module")
def lhcb_report(shared_data, tmp_path_factory):
    with h5py.File(shared_data / "g4_lhcb_ecal_train.h5", "r") as f:
        s = f["EnergyDeposit"][:400].astype(np.float32)
        c = np.hstack([f["ParticlePoint"][:400], f["ParticleMomentum"][:400]]).astype(np.float32)
    res = evaluate_arrays("lhcb-ecal", s[:200], c[:200], s[200:] * 1.1, config=CFG,
                          gen_conditions=c[200:])
    res.metrics["speed"] = {"batch": {"1": {"ms_per_shower": 2.0, "repeats": 3}},
                            "geant4_ms_per_shower": 150.0, "geant4_note": "test",
                            "speedup": {"1": 75.0}}
    out = tmp_path_factory.mktemp("report")
    page = write_report(out, res, {"model": "runs/x", "data": "ds"}, bins=20, tensorboard=True)
    return out, page, res


def _img_links(html: str) -> list[str]:
    return re.findall(r"<img src='([^']+)'", html)


def test_report_html_links_existing_pngs(lhcb_report):
    out, page, _ = lhcb_report
    assert page == out / "report.html"
    html = page.read_text()
    links = _img_links(html)
    pngs = sorted(p.relative_to(out).as_posix() for p in (out / "plots").glob("*.png"))
    assert sorted(links) == pngs  # every plot embedded, every link resolves
    for link in links:
        assert not link.startswith("/")
        assert (out / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("mean_shower.png", "radial_profile.png", "energy_response.png",
                 "prd_curves.png", "obs_sampling_fraction.png", "obs_asymmetry_long.png"):
        assert f"plots/{name}" in links
    assert "NOT BLESSED" in html and "runs/x" in html
    assert "speed-up vs Geant4" in html and "75" in html
    assert html.count("class='fail'") == sum(
        not c["passed"] for c in json.loads((out / "blessing.json").read_text())["checks"])


def test_metrics_and_blessing_json(lhcb_report):
    out, _, res = lhcb_report
    m = json.loads((out / "metrics.json").read_text())
    b = json.loads((out / "blessing.json").read_text())
    assert b == json.loads(json.dumps(res.blessing))
    assert m["blessed"] is False and m["provenance"] == {"model": "runs/x", "data": "ds"}
    assert m["prd_auc"] == pytest.approx(res.metrics["prd_auc"])
    assert m["energy_bins"]["sf_ratio"] == pytest.approx(res.metrics["energy_bins"]["sf_ratio"])
    for c in b["checks"]:
        assert set(c) == {"metric", "value", "threshold", "op", "passed", "critical", "how",
                          "baseline"}
        assert c["baseline"] == m["baseline"][c["metric"]]


def test_report_shows_real_vs_real_beside_each_metric(lhcb_report):
    """Every metric row carries its real-vs-real value (the baseline of metrics.json)."""
    out, page, res = lhcb_report
    html = page.read_text()
    base = json.loads((out / "metrics.json").read_text())["baseline"]
    assert base["n_real"] == base["n_generated"] == 100  # two halves of the 200 real
    assert "<th>real vs real</th>" in html and "<th>KS real vs real</th>" in html
    for c in res.blessing["checks"]:
        row = re.search(rf"<tr><td>{c['metric']}</td><td>([^<]*)</td><td>([^<]*)</td>", html)
        assert row is not None, c["metric"]
        assert row.group(2) == format_number(base[c["metric"]])
    ks_row = re.search(r"<tr><td>sampling_fraction</td>(?:<td>[^<]*</td>){3}<td>([^<]*)</td>",
                       html)
    assert ks_row.group(1) == format_number(base["observables"]["sampling_fraction"]["ks"])
    assert "Real vs real: 100 against 100 real showers" in html
    assert not res.blessing["blessed"] and "failed: " in html


def test_tensorboard_scalars_and_images(lhcb_report):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _, res = lhcb_report
    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"tensors": 0})
    acc.Reload()
    tags = acc.Tags()["tensors"]
    assert "evaluation/prd_auc" in tags and "evaluation/observables/sampling_fraction/ks" in tags
    assert "plots/mean_shower" in tags and "plots/energy_response" in tags
    from tensorboard.util import tensor_util

    value = tensor_util.make_ndarray(acc.Tensors("evaluation/fpd")[0].tensor_proto)
    assert float(value) == pytest.approx(res.metrics["fpd"], rel=1e-6)


def test_scalar_metrics_flattens_numbers_only():
    flat = scalar_metrics({"a": 1, "b": {"c": 2.5, "d": "x", "e": None, "f": True},
                           "g": float("nan"), "energy_bins": {"sf": [1.0]}})
    assert flat == {"a": 1.0, "b/c": 2.5}


def test_cern_ecal_plots(shared_data, tmp_path):
    with h5py.File(shared_data / "g4_cern_ecal_train.h5", "r") as f:
        s = f["ECAL"][:200].astype(np.float32)
        e = f["energy"][:200].astype(np.float32)[:, None]
    res = evaluate_arrays("cern-ecal", s[:100], e[:100], s[100:], config=CFG,
                          gen_conditions=e[100:])
    write_report(tmp_path, res, {}, bins=10, tensorboard=False)
    page = (tmp_path / "report.html").read_text()
    links = _img_links(page)
    assert "plots/mean_shower_xy.png" in links and "plots/longitudinal_profile.png" in links
    for key in ("longitudinal_profile_max_deviation", "radial_profile_max_deviation"):
        assert f"<td>{key}</td>" in page and res.metrics[key] < 0.2
    assert all((tmp_path / link).is_file() for link in links)
    assert not (tmp_path / "tensorboard").exists()


def test_html_escapes_provenance():
    metrics = {"detector": "rich-pid", "observables": {}, "n_real": 1, "n_generated": 1}
    html = render_html(metrics, {"blessed": True, "checks": []}, [], {"model": "<b>x</b>"})
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_observable_histogram_bins_on_real_range(tmp_path):
    """A few huge generated outliers do not change the binning; they are counted outside."""
    from tfcalo.evaluation.plots import pyplot
    from tfcalo.evaluation.report import _hist_with_ratio

    rng = np.random.default_rng(1)
    real = rng.normal(5.0, 1.0, 400)
    gen = np.concatenate([rng.normal(5.0, 1.0, 360), np.full(40, 1e4)])
    d = _hist_with_ratio(pyplot(), tmp_path / "h.png", real, gen, None, "x", "cm", 20)
    assert d["edges"][-1] < 10 and not d["log_x"] and len(d["edges"]) == 21
    assert d["outside_gen"][1] == pytest.approx(0.1, abs=0.01)
    assert d["outside_real"][0] + d["outside_real"][1] < 0.02
    finite = np.isfinite(d["ratio"])
    assert finite.sum() >= 15 and np.all(np.isfinite(d["ratio_err"][finite]))
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


def test_captions_carry_units(lhcb_report):
    out, page, _ = lhcb_report
    html = page.read_text()
    assert "total deposited energy [MeV]" in html and "centre of gravity x [cm]" in html
    assert "cells above 10 MeV [cells]" in html
