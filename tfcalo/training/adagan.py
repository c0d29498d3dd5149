"""AdaGAN ensembles (seed 002; Tolstikhin et al. 2017): boosting weights and the mixture.

An ensemble is generators G_0..G_T with mixture weights beta (summing to 1). Sampling draws
a component index per shower from Cat(beta) and generates with that generator. After G_t is
trained, a classifier MIXDISC separates the real training data (label 1) from an equal number
of ensemble showers (label 0); its output D(X_i) on each training example gives the data
weights for the next generator:

    w_i = p_i / beta * (lambda* - (1 - beta) * (1 - D(X_i)) / D(X_i))_+ ,   p_i = 1/N,

with lambda* chosen so that sum_i w_i = 1. Examples the ensemble already covers (D ~ 1/2)
get small weights; examples it misses (D ~ 1) get large ones.

This module holds the numerics (numpy), the mixture generator (Keras) and the ensemble
artifact (:func:`assemble`); the pipeline's boost-weight and ensemble components wire them to
artifacts.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tfcalo.errors import ArtifactError, ConfigError

ENSEMBLE_FILE = "ensemble.json"


# --------------------------------------------------------------------------------------
# Boosting weights
# --------------------------------------------------------------------------------------


def boosting_weights(
    d: np.ndarray,
    beta: float,
    p: np.ndarray | None = None,
    tol: float = 1e-12,
) -> tuple[np.ndarray, float]:
    """AdaGAN data weights from the mixture discriminator's outputs.

    Args:
        d: (N,) MIXDISC probability that each training example is real, in (0, 1].
        beta: mixture weight of the next component, 0 < beta <= 1.
        p: (N,) empirical probabilities of the examples (default 1/N each); must sum to 1.
        tol: bisection tolerance on lambda*.

    Returns:
        (w, lambda_star): w (N,) non-negative weights summing to 1 (to 1e-9), and the
        normalisation lambda* found by bisection.

    Example:
        >>> w, lam = boosting_weights(np.array([0.5, 0.5, 0.9, 0.99]), beta=0.5)
        >>> round(float(w.sum()), 9)
        1.0
    """
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ConfigError(f"boosting weights need a non-empty 1-D array of D values, got shape {d.shape}")
    if not 0.0 < beta <= 1.0:
        raise ConfigError(f"ensemble beta must be in (0, 1], got {beta}")
    p = np.full(d.size, 1.0 / d.size) if p is None else np.asarray(p, dtype=np.float64)
    d = np.clip(d, 1e-12, 1.0)
    h = (1.0 - beta) * (1.0 - d) / d  # >= 0

    def total(lam: float) -> float:
        return float(np.sum(p / beta * np.maximum(lam - h, 0.0)))

    # total() is continuous and non-decreasing; total(min h) = 0 and total(beta + max h) >= 1.
    lo, hi = float(h.min()), float(h.max()) + beta
    while total(hi) < 1.0:  # numerical safety; mathematically not needed
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if total(mid) < 1.0:
            lo = mid
        else:
            hi = mid
        if hi - lo < tol:
            break
    lam = 0.5 * (lo + hi)
    w = p / beta * np.maximum(lam - h, 0.0)
    return w / w.sum(), lam


def next_beta(t: int, rule: str | float) -> float:
    """Mixture weight of component t (t >= 1): ``"1/(t+1)"`` or a fixed number in (0, 1)."""
    if isinstance(rule, str):
        if rule.replace(" ", "") != "1/(t+1)":
            raise ConfigError(f"unknown ensemble beta rule '{rule}'; use \"1/(t+1)\" or a number")
        return 1.0 / (t + 1)
    beta = float(rule)
    if not 0.0 < beta < 1.0:
        raise ConfigError(f"ensemble beta must be in (0, 1), got {beta}")
    return beta


def updated_mixture(betas: Sequence[float], beta_new: float) -> list[float]:
    """Mixture weights after adding a component of weight beta_new: (1-b)*old + [b]."""
    if not betas:
        return [1.0]
    return [b * (1.0 - beta_new) for b in betas] + [beta_new]


def mixdisc_features(detector, showers: np.ndarray, conditions: np.ndarray) -> np.ndarray:
    """Per-shower features MIXDISC classifies on: (N, F) float64.

    The detector's scalar observables (tfcalo.physics) plus the conditions, and for
    calorimeters the longitudinal (3D) and radial energy profiles as fractions of the total,
    so that the classifier sees energy scale, shape and condition dependence.
    """
    from tfcalo import physics
    from tfcalo.detectors import get_detector

    det = get_detector(detector)
    obs = physics.observables(det, showers, conditions)
    cols = [np.column_stack(list(obs.values())), np.asarray(conditions, np.float64)]
    if det.kind != "tabular":
        total = np.maximum(physics.total_energy(showers), 1e-12)[:, None]
        cols.append(physics.radial_profile(showers, det) / total)
        if det.layer_axis is not None:
            cols.append(physics.longitudinal_profile(showers, det) / total)
    return np.nan_to_num(np.concatenate(cols, axis=1))


def mixdisc_probabilities(
    real: np.ndarray,
    fake: np.ndarray,
    n_folds: int = 3,
    seed: int = 0,
    max_iter: int = 200,
    max_fit: int = 0,
) -> tuple[np.ndarray, float]:
    """Train MIXDISC (real = 1 vs ensemble = 0) and return D on every real example.

    The classifier is sklearn's HistGradientBoostingClassifier on per-shower features. Each
    real example's D comes from a model that did not see it (K-fold cross-fitting on the
    fitted examples; examples outside the fit subsample get the mean of the K models), so D
    measures coverage, not memorisation.

    Args:
        real: (N, F) features of the real training examples.
        fake: (M, F) features of showers drawn from the current ensemble.
        max_fit: fit on at most this many examples of each class (random subsample;
            0 = all). D is still returned for all N real examples.

    Returns:
        (d, auc): d (N,) in (0, 1), and the out-of-fold ROC AUC of the classifier (on the
        fitted examples).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)

    def folds(n: int) -> np.ndarray:  # fold per example; -1: not in the fit subsample
        fold = rng.integers(0, n_folds, n)
        if max_fit and n > max_fit:
            fold[rng.permutation(n)[max_fit:]] = -1
        return fold

    fold_real, fold_fake = folds(len(real)), folds(len(fake))
    d = np.zeros(len(real))
    d_fake = np.empty(len(fake))
    unfitted = fold_real < 0
    for k in range(n_folds):
        fit_r, fit_f = (fold_real >= 0) & (fold_real != k), (fold_fake >= 0) & (fold_fake != k)
        x = np.concatenate([real[fit_r], fake[fit_f]])
        y = np.concatenate([np.ones(fit_r.sum()), np.zeros(fit_f.sum())])
        clf = HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed + k,
                                             early_stopping=True, validation_fraction=0.15)
        clf.fit(x, y)
        d[fold_real == k] = clf.predict_proba(real[fold_real == k])[:, 1]
        d_fake[fold_fake == k] = clf.predict_proba(fake[fold_fake == k])[:, 1]
        if unfitted.any():
            d[unfitted] += clf.predict_proba(real[unfitted])[:, 1] / n_folds
    # Correct for unequal class sizes so D is the posterior at 1:1 priors.
    ratio = (fold_fake >= 0).sum() / (fold_real >= 0).sum()
    d = d * ratio / (d * ratio + (1 - d))
    scored_r, scored_f = fold_real >= 0, fold_fake >= 0
    auc = roc_auc_score(np.r_[np.ones(scored_r.sum()), np.zeros(scored_f.sum())],
                        np.r_[d[scored_r], d_fake[scored_f]])
    return np.clip(d, 1e-6, 1 - 1e-6), float(auc)


# --------------------------------------------------------------------------------------
# The mixture generator
# --------------------------------------------------------------------------------------


@functools.cache
def _mixture_class():
    import keras
    import tensorflow as tf

    from tfcalo.models.layers import call_nonempty

    class MixtureGenerator(keras.Model):
        """A mixture of conditional generators with weights beta, sampled in one graph.

        Called like any tfcalo generator: ``mixture([noise, conditions])`` with noise
        (B, latent_dim) standard normal and physical conditions (B, n_cond); returns physical
        showers (B, *shower_shape). ``latent_dim`` is the largest member's plus one: the last
        noise coordinate picks the component (u = Phi(z) against the cumulative betas), so
        the output is a deterministic function of the noise, as ``generate_from_noise``
        needs. Members see the first ``member.latent_dim`` coordinates.
        """

        def __init__(self, members: Sequence[keras.Model], betas: Sequence[float], **kwargs):
            super().__init__(**kwargs)
            if len(members) != len(betas) or not members:
                raise ConfigError("an ensemble needs one beta per member and at least one member")
            b = np.asarray(betas, dtype=np.float64)
            if np.any(b < 0) or abs(b.sum() - 1.0) > 1e-6:
                raise ConfigError(f"ensemble betas must be non-negative and sum to 1, got {list(betas)}")
            self.members = list(members)
            self.betas = [float(x) for x in b / b.sum()]
            self.latent_dim = max(int(m.latent_dim) for m in self.members) + 1
            self._cum = tf.constant(np.cumsum(self.betas)[:-1], dtype=tf.float32)
            self.built = True

        def component_index(self, noise):
            """(B,) int32 member index drawn by the last noise coordinate: the number of
            cumulative betas <= u (searchsorted side="right", written with ops that ONNX has)."""
            u = 0.5 * (1.0 + tf.math.erf(noise[:, -1] / np.sqrt(2.0)))
            return tf.reduce_sum(tf.cast(self._cum <= u[:, None], tf.int32), axis=1)

        def call(self, inputs, training=False):
            noise, conditions = inputs
            noise = tf.convert_to_tensor(noise, tf.float32)
            conditions = tf.convert_to_tensor(conditions, tf.float32)
            # Every batch size B >= 0 gives (B, *shower_shape): neither the partition below
            # nor any member ever sees an empty batch (call_nonempty pads and slices back).
            return call_nonempty(self._mix, noise, conditions)

        def _mix(self, noise, conditions):
            """Showers (B, ...) for B >= 1 rows: each member generates its partition."""
            idx = self.component_index(noise)
            positions = tf.dynamic_partition(tf.range(tf.shape(noise)[0]), idx, len(self.members))
            noises = tf.dynamic_partition(noise, idx, len(self.members))
            conds = tf.dynamic_partition(conditions, idx, len(self.members))
            outs = [
                call_nonempty(functools.partial(self._member, m), z, c)
                for m, z, c in zip(self.members, noises, conds, strict=True)
            ]
            return tf.dynamic_stitch(positions, outs)

        @staticmethod
        def _member(member, noise, conditions):
            z = noise[:, : int(member.latent_dim)]
            return tf.cast(member([z, conditions], training=False), tf.float32)

    return MixtureGenerator


def MixtureGenerator(members, betas, **kwargs):  # noqa: N802 (a class factory, used like a class)
    """Build a :class:`MixtureGenerator` (defined lazily so importing tfcalo stays TF-free)."""
    return _mixture_class()(members, betas, **kwargs)


# --------------------------------------------------------------------------------------
# Ensemble artifacts: ensemble.json listing member run dirs and betas
# --------------------------------------------------------------------------------------


def write_ensemble(out_dir: str | Path, members: Sequence[str | Path], betas: Sequence[float],
                   info: dict | None = None) -> dict:
    """Write ``ensemble.json`` into out_dir: member run dirs and their betas.

    Members are stored relative to ``out_dir`` (so a pipeline root can be moved or copied
    as a whole); :func:`read_ensemble` resolves them. Returns the record as written.
    """
    base = Path(out_dir).resolve()
    record = {
        "members": [os.path.relpath(Path(m).resolve(), base) for m in members],
        "betas": [float(b) for b in betas],
        **(info or {}),
    }
    Path(out_dir, ENSEMBLE_FILE).write_text(json.dumps(record, indent=2))
    return record


def read_ensemble(path: str | Path) -> dict:
    """Read ``ensemble.json`` from an ensemble artifact directory; ``members`` come back as
    absolute paths (relative entries are resolved against the artifact directory)."""
    f = Path(path) / ENSEMBLE_FILE
    if not f.is_file():
        raise ArtifactError(f"{path} is not an ensemble artifact (no {ENSEMBLE_FILE})")
    try:
        record = json.loads(f.read_text())
        record["members"] = [str((Path(path) / m).resolve()) for m in record["members"]]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ArtifactError(f"{f} is not a valid ensemble record (needs members and betas)") from None
    return record


def assemble(out_dir: str | Path, model_dir: str | Path, previous: str | Path | None = None,
             beta: float = 1.0, log: Callable[[str], None] | None = None) -> dict:
    """Write the ensemble ``previous`` + [``model_dir``] into ``out_dir``.

    The new member gets mixture weight ``beta`` and the previous members share ``1 - beta``
    (:func:`updated_mixture`); without ``previous`` the model is the only member (beta 1).
    ``out_dir`` gets ``ensemble.json`` and a ``run.json`` (``model: "ensemble"``, the
    detector, data, stats and seed of ``model_dir``'s run record, members and betas), so that
    evaluate, export and generate treat the ensemble like any trained model.

    Returns:
        ``{"size": number of members, "betas": mixture weights}``.
    """
    from tfcalo.training.run_record import RUN_JSON, read_run

    members, betas = [], []
    if previous is not None:
        rec = read_ensemble(previous)
        members, betas = rec["members"], rec["betas"]
    else:
        beta = 1.0
    info = read_run(model_dir, required=("detector",))
    members = [*members, str(Path(model_dir).resolve())]
    betas = updated_mixture(betas, beta)
    record = write_ensemble(out_dir, members, betas)
    run = {"model": "ensemble", "detector": info["detector"], "data": info.get("data"),
           "stats": info.get("stats"), "members": record["members"], "betas": betas,
           "seed": info.get("seed")}
    (Path(out_dir) / RUN_JSON).write_text(json.dumps(run, indent=2))
    if log is not None:
        log(f"ensemble of {len(members)} generators, betas {[round(b, 4) for b in betas]}")
    return {"size": len(members), "betas": betas}


def load_mixture(path: str | Path, load_member: Callable[[str], object] | None = None):
    """Rebuild the mixture generator of an ensemble artifact (members via load_generator)."""
    record = read_ensemble(path)
    if load_member is None:
        from tfcalo.training.build import load_generator as load_member
    members = [load_member(m) for m in record["members"]]
    return MixtureGenerator(members, record["betas"]), record
