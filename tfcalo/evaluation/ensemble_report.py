"""The AdaGAN ensemble report (seed 002): the ensemble and each member against real showers.

:func:`ensemble_report` reads the test split of a canonical dataset, generates showers for
its conditions with the full ensemble and with each member (seeded), and writes into a
directory::

    metrics_vs_T.json        every evaluated prefix G_0..G_{t} (from the evaluate outputs'
                             metrics.json): its betas and metrics, plus one series per metric
    ensemble_report.json     sampling fraction per primary-energy bin, mean shower profiles and
                             PCA variances of real, ensemble and members, and summary numbers
    plots/*.png              each metric against T; sampling fraction per 10 GeV bin with a
                             generated/real ratio panel; longitudinal, radial and transverse
                             profiles; histograms of the first principal components and the
                             variance along each component
    ensemble_report.html     one page embedding all of it, with the members' betas

The showers of one generated set are reduced to a :class:`ShowerSummary` (per-shower
sampling fraction, mean profiles, PCA projections) before the next set is generated, so
memory holds the real showers plus one generated set.

PCA (seed 002's "histograms of PCs" and "variance of PCs"): principal components are fitted
on the real test showers, each cell scaled as log1p(E / 1 MeV); every set is projected on the
real components. The variance fraction of component k is the variance of the set's
projection on it divided by the real showers' total variance, so the real set's fractions are
the PCA explained-variance ratios and a generator that is too narrow or too broad along a
direction shows up as a ratio below or above 1.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfcalo import metrics as M
from tfcalo import physics
from tfcalo.atomic import atomic_write_text
from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ArtifactError, ConfigError
from tfcalo.evaluation.plots import (
    DPI,
    GEN_COLOR,
    REAL_COLOR,
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
from tfcalo.evaluation.report import EXPLANATIONS
from tfcalo.evaluation.validation import energy_bin_metrics

REPORT_HTML = "ensemble_report.html"
METRICS_VS_T = "metrics_vs_T.json"
SUMMARY_JSON = "ensemble_report.json"
#: Principal components kept (variance plot) and histogrammed (first ones).
N_COMPONENTS, N_HISTOGRAMS = 10, 3
#: Bins of primary energy with fewer real showers are left out of the sampling-fraction plot.
DEFAULT_MIN_BIN_COUNT = 10
#: Profile entries below this fraction of the real profile's peak are left out of the
#: profile deviation numbers (their ratios are noise).
PROFILE_FLOOR = 0.01
#: Metric series plotted against T, in this order when present (rest of evaluation.METRIC_OPS).
KEY_METRICS = ("prd_auc", "fpd", "frd", "jsd_fidelity", "classifier_auc_observables",
               "classifier_auc_showers", "ks_max", "w1_rel_max", "sf_ratio_max_deviation",
               "resolution_ratio_max_deviation", "prd_auc_raw", "prd_auc_observables")
_MEV_PER_UNIT = {"MeV": 1.0, "GeV": 1000.0}


# --------------------------------------------------------------------------- reductions


@dataclass
class PCAFit:
    """Principal components of the real showers' log1p(E/MeV) cells.

    Attributes:
        mean: (F,) mean feature vector of the real showers.
        components: (K, F) orthonormal principal axes, largest variance first.
        total_variance: sum of the real features' variances (ddof=1).
    """

    mean: np.ndarray
    components: np.ndarray
    total_variance: float

    def project(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, K) coordinates along the real principal axes."""
        return (np.asarray(features, np.float64) - self.mean) @ self.components.T


@dataclass
class ShowerSummary:
    """What the report keeps of one set of showers (generated for the real conditions).

    Attributes:
        label: "real", "ensemble" or "G<t>".
        sf: (N,) sampling fraction (deposited / primary energy) per shower.
        profiles: mean profiles, name -> (L,) in the detector's energy unit: ``longitudinal``
            (3D only, per layer), ``radial`` (rings of one cell pitch around the shower
            axis), ``transverse_x`` and ``transverse_y`` (per column / row).
        pcs: (N, K) coordinates along the real principal axes.
        beta: mixture weight of a member (None for real and ensemble).
    """

    label: str
    sf: np.ndarray
    profiles: dict[str, np.ndarray]
    pcs: np.ndarray
    beta: float | None = None


def _check_detector(detector: Detector | str) -> Detector:
    det = get_detector(detector)
    if det.kind == "tabular":
        raise ConfigError(f"the ensemble report needs calorimeter showers (cern-ecal or "
                          f"lhcb-ecal), got detector '{det.name}'")
    return det


def pca_features(detector: Detector | str, showers: np.ndarray) -> np.ndarray:
    """(N, *shower_shape) energies -> (N, F) float64 log1p(E / 1 MeV), negatives as 0."""
    det = get_detector(detector)
    flat = np.asarray(showers, np.float64).reshape(len(showers), -1)
    return np.log1p(np.maximum(flat, 0.0) * _MEV_PER_UNIT[det.energy_unit])


def fit_pca(detector: Detector | str, showers: np.ndarray, n_components: int = N_COMPONENTS,
            seed: int = 0) -> PCAFit:
    """Fit the principal components of the real showers (sklearn PCA, seeded)."""
    from sklearn.decomposition import PCA

    x = pca_features(detector, showers)
    k = max(1, min(n_components, len(x) - 1, x.shape[1]))
    pca = PCA(n_components=k, random_state=seed).fit(x)
    return PCAFit(pca.mean_, pca.components_, float(np.var(x, axis=0, ddof=1).sum()))


def summarize(detector: Detector | str, showers: np.ndarray, conditions: np.ndarray,
              pca: PCAFit, label: str, beta: float | None = None) -> ShowerSummary:
    """Reduce (N, *shower_shape) showers for (N, n_cond) conditions to a ShowerSummary."""
    det = _check_detector(detector)
    profiles = {}
    if det.layer_axis is not None:
        profiles["longitudinal"] = physics.longitudinal_profile(showers, det).mean(axis=0)
    profiles["radial"] = physics.radial_profile(showers, det).mean(axis=0)
    profiles["transverse_x"] = physics.transverse_profile_x(showers, det).mean(axis=0)
    profiles["transverse_y"] = physics.transverse_profile_y(showers, det).mean(axis=0)
    return ShowerSummary(label, physics.sampling_fraction(det, showers, conditions), profiles,
                         pca.project(pca_features(det, showers)), beta)


def sf_bins(energy_gev: np.ndarray, sf_real: np.ndarray, sf_sets: dict[str, np.ndarray],
            bin_width_gev: float = 10.0, min_count: int = DEFAULT_MIN_BIN_COUNT) -> dict:
    """Mean sampling fraction per fixed-width primary-energy bin, real and generated.

    Every set was generated for the real conditions, so all share ``energy_gev``. The
    per-bin numbers are :func:`tfcalo.evaluation.validation.energy_bin_metrics`'s (the
    evaluation's energy bins, here with ``bin_width_gev`` bins and no bootstrap).

    Args:
        energy_gev: (N,) primary energy of each shower (GeV).
        sf_real: (N,) real sampling fractions.
        sf_sets: label -> (N,) sampling fractions of a generated set.
        bin_width_gev: bin width; edges are multiples of it covering the energies.
        min_count: bins with fewer showers are left out.

    Returns:
        ``edges_gev`` (all edges), and for the kept bins ``centre_gev``, ``count``,
        ``sf_real``, ``sf_err_real`` and per set ``sets[label] = {sf, sf_err, ratio}``
        (ratio = generated / real), with ``ratio_max_deviation`` (max |ratio - 1|, None if
        no bin is kept) and ``ratio_mean_abs_deviation``.
    """
    if bin_width_gev <= 0:
        raise ConfigError(f"ensemble report parameter 'bin_width_gev' must be positive, got "
                          f"{bin_width_gev}")
    e = np.asarray(energy_gev, np.float64)

    def bins(sf: np.ndarray) -> dict:
        return energy_bin_metrics(e, sf_real, e, sf, min_count=min_count, n_boot=0,
                                  bin_width_gev=bin_width_gev)

    real = bins(sf_real)
    out: dict = {"edges_gev": real["edges_gev"], "bin_width_gev": float(bin_width_gev),
                 "min_count": int(min_count), "centre_gev": real["centre_gev"],
                 "count": real["count_real"], "sf_real": real["sf_real"],
                 "sf_err_real": real["sf_err_real"], "sets": {}}
    for label, sf in sf_sets.items():
        b = bins(sf)
        ratio = np.asarray(b["sf_ratio"], np.float64)
        dev = np.abs(ratio[np.isfinite(ratio)] - 1.0)
        out["sets"][label] = {
            "sf": b["sf_gen"], "sf_err": b["sf_err_gen"], "ratio": b["sf_ratio"],
            "ratio_max_deviation": float(dev.max()) if dev.size else None,
            "ratio_mean_abs_deviation": float(dev.mean()) if dev.size else None,
        }
    return out


def _profile_deviation(real: np.ndarray, gen: np.ndarray) -> float | None:
    """max |gen/real - 1| over entries above PROFILE_FLOOR of the real peak."""
    real, gen = np.asarray(real, float), np.asarray(gen, float)
    mask = real > PROFILE_FLOOR * real.max() if real.max() > 0 else np.zeros(len(real), bool)
    return float(np.max(np.abs(gen[mask] / real[mask] - 1.0))) if mask.any() else None


def _variance_fraction(s: ShowerSummary, pca: PCAFit) -> np.ndarray:
    return np.var(s.pcs, axis=0, ddof=1) / pca.total_variance if len(s.pcs) > 1 else \
        np.full(s.pcs.shape[1], np.nan)


def compare_sets(real: ShowerSummary, generated: Sequence[ShowerSummary], pca: PCAFit,
                 energy_gev: np.ndarray, bin_width_gev: float = 10.0,
                 min_count: int = DEFAULT_MIN_BIN_COUNT) -> dict:
    """The numbers of ensemble_report.json: per set SF bins, profiles and PCA comparison.

    Returns:
        ``sampling_fraction`` (:func:`sf_bins`), ``profiles`` {label: {name: list}},
        ``pca`` {label: {variance_fraction (K,), ks (first N_HISTOGRAMS PCs)}} and
        ``sets`` {label: flat summary numbers (beta, sf_10gev_max_deviation,
        sf_10gev_mean_abs_deviation, <profile>_max_deviation, pc<k>_ks,
        pca_variance_ratio_max_deviation)}.
    """
    sets = [real, *generated]
    sfb = sf_bins(energy_gev, real.sf, {s.label: s.sf for s in generated}, bin_width_gev,
                  min_count)
    var_real = _variance_fraction(real, pca)
    out: dict = {"sampling_fraction": sfb, "profiles": {}, "pca": {}, "sets": {}}
    for s in sets:
        var = _variance_fraction(s, pca)
        n_h = min(N_HISTOGRAMS, s.pcs.shape[1])
        ks = [M.ks_statistic(real.pcs[:, k], s.pcs[:, k]) for k in range(n_h)]
        out["profiles"][s.label] = {k: v.tolist() for k, v in s.profiles.items()}
        out["pca"][s.label] = {"variance_fraction": var.tolist(), "ks": ks}
        nums: dict = {"beta": s.beta}
        if s is not real:
            sf = sfb["sets"][s.label]
            nums["sf_10gev_max_deviation"] = sf["ratio_max_deviation"]
            nums["sf_10gev_mean_abs_deviation"] = sf["ratio_mean_abs_deviation"]
        for name, prof in s.profiles.items():
            nums[f"{name}_max_deviation"] = _profile_deviation(real.profiles[name], prof)
        nums.update({f"pc{k + 1}_ks": v for k, v in enumerate(ks)})
        top = var_real[:n_h]
        nums["pca_variance_ratio_max_deviation"] = float(np.max(np.abs(var[:n_h] / top - 1.0)))
        out["sets"][s.label] = nums
    return out


# --------------------------------------------------------------------------- metrics vs T


def _read_json_file(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ArtifactError(f"{what} {path.parent} has no {path.name}")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not readable JSON ({exc})") from None


def _number(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def metrics_vs_t(evaluations: Sequence[str | Path],
                 ensembles: Sequence[str | Path] | None = None) -> dict:
    """Collect the evaluate outputs of the prefixes G_0..G_t, t = 0..T-1.

    Args:
        evaluations: evaluate output directories (metrics.json; blessing.json if present),
            one per prefix, in order.
        ensembles: the prefixes' ensemble directories (for their betas), same length.

    Returns:
        ``{"T": [1..T], "prefixes": [{n_generators, evaluation, ensemble, betas, blessed,
        metrics {name: value}}] (T entries), "series": {name: [T values]}, "errors":
        {"fpd": [...]}, "thresholds": {name: {"threshold", "op"}}}``; a metric is kept if
        any prefix has a finite value.
    """
    from tfcalo.evaluation.validation import METRIC_OPS
    from tfcalo.training import adagan

    names = [*KEY_METRICS, *(k for k in METRIC_OPS if k not in KEY_METRICS)]
    prefixes, thresholds = [], {}
    for t, ev_dir in enumerate(evaluations):
        ev_dir = Path(ev_dir)
        m = _read_json_file(ev_dir / "metrics.json", "evaluation")
        betas = None
        if ensembles is not None:
            betas = adagan.read_ensemble(ensembles[t])["betas"]
        bless_file = ev_dir / "blessing.json"
        blessing = _read_json_file(bless_file, "evaluation") if bless_file.is_file() else {}
        for c in blessing.get("checks", []):
            thresholds[c["metric"]] = {"threshold": c["threshold"], "op": c["op"]}
        prefixes.append({
            "n_generators": t + 1, "evaluation": str(ev_dir.resolve()),
            "ensemble": str(Path(ensembles[t]).resolve()) if ensembles is not None else None,
            "betas": betas, "blessed": m.get("blessed", blessing.get("blessed")),
            "metrics": {k: _number(m.get(k)) for k in names},
            "fpd_error": _number(m.get("fpd_error")),
        })
    series = {k: [p["metrics"][k] for p in prefixes] for k in names
              if any(p["metrics"][k] is not None for p in prefixes)}
    for p in prefixes:
        p["metrics"] = {k: v for k, v in p["metrics"].items() if k in series}
    return {"T": [p["n_generators"] for p in prefixes], "prefixes": prefixes,
            "series": series, "errors": {"fpd": [p["fpd_error"] for p in prefixes]},
            "thresholds": {k: v for k, v in thresholds.items() if k in series}}


# --------------------------------------------------------------------------- plots


def _set_styles(plt, labels: Sequence[str]) -> dict[str, dict]:
    """Line styles: real black, ensemble red and thick, members thin along a colour map."""
    members = [lb for lb in labels if lb not in ("real", "ensemble")]
    cmap = plt.get_cmap("viridis")
    styles = {"real": {"color": REAL_COLOR, "lw": 1.8, "ls": "-", "marker": "o"},
              "ensemble": {"color": GEN_COLOR, "lw": 1.8, "ls": "--", "marker": "s"}}
    for i, lb in enumerate(members):
        styles[lb] = {"color": cmap(0.1 + 0.8 * i / max(1, len(members) - 1)), "lw": 0.9,
                      "ls": ":", "marker": "."}
    return styles


def _curves_with_ratio(plt, path: Path, x: np.ndarray, curves: dict[str, np.ndarray],
                       xlabel: str, ylabel: str, title: str, logy: bool = False,
                       errors: dict[str, np.ndarray] | None = None) -> None:
    """Curves of every set (first = real) over ``x`` with a generated/real ratio panel.

    ``errors`` (label -> (L,) standard errors) draws error bars and propagates them into the
    ratios. The ratio range adapts (report.ratio_limits); off-scale ratios are arrows.
    """
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(6.5, 5.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.3], "hspace": 0.06})
    styles = _set_styles(plt, list(curves))
    errors = errors or {}
    real = np.asarray(curves["real"], float)
    real_err = np.asarray(errors.get("real", np.zeros_like(real)), float)
    ratios = {}
    for label, y in curves.items():
        st = styles[label]
        y = np.asarray(y, float)
        ax.errorbar(x, y, yerr=errors.get(label), color=st["color"], lw=st["lw"], ls=st["ls"],
                    marker=st["marker"], markersize=3, elinewidth=0.8, label=label)
        if label != "real":
            ratios[label] = ratio_with_errors(
                y, np.asarray(errors.get(label, np.zeros_like(y)), float), real, real_err)
    lim = ratio_limits([r for r, _ in ratios.values()])
    for label, (ratio, err) in ratios.items():
        st = styles[label]
        ratio_points(rax, x, ratio, lim, err if label in errors else None,
                      color=st["color"], marker=st["marker"], lw=st["lw"], ls=st["ls"])
    if logy and (real > 0).any():
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, ncol=2)
    finish_ratio_axis(rax, lim, xlabel)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def _pc_histograms(plt, path: Path, sets: Sequence[ShowerSummary], bins: int = 30) -> None:
    """Histograms of the first principal components of every set, ratio panels below.

    Bins cover the real projections' robust range (report.robust_edges); the legend gives
    the fraction of real and ensemble showers outside it.
    """
    n_h = min(N_HISTOGRAMS, sets[0].pcs.shape[1])
    styles = _set_styles(plt, [s.label for s in sets])
    fig, axes = plt.subplots(2, n_h, figsize=(5 * n_h, 5), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1.3], "hspace": 0.06})
    for k in range(n_h):
        real = sets[0].pcs[:, k]
        edges, _ = robust_edges(real, hist_bins(len(real), bins))
        centres = 0.5 * (edges[1:] + edges[:-1])
        hr, er, *_ = binned_fractions(real, edges)
        ax, rax = axes[0, k], axes[1, k]
        drawn = {}
        for s in sets:
            st = styles[s.label]
            h, e, *outside = binned_fractions(s.pcs[:, k], edges)
            extra = outside_text(*outside) if s.label in ("real", "ensemble") else ""
            ax.stairs(h, edges, color=st["color"], lw=st["lw"], ls=st["ls"],
                      label=f"{s.label}{extra}")
            if s is not sets[0]:
                drawn[s.label] = ratio_with_errors(h, e, hr, er)
        lim = ratio_limits([r for r, _ in drawn.values()])
        for label, (ratio, err) in drawn.items():
            st = styles[label]
            ratio_points(rax, centres, ratio, lim, err if label == "ensemble" else None,
                          color=st["color"], marker=st["marker"])
        ax.set_xlim(edges[0], edges[-1])
        ax.set_title(f"principal component {k + 1}")
        ax.set_ylabel("fraction of showers per bin")
        ax.legend(frameon=False, fontsize=7)
        ax.tick_params(labelbottom=False)
        finish_ratio_axis(rax, lim, f"PC{k + 1} of log(1 + E / 1 MeV) per cell")
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def _metric_vs_t(plt, path: Path, ts: list[int], values: list, name: str,
                 errors: list | None, threshold: dict | None) -> None:
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    y = np.array([np.nan if v is None else v for v in values], float)
    err = None
    if errors is not None:
        err = np.array([0.0 if e is None else e for e in errors], float)
    ax.errorbar(ts, y, yerr=err, fmt="o-", color=GEN_COLOR, capsize=3)
    if threshold is not None:
        ax.axhline(threshold["threshold"], color="grey", ls="--", lw=0.8,
                   label=f"blessing threshold ({threshold['op']} {threshold['threshold']:.3g})")
        ax.legend(frameon=False, fontsize=7)
    ax.set_xticks(ts)
    ax.set_xlabel("T (generators in the ensemble)")
    ax.set_ylabel(name)
    ax.set_title(f"{name} against T")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


_PROFILE_AXES = {
    "longitudinal": ("layer", "mean energy per layer", False),
    "radial": ("radius [cell pitches]", "mean energy per ring", True),
    "transverse_x": ("x cell", "mean energy per column", True),
    "transverse_y": ("y cell", "mean energy per row", True),
}


def write_plots(detector: Detector | str, real: ShowerSummary,
                generated: Sequence[ShowerSummary], numbers: dict, mvt: dict | None,
                plot_dir: Path) -> list[tuple[str, str, str]]:
    """Every PNG of the report; returns ``[(section, file name, caption)]`` in page order."""
    det = get_detector(detector)
    plt = pyplot()
    plot_dir.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, str, str]] = []
    if mvt:
        for name, values in mvt["series"].items():
            fname = f"metric_vs_T_{slug(name)}.png"
            errors = mvt["errors"]["fpd"] if name == "fpd" else None
            _metric_vs_t(plt, plot_dir / fname, mvt["T"], values, name, errors,
                         mvt["thresholds"].get(name))
            made.append(("metrics", fname, f"{name} of the ensemble of the first T generators."
                         + (" Error bars: bootstrap." if errors else "")))
    sfb = numbers["sampling_fraction"]
    if sfb["centre_gev"]:
        curves = {"real": np.array(sfb["sf_real"]),
                  **{lb: np.array(v["sf"]) for lb, v in sfb["sets"].items()}}
        errors = {"real": np.array(sfb["sf_err_real"]),
                  **{lb: np.array(v["sf_err"]) for lb, v in sfb["sets"].items()}}
        _curves_with_ratio(plt, plot_dir / "sampling_fraction.png", np.array(sfb["centre_gev"]),
                           curves, "primary energy [GeV]",
                           "mean " + axis_label(*physics.observable_axis(det, "sampling_fraction")),
                           f"sampling fraction per {sfb['bin_width_gev']:g} GeV bin",
                           errors=errors)
        made.append(("sampling", "sampling_fraction.png",
                     f"Mean sampling fraction (deposited/primary energy) per "
                     f"{sfb['bin_width_gev']:g} GeV bin of primary energy (bins with at least "
                     f"{sfb['min_count']} showers) with the error of the mean, and generated/real below "
                     "(arrows: off scale)."))
    for name, (xlabel, ylabel, logy) in _PROFILE_AXES.items():
        if name not in real.profiles:
            continue
        curves = {s.label: s.profiles[name] for s in (real, *generated)}
        fname = f"profile_{name}.png"
        _curves_with_ratio(plt, plot_dir / fname, np.arange(len(real.profiles[name])), curves,
                           xlabel, f"{ylabel} [{det.energy_unit}]",
                           f"{name.replace('_', ' ')} profile", logy=logy)
        made.append(("shapes", fname, f"Mean {name.replace('_', ' ')} profile of real, "
                     "ensemble and member showers, and generated/real below."))
    _pc_histograms(plt, plot_dir / "pca_components.png", [real, *generated])
    made.append(("pca", "pca_components.png", "Distributions of the first principal components "
                 "(fitted on the real showers) of every set."))
    k = real.pcs.shape[1]
    curves = {lb: np.array(v["variance_fraction"]) for lb, v in numbers["pca"].items()}
    _curves_with_ratio(plt, plot_dir / "pca_variance.png", np.arange(1, k + 1), curves,
                       "principal component", "variance / real total variance",
                       "variance along the real principal components", logy=True)
    made.append(("pca", "pca_variance.png", "Variance of each set along the real principal "
                 "components, as a fraction of the real total variance (real: the explained "
                 "variance ratio)."))
    return made


# --------------------------------------------------------------------------- html


_SECTIONS = {
    "metrics": ("Metrics against T", "Each point is the evaluate component's metric (see "
                "report.html of each prefix) for the mixture of the first T generators with "
                "their betas at that stage; AdaGAN should improve them as T grows."),
    "sampling": ("Sampling fraction", "As seed 002: the test showers are split into bins of "
                 "primary energy; each set was generated for the same conditions, so every "
                 "bin compares like with like."),
    "shapes": ("Shower shapes", "Mean profiles: longitudinal (per layer), radial (around the "
               "shower's own axis) and transverse (per column and row)."),
    "pca": ("Principal components", "PCA of log1p(E/1 MeV) cell energies fitted on the real "
            "test showers; every set is projected on the real components."),
}


def render_html(numbers: dict, mvt: dict | None, figures: list[tuple[str, str, str]],
                provenance: dict) -> str:
    """The ensemble report page (images as relative links under plots/)."""
    sets = numbers["sets"]
    cols = ["beta", "sf_10gev_max_deviation", "sf_10gev_mean_abs_deviation",
            *(c for c in next(iter(sets.values())) if c.endswith("_max_deviation")
              and not c.startswith(("sf_", "pca_"))),
            *(c for c in next(iter(sets.values())) if c.startswith("pc") and c.endswith("_ks")),
            "pca_variance_ratio_max_deviation"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = "".join(
        f"<tr><td>{html.escape(lb)}</td><td>{html.escape(str(provenance.get('runs', {}).get(lb, '')))}"
        f"</td>" + "".join(f"<td>{format_number(v.get(c))}</td>" for c in cols) + "</tr>"
        for lb, v in sets.items())
    mvt_html = ""
    if mvt and mvt["series"]:
        th = "".join(f"<th>T={t}</th>" for t in mvt["T"])
        mrows = "".join(f"<tr><td>{html.escape(k)}</td>" + "".join(
            f"<td>{format_number(v)}</td>" for v in vals) + "</tr>" for k, vals in mvt["series"].items())
        brow = "<tr><td>blessed</td>" + "".join(
            f"<td>{format_number(p.get('blessed'))}</td>" for p in mvt["prefixes"]) + "</tr>"
        mvt_html = (f"<table><tr><th>metric</th>{th}</tr>{mrows}{brow}</table>"
                    "<p>All numbers: <a href='metrics_vs_T.json'>metrics_vs_T.json</a>.</p>")
    body = []
    for key, (title, text) in _SECTIONS.items():
        figs = "".join(
            f"<figure><img src='plots/{html.escape(f)}' alt='{html.escape(f)}'>"
            f"<figcaption>{html.escape(c)}</figcaption></figure>"
            for s, f, c in figures if s == key)
        if key == "metrics":
            figs = mvt_html + figs
        if key == "sampling" and not any(s == key for s, _, _ in figures):
            figs = (f"<p>No {numbers['sampling_fraction']['bin_width_gev']:g} GeV bin holds "
                    f"{numbers['sampling_fraction']['min_count']} real showers: use more test "
                    "showers for this plot.</p>")
        body.append(f"<h2>{title}</h2><p>{html.escape(text)}</p>{figs}")
    prov = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in provenance.items() if k != "runs")
    expl = "".join(f"<dt>{k}</dt><dd>{html.escape(v)}</dd>" for k, v in EXPLANATIONS.items()
                   if mvt and k in mvt["series"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tfcalo AdaGAN ensemble report</title>
<style>
body {{ font-family: sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; max-width: 560px; }}
figure img {{ max-width: 100%; }} figcaption {{ font-size: 0.85em; color: #555; }}
</style></head><body>
<h1>AdaGAN ensemble report ({len(sets) - 2} generators)</h1>
<p>An AdaGAN ensemble (seed 002; Tolstikhin et al. 2017) samples a shower by drawing a
generator index i from Cat(beta) and generating with G_i. Each G_t after the first was
trained on the real showers reweighted by a mixture discriminator, so that it covers what
G_0..G_(t-1) missed. Below: how the ensemble's metrics change as generators are added, and
the ensemble ("ensemble", red) and every member (G_t) against the real test showers
("real", black): sampling fraction, shower shapes and principal components. All sets were
generated for the conditions of the {numbers.get('n_real')} real test showers.</p>
<h2>Members</h2>
<table><tr><th>set</th><th>run</th>{head}</tr>{rows}</table>
<p>beta: mixture weight of each member in the final ensemble; *_max_deviation: largest
|generated/real - 1| (sampling fraction over energy bins, profiles over entries above
{PROFILE_FLOOR:g} of the real peak, PCA variances over the first {N_HISTOGRAMS} components);
pc*_ks: Kolmogorov-Smirnov statistic of the component's distribution against real.</p>
{''.join(body)}
<h2>Provenance</h2><table>{prov}</table>
<h2>What the metrics mean</h2><dl>{expl}</dl>
<p>Numbers of the plots: <a href="ensemble_report.json">ensemble_report.json</a>.</p>
</body></html>
"""


# --------------------------------------------------------------------------- entry points


def write_report(out_dir: str | Path, detector: Detector | str, real: ShowerSummary,
                 generated: Sequence[ShowerSummary], pca: PCAFit, energy_gev: np.ndarray,
                 mvt: dict | None = None, bin_width_gev: float = 10.0,
                 min_bin_count: int = DEFAULT_MIN_BIN_COUNT,
                 provenance: dict | None = None) -> Path:
    """Write ensemble_report.json, metrics_vs_T.json (if ``mvt``), plots/ and the html page.

    Args:
        out_dir: directory (created; files inside are overwritten).
        detector: detector of the showers.
        real: summary of the real test showers; generated: the ensemble's and the members'
            (labels "ensemble", "G0", ...), generated for the same conditions.
        pca: the PCA fitted on the real showers (the summaries' projections).
        energy_gev: (N,) primary energy of the real showers (GeV).
        mvt: :func:`metrics_vs_t` output, or None.

    Returns:
        Path of ensemble_report.html.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    provenance = dict(provenance or {})
    numbers = compare_sets(real, generated, pca, energy_gev, bin_width_gev, min_bin_count)
    numbers["n_real"] = int(len(real.sf))
    numbers["provenance"] = provenance
    if mvt is not None:
        atomic_write_text(out / METRICS_VS_T, json.dumps(mvt, indent=2, default=json_default))
    figures = write_plots(detector, real, generated, numbers, mvt, out / "plots")
    numbers["figures"] = [f for _, f, _ in figures]
    atomic_write_text(out / SUMMARY_JSON, json.dumps(numbers, indent=2, default=json_default))
    atomic_write_text(out / REPORT_HTML, render_html(numbers, mvt, figures, provenance))
    return out / REPORT_HTML


def report_from_arrays(out_dir: str | Path, detector: Detector | str, real_showers: np.ndarray,
                       conditions: np.ndarray, generated: dict[str, np.ndarray],
                       betas: dict[str, float] | None = None, mvt: dict | None = None,
                       seed: int = 0, bin_width_gev: float = 10.0,
                       min_bin_count: int = DEFAULT_MIN_BIN_COUNT) -> Path:
    """:func:`write_report` from showers in memory: label -> (N, *shape) generated showers."""
    det = _check_detector(detector)
    pca = fit_pca(det, real_showers, seed=seed)
    real = summarize(det, real_showers, conditions, pca, "real")
    gens = [summarize(det, s, conditions, pca, lb, (betas or {}).get(lb))
            for lb, s in generated.items()]
    return write_report(out_dir, det, real, gens, pca, physics.primary_energy_gev(det, conditions),
                        mvt, bin_width_gev, min_bin_count)


def ensemble_report(out_dir: str | Path, data_dir: str | Path,
                    ensembles: Sequence[str | Path], members: Sequence[str | Path],
                    evaluations: Sequence[str | Path], seed: int = 0, limit: int | None = None,
                    bin_width_gev: float = 10.0, min_bin_count: int = DEFAULT_MIN_BIN_COUNT,
                    batch_size: int = 256, log: Callable[[str], None] | None = None) -> dict:
    """Write the AdaGAN ensemble report of an ensemble of T generators into ``out_dir``.

    Args:
        out_dir: directory to fill (created).
        data_dir: canonical dataset artifact; its test split is the reference.
        ensembles: ensemble artifacts of the prefixes G_0..G_t, t = 0..T-1 (the last is the
            full ensemble, sampled with :func:`tfcalo.export.sampling.load_sampler`).
        members: trained run directories of G_0..G_{T-1}.
        evaluations: evaluate outputs (metrics.json) of each prefix.
        seed: noise seed of every generated set.
        limit: use at most this many test showers (None: all).
        bin_width_gev: width of the primary-energy bins of the sampling fraction.
        min_bin_count: energy bins with fewer real showers are left out.
        batch_size: generation batch size.
        log: progress callback.

    Returns:
        ``{"report": html path, "metrics_vs_T": series, "sets": per-set numbers, "T": T}``.

    Raises:
        ConfigError: the three lists differ in length or are empty.
        ArtifactError: a missing/corrupt input, or a model of another detector than the data.
    """
    from tfcalo.data.dataset import Dataset
    from tfcalo.export.sampling import load_sampler
    from tfcalo.training import adagan

    log = log or (lambda msg: None)
    T = len(members)
    if T == 0 or len(ensembles) != T or len(evaluations) != T:
        raise ConfigError(f"the ensemble report needs one ensemble prefix, one member run and "
                          f"one evaluation per generator; got {len(ensembles)}, {T} and "
                          f"{len(evaluations)}")
    if limit is not None and limit < 2:
        raise ConfigError(f"ensemble report parameter 'limit' must be at least 2, got {limit}")
    for p in (data_dir, *ensembles, *members, *evaluations):
        if not Path(p).exists():
            raise ArtifactError(f"ensemble report input {p} does not exist")
    mvt = metrics_vs_t(evaluations, ensembles)
    betas = adagan.read_ensemble(ensembles[-1])["betas"]
    if len(betas) != T:
        raise ArtifactError(f"ensemble {ensembles[-1]} has {len(betas)} members but {T} member "
                            "runs were given")
    dataset = Dataset.open(data_dir)
    det = _check_detector(dataset.detector)
    test = dataset.load("test", limit=limit)
    real_showers, cond = test["showers"], test["conditions"]
    if len(real_showers) < 2:
        raise ArtifactError(f"dataset {data_dir} has fewer than 2 showers in its test split")
    log(f"ensemble report: {len(real_showers)} real test showers, T={T}")
    pca = fit_pca(det, real_showers, seed=seed)
    real = summarize(det, real_showers, cond, pca, "real")
    del real_showers
    generated, runs = [], {"ensemble": str(Path(ensembles[-1]).resolve())}
    for label, path, beta in [("ensemble", ensembles[-1], None),
                              *((f"G{t}", members[t], betas[t]) for t in range(T))]:
        sampler = load_sampler(path)
        if sampler.detector.name != det.name:
            raise ArtifactError(f"model {path} simulates {sampler.detector.name} but dataset "
                                f"{data_dir} holds {det.name} showers")
        showers = sampler.sample(cond, seed=seed, batch_size=batch_size)
        generated.append(summarize(det, showers, cond, pca, label, beta))
        runs[label] = str(Path(path).resolve())
        log(f"ensemble report: generated {len(showers)} showers with {label}")
        del showers
    prov = {"data": str(Path(data_dir).resolve()),
            "data_content_hash": getattr(dataset, "content_hash", None),
            "detector": det.name, "test_showers": int(len(real.sf)), "seed": seed,
            "T": T, "betas": [round(b, 6) for b in betas], "runs": runs}
    page = write_report(out_dir, det, real, generated, pca, physics.primary_energy_gev(det, cond),
                        mvt, bin_width_gev, min_bin_count, prov)
    numbers = json.loads((Path(out_dir) / SUMMARY_JSON).read_text())
    return {"report": page, "metrics_vs_T": mvt["series"], "sets": numbers["sets"], "T": T}
