"""Physics validation of a generator: every metric of the report, and the blessing.

The library function :func:`evaluate_arrays` takes arrays only (real test showers, their
conditions and weights, and generated showers for the same conditions), so it needs no model
and is what the tests exercise with real-vs-real and deliberately broken comparisons. The
evaluate component generates the showers with a :class:`tfcalo.sampling.Sampler`, calls it,
and hands the result to :mod:`tfcalo.report`.

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
  ``sf_ratio_max_deviation`` = max |ratio - 1| and ``resolution_ratio_max_deviation``.
- ``speed`` (added by :func:`measure_speed`): ms per shower at batch 1, 100, 10000 and the
  speed-up over the Geant4 reference of :data:`GEANT4_MS_PER_SHOWER`.

The blessing compares scalar metrics with thresholds (``>=`` for PRD-AUC, ``<=`` for the
distances); defaults per detector live in :data:`DEFAULT_THRESHOLDS`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tfcalo import metrics as M
from tfcalo import physics
from tfcalo.config import from_dict
from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ConfigError, nearest

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
}

#: Thresholds that a decent model passes and a broken one (energy scale off by 10 %,
#: wrong shapes) fails. Users override them in the evaluate config (``thresholds``).
DEFAULT_THRESHOLDS: dict[str, dict[str, float]] = {
    "lhcb-ecal": {
        "prd_auc": 0.5,
        "classifier_auc_observables": 0.75,
        "ks_max": 0.2,
        "sf_ratio_max_deviation": 0.05,
        "resolution_ratio_max_deviation": 0.5,
    },
    "cern-ecal": {
        "prd_auc": 0.5,
        "classifier_auc_observables": 0.75,
        "ks_max": 0.2,
        "sf_ratio_max_deviation": 0.05,
        "resolution_ratio_max_deviation": 0.5,
    },
    "rich-pid": {
        "classifier_auc_observables": 0.65,
        "ks_max": 0.15,
    },
}


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
        prd_runs: k-means clusterings averaged per PRD curve (the papers use 10).
        threads: cap on the OpenMP/BLAS threads of the metrics (None: library default;
            1 avoids oversubscription, which slows k-means tenfold on a busy machine).
        thresholds: metric name -> threshold overriding the detector defaults.
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
    prd_runs: int = 10
    threads: int | None = None
    thresholds: dict = field(default_factory=dict)
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
        for name in ("batch_size", "bins", "energy_bins", "max_samples", "prd_runs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"config key '{name}' must be at least 1")
        if self.limit is not None and self.limit < 2:
            raise ConfigError("config key 'limit' must be at least 2")


def load_config(data: dict | None = None) -> EvaluateConfig:
    """Validate a plain dict (TOML ``[evaluate]`` table) into :class:`EvaluateConfig`."""
    return from_dict(EvaluateConfig, dict(data or {}), "")


def thresholds_for(detector: Detector | str, config: EvaluateConfig) -> dict[str, float]:
    """The detector's default thresholds updated with the config's overrides."""
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


def _observable_metrics(real: dict, gen: dict, wr: np.ndarray | None) -> dict:
    out = {}
    for name in real:
        a, b = np.asarray(real[name], float), np.asarray(gen[name], float)
        wa = None if wr is None else wr
        ra = np.average(a, weights=wa) if wa is not None else a.mean()
        rs = np.sqrt(max(np.average((a - ra) ** 2, weights=wa), 0.0)) if wa is not None else a.std()
        w1 = float(M.wasserstein1(a, b, wa, None))
        out[name] = {
            "ks": float(M.ks_statistic(a, b, wa, None)),
            "w1": w1,
            "w1_rel": w1 / rs if rs > 0 else 0.0,
            "real_mean": float(ra),
            "real_std": float(rs),
            "gen_mean": float(b.mean()),
            "gen_std": float(b.std()),
        }
    return out


def energy_bin_metrics(
    energy_r: np.ndarray,
    sf_r: np.ndarray,
    energy_g: np.ndarray,
    sf_g: np.ndarray,
    n_bins: int,
    min_count: int,
) -> dict:
    """Sampling fraction and resolution (mu90, sigma90) per log-spaced primary-energy bin.

    Args:
        energy_r, sf_r: (N,) primary energy (GeV) and sampling fraction (visible/primary)
            of the real showers (unweighted: the calorimeter detectors carry no sWeights).
        energy_g, sf_g: (M,) the same for the generated showers (binned with the same edges).
        n_bins: number of log-spaced bins between the smallest and largest real energy.
        min_count: bins with fewer real or generated showers are left out.

    Returns:
        ``edges_gev`` (all n_bins+1 edges) and lists per kept bin: ``centre_gev``,
        ``count_real``, ``count_gen``, ``sf_real``, ``sf_gen`` (mean sampling fractions),
        ``sf_ratio`` (gen/real), ``mu90_real``/``_gen``, ``resolution_real``/``_gen``
        (sigma90/mu90 of the sampling fraction) and ``resolution_ratio``.
    """
    lo, hi = float(np.min(energy_r)), float(np.max(energy_r))
    edges = (np.geomspace(lo, hi * (1 + 1e-9), n_bins + 1) if hi > lo > 0
             else np.array([lo, hi + 1.0]))
    r = M.binned_response(energy_r, sf_r * energy_r, edges)
    g = M.binned_response(energy_g, sf_g * energy_g, edges)
    keep = (r["n"] >= min_count) & (g["n"] >= min_count)
    with np.errstate(divide="ignore", invalid="ignore"):
        sf_ratio = g["sf_mean"] / r["sf_mean"]
        res_ratio = g["resolution"] / r["resolution"]
    cols = {
        "centre_gev": np.sqrt(edges[:-1] * edges[1:]) if lo > 0 else r["bin_centres"],
        "count_real": r["n"], "count_gen": g["n"],
        "sf_real": r["sf_mean"], "sf_gen": g["sf_mean"], "sf_ratio": sf_ratio,
        "mu90_real": r["mu90"], "mu90_gen": g["mu90"],
        "resolution_real": r["resolution"], "resolution_gen": g["resolution"],
        "resolution_ratio": res_ratio,
    }
    out: dict = {k: [v.item() for v in np.asarray(c)[keep]] for k, c in cols.items()}
    out["edges_gev"] = [float(e) for e in edges]
    return out


def _max_dev(values: Sequence[float]) -> float | None:
    vals = [abs(v - 1.0) for v in values if np.isfinite(v)]
    return float(max(vals)) if vals else None


def bless(metrics: dict, thresholds: dict[str, float]) -> dict:
    """Compare metrics with thresholds.

    Returns ``{"blessed": bool, "checks": [{metric, value, threshold, op, passed}]}``; a
    metric that was not computed (None/missing) fails its check.
    """
    checks = []
    for name, threshold in thresholds.items():
        op = METRIC_OPS[name]
        value = metrics.get(name)
        if value is None:
            passed = False
        else:
            passed = value >= threshold if op == ">=" else value <= threshold
        checks.append({"metric": name, "value": value, "threshold": float(threshold),
                       "op": op, "passed": bool(passed)})
    return {"blessed": bool(checks) and all(c["passed"] for c in checks), "checks": checks}


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
                         real_weights, cfg, embed, gen_conditions)


def _evaluate(det, real_showers, real_conditions, gen_showers, real_weights, cfg, embed,
              gen_conditions) -> EvaluationResult:
    real = np.asarray(real_showers, dtype=np.float32)
    gen = np.asarray(gen_showers, dtype=np.float32)
    cond = np.asarray(real_conditions, dtype=np.float32)
    cond_g = cond if gen_conditions is None else np.asarray(gen_conditions, dtype=np.float32)
    if real.shape[1:] != gen.shape[1:] or len(cond) != len(real) or len(cond_g) != len(gen):
        raise ValueError(
            f"real showers {real.shape} with conditions {cond.shape} and generated showers "
            f"{gen.shape} with conditions {cond_g.shape} do not match"
        )
    w = None
    if real_weights is not None:
        w = np.asarray(real_weights, dtype=np.float64)
        if np.allclose(w, 1.0):
            w = None
    rng = np.random.default_rng(cfg.seed)

    obs_r = physics.observables(det, real, cond)
    obs_g = physics.observables(det, gen, cond_g)
    per_obs = _observable_metrics(obs_r, obs_g, w)

    # PRD on a random subset (unweighted: PRD is defined on samples).
    sub = _subset(len(real), cfg.max_samples, rng)
    sub_g = _subset(len(gen), cfg.max_samples, rng)
    flat_r = real[sub].reshape(len(sub), -1)
    flat_g = gen[sub_g].reshape(len(sub_g), -1)
    xr, xg = _stack(obs_r)[sub], _stack(obs_g)[sub_g]
    prd_raw = M.prd_curve(flat_g, flat_r, num_runs=cfg.prd_runs, seed=cfg.seed)
    prd_obs = M.prd_curve(xg, xr, num_runs=cfg.prd_runs, seed=cfg.seed, standardize=True)
    auc_raw, auc_obs = float(M.prd_auc(*prd_raw)), float(M.prd_auc(*prd_obs))

    fpd, fpd_err = M.fpd(_stack(obs_r), _stack(obs_g), seed=cfg.seed)
    frd = None
    if embed is not None:
        frd = float(M.frechet_distance(embed(real, cond), embed(gen, cond_g)))
    jsd, jsd_per = M.jsd_fidelity(obs_r, obs_g, bins=cfg.bins, real_weights=w)
    wsub = None if w is None else w[sub]
    clf_obs = float(M.classifier_auc_observables(xr, xg, real_weights=wsub, seed=cfg.seed))
    clf_sh = None
    if cfg.classifier_showers:
        clf_sh = float(M.classifier_auc_showers(real[sub], gen[sub_g], real_weights=wsub,
                                                seed=cfg.seed))

    ebins = None
    if "sampling_fraction" in obs_r:
        ebins = energy_bin_metrics(physics.primary_energy_gev(det, cond), obs_r["sampling_fraction"],
                                   physics.primary_energy_gev(det, cond_g),
                                   obs_g["sampling_fraction"],
                                   cfg.energy_bins, cfg.min_bin_count)

    metrics = {
        "detector": det.name,
        "n_real": int(len(real)),
        "n_generated": int(len(gen)),
        "weighted": w is not None,
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
    }
    thresholds = thresholds_for(det, cfg)
    blessing = bless(metrics, thresholds)
    plots = {
        "observables_real": obs_r,
        "observables_gen": obs_g,
        "weights": w,
        "mean_real": _weighted_mean(real, w),
        "mean_gen": gen.mean(axis=0),
        "prd_raw": prd_raw,
        "prd_observables": prd_obs,
        "energy_bins": ebins,
    }
    plots.update(_profiles(det, real, gen, w))
    return EvaluationResult(metrics=metrics, blessing=blessing, plots=plots)


def _weighted_mean(x: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    if w is None:
        return x.mean(axis=0)
    return np.tensordot(w, x, axes=1) / w.sum()


def _profiles(det: Detector, real: np.ndarray, gen: np.ndarray, w: np.ndarray | None) -> dict:
    """Mean longitudinal (cern-ecal) and radial (calorimeters) profiles for the plots."""
    out: dict = {}
    if det.kind == "tabular":
        return out
    if det.layer_axis is not None:
        out["longitudinal_real"] = _weighted_mean(physics.longitudinal_profile(real, det), w)
        out["longitudinal_gen"] = physics.longitudinal_profile(gen, det).mean(axis=0)
    out["radial_real"] = _weighted_mean(physics.radial_profile(real, det), w)
    out["radial_gen"] = physics.radial_profile(gen, det).mean(axis=0)
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
