"""The validation report: PNG plots (matplotlib, Agg), report.html and TensorBoard summaries.

:func:`write_report` takes an :class:`tfcalo.evaluation.validation.EvaluationResult` and writes into a
directory::

    metrics.json        every number (validation.EvaluationResult.metrics + provenance)
    blessing.json       {"blessed": bool, "checks": [...]}
    plots/*.png         observables with ratio panels, mean showers, profiles,
                        sampling fraction / resolution against energy, PRD curves
    report.html         one page for colleagues: provenance, metrics table with pass/fail,
                        speed, all plots (relative links) and what each metric means
    tensorboard/        the scalar metrics and every plot as an image summary
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np

from tfcalo import physics
from tfcalo.atomic import atomic_write_text
from tfcalo.detectors import Detector, get_detector
from tfcalo.evaluation.plots import (
    DPI,
    GEN_COLOR,
    REAL_COLOR,
    ROBUST_PERCENTILES,
    axis_label,
    binned_fractions,
    finish_ratio_axis,
    format_number,
    hist_bins,
    json_default,
    outside_text,
    pyplot,
    ratio_limits,
    ratio_points,
    ratio_with_errors,
    robust_edges,
    slug,
)

#: Short explanations shown under the metrics table.
EXPLANATIONS: dict[str, str] = {
    "prd_auc": "Area under the precision-recall-for-distributions curve (Sajjadi et al.), "
               "k-means histograms of real and generated samples; 1 means identical. The "
               "reported value is the minimum over raw showers and physics observables "
               "(seed 000).",
    "fpd": "Frechet distance between Gaussians fitted to the standardised physics "
           "observables of real and generated showers, with a bootstrap error; 0 is ideal.",
    "frd": "Frechet Regression Distance: the same on the penultimate layer of an energy "
           "regressor trained on real showers (seed 003); 0 is ideal.",
    "jsd_fidelity": "Fidelity score: sum over observables of the Jensen-Shannon divergence "
                    "of their histograms (seed 003); 0 is ideal.",
    "classifier_auc_observables": "ROC AUC of a classifier trained to tell real from "
                                  "generated showers by their observables (held-out half); "
                                  "0.5 means it cannot tell them apart.",
    "classifier_auc_showers": "The same classifier on the raw shower cells.",
    "ks_max": "Largest Kolmogorov-Smirnov statistic over the observables (max CDF gap).",
    "w1_rel_max": "Largest Wasserstein-1 distance over the observables, in units of the "
                  "real standard deviation.",
    "sf_ratio_max_deviation": "Largest |generated/real - 1| of the mean sampling fraction "
                              "(visible/primary energy) over primary-energy bins.",
    "resolution_ratio_max_deviation": "Largest |generated/real - 1| of the relative "
                                      "resolution sigma90/mu90 over energy bins.",
    "resolution_ratio_mean_deviation": "|geometric mean over energy bins of the "
                                       "generated/real resolution ratio - 1|: a resolution "
                                       "defect common to all energies, with the bins' noise "
                                       "averaged out.",
    "longitudinal_profile_max_deviation": "Largest |generated/real - 1| of the mean "
                                          "fraction of a shower's energy per layer, over "
                                          "the layers above half the peak.",
    "radial_profile_max_deviation": "Largest |generated/real - 1| of the mean fraction of a "
                                    "shower's energy per ring around its centre, over the "
                                    "rings above 5 % of the central one.",
    "real vs real": "The same metric comparing two disjoint random halves of the real "
                    "sample: what a perfect generator shows (each half has half the showers "
                    "of the real-vs-generated comparison, so its noise is about sqrt(2) "
                    "larger).",
    "threshold": "min(cap, max(tolerance, critical value)): the critical value is what a "
                 "perfect generator exceeds with probability 0.27 % at this sample size "
                 "(KS and AUC null distributions, per-bin statistical errors); the tolerance "
                 "is the physics tolerance, set below the effect of energy x1.02, x1.05, an "
                 "extra 3 % smear and widths x1.05; the cap always rejects larger defects "
                 "(docs/thresholds.md).",
}


def _hist_with_ratio(plt, path: Path, real: np.ndarray, gen: np.ndarray,
                     weights: np.ndarray | None, label: str, unit: str, bins: int,
                     gen_weights: np.ndarray | None = None) -> dict:
    """One observable: real and generated histograms on the real robust range, ratio below.

    Returns the numbers drawn (``edges``, ``log_x``, ``outside_real`` and ``outside_gen`` as
    (below, above) fractions, ``ratio``, ``ratio_err``) for tests.
    """
    edges, log_x = robust_edges(real, hist_bins(len(real), bins))
    fr, er, *out_r = binned_fractions(real, edges, weights)
    fg, eg, *out_g = binned_fractions(gen, edges, gen_weights)
    ratio, rerr = ratio_with_errors(fg, eg, fr, er)
    centres = np.sqrt(edges[1:] * edges[:-1]) if log_x else 0.5 * (edges[1:] + edges[:-1])
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(5.5, 5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.2], "hspace": 0.06})
    real_name = "real (weighted)" if weights is not None else "real"
    ax.stairs(fr, edges, color=REAL_COLOR, linewidth=1.5,
              label=f"{real_name}{outside_text(*out_r)}")
    ax.errorbar(centres, fr, yerr=er, fmt="none", color=REAL_COLOR, elinewidth=0.8)
    gen_name = "generated (weighted)" if gen_weights is not None else "generated"
    ax.stairs(fg, edges, color=GEN_COLOR, linewidth=1.3,
              label=f"{gen_name}{outside_text(*out_g)}")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(bottom=0)
    ax.set_ylabel("fraction of showers per bin")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(label)
    lim = ratio_limits([ratio])
    ratio_points(rax, centres, ratio, lim, rerr,
                  xerr=np.vstack([centres - edges[:-1], edges[1:] - centres]))
    finish_ratio_axis(rax, lim, axis_label(label, unit))
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return {"edges": edges, "log_x": log_x, "outside_real": tuple(out_r),
            "outside_gen": tuple(out_g),
            "ratio": ratio, "ratio_err": rerr}


def _images(plt, path: Path, real: np.ndarray, gen: np.ndarray, title: str, unit: str,
            xlabel: str, ylabel: str) -> None:
    """Real and generated mean images on one log colour scale, and their ratio."""
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
    vmax = float(max(real.max(), gen.max(), 1e-12))
    vmin = max(vmax * 1e-5, float(min(real[real > 0].min() if (real > 0).any() else vmax,
                                       gen[gen > 0].min() if (gen > 0).any() else vmax)))
    for ax, img, label in ((axes[0], real, "real"), (axes[1], gen, "generated")):
        im = ax.imshow(np.clip(img, vmin, None), origin="lower", norm=LogNorm(vmin, vmax),
                       cmap="viridis")
        ax.set_title(label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    fig.colorbar(im, ax=axes[:2], fraction=0.046, label=f"mean energy per cell [{unit}]")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(real > vmax * 1e-4, gen / real, np.nan)
    im = axes[2].imshow(ratio, origin="lower", vmin=0.5, vmax=1.5, cmap="RdBu_r")
    axes[2].set_title("generated / real (cells above 1e-4 of the peak)", fontsize=9)
    axes[2].set_xlabel(xlabel)
    fig.colorbar(im, ax=axes[2], fraction=0.046, extend="both", label="generated / real")
    fig.suptitle(title)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _profile(plt, path: Path, real: np.ndarray, gen: np.ndarray, xlabel: str,
             ylabel: str, title: str, logy: bool) -> None:
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(5.5, 5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.2], "hspace": 0.06})
    real, gen = np.asarray(real, float), np.asarray(gen, float)
    x = np.arange(len(real))
    ax.plot(x, real, "-o", color=REAL_COLOR, markersize=3, label="real")
    ax.plot(x, gen, "--s", color=GEN_COLOR, markersize=3, label="generated")
    if logy and (real > 0).any():
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    ratio, _ = ratio_with_errors(gen, np.zeros_like(gen), real, np.zeros_like(real))
    lim = ratio_limits([ratio])
    ratio_points(rax, x, ratio, lim)
    finish_ratio_axis(rax, lim, xlabel)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def _energy_bins(plt, path: Path, eb: dict) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.2], "hspace": 0.06,
                                          "wspace": 0.3})
    e = np.asarray(eb["centre_gev"], float)
    for col, (key, label) in enumerate((("sf", "mean sampling fraction (deposited / primary)"),
                                        ("resolution", "relative resolution sigma90 / mu90"))):
        ax, rax = axes[0, col], axes[1, col]
        ax.plot(e, eb[f"{key}_real"], "o-", color=REAL_COLOR, label="real")
        ax.plot(e, eb[f"{key}_gen"], "s--", color=GEN_COLOR, label="generated")
        ax.set_ylabel(label)
        ax.set_xscale("log")
        ax.legend(frameon=False, fontsize=8)
        ratio = np.array([np.nan if v is None else v for v in eb[f"{key}_ratio"]], float)
        lim = ratio_limits([ratio])
        ratio_points(rax, e, ratio, lim, markersize=4)
        finish_ratio_axis(rax, lim, "primary energy [GeV]")
        rax.set_xscale("log")
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def _prd(plt, path: Path, curves: dict) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for (label, (prec, rec)), style in zip(curves.items(), ("-", "--"), strict=False):
        ax.plot(rec, prec, style, label=label)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("PRD curves")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def write_plots(detector: Detector | str, plots: dict, plot_dir: Path, bins: int = 50
                ) -> list[tuple[str, str]]:
    """Write every PNG into ``plot_dir``; return ``[(file name, caption)]`` in report order.

    ``plots`` is :attr:`tfcalo.evaluation.validation.EvaluationResult.plots`.
    """
    det = get_detector(detector)
    plt = pyplot()
    plot_dir.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, str]] = []
    unit = det.energy_unit
    pitch = getattr(det, "cell_size_cm", None)
    suffix = f" ({pitch:g} cm pitch)" if pitch else ""
    xcell, ycell = f"x cell index{suffix}", f"y cell index{suffix}"
    if det.kind == "image2d":
        _images(plt, plot_dir / "mean_shower.png", plots["mean_real"], plots["mean_gen"],
                "mean shower", unit, xcell, ycell)
        made.append(("mean_shower.png", "Average shower image (log colour scale) and the "
                     "generated/real ratio per cell."))
    elif det.kind == "volume3d":
        axis = det.layer_axis
        xy_r = plots["mean_real"].sum(axis=axis).T  # [x, y] -> rows = y
        xy_g = plots["mean_gen"].sum(axis=axis).T
        _images(plt, plot_dir / "mean_shower_xy.png", xy_r, xy_g,
                "mean shower, summed over layers", unit, xcell, ycell)
        made.append(("mean_shower_xy.png", "Average shower summed over layers (transverse "
                     "x-y view) and the generated/real ratio."))
    if "longitudinal_real" in plots:
        _profile(plt, plot_dir / "longitudinal_profile.png", plots["longitudinal_real"],
                 plots["longitudinal_gen"], "layer (front to back)",
                 f"mean energy per layer [{unit}]",
                 "longitudinal profile", logy=False)
        made.append(("longitudinal_profile.png", "Mean energy per layer (front to back)."))
    if "radial_real" in plots:
        _profile(plt, plot_dir / "radial_profile.png", plots["radial_real"],
                 plots["radial_gen"], f"distance from the shower axis [cell pitches]{suffix}",
                 f"mean energy per ring [{unit}]",
                 "radial profile", logy=True)
        made.append(("radial_profile.png", "Mean energy against distance from the shower "
                     "axis."))
    if plots.get("energy_bins") and plots["energy_bins"]["centre_gev"]:
        _energy_bins(plt, plot_dir / "energy_response.png", plots["energy_bins"])
        made.append(("energy_response.png", "Sampling fraction and relative resolution "
                     "(sigma90/mu90) in bins of primary energy, with generated/real ratios."))
    _prd(plt, plot_dir / "prd_curves.png",
         {"raw showers": plots["prd_raw"], "observables": plots["prd_observables"]})
    made.append(("prd_curves.png", "Precision-recall curves for distributions: raw showers "
                 "and physics observables."))
    for name, real in plots["observables_real"].items():
        fname = f"obs_{slug(name)}.png"
        label, obs_unit = physics.observable_axis(det, name)
        drawn = _hist_with_ratio(plt, plot_dir / fname, np.asarray(real, float),
                                 np.asarray(plots["observables_gen"][name], float),
                                 plots.get("weights"), label, obs_unit, bins,
                                 plots.get("weights_gen"))
        scale = "log-spaced" if drawn["log_x"] else "equal-width"
        gen_w = " (weighted)" if plots.get("weights_gen") is not None else ""
        made.append((fname, f"{axis_label(label, obs_unit)} ({name}), real"
                     f"{' (weighted)' if plots.get('weights') is not None else ''} vs "
                     f"generated{gen_w}; {len(drawn['edges']) - 1} {scale} bins over the real "
                     f"{ROBUST_PERCENTILES[0]:g}-{ROBUST_PERCENTILES[1]:g} percentile range. "
                     "Below: generated/real per bin with statistical errors; arrows: off "
                     "scale."))
    return made


def render_html(metrics: dict, blessing: dict, figures: list[tuple[str, str]],
                provenance: dict) -> str:
    """The report page (self-contained HTML; images as relative links under plots/)."""
    det = metrics.get("detector", "")
    status = "BLESSED" if blessing["blessed"] else "NOT BLESSED"
    colour = "#2e7d32" if blessing["blessed"] else "#c62828"
    base = metrics.get("baseline") or {}
    failed = [c["metric"] for c in blessing["checks"] if not c["passed"]]
    failed_html = f" (failed: {html.escape(', '.join(failed))})" if failed else ""
    rows = []
    for c in blessing["checks"]:
        mark = "pass" if c["passed"] else "FAIL"
        rows.append(f"<tr><td>{html.escape(c['metric'])}</td><td>{format_number(c['value'])}</td>"
                    f"<td>{format_number(base.get(c['metric']))}</td>"
                    f"<td>{html.escape(c['op'])} {format_number(c['threshold'])}</td>"
                    f"<td class='{mark.lower()}'>{mark}</td>"
                    f"<td class='how'>{html.escape(str(c.get('how', '')))}</td></tr>")
    checked = {c["metric"] for c in blessing["checks"]}
    extra = []
    for key in ("prd_auc", "prd_auc_raw", "prd_auc_observables", "fpd", "frd",
                "jsd_fidelity", "classifier_auc_observables", "classifier_auc_showers",
                "ks_max", "w1_rel_max", "sf_ratio_max_deviation",
                "resolution_ratio_max_deviation", "resolution_ratio_mean_deviation",
                "longitudinal_profile_max_deviation", "radial_profile_max_deviation"):
        if key in checked or metrics.get(key) is None:
            continue
        val, bval = format_number(metrics[key]), format_number(base.get(key))
        if key == "fpd":
            val += f" &plusmn; {format_number(metrics.get('fpd_error'))}"
            bval += f" &plusmn; {format_number(base.get('fpd_error'))}" if base else ""
        extra.append(f"<tr><td>{key}</td><td>{val}</td><td>{bval}</td><td>-</td>"
                     "<td>info</td><td></td></tr>")
    base_obs = base.get("observables", {})
    obs_rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{format_number(v['real_mean'])} &plusmn; "
        f"{format_number(v['real_std'])}</td><td>{format_number(v['gen_mean'])} &plusmn; {format_number(v['gen_std'])}"
        f"</td><td>{format_number(v['ks'])}</td><td>{format_number(base_obs.get(n, {}).get('ks'))}</td>"
        f"<td>{format_number(v['w1'])}</td>"
        f"<td>{format_number(metrics.get('jsd_per_observable', {}).get(n))}</td></tr>"
        for n, v in metrics.get("observables", {}).items())
    if base:
        verdict = ("passes" if base.get("blessed") else
                   f"FAILS ({', '.join(map(str, base.get('failed', [])))}): this sample is too "
                   "small to certify the checks it fails, whatever the generator")
        base_html = (f"<p>Real vs real: {base.get('n_real')} against {base.get('n_generated')} "
                     f"real showers (two disjoint random halves); with the same rules at that "
                     f"sample size it {html.escape(verdict)}.</p>")
    else:
        base_html = "<p>No real-vs-real baseline was computed (config baseline = false).</p>"
    speed_html = ""
    sp = metrics.get("speed")
    if sp:
        srows = "".join(
            f"<tr><td>{b}</td><td>{format_number(v['ms_per_shower'])}</td>"
            f"<td>{format_number(sp['speedup'].get(b))}</td><td>{v['repeats']}</td></tr>"
            for b, v in sp["batch"].items())
        speed_html = (
            "<h2>Generation speed</h2><table><tr><th>batch</th><th>ms per shower</th>"
            "<th>speed-up vs Geant4</th><th>timed calls</th></tr>" + srows + "</table>"
            f"<p>Detailed simulation replaced: {format_number(sp.get('geant4_ms_per_shower'))} ms per "
            f"shower ({html.escape(str(sp.get('geant4_note') or 'unknown'))}). Median over "
            "timed calls after one warm-up call (CaloChallenge protocol).</p>")
    prov = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in provenance.items())
    figs = "".join(
        f"<figure><img src='plots/{html.escape(f)}' alt='{html.escape(f)}'>"
        f"<figcaption>{html.escape(c)}</figcaption></figure>" for f, c in figures)
    expl = "".join(f"<dt>{k}</dt><dd>{html.escape(v)}</dd>" for k, v in EXPLANATIONS.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tfcalo validation report: {html.escape(det)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
td.pass {{ color: #2e7d32; }} td.fail {{ color: #c62828; font-weight: bold; }}
td.how {{ font-size: 0.8em; color: #555; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; max-width: 520px; }}
figure img {{ max-width: 100%; }} figcaption {{ font-size: 0.85em; color: #555; }}
.status {{ color: {colour}; font-weight: bold; }}
</style></head><body>
<h1>Fast-simulation validation report: {html.escape(det)}</h1>
<p class="status">{status}: {sum(c['passed'] for c in blessing['checks'])} of
{len(blessing['checks'])} checks passed{failed_html}.</p>
<p>{metrics.get('n_real')} real showers compared with {metrics.get('n_generated')} generated
for the same conditions{' (real showers weighted)' if metrics.get('weighted') else ''}.</p>
<h2>Provenance</h2><table>{prov}</table>
<h2>Metrics</h2>
<table><tr><th>metric</th><th>value</th><th>real vs real</th><th>threshold</th><th>result</th>
<th>how the threshold was set</th></tr>
{''.join(rows)}{''.join(extra)}</table>
{base_html}
<h2>Observables</h2>
<table><tr><th>observable</th><th>real mean &plusmn; std</th><th>generated mean &plusmn; std</th>
<th>KS</th><th>KS real vs real</th><th>W1</th><th>JSD</th></tr>{obs_rows}</table>
{speed_html}
<h2>Plots</h2>{figs}
<h2>What the metrics mean</h2><dl>{expl}</dl>
<p>All numbers: <a href="metrics.json">metrics.json</a>; blessing:
<a href="blessing.json">blessing.json</a>; TensorBoard: <code>tensorboard --logdir
tensorboard --host 127.0.0.1</code>.</p>
</body></html>
"""


def scalar_metrics(metrics: dict) -> dict[str, float]:
    """Flat numeric metrics for TensorBoard (nested dicts joined with '/')."""
    out: dict[str, float] = {}

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            if math.isfinite(node):
                out[prefix] = float(node)

    walk("", {k: v for k, v in metrics.items() if k != "energy_bins"})
    return out


def write_tensorboard(log_dir: Path, metrics: dict, plot_dir: Path,
                      figures: list[tuple[str, str]], step: int = 0) -> None:
    """Scalars of :func:`scalar_metrics` and every PNG as an image summary."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for name, value in scalar_metrics(metrics).items():
            tf.summary.scalar(f"evaluation/{name}", value, step=step)
        for fname, caption in figures:
            img = tf.io.decode_png(tf.io.read_file(str(plot_dir / fname)), channels=4)
            tf.summary.image(f"plots/{Path(fname).stem}", img[None], step=step,
                             description=caption)
    writer.flush()
    writer.close()


def write_report(out_dir: str | Path, result, provenance: dict | None = None,
                 bins: int = 50, tensorboard: bool = True) -> Path:
    """Write metrics.json, blessing.json, plots/, report.html (and tensorboard/) into out_dir.

    Args:
        out_dir: existing or new directory (files inside are overwritten).
        result: :class:`tfcalo.evaluation.validation.EvaluationResult`.
        provenance: model/data description shown in the report and stored in metrics.json.
        bins: histogram bins of the observable plots.
        tensorboard: also write TensorBoard summaries under out_dir/tensorboard.

    Returns:
        Path of report.html.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    provenance = dict(provenance or {})
    metrics = dict(result.metrics)
    metrics["provenance"] = provenance
    metrics["blessed"] = result.blessing["blessed"]
    figures = write_plots(metrics["detector"], result.plots, out / "plots", bins=bins)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=json_default))
    atomic_write_text(out / "blessing.json", json.dumps(result.blessing, indent=2,
                                                        default=json_default))
    page = render_html(metrics, result.blessing, figures, provenance)
    atomic_write_text(out / "report.html", page)
    if tensorboard:
        write_tensorboard(out / "tensorboard", metrics, out / "plots", figures)
    return out / "report.html"
