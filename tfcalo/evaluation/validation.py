"""Physics validation of a generator: every metric of the report, and the blessing.

The library function :func:`evaluate_arrays` takes arrays only (real test showers, their
conditions and weights, and generated showers for the same conditions), so it needs no model
and is what the tests exercise with real-vs-real and deliberately broken comparisons.
:func:`tfcalo.evaluation.run.evaluate_to_dir` generates the showers with a
:class:`tfcalo.export.sampling.Sampler`, calls it, and hands the result to
:mod:`tfcalo.evaluation.report`.

Metrics (keys of ``EvaluationResult.metrics``, all JSON-ready):

- ``observables``: per observable (``tfcalo.physics.observables``) the KS statistic, the
  Wasserstein-1 distance (in the observable's unit, and relative to the real standard
  deviation) and real/generated means and standard deviations; weighted when weights are given.
  ``ks_max`` and ``w1_rel_max`` summarise them.
- ``prd_auc_raw``, ``prd_auc_observables`` and ``prd_auc`` (the min of the two, seed 000).
- ``fpd``, ``fpd_error``: Frechet distance of standardised observables; ``frd`` when an
  embedding (a regressor's penultimate layer) is given.
- ``jsd_fidelity`` and ``jsd_per_observable`` (seed 003's fidelity score, lower is better).
- ``classifier_auc_observables`` (and ``classifier_auc_showers`` when configured): ROC AUC
  of a classifier separating real from generated; 0.5 is ideal.
- ``energy_bins``: per bin of primary energy the sampling fraction (mean visible/primary) of
  real and generated showers, their ratio, and mu90/sigma90 resolutions;
  ``sf_ratio_max_deviation`` = max |ratio - 1|, ``resolution_ratio_max_deviation`` and
  ``resolution_ratio_mean_deviation`` (|geometric mean of the bins' ratios - 1|); the
  ratios' statistical errors (``sf_ratio_err``, bootstrap ``resolution_ratio_err``).
- ``longitudinal_profile_max_deviation`` (volume detectors), ``radial_profile_max_deviation``:
  the mean normalised profiles' largest |gen / real - 1| in the shower's bulk
  (:func:`tfcalo.metrics.profiles.profile_deviations`).
- ``statistics``: effective sample sizes and the classifier's held-out sizes, from which
  :func:`tfcalo.evaluation.blessing.critical_values` computes what a perfect generator could reach.
- ``baseline``: every scalar metric for real vs real (two disjoint random halves of the real
  sample, each half the size of the real-vs-generated comparison's sides, so its statistical
  fluctuations are about sqrt(2) larger), ``blessed``: whether that comparison passes the
  same rules at its own sample size, and ``failed``.
- ``speed`` (added by :func:`measure_speed`): ms per shower at batch 1, 100, 10000 and the
  speed-up over the Geant4 reference of :data:`GEANT4_MS_PER_SHOWER`.

Weights (sWeights, may be negative) weight BOTH samples: a generated shower carries the weight
of the condition it was generated for (``gen_weights`` default; ``weight_generated = false``
turns it off), so an sWeighted signal is compared with the generator's output for that same
signal population. KS, W1, JSD, PRD (cluster histograms), FPD/FRD (Gaussian fits) and the
classifiers are all weighted. The observables classifier also sees the conditions as features
for tabular (rich-pid) detectors (``classifier_conditions``), so a generator that ignores them
fails even when every marginal distribution is right.

The blessing compares scalar metrics with thresholds (``>=`` for PRD-AUC, ``<=`` for the
distances); defaults per detector live in :data:`DEFAULT_THRESHOLDS`: sample-size-aware
:class:`tfcalo.evaluation.blessing.Rule` s calibrated in docs/thresholds.md.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tfcalo import metrics as M
from tfcalo import physics
from tfcalo.config import from_dict
from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ConfigError, nearest
from tfcalo.evaluation import blessing as B
from tfcalo.metrics.profiles import PROFILE_METRICS, profile_deviations

#: Geant4 CPU time per shower (ms, one core) of the detailed simulation a generator replaces,
#: from ../shared/data/README.md and docs/tf-stack notes; None where unknown.
GEANT4_MS_PER_SHOWER: dict[str, dict] = {
    "lhcb-ecal": {
        "ms_per_shower": 150.0,
        "note": "Geant4 11.4 opt0 EM, LHCb-like shashlik ECAL, training energy mix "
                "(2-100 GeV log-uniform); 320 ms at 50 GeV",
    },
    "cern-ecal": {
        "ms_per_shower": 400.0,
        "note": "Geant4 11.4, CLIC-like Si-W ECAL, 2-500 GeV log-uniform: 360-440 ms",
    },
    "rich-pid": {"ms_per_shower": None, "note": "no detailed-simulation timing known"},
}

#: Direction of every metric that can be blessed: ">=" means higher is better.
METRIC_OPS: dict[str, str] = {
    "prd_auc": ">=",
    "prd_auc_raw": ">=",
    "prd_auc_observables": ">=",
    "fpd": "<=",
    "frd": "<=",
    "jsd_fidelity": "<=",
    "classifier_auc_observables": "<=",
    "classifier_auc_showers": "<=",
    "ks_max": "<=",
    "w1_rel_max": "<=",
    "sf_ratio_max_deviation": "<=",
    "resolution_ratio_max_deviation": "<=",
    "resolution_ratio_mean_deviation": "<=",
}

#: Default blessing rules per detector (:class:`tfcalo.evaluation.blessing.Rule`: tolerance, statistical
#: critical value at the evaluation's sample size, cap), calibrated so that real vs real
#: passes and energy x1.02, x1.05, an extra 3 % smear and widths x1.05 fail
#: (docs/thresholds.md). Users override them with plain numbers in the evaluate config.
DEFAULT_THRESHOLDS: dict[str, dict[str, B.Rule]] = B.DEFAULT_RULES


@dataclass
class SpeedConfig:
    """Generation-speed measurement (CaloChallenge protocol).

    Attributes:
        enabled: measure at all.
        batch_sizes: batch sizes to time (showers per call).
        repeats: timed calls per batch size (same length as ``batch_sizes``), after one
            untimed warm-up call.
    """

    enabled: bool = True
    batch_sizes: list[int] = field(default_factory=lambda: [1, 100, 10000])
    repeats: list[int] = field(default_factory=lambda: [20, 5, 2])

    def __post_init__(self) -> None:
        if len(self.batch_sizes) != len(self.repeats):
            raise ConfigError(
                "config keys 'speed.batch_sizes' and 'speed.repeats' must have the same length"
            )
        if any(b < 1 for b in self.batch_sizes):
            raise ConfigError("config key 'speed.batch_sizes' must hold positive integers")


@dataclass
class EvaluateConfig:
    """Configuration of the evaluate component (validated with tfcalo.config.from_dict).

    Attributes:
        limit: use at most this many test showers (None: all).
        seed: seed of generation and of every randomised metric.
        batch_size: generation batch size.
        bins: histogram bins (plots, JSD fidelity).
        energy_bins: number of log-spaced primary-energy bins for sampling fraction/resolution.
        min_bin_count: energy bins with fewer real or generated showers are skipped.
        max_samples: cap on the showers used by PRD and classifier metrics (random subset).
        classifier_showers: also train the raw-shower classifier (slower).
        classifier_conditions: give the observables classifier the conditions as extra
            features (a conditional generator is judged with its conditions); None: on for
            tabular detectors (rich-pid), off for calorimeters.
        weight_generated: when the real showers are weighted (sWeights) and the generated
            ones were produced for the same conditions, weight each generated shower with
            its condition's weight, so both sides describe the same population (default).
            False compares the weighted real sample with the unweighted generated one.
        prd_runs: k-means clusterings averaged per PRD curve (the papers use 10).
        threads: cap on the OpenMP/BLAS threads of the metrics (None: library default;
            1 avoids oversubscription, which slows k-means tenfold on a busy machine).
        thresholds: metric name -> fixed threshold overriding the detector's default rule.
        baseline: also compare two disjoint halves of the real sample (real vs real) and
            report every metric's baseline value beside it.
        n_boot: bootstrap resamples for the error of the per-bin resolution ratios.
        speed: generation-speed measurement.
        tensorboard: write TensorBoard summaries.
    """

    limit: int | None = None
    seed: int = 0
    batch_size: int = 1024
    bins: int = 50
    energy_bins: int = 8
    min_bin_count: int = 50
    max_samples: int = 20000
    classifier_showers: bool = False
    classifier_conditions: bool | None = None
    weight_generated: bool = True
    prd_runs: int = 10
    threads: int | None = None
    thresholds: dict = field(default_factory=dict)
    baseline: bool = True
    n_boot: int = 100
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    tensorboard: bool = True

    def __post_init__(self) -> None:
        for key, value in self.thresholds.items():
            if key not in METRIC_OPS:
                hint = nearest(key, METRIC_OPS)
                raise ConfigError(
                    f"unknown config key 'thresholds.{key}'; did you mean 'thresholds.{hint}'?"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"config key 'thresholds.{key}' must be a number, got {value!r}")
        for name in ("batch_size", "bins", "energy_bins", "max_samples", "prd_runs", "n_boot"):
            if getattr(self, name) < 1:
                raise ConfigError(f"config key '{name}' must be at least 1")
        if self.limit is not None and self.limit < 2:
            raise ConfigError("config key 'limit' must be at least 2")
        if self.seed < 0:
            raise ConfigError(f"config key 'seed' must be zero or positive, got {self.seed}")


def load_config(data: dict | None = None) -> EvaluateConfig:
    """Validate a plain dict (TOML ``[evaluate]`` table) into :class:`EvaluateConfig`."""
    return from_dict(EvaluateConfig, dict(data or {}), "")


def thresholds_for(detector: Detector | str, config: EvaluateConfig
                   ) -> dict[str, B.Rule | float]:
    """The detector's default rules updated with the config's overrides (fixed numbers)."""
    out = dict(DEFAULT_THRESHOLDS[get_detector(detector).name])
    out.update({k: float(v) for k, v in config.thresholds.items()})
    return out


@dataclass
class EvaluationResult:
    """Everything :func:`evaluate_arrays` computed.

    Attributes:
        metrics: JSON-ready metrics dict (written as metrics.json).
        blessing: ``{"blessed": bool, "checks": [{metric, value, threshold, op, passed}]}``.
        plots: numpy arrays the report plots (observables, mean showers, profiles,
            PRD curves, energy bins); not JSON.
    """

    metrics: dict
    blessing: dict
    plots: dict


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _subset(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=cap, replace=False)) if n > cap else np.arange(n)


def _stack(obs: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([np.asarray(v, dtype=np.float64) for v in obs.values()], axis=1)


def _mean_std(a: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    """(Weighted) mean and standard deviation; a negative weighted variance counts 0."""
    if w is None:
        return float(a.mean()), float(a.std())
    m = float(np.average(a, weights=w))
    return m, float(np.sqrt(max(np.average((a - m) ** 2, weights=w), 0.0)))


def _observable_metrics(real: dict, gen: dict, wr: np.ndarray | None,
                        wg: np.ndarray | None = None) -> dict:
    out = {}
    for name in real:
        a, b = np.asarray(real[name], float), np.asarray(gen[name], float)
        ra, rs = _mean_std(a, wr)
        ga, gs = _mean_std(b, wg)
        w1 = float(M.wasserstein1(a, b, wr, wg))
        out[name] = {
            "ks": float(M.ks_statistic(a, b, wr, wg)),
            "w1": w1,
            "w1_rel": w1 / rs if rs > 0 else 0.0,
            "real_mean": ra,
            "real_std": rs,
            "gen_mean": ga,
            "gen_std": gs,
        }
    return out


def energy_edges(energy_gev: np.ndarray, n_bins: int | None = None,
                 bin_width_gev: float | None = None) -> np.ndarray:
    """Primary-energy bin edges (GeV): ``n_bins`` log-spaced between the smallest and largest
    energy, or fixed ``bin_width_gev`` bins whose edges are multiples of the width."""
    e = np.asarray(energy_gev, np.float64)
    if (n_bins is None) == (bin_width_gev is None):
        raise ValueError("give exactly one of n_bins and bin_width_gev")
    if bin_width_gev is not None:
        lo = math.floor(e.min() / bin_width_gev) * bin_width_gev
        n = max(1, math.ceil((e.max() - lo) / bin_width_gev + 1e-9))
        return lo + bin_width_gev * np.arange(n + 1)
    lo, hi = float(e.min()), float(e.max())
    return (np.geomspace(lo, hi * (1 + 1e-9), n_bins + 1) if hi > lo > 0
            else np.array([lo, hi + 1.0]))


def energy_bin_metrics(
    energy_r: np.ndarray,
    sf_r: np.ndarray,
    energy_g: np.ndarray,
    sf_g: np.ndarray,
    n_bins: int | None = None,
    min_count: int = 10,
    n_boot: int = 100,
    seed: int = 0,
    *,
    bin_width_gev: float | None = None,
) -> dict:
    """Sampling fraction and resolution (mu90, sigma90) per primary-energy bin, real and
    generated: the one per-energy-bin comparison of the evaluation (log-spaced bins) and of
    the ensemble report (fixed-width bins, :func:`tfcalo.evaluation.ensemble_report.sf_bins`).

    The per-bin numbers and ratios are :func:`tfcalo.metrics.compare_response`'s; this adds
    the binning (:func:`energy_edges`), the minimum counts and bootstrap errors of the
    resolution ratios.

    Args:
        energy_r, sf_r: (N,) primary energy (GeV) and sampling fraction (visible/primary)
            of the real showers (unweighted: the calorimeter detectors carry no sWeights).
        energy_g, sf_g: (M,) the same for the generated showers (binned with the same edges).
        n_bins: number of log-spaced bins between the smallest and largest real energy
            (centres: geometric means of the edges) ...
        bin_width_gev: ... or the width of fixed bins (edges multiples of it covering the
            real energies; centres: arithmetic means). Give exactly one.
        min_count: bins with fewer real or generated showers are left out.
        n_boot: bootstrap resamples (per bin and sample) for ``resolution_ratio_err``
            (below 2: no bootstrap, the errors are NaN).
        seed: bootstrap seed.

    Returns:
        ``edges_gev`` (all bin edges) and lists per kept bin: ``centre_gev``,
        ``count_real``, ``count_gen``, ``sf_real``, ``sf_gen`` (mean sampling fractions),
        ``sf_err_real``, ``sf_err_gen`` (errors of those means), ``sf_ratio`` (gen/real) and
        ``sf_ratio_err`` (its statistical error from the spread of the sampling fraction),
        ``mu90_real``/``_gen``, ``resolution_real``/``_gen`` (sigma90/mu90 of the sampling
        fraction), ``resolution_ratio`` and ``resolution_ratio_err`` (standard deviation of
        the ratio over bootstrap resamples of both samples).
    """
    edges = energy_edges(energy_r, n_bins, bin_width_gev)
    cmp = M.compare_response(energy_r, sf_r, energy_g, sf_g, edges)
    r, g = cmp["real"], cmp["gen"]
    keep = (r["n"] >= min_count) & (g["n"] >= min_count)
    res_ratio_err = np.full(len(keep), np.nan)
    if n_boot > 1:
        rng = np.random.default_rng([seed, 90])
        idx_r, idx_g = np.digitize(energy_r, edges) - 1, np.digitize(energy_g, edges) - 1
        for b in np.flatnonzero(keep):
            boot_r = M.bootstrap_resolution(np.asarray(sf_r)[idx_r == b], n_boot, rng)
            boot_g = M.bootstrap_resolution(np.asarray(sf_g)[idx_g == b], n_boot, rng)
            with np.errstate(divide="ignore", invalid="ignore"):
                res_ratio_err[b] = float(np.nanstd(boot_g / boot_r))
    geometric = bin_width_gev is None and edges[0] > 0
    cols = {
        "centre_gev": np.sqrt(edges[:-1] * edges[1:]) if geometric else r["bin_centres"],
        "count_real": r["n"], "count_gen": g["n"],
        "sf_real": r["sf_mean"], "sf_gen": g["sf_mean"],
        "sf_err_real": r["sf_err"], "sf_err_gen": g["sf_err"], "sf_ratio": cmp["sf_ratio"],
        "sf_ratio_err": cmp["sf_ratio_err"],
        "mu90_real": r["mu90"], "mu90_gen": g["mu90"],
        "resolution_real": r["resolution"], "resolution_gen": g["resolution"],
        "resolution_ratio": cmp["resolution_ratio"], "resolution_ratio_err": res_ratio_err,
    }
    out: dict = {k: [v.item() for v in np.asarray(c)[keep]] for k, c in cols.items()}
    out["edges_gev"] = [float(e) for e in edges]
    return out


def _max_dev(values: Sequence[float]) -> float | None:
    vals = [abs(v - 1.0) for v in values if np.isfinite(v)]
    return float(max(vals)) if vals else None


def _mean_dev(values: Sequence[float]) -> float | None:
    """|geometric mean of the ratios - 1| (a defect common to all bins, noise averaged)."""
    vals = [np.log(v) for v in values if np.isfinite(v) and v > 0]
    return float(abs(np.expm1(np.mean(vals)))) if vals else None


def bless(metrics: dict, thresholds: dict[str, B.Rule | float]) -> dict:
    """Compare metrics with thresholds.

    Args:
        metrics: the metrics dict (its ``statistics`` and ``energy_bins`` errors set the
            statistical critical values of :func:`tfcalo.evaluation.blessing.critical_values`).
        thresholds: metric -> :class:`tfcalo.evaluation.blessing.Rule` (resolved at this sample size)
            or a fixed number.

    Returns:
        ``{"blessed": bool, "checks": [{metric, value, threshold, op, passed, critical,
        how}]}`` (``critical``: the statistical critical value or None; ``how``: how the
        threshold was set); a metric that was not computed (None/missing) fails its check.
    """
    critical = B.critical_values(metrics)
    checks = []
    for name, spec in thresholds.items():
        op = METRIC_OPS[name]
        threshold, how = B.resolve(name, spec, critical.get(name))
        value = metrics.get(name)
        if value is None:
            passed = False
        else:
            passed = value >= threshold if op == ">=" else value <= threshold
        checks.append({"metric": name, "value": value, "threshold": float(threshold),
                       "op": op, "passed": bool(passed), "critical": critical.get(name),
                       "how": how})
    return {"blessed": bool(checks) and all(c["passed"] for c in checks), "checks": checks}


def failed_checks(blessing: dict) -> list[str]:
    """Names of the metrics whose checks failed."""
    return [c["metric"] for c in blessing.get("checks", []) if not c.get("passed")]


def _baseline(det: Detector, real: np.ndarray, cond: np.ndarray, w: np.ndarray | None,
              cfg: EvaluateConfig, embed) -> dict | None:
    """Real vs real: the same metrics on two disjoint random halves of the real sample.

    Each half holds ``N // 2`` showers (the real-vs-generated comparison uses ``N`` per side,
    so statistical fluctuations here are about sqrt(2) larger: the baseline is what a
    perfect generator could show at HALF this sample size). Both halves keep their own
    weights. The halves are blessed with the same rules at their own size.
    """
    n = len(real) // 2
    if n < 2:
        return None
    perm = np.random.default_rng([cfg.seed, 2]).permutation(len(real))
    a, b = np.sort(perm[:n]), np.sort(perm[n:2 * n])
    sub_cfg = dataclasses.replace(cfg, baseline=False)
    res = _evaluate(det, real[a], cond[a], real[b], None if w is None else w[a], sub_cfg,
                    embed, cond[b], None if w is None else w[b])
    m = res.metrics
    out: dict = {k: m.get(k) for k in METRIC_OPS}
    out.update({
        "n_real": m["n_real"], "n_generated": m["n_generated"],
        "fpd_error": m.get("fpd_error"),
        "observables": {k: {"ks": v["ks"], "w1_rel": v["w1_rel"]}
                        for k, v in m["observables"].items()},
        "jsd_per_observable": m.get("jsd_per_observable"),
        **{k: m[k] for k in PROFILE_METRICS if k in m},
        "blessed": res.blessing["blessed"],
        "failed": failed_checks(res.blessing),
        "thresholds": {c["metric"]: c["threshold"] for c in res.blessing["checks"]},
    })
    eb = m.get("energy_bins")
    if eb:
        out["energy_bins"] = {k: eb[k] for k in ("centre_gev", "sf_ratio", "resolution_ratio")}
    return out


# ---------------------------------------------------------------------------------------
# the evaluation
# ---------------------------------------------------------------------------------------


def evaluate_arrays(
    detector: Detector | str,
    real_showers: np.ndarray,
    real_conditions: np.ndarray,
    gen_showers: np.ndarray,
    real_weights: np.ndarray | None = None,
    config: EvaluateConfig | None = None,
    embed: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    gen_conditions: np.ndarray | None = None,
    gen_weights: np.ndarray | None = None,
) -> EvaluationResult:
    """Compare generated showers with real ones for the same conditions.

    Args:
        detector: detector spec or name.
        real_showers: (N, *shower_shape) real (Geant4 or data) showers, detector units.
        real_conditions: (N, n_conditions) their conditions, physical units; the generated
            showers were produced for these conditions.
        gen_showers: (N, *shower_shape) generated showers.
        real_weights: optional (N,) per-example weights (sWeights may be negative); all
            ones are treated as unweighted.
        config: evaluation configuration (defaults if None).
        embed: optional ``embed(showers, conditions) -> (N, D)`` feature map (a regressor's
            penultimate layer) for the Frechet Regression Distance.
        gen_conditions: conditions of the generated showers when they differ from
            ``real_conditions`` (e.g. comparing two halves of a real sample); default: the
            same conditions.
        gen_weights: optional (M,) weights of the generated showers. Default: when
            ``real_weights`` are given, the generated showers were made for the real
            conditions (no ``gen_conditions``) and ``config.weight_generated`` is on, each
            generated shower inherits its condition's weight; otherwise unweighted. Give
            them explicitly when comparing two weighted real samples (``gen_conditions``).

    Returns:
        EvaluationResult with metrics, blessing and plot arrays.

    Example:
        >>> res = evaluate_arrays("lhcb-ecal", real, cond, fake)   # doctest: +SKIP
        >>> res.metrics["prd_auc"], res.blessing["blessed"]        # doctest: +SKIP
    """
    cfg = config or EvaluateConfig()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=cfg.threads):
        return _evaluate(get_detector(detector), real_showers, real_conditions, gen_showers,
                         real_weights, cfg, embed, gen_conditions, gen_weights)


def _as_weights(weights: np.ndarray | None, n: int, what: str) -> np.ndarray | None:
    """float64 (n,) weights, or None for no weights or all ones (unweighted)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != n:
        raise ValueError(f"{len(w)} {what} weights for {n} showers")
    return None if np.allclose(w, 1.0) else w


def _evaluate(det, real_showers, real_conditions, gen_showers, real_weights, cfg, embed,
              gen_conditions, gen_weights=None) -> EvaluationResult:
    real = np.asarray(real_showers, dtype=np.float32)
    gen = np.asarray(gen_showers, dtype=np.float32)
    cond = np.asarray(real_conditions, dtype=np.float32)
    cond_g = cond if gen_conditions is None else np.asarray(gen_conditions, dtype=np.float32)
    if real.shape[1:] != gen.shape[1:] or len(cond) != len(real) or len(cond_g) != len(gen):
        raise ValueError(
            f"real showers {real.shape} with conditions {cond.shape} and generated showers "
            f"{gen.shape} with conditions {cond_g.shape} do not match"
        )
    w = _as_weights(real_weights, len(real), "real")
    if gen_weights is None and w is not None and gen_conditions is None and cfg.weight_generated:
        gen_weights = w  # each generated shower inherits its condition's sWeight
    wg = _as_weights(gen_weights, len(gen), "generated")
    rng = np.random.default_rng(cfg.seed)

    obs_r = physics.observables(det, real, cond)
    obs_g = physics.observables(det, gen, cond_g)
    per_obs = _observable_metrics(obs_r, obs_g, w, wg)

    # PRD and the classifiers on a random subset; weights enter the cluster histograms.
    sub = _subset(len(real), cfg.max_samples, rng)
    sub_g = _subset(len(gen), cfg.max_samples, rng)
    flat_r = real[sub].reshape(len(sub), -1)
    flat_g = gen[sub_g].reshape(len(sub_g), -1)
    xr, xg = _stack(obs_r)[sub], _stack(obs_g)[sub_g]
    wsub = None if w is None else w[sub]
    wsub_g = None if wg is None else wg[sub_g]
    prd_raw = M.prd_curve(flat_g, flat_r, num_runs=cfg.prd_runs, seed=cfg.seed,
                          eval_weights=wsub_g, ref_weights=wsub)
    prd_obs = M.prd_curve(xg, xr, num_runs=cfg.prd_runs, seed=cfg.seed, standardize=True,
                          eval_weights=wsub_g, ref_weights=wsub)
    auc_raw, auc_obs = float(M.prd_auc(*prd_raw)), float(M.prd_auc(*prd_obs))

    fpd, fpd_err = M.fpd(_stack(obs_r), _stack(obs_g), seed=cfg.seed, real_weights=w,
                         gen_weights=wg)
    frd = None
    if embed is not None:
        frd = float(M.frechet_distance(embed(real, cond), embed(gen, cond_g), w, wg))
    jsd, jsd_per = M.jsd_fidelity(obs_r, obs_g, bins=cfg.bins, real_weights=w, gen_weights=wg)
    with_cond = (cfg.classifier_conditions if cfg.classifier_conditions is not None
                 else det.kind == "tabular")
    clf_obs = float(M.classifier_auc_observables(
        xr, xg, real_weights=wsub, gen_weights=wsub_g, seed=cfg.seed,
        real_conditions=cond[sub] if with_cond else None,
        gen_conditions=cond_g[sub_g] if with_cond else None))
    clf_sh = None
    if cfg.classifier_showers:
        clf_sh = float(M.classifier_auc_showers(real[sub], gen[sub_g], real_weights=wsub,
                                                gen_weights=wsub_g, seed=cfg.seed))

    ebins = None
    if "sampling_fraction" in obs_r:
        ebins = energy_bin_metrics(physics.primary_energy_gev(det, cond), obs_r["sampling_fraction"],
                                   physics.primary_energy_gev(det, cond_g),
                                   obs_g["sampling_fraction"],
                                   cfg.energy_bins, cfg.min_bin_count, cfg.n_boot, cfg.seed)

    metrics = {
        "detector": det.name,
        "n_real": int(len(real)),
        "n_generated": int(len(gen)),
        "weighted": w is not None,
        "weighted_generated": wg is not None,
        "classifier_conditions": bool(with_cond),
        "seed": cfg.seed,
        "prd_auc_raw": auc_raw,
        "prd_auc_observables": auc_obs,
        "prd_auc": min(auc_raw, auc_obs),
        "fpd": float(fpd),
        "fpd_error": float(fpd_err),
        "frd": frd,
        "jsd_fidelity": float(jsd),
        "jsd_per_observable": {k: float(v) for k, v in dict(jsd_per).items()},
        "classifier_auc_observables": clf_obs,
        "classifier_auc_showers": clf_sh,
        "ks_max": max(v["ks"] for v in per_obs.values()),
        "w1_rel_max": max(v["w1_rel"] for v in per_obs.values()),
        "observables": per_obs,
        "energy_bins": ebins,
        "sf_ratio_max_deviation": _max_dev(ebins["sf_ratio"]) if ebins else None,
        "resolution_ratio_max_deviation": (
            _max_dev(ebins["resolution_ratio"]) if ebins else None),
        "resolution_ratio_mean_deviation": (
            _mean_dev(ebins["resolution_ratio"]) if ebins else None),
        **profile_deviations(det, real, gen, w, wg),
        "statistics": _statistics(w, wg, len(real), len(gen), len(sub), len(sub_g),
                                  len(per_obs), cfg.classifier_showers),
    }
    thresholds = thresholds_for(det, cfg)
    blessing = bless(metrics, thresholds)
    if cfg.baseline:
        metrics["baseline"] = _baseline(det, real, cond, w, cfg, embed)
        for c in blessing["checks"]:
            c["baseline"] = (metrics["baseline"] or {}).get(c["metric"])
    plots = {
        "observables_real": obs_r,
        "observables_gen": obs_g,
        "weights": w,
        "weights_gen": wg,
        "mean_real": _weighted_mean(real, w),
        "mean_gen": _weighted_mean(gen, wg),
        "prd_raw": prd_raw,
        "prd_observables": prd_obs,
        "energy_bins": ebins,
    }
    plots.update(_profiles(det, real, gen, w, wg))
    return EvaluationResult(metrics=metrics, blessing=blessing, plots=plots)


def _statistics(w: np.ndarray | None, wg: np.ndarray | None, n_r: int, n_g: int,
                sub_r: int, sub_g: int, n_obs: int, showers: bool) -> dict:
    """Sample sizes behind the statistical critical values (:mod:`tfcalo.evaluation.blessing`).

    Effective sizes are Kish's ``(sum w)^2 / sum w^2``; the classifiers are tested on the
    held-out half (``n - n // 2``) of their random subsets, scaled by the same efficiency.
    """
    eff_r, eff_g = B.kish(w, n_r), B.kish(wg, n_g)
    held = [(sub_r - sub_r // 2) * eff_r / max(n_r, 1), (sub_g - sub_g // 2) * eff_g / max(n_g, 1)]
    out = {"alpha": B.ALPHA, "n_eff_real": eff_r, "n_eff_generated": eff_g,
           "n_observables": int(n_obs), "classifier_auc_observables_test_sizes": held}
    if showers:
        out["classifier_auc_showers_test_sizes"] = held
    return out


def _weighted_mean(x: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    if w is None:
        return x.mean(axis=0)
    return np.tensordot(w, x, axes=1) / w.sum()


def _profiles(det: Detector, real: np.ndarray, gen: np.ndarray, w: np.ndarray | None,
              wg: np.ndarray | None = None) -> dict:
    """Mean longitudinal (cern-ecal) and radial (calorimeters) profiles for the plots."""
    out: dict = {}
    if det.kind == "tabular":
        return out
    if det.layer_axis is not None:
        out["longitudinal_real"] = _weighted_mean(physics.longitudinal_profile(real, det), w)
        out["longitudinal_gen"] = _weighted_mean(physics.longitudinal_profile(gen, det), wg)
    out["radial_real"] = _weighted_mean(physics.radial_profile(real, det), w)
    out["radial_gen"] = _weighted_mean(physics.radial_profile(gen, det), wg)
    return out


# ---------------------------------------------------------------------------------------
# generation speed
# ---------------------------------------------------------------------------------------


def measure_speed(
    sample: Callable[[np.ndarray, int], np.ndarray],
    detector: Detector | str,
    conditions: np.ndarray,
    config: SpeedConfig,
) -> dict:
    """Time generation in ms per shower at each configured batch size.

    Args:
        sample: ``sample(conditions (B, n_cond), batch_size) -> showers``.
        detector: detector (for the Geant4 reference time).
        conditions: pool of physical conditions (N, n_conditions), tiled to the batch size.
        config: batch sizes and repeats.

    Returns:
        ``{"batch": {str(B): {"ms_per_shower", "repeats"}}, "geant4_ms_per_shower",
        "geant4_note", "speedup": {str(B): factor}}``; the first call per batch size is an
        untimed warm-up; the reported figure is the median of the timed calls.
    """
    det = get_detector(detector)
    ref = GEANT4_MS_PER_SHOWER.get(det.name, {})
    g4 = ref.get("ms_per_shower")
    out: dict = {"batch": {}, "geant4_ms_per_shower": g4, "geant4_note": ref.get("note"),
                 "speedup": {}}
    conditions = np.asarray(conditions, dtype=np.float32)
    for batch, repeats in zip(config.batch_sizes, config.repeats, strict=True):
        reps = int(np.ceil(batch / len(conditions)))
        cond = np.tile(conditions, (reps, 1))[:batch]
        sample(cond, batch)  # warm-up: tracing, allocation
        times = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            sample(cond, batch)
            times.append(time.perf_counter() - t0)
        ms = 1000.0 * float(np.median(times)) / batch
        out["batch"][str(batch)] = {"ms_per_shower": ms, "repeats": max(1, repeats)}
        if g4:
            out["speedup"][str(batch)] = g4 / ms if ms > 0 else None
    return out


def config_dict(config: EvaluateConfig) -> dict:
    """The config as a JSON-ready dict (recorded in metrics.json)."""
    return dataclasses.asdict(config)
