"""Model selection by physics: judge the generator on a fixed validation subset every N epochs
and keep the best epoch's weights (a GAN's losses do not say when it is good: seed 003; the
CaloChallenge GANs pick their epoch by a chi2 against Geant4).

The score of an epoch combines the fast physics metrics, each divided by its tolerance, so
that a score <= 1 means every tolerance is met (lower is better)::

    auc term = max(classifier AUC on observables - 0.5, 0) / auc_tolerance
    sf term  = max over energy bins |SF_gen / SF_real - 1| / sf_tolerance
    res term = max over energy bins |res_gen / res_real - 1| / resolution_tolerance
    profile term (volume detectors) = longitudinal profile deviation in the shower's bulk
               (:func:`tfcalo.metrics.profiles.profile_deviations`) / profile_tolerance
    shape term = max over the detector's SHAPE_MEANS |mean_gen / mean_real - 1| / shape_tolerance
    score    = max(auc term, sf term, res term, profile or shape term)

(res = sigma90 / mu90 of the sampling fraction). The defaults are the lhcb-ecal targets of
issue 12 (AUC <= 0.75, SF within 2 %, resolution within 20 %, the mean widths along and
across p_T and skewness along p_T within 5 %) and issue 13's profile and width tolerance
(5 %); a preset may set its own (``train.select_tolerances``, :func:`check_tolerances`).

:class:`PhysicsSelection` is the Keras callback; :func:`physics_scores` the pure function.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from tfcalo import physics
from tfcalo.atomic import atomic_write_text
from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ConfigError, nearest
from tfcalo.metrics.classifier import classifier_auc_observables
from tfcalo.metrics.profiles import profile_deviations
from tfcalo.metrics.resolution import binned_response

DEFAULT_TOLERANCES = {"auc": 0.25, "sf": 0.02, "resolution": 0.20, "profile": 0.05,
                      "shape": 0.05}
#: Observables whose means the shape term compares, per detector: lhcb-ecal's widths along
#: and across p_T and skewness along p_T (the skewness across p_T is zero on average by
#: symmetry: a ratio of means is noise there), cern-ecal's transverse widths.
SHAPE_MEANS = {"lhcb-ecal": ("width_along_pt", "width_across_pt", "skewness_along_pt"),
               "cern-ecal": ("width_x", "width_y")}
BEST_WEIGHTS = "best.generator.weights.h5"
SELECTION_JSON = "selection.json"
MIN_SHOWERS = 10


def check_tolerances(tolerances: dict | None) -> dict:
    """The selection's tolerances, :data:`DEFAULT_TOLERANCES` updated with ``tolerances``.

    Raises:
        ConfigError: an unknown key (naming the nearest) or a value that is not a positive
            number.
    """
    for key, value in (tolerances or {}).items():
        if key not in DEFAULT_TOLERANCES:
            raise ConfigError(f"model selection tolerance '{key}' is unknown (did you mean "
                              f"'{nearest(key, DEFAULT_TOLERANCES)}'? known: "
                              f"{', '.join(DEFAULT_TOLERANCES)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"model selection tolerance '{key}' must be a positive number, "
                              f"got {value!r}")
    return {**DEFAULT_TOLERANCES, **(tolerances or {})}


def physics_scores(detector: str | Detector, real: np.ndarray, conditions: np.ndarray,
                   generated: np.ndarray, *, n_bins: int = 5, min_count: int = 20,
                   tolerances: dict | None = None, seed: int = 0) -> dict[str, float]:
    """Fast physics metrics of ``generated`` against ``real`` showers of the same conditions.

    Args:
        detector: a calorimeter detector (lhcb-ecal, cern-ecal).
        real, generated: (N, *shower_shape) showers in the detector's energy unit, row i of
            both for ``conditions[i]``.
        conditions: (N, n_conditions) physical conditions.
        n_bins: log-spaced primary-energy bins for SF and resolution.
        min_count: bins with fewer showers are ignored.
        tolerances: {"auc", "sf", "resolution", "profile", "shape"} (defaults
            :data:`DEFAULT_TOLERANCES`).
        seed: classifier split seed.

    Returns:
        ``classifier_auc``, ``sf_max_deviation``, ``resolution_max_deviation``, for volume
        detectors ``longitudinal_profile_max_deviation``, for a detector with
        :data:`SHAPE_MEANS` ``shape_max_deviation`` (fractions) and ``score`` (see the
        module docstring; lower is better).
    """
    det = get_detector(detector)
    tol = check_tolerances(tolerances)
    c = np.asarray(conditions, np.float64)
    obs_real, obs_gen = physics.observables(det, real, c), physics.observables(det, generated, c)
    auc = classifier_auc_observables(obs_real, obs_gen, seed=seed)
    energy = physics.primary_energy_gev(det, c)
    lo, hi = float(energy.min()), float(energy.max())
    edges = np.geomspace(lo, hi * (1 + 1e-9), n_bins + 1) if hi > lo > 0 else np.array([lo, hi + 1])
    r = binned_response(energy, physics.sampling_fraction(det, real, c) * energy, edges)
    g = binned_response(energy, physics.sampling_fraction(det, generated, c) * energy, edges)
    keep = r["n"] >= min_count
    with np.errstate(divide="ignore", invalid="ignore"):
        sf_dev = np.abs(g["sf_mean"][keep] / r["sf_mean"][keep] - 1.0)
        res_dev = np.abs(g["resolution"][keep] / r["resolution"][keep] - 1.0)
    sf_max = float(np.nanmax(sf_dev)) if np.isfinite(sf_dev).any() else float("inf")
    res_max = float(np.nanmax(res_dev)) if np.isfinite(res_dev).any() else float("inf")
    terms = [max(auc - 0.5, 0.0) / tol["auc"], sf_max / tol["sf"], res_max / tol["resolution"]]
    out = {"classifier_auc": float(auc), "sf_max_deviation": sf_max,
           "resolution_max_deviation": res_max}
    if det.layer_axis is not None:
        dev = profile_deviations(det, real, generated).get("longitudinal_profile_max_deviation")
        if dev is not None:
            out["longitudinal_profile_max_deviation"] = dev
            terms.append(dev / tol["profile"])
    real_means = {k: float(np.mean(obs_real[k])) for k in SHAPE_MEANS.get(det.name, ())
                  if k in obs_real}
    shape = [abs(float(np.mean(obs_gen[k])) / m - 1.0) for k, m in real_means.items() if m != 0]
    if shape:
        out["shape_max_deviation"] = float(max(shape))
        terms.append(out["shape_max_deviation"] / tol["shape"])
    return {**out, "score": float(max(terms))}


class PhysicsSelection(keras.callbacks.Callback):
    """Score the generator every ``every`` epochs on a fixed validation subset; keep the best.

    Adds ``sel_classifier_auc``, ``sel_sf_max_deviation``, ``sel_resolution_max_deviation``,
    the profile or shape deviation (``sel_longitudinal_profile_max_deviation``,
    ``sel_shape_max_deviation``) and ``sel_score`` to the epoch's logs (put this callback
    BEFORE the run record and TensorBoard callbacks so they record them), saves the best
    epoch's generator weights to ``directory/best.generator.weights.h5`` and writes
    ``directory/selection.json`` (``best_epoch`` 1-based, ``best_score``, ``scores`` per
    scored epoch). A resumed run reads selection.json back, so the best of all epochs is
    kept.

    Args:
        detector: calorimeter detector.
        showers, conditions: the fixed validation subset (real showers, physical units).
        directory: where the best weights and selection.json go (the run directory).
        every: score every this many epochs (and always at the last epoch of ``fit``).
        seed: seed of the generated noise (the same showers' noise every epoch) and of the
            classifier split.
        tolerances, n_bins, min_count: see :func:`physics_scores` (both are lowered for
            small subsets: at most one bin per 20 showers). At least 10 showers.
        generate: ``generate(conditions) -> showers``; default ``model.generate(conditions,
            seed=seed)`` of the ConditionalGAN being trained.
        save: ``save(path)`` of the weights to keep; default ``model.generator.save_weights``.
    """

    def __init__(self, detector: str | Detector, showers: np.ndarray, conditions: np.ndarray,
                 directory: str | Path, every: int = 1, seed: int = 0,
                 tolerances: dict | None = None, n_bins: int = 5, min_count: int = 20,
                 generate: Callable[[np.ndarray], np.ndarray] | None = None,
                 save: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.detector = get_detector(detector)
        self.showers = np.asarray(showers, np.float32)
        self.conditions = np.asarray(conditions, np.float32)
        self.directory = Path(directory)
        self.every = max(1, int(every))
        self.seed = int(seed)
        self.tolerances = check_tolerances(tolerances)
        if len(self.showers) < MIN_SHOWERS:
            raise ValueError(f"model selection needs at least {MIN_SHOWERS} validation showers, "
                             f"got {len(self.showers)}")
        # small validation subsets (tests, tiny datasets): fewer bins, so that they are populated
        self.n_bins = max(1, min(int(n_bins), len(self.showers) // 20))
        self.min_count = min(int(min_count), max(3, len(self.showers) // (2 * self.n_bins)))
        self._generate, self._save = generate, save
        state = self.read(self.directory)
        self.best_epoch = state.get("best_epoch")
        self.best_score = state.get("best_score", float("inf"))
        self.scores = state.get("scores", {})

    @staticmethod
    def read(directory: str | Path) -> dict:
        """selection.json of a run directory ({} when there is none)."""
        path = Path(directory) / SELECTION_JSON
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._last_epoch = int(self.params.get("epochs", 0)) - 1 if self.params else -1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every and epoch != getattr(self, "_last_epoch", -1):
            return
        # a ConditionalGAN with a generator weight average is judged and kept averaged
        averaged = getattr(self.model, "averaged_generator", contextlib.nullcontext)
        with averaged():
            generate = self._generate or (lambda c: self.model.generate(c, seed=self.seed))
            fake = np.asarray(generate(self.conditions), np.float32)
            scores = physics_scores(self.detector, self.showers, self.conditions, fake,
                                    n_bins=self.n_bins, min_count=self.min_count,
                                    tolerances=self.tolerances, seed=self.seed)
            if scores["score"] < self.best_score:
                self.best_epoch, self.best_score = epoch + 1, scores["score"]
                self.directory.mkdir(parents=True, exist_ok=True)
                tmp = self.directory / f".{BEST_WEIGHTS}.tmp.weights.h5"
                (self._save or self.model.generator.save_weights)(str(tmp))
                os.replace(tmp, self.directory / BEST_WEIGHTS)
        if logs is not None:
            logs.update({f"sel_{k}": v for k, v in scores.items()})
        self.scores[str(epoch + 1)] = scores
        atomic_write_text(self.directory / SELECTION_JSON, json.dumps(
            {"best_epoch": self.best_epoch, "best_score": self.best_score,
             "tolerances": self.tolerances,
             "n_showers": len(self.showers), "scores": self.scores}, indent=2))
