"""Train a model on a dataset artifact into a run directory (the library behind ``tfcalo train``).

:func:`train_run` resolves the config (model defaults, then a TOML file, then ``key=value``
overrides), builds the GAN under a ``tf.distribute`` strategy, streams the dataset artifact,
and writes the run directory of docs/internals.md ("Trained run directory"):

- ``run.json``: ``model``, ``detector``, ``config`` (full resolved), ``stats`` (the dataset's
  stats.json), ``data`` {path, content_hash}, ``seed``, ``latent_dim``, ``epochs`` (asked),
  ``epochs_done``, ``history`` (one dict of losses per epoch), ``finished`` and more;
  rewritten after every epoch.
- ``generator.weights.h5`` and ``model.weights.h5`` (whole GAN) when training finishes.
- ``checkpoints/epoch-XXXX.weights.h5`` after every epoch (the newest three).
- ``backup/``: ``keras.callbacks.BackupAndRestore`` state; present while unfinished.
- ``tensorboard/``: see :class:`tfcalo.training.callbacks.GANTensorBoard`.

A run directory that holds an unfinished run of the same model, config and data is resumed
from its backup (a killed process is simply started again); a finished one is refused
unless ``overwrite``. TensorFlow is imported only when training starts.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tfcalo.atomic import atomic_write_text, check_not_input, replace_dir
from tfcalo.config import apply_overrides, deep_merge, load_toml
from tfcalo.errors import (
    ArtifactError,
    ConfigError,
    OutputConflictError,
    OutputExistsError,
    TfcaloError,
    TrainingDivergedError,
    unknown_name,
)
from tfcalo.training.run_record import GENERATOR_WEIGHTS, RUN_JSON, read_run

LAST_GENERATOR_WEIGHTS = "last.generator.weights.h5"  # with model selection: the last epoch's
MODEL_WEIGHTS = "model.weights.h5"
DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 64
#: Validation showers used for the TensorBoard images and observable histograms.
N_MONITOR = 256
WEIGHTINGS = ("loss", "resample")

Log = Callable[[str], None]


# --------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------


def resolve_config(
    model: str,
    detector: str,
    config: dict | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict:
    """The full config of a run: model defaults <- ``config`` <- TOML file <- overrides.

    Validated by :func:`tfcalo.training.build.resolve_config` (types, choices, unknown keys naming
    the nearest valid key) and returned as the complete nested dict.

    Args:
        model: model name (``2dgan``, ``sagan``, ``cramer``).
        detector: detector name (defaults and valid models depend on it).
        config: a (partial) nested config dict, e.g. a component parameter.
        config_file: a TOML file with (partial) config sections.
        overrides: dotted ``key=value`` strings (``--set optimizer.generator_lr=1e-3``).

    Raises:
        UnknownNameError: unknown model. ConfigError: unknown key, bad file or value, or a
        model that does not support the detector.
    """
    from tfcalo.config import to_dict
    from tfcalo.training.build import MODEL_NAMES, default_config
    from tfcalo.training.build import resolve_config as validate

    if model not in MODEL_NAMES:
        raise unknown_name("model", model, MODEL_NAMES)
    resolved = default_config(model, detector)
    if config:
        resolved = deep_merge(resolved, config)
    if config_file is not None:
        resolved = deep_merge(resolved, load_toml(config_file))
    if overrides:
        resolved = deep_merge(resolved, apply_overrides({}, list(overrides)))
    resolved = to_dict(validate(model, detector, resolved))
    check_config_values(resolved)
    return resolved


#: Config keys (last part of the dotted name) that count things and must be at least 1.
_POSITIVE_INT_KEYS = ("latent_dim", "critic_steps", "filters", "hidden", "seed_channels",
                      "critic_dim")
#: Keys whose numbers must lie in [0, 1).
_FRACTION_KEYS = ("beta_1", "beta_2", "dropout")


def check_config_values(config: dict, where: str = "") -> None:
    """Refuse values no model can train with (ConfigError naming the dotted key): NaN or
    infinite numbers, sizes below 1, learning rates and scales that are not positive, betas
    and dropout outside [0, 1), negative loss weights and seeds."""
    for key, value in config.items():
        name = f"{where}.{key}" if where else key
        if isinstance(value, dict):
            check_config_values(value, name)
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            problem = None
            if not math.isfinite(v):
                problem = "a finite number"
            elif key in _POSITIVE_INT_KEYS and v < 1:
                problem = "at least 1"
            elif key.endswith("_lr") and v <= 0:
                problem = "a positive learning rate"
            elif key in _FRACTION_KEYS and not 0 <= v < 1:
                problem = "in [0, 1)"
            elif (key.endswith("_weight") or key in ("seed", "aux_clip", "scale")) and v < 0:
                problem = "zero or positive"
            elif key == "power" and v <= 0:
                problem = "positive"
            if problem:
                raise ConfigError(f"config key '{name}' must be {problem}, got {v!r}")


# --------------------------------------------------------------------------------------
# run directory state
# --------------------------------------------------------------------------------------


def run_state(run_dir: str | Path) -> str:
    """``"new"`` (missing or empty), ``"finished"``, ``"unfinished"`` or ``"foreign"``.

    "unfinished" means a run.json with ``finished`` false (its backup/ resumes it);
    "foreign" is a non-empty directory without run.json.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
        return "new"
    if not (run_dir / RUN_JSON).is_file():
        return "foreign"
    return "finished" if read_run(run_dir).get("finished") else "unfinished"


def _prepare_out(out: Path, identity: dict, overwrite: bool,
                 log: Log) -> tuple[dict | None, bool]:
    """Check ``out``; return ``(previous record when resuming, replace)``.

    ``replace`` is True when ``overwrite`` asks to replace an existing run: the new run is
    then trained in a sibling directory and moved over ``out`` only once finished. A
    non-empty directory without run.json is never replaced.
    """
    state = run_state(out)
    if state == "new":
        return None, False
    if state == "foreign":
        if not out.is_dir():
            raise OutputExistsError(f"output {out} exists and is not a directory")
        raise OutputConflictError(
            f"output directory {out} is not empty and is not a tfcalo run directory (no "
            f"{RUN_JSON}), so neither resuming nor --overwrite may use it; choose another output")
    if overwrite:
        log(f"replacing the existing run in {out} once the new one has finished (--overwrite)")
        return None, True
    if state == "finished":
        raise OutputExistsError(
            f"run directory {out} already holds a finished run; pass --overwrite to replace it"
        )
    previous = read_run(out)
    for key, value in identity.items():
        if previous.get(key) != value:
            raise OutputExistsError(
                f"run directory {out} holds an unfinished run with a different '{key}'; "
                "pass --overwrite to start a new run there"
            )
    return previous, False


def _resume_replacement(work: Path, identity: dict) -> dict | None:
    """The record of an interrupted ``--overwrite`` run in ``work`` with the same identity
    (it is resumed), else None after clearing ``work``."""
    try:
        previous = read_run(work) if run_state(work) == "unfinished" else None
    except ArtifactError:
        previous = None
    if previous is not None and all(previous.get(k) == v for k, v in identity.items()):
        return previous
    if work.exists():
        shutil.rmtree(work)
    return None


def _remove_run(work: Path, keep_dir: bool) -> None:
    """Delete what a failed fresh run wrote (keep an empty ``work`` that existed before)."""
    if not work.exists():
        return
    if not keep_dir:
        shutil.rmtree(work, ignore_errors=True)
        return
    for child in work.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _user_error(exc: Exception, data: str | Path) -> TfcaloError | None:
    """A one-sentence tfcalo error for a failure the user's data caused, else None."""
    if isinstance(exc, TfcaloError):
        return exc
    import re

    name = type(exc).__name__
    found = re.search(r"(corrupted|truncated) record at \d+", str(exc))
    if name == "DataLossError" or found:
        where = f" ({found.group(0)})" if found else ""
        return ArtifactError(f"dataset {data} has a truncated or corrupt shard{where}; ingest "
                             "it again")
    missing = re.search(r"weights artifact .* has no weight for some example index", str(exc))
    if missing:  # the assertion of Dataset.tf_dataset (NaN or absent weights)
        return ArtifactError(missing.group(0).splitlines()[0] + " (or a NaN weight)")
    return None


def _non_finite_guard() -> Any:
    """Keras callback that stops ``fit`` with TrainingDivergedError at the first batch whose
    losses are NaN or infinite (before that epoch's backup or checkpoint is written)."""
    import keras
    import numpy as np

    class NonFiniteGuard(keras.callbacks.TerminateOnNaN):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch

        def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
            bad = sorted(k for k, v in (logs or {}).items() if "loss" in k
                         and np.ndim(v) == 0 and not np.isfinite(float(v)))
            if bad:
                self.model.stop_training = True
                raise TrainingDivergedError(
                    f"training diverged: {', '.join(bad)} became NaN or infinite in epoch "
                    f"{self.epoch + 1} (batch {batch + 1}); lower the learning rates or check "
                    "the data for extreme values")

    return NonFiniteGuard()


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------


#: Training showers whose observables stand in for the ingest-time target statistics of a
#: dataset ingested before they were recorded.
N_TARGET_SAMPLE = 4096


def with_target_stats(dataset: Any, config: dict, log: Log | None = None) -> dict:
    """The dataset's stats, completed with the robust statistics of the regression targets.

    ``config["discriminator"]["aux_targets"]`` (SAGAN) need their median and IQR in
    ``stats["observables"]`` (written at ingest). For a dataset ingested before they were
    recorded, they are computed here from :data:`N_TARGET_SAMPLE` training showers (a
    shuffled stream, seed 0) and added to a copy of the stats (run.json records them).
    """
    stats = dict(dataset.stats)
    names = list((config.get("discriminator") or {}).get("aux_targets") or [])
    known = stats.get("observables") or {}
    missing = [n for n in names if n not in known]
    if not missing:
        return stats
    import numpy as np

    from tfcalo import physics

    showers, conditions = [], []
    n = min(N_TARGET_SAMPLE, dataset.count("train"))
    for s, c, _ in dataset.tf_dataset("train", 512, shuffle=True, seed=0).as_numpy_iterator():
        showers.append(s)
        conditions.append(c)
        if sum(len(x) for x in showers) >= n:
            break
    showers_a, conditions_a = np.concatenate(showers)[:n], np.concatenate(conditions)[:n]
    values = physics.regression_targets(dataset.detector, showers_a, conditions_a, missing)
    stats["observables"] = {**known, **physics.observable_stats(
        {name: values[:, i] for i, name in enumerate(missing)})}
    if log is not None:
        log(f"the dataset has no robust statistics of {', '.join(missing)} (ingested by an "
            f"older tfcalo): computed them from {n} training showers")
    return stats


def _monitor_batch(dataset: Any, n: int) -> dict:
    split = "val" if dataset.count("val") > 0 else "train"
    return dataset.load(split, limit=n)


def _versions() -> dict:
    import keras
    import tensorflow as tf

    import tfcalo

    return {"tfcalo": tfcalo.__version__, "tensorflow": tf.__version__, "keras": keras.__version__}


def train_run(
    data: str | Path,
    model: str,
    out: str | Path,
    *,
    config: dict | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    epochs: int | None = None,
    seed: int | None = None,
    strategy: str = "auto",
    weights: str | Path | None = None,
    weighting: str = "loss",
    batch_size: int | None = None,
    steps_per_epoch: int | None = None,
    overwrite: bool = False,
    verbose: int = 0,
    tensorboard: bool = True,
    log: Log | None = None,
    callbacks: Sequence[Any] = (),
    select_every: int = 0,
    select_n: int = 2000,
    select_tolerances: dict | None = None,
) -> dict:
    """Train ``model`` on the dataset artifact ``data`` into the run directory ``out``.

    Args:
        data: canonical dataset artifact directory (``tfcalo data ingest`` output).
        model: ``2dgan``, ``sagan`` or ``cramer``.
        out: run directory (created; resumed if it holds an unfinished run).
        config, config_file, overrides: see :func:`resolve_config`.
        epochs: epochs to train in total (default 10; a resumed run trains the rest).
        seed: seeds weights, noise and shuffling (default: the config's ``seed``, else 0);
            on one device the same seed gives the same weights.
        strategy: ``auto``, ``default``, ``mirrored`` or ``multi-worker``.
        weights: optional weights artifact (sWeights/boosting) replacing the stored weights.
        weighting: how the weights enter training: ``loss`` (weighted losses,
            sum(w*l)/sum(w); negative weights allowed) or ``resample`` (examples kept with
            probability w / max(w), then trained with weight 1; weights must be >= 0).
        batch_size: GLOBAL batch size (all replicas), default 64.
        steps_per_epoch: batches per epoch (the data repeat); default one pass over the
            training split (``n_train // batch_size``, at least 1).
        overwrite: replace a finished (or different) run in ``out``: the new run trains in
            the sibling ``.<out>.overwrite`` (an interrupted one there is resumed) and
            replaces ``out`` only once finished. A directory that is not a run, or that is,
            contains or lies inside ``data``, ``weights`` or ``config_file``, is refused.
        verbose: Keras ``fit`` verbosity on stdout (0 silent, the default: progress goes
            through ``log``, one line per epoch; 1 a progress bar for terminals).
        tensorboard: write TensorBoard summaries.
        log: called with one-line progress messages (default: discarded).
        callbacks: extra Keras callbacks for ``fit`` (after the run's own).
        select_every: model selection by physics (:mod:`tfcalo.training.selection`): every
            this many epochs, score the generator on ``select_n`` showers of the validation
            split (the training split if there is none) and keep the best epoch; the run's
            ``generator.weights.h5`` is then the best epoch's (the last epoch's is kept as
            ``last.generator.weights.h5``) and run.json records ``selection``. 0: off.
        select_n: size of the fixed validation subset of the selection.
        select_tolerances: the selection score's tolerances over its defaults
            (:func:`tfcalo.training.selection.check_tolerances`).

    Returns:
        The final ``run.json`` record (dict).

    Raises:
        UnknownNameError, ConfigError, ArtifactError, OutputExistsError (user errors);
        TrainingDivergedError when a loss becomes NaN or infinite. A fresh run that fails
        before its first backup leaves nothing behind; later it stays resumable.
    """
    log = log or (lambda message: None)
    if epochs is not None and epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {epochs}")
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    if weighting not in WEIGHTINGS:
        raise unknown_name("weighting", weighting, WEIGHTINGS)
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ConfigError(f"steps per epoch must be at least 1, got {steps_per_epoch}")
    from tfcalo.data.dataset import Dataset
    from tfcalo.detectors import get_detector

    dataset = Dataset.open(data)
    detector = get_detector(dataset.detector)
    resolved = resolve_config(model, detector.name, config, config_file, overrides)
    if seed is None:
        seed = int(resolved.get("seed", 0))
    if "seed" in resolved:
        resolved["seed"] = int(seed)
    epochs = int(epochs or DEFAULT_EPOCHS)
    batch_size = int(batch_size or DEFAULT_BATCH_SIZE)
    if dataset.count("train") < 1:
        raise ArtifactError(f"dataset {data} has no training examples")

    out = Path(out)
    identity = {
        "model": model,
        "detector": detector.name,
        "config": resolved,
        "data": {"path": str(Path(data).resolve()), "content_hash": dataset.content_hash},
        "seed": int(seed),
        "weights": str(Path(weights).resolve()) if weights else None,
        "weighting": weighting,
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
    }
    check_not_input(out, [data, weights, config_file])
    previous, replace = _prepare_out(out, identity, overwrite, log)
    # --overwrite trains into a sibling directory that replaces ``out`` only once complete
    work = out.parent / f".{out.name}.overwrite" if replace else out
    if replace:
        previous = _resume_replacement(work, identity)
    fresh = previous is None
    existed = work.exists()
    work.mkdir(parents=True, exist_ok=True)
    try:
        backup_dir = work / "backup"
        resume_epoch = (restore_point(backup_dir, work / "checkpoints", log)
                        if previous is not None else 0)
        if previous is not None:
            log(f"resuming the unfinished run in {out} from epoch {resume_epoch}")

        import keras

        from tfcalo.training.build import build
        from tfcalo.training.callbacks import EpochCheckpoint, GANTensorBoard, RunRecord, is_chief
        from tfcalo.training.strategy import get_strategy

        stats = with_target_stats(dataset, resolved, log)
        keras.utils.set_random_seed(int(seed))
        dist = get_strategy(strategy)
        with dist.scope():
            gan = build(model, detector.name, resolved, stats)
            gan.compile()
        latent_dim = int(gan.generator.latent_dim)

        record = dict(previous or {})
        record.update(identity)
        record.update({
            "stats": stats,
            "latent_dim": latent_dim,
            "epochs": epochs,
            "strategy": strategy,
            "replicas": int(dist.num_replicas_in_sync),
            "finished": False,
            "versions": _versions(),
            "history": list(record.get("history", [])),
            "epochs_done": int(record.get("epochs_done", 0)),
            "resumed_from": list(record.get("resumed_from", [])) + ([resume_epoch] if previous else []),
            "started": record.get("started") or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
        recorder = RunRecord(work / RUN_JSON, record, log=log)
        recorder.write()

        n_train = dataset.count("train")
        steps = int(steps_per_epoch or max(1, n_train // batch_size))
        train_ds = dataset.tf_dataset(
            "train", batch_size, shuffle=True, seed=int(seed), repeat=True,
            weights=str(weights) if weights else None, drop_remainder=n_train >= batch_size,
        )
        if weighting == "resample":
            train_ds = resample(train_ds, batch_size, _max_weight(dataset, weights, data), int(seed))
        selection = _selection_callback(dataset, detector, work, select_every, select_n, seed,
                                        select_tolerances)
        all_callbacks: list[keras.callbacks.Callback] = [
            _non_finite_guard(),  # first: a NaN step stops before anything is saved
            *([selection] if selection is not None else []),  # its scores go into the record
            *_decay_callback(gan, epochs),  # before the record too: it logs lr_factor
            recorder,  # before the backup: see RunRecord
            keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True,
                                             delete_checkpoint=False),
            EpochCheckpoint(work / "checkpoints", keep=3),
        ]
        if tensorboard:
            monitor = _monitor_batch(dataset, N_MONITOR)
            all_callbacks.append(GANTensorBoard(
                work / "tensorboard", detector, monitor["showers"], monitor["conditions"],
                config={"model": model, "detector": detector.name, **resolved}, seed=int(seed),
            ))
        if gan.aux is not None and gan.aux.get("mode") == "two-step":
            _two_step_regressor(gan, train_ds, resolved, resume_epoch, record, log)
        log(f"training {model} on {detector.name} ({n_train} showers) for {epochs} epochs of "
            f"{steps} steps, batch {batch_size}, {dist.num_replicas_in_sync} replica(s) -> {out}")
        gan.fit(train_ds, epochs=epochs, steps_per_epoch=steps, verbose=verbose,
                callbacks=all_callbacks + list(callbacks), shuffle=False)

        if is_chief():
            with gan.averaged_generator():  # what is exported (optimizer.generator_ema)
                gan.generator.save_weights(str(work / GENERATOR_WEIGHTS))
            gan.save_weights(str(work / MODEL_WEIGHTS))
            if selection is not None and selection.best_epoch is not None:
                from tfcalo.training.selection import BEST_WEIGHTS

                os.replace(work / GENERATOR_WEIGHTS, work / LAST_GENERATOR_WEIGHTS)
                shutil.copyfile(work / BEST_WEIGHTS, work / GENERATOR_WEIGHTS)
                record["selection"] = {"best_epoch": selection.best_epoch,
                                       "best_score": selection.best_score, "every": select_every,
                                       "n_showers": len(selection.showers)}
                log(f"model selection: epoch {selection.best_epoch} has the best physics score "
                    f"({selection.best_score:.3g}); generator.weights.h5 is that epoch's")
        record["finished"] = True
        record["ended"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        record["final"] = record["history"][-1] if record["history"] else {}
        recorder.write()
        shutil.rmtree(backup_dir, ignore_errors=True)
        if work != out:
            replace_dir(work, out)
        log(f"finished {record['epochs_done']} epochs; run directory {out}")
    except Exception as exc:
        if fresh and _backup_epoch(work / "backup") == 0:  # nothing to resume: leave nothing
            _remove_run(work, keep_dir=existed and work == out)
        mapped = _user_error(exc, data)
        if mapped is None:
            raise
        raise mapped from None
    return record


def _decay_callback(gan, epochs: int) -> list:
    """[LearningRateDecay] when ``optimizer.lr_decay_from`` < 1, else []."""
    from tfcalo.training.callbacks import LearningRateDecay

    oc = getattr(gan, "optimizer_config", {}) or {}
    start = float(oc.get("lr_decay_from", 1.0))
    return [LearningRateDecay(epochs, start, float(oc.get("lr_final", 0.1)))] if start < 1 else []


def _selection_callback(dataset: Any, detector: Any, work: Path, every: int, n: int,
                        seed: int, tolerances: dict | None = None) -> Any:
    """The :class:`PhysicsSelection` callback of a run (None when ``every`` is 0)."""
    if not every:
        return None
    if every < 1 or n < 1:
        raise ConfigError(f"model selection needs select_every >= 0 and select_n >= 1, got "
                          f"{every} and {n}")
    if detector.kind == "tabular":
        raise ConfigError(f"model selection by physics needs a calorimeter, not {detector.name}")
    from tfcalo.training.selection import MIN_SHOWERS, PhysicsSelection

    split = "val" if dataset.count("val") >= MIN_SHOWERS else "train"
    subset = dataset.load(split, limit=n)
    if len(subset["showers"]) < MIN_SHOWERS:
        raise ArtifactError(f"model selection needs at least {MIN_SHOWERS} showers in the "
                            f"validation or training split of {dataset.path}")
    return PhysicsSelection(detector, subset["showers"], subset["conditions"], work,
                            every=every, seed=seed, tolerances=tolerances)


def _two_step_regressor(gan: Any, train_ds: Any, config: dict, resume_epoch: int, record: dict,
                        log: Log) -> None:
    """Two-step SAGAN (seeds 000/001): pretrain the critic's shared trunk and regressor on
    the standardised targets, then freeze them, so that ``fit`` trains the adversarial head
    (hinge) only. A resumed run restores the pretrained, frozen trunk from its backup."""
    if resume_epoch > 0:
        gan.freeze_regressor(True)
        return
    steps = int(config["discriminator"]["aux_pretrain_steps"])
    loss = gan.pretrain_regressor(train_ds, steps, freeze=True)
    record["aux_pretrain"] = {"steps": steps, "final_mse": loss}
    log(f"two-step: regressor pretrained for {steps} steps (standardised MSE {loss:.3g}); "
        "trunk and regressor frozen")


def _max_weight(dataset: Any, weights: str | Path | None, data: str | Path) -> float:
    """Largest training weight (for resampling); ConfigError if any weight is negative."""
    if weights is not None:
        from tfcalo.data.dataset import read_weights

        values = read_weights(weights)[1]
        lo, hi = (float(values.min()), float(values.max())) if len(values) else (1.0, 1.0)
        where = weights
    else:
        w = dataset.stats.get("weights", {})
        lo, hi, where = float(w.get("min", 1.0)), float(w.get("max", 1.0)), data
    if lo < 0 or hi <= 0:
        raise ConfigError(f"weighting 'resample' needs non-negative weights, but {where} has "
                          f"weights down to {lo:g}; use weighting 'loss'")
    return hi


def resample(batched: Any, batch_size: int, w_max: float, seed: int) -> Any:
    """Turn weighted batches into unweighted ones by rejection sampling.

    Each example of the (repeated) stream is kept with probability ``w / w_max`` (a
    stateless uniform keyed by ``seed`` and its position) and gets weight 1.

    Args:
        batched: ``tf.data`` of ``(showers, conditions, weights)`` batches.
        batch_size: size of the output batches (always full).
        w_max: the largest weight (> 0).
        seed: resampling seed.
    """
    import tensorflow as tf

    def keep(i, example):
        u = tf.random.stateless_uniform([], seed=tf.stack([tf.constant(seed, tf.int64), i]))
        return u * w_max < example[2]

    ds = batched.unbatch().enumerate().filter(keep)
    ds = ds.map(lambda i, ex: (ex[0], ex[1], tf.ones_like(ex[2])))
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


BACKUP_WEIGHTS = "latest.weights.h5"  # keras.callbacks.BackupAndRestore's file names
BACKUP_METADATA = "training_metadata.json"


def _h5_readable(path: Path) -> bool:
    """True if HDF5 file ``path`` opens and every dataset in it reads back (a file torn by a
    full disk or a kill during the write does not)."""
    import h5py

    def read(_name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            obj[()]

    try:
        with h5py.File(path, "r") as f:
            f.visititems(read)
    except Exception:  # noqa: BLE001 - h5py raises OSError, RuntimeError, KeyError...
        return False
    return True


def _metadata_epoch(path: Path) -> int | None:
    try:
        epoch = json.loads(path.read_text())["epoch"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 \
        else None


def restore_point(backup_dir: Path, checkpoints: Path, log: Log) -> int:
    """Make ``backup_dir`` hold a state that loads, and return its epoch (0: start over).

    Candidates, the most epochs first: the backup (``latest.weights.h5`` +
    ``training_metadata.json``), its previous copy (``.bkp`` of both, kept by
    ``BackupAndRestore(double_checkpoint=True)``) and the epoch checkpoints (whole GAN,
    written by rename, so never torn). The first whose weights file reads back completely
    wins; if it is not the backup itself, it is copied into place (one log line). If every
    candidate is damaged, the backup is removed and training starts again from epoch 1 (one
    log line).
    """
    from tfcalo.training.callbacks import EpochCheckpoint

    latest, meta = backup_dir / BACKUP_WEIGHTS, backup_dir / BACKUP_METADATA
    candidates: list[tuple[int, int, Path, str]] = []  # (epoch, preference, weights, label)
    for rank, (weights, metadata, label) in enumerate((
            (latest, meta, "the latest backup"),
            (latest.with_name(latest.name + ".bkp"), meta.with_name(meta.name + ".bkp"),
             "the previous backup"))):
        epoch = _metadata_epoch(metadata) if weights.is_file() else None
        if weights.is_file() or metadata.is_file():
            candidates.append((-1 if epoch is None else epoch, -rank, weights, label))
    for path in sorted(Path(checkpoints).glob("epoch-*.weights.h5")):
        try:
            epoch = int(path.name.split("-")[1].split(".")[0])
        except (IndexError, ValueError):
            continue
        if path == EpochCheckpoint.path_for(checkpoints, epoch):
            candidates.append((epoch, -2, path, f"checkpoint {path.name}"))
    if not candidates:
        return 0
    for epoch, _, weights, label in sorted(candidates, reverse=True):
        if epoch < 1 or not _h5_readable(weights):
            continue
        if weights != latest:
            tmp = backup_dir / f".restore-{os.getpid()}.weights.h5"
            backup_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(weights, tmp)
            os.replace(tmp, latest)
            atomic_write_text(meta, json.dumps({"epoch": epoch, "batch": 0}))
            log(f"the latest training backup in {backup_dir} is damaged or incomplete; "
                f"resuming from {label} (epoch {epoch}) instead")
        return epoch
    shutil.rmtree(backup_dir, ignore_errors=True)
    log(f"the training backup in {backup_dir} is damaged and no earlier copy reads back; "
        "training starts again from epoch 1")
    return 0


def _backup_epoch(backup_dir: Path) -> int:
    """The epoch BackupAndRestore will restore (0 when there is no usable backup)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = backup_dir / name
        if path.is_file():
            try:
                return int(json.loads(path.read_text())["epoch"])
            except (ValueError, KeyError, TypeError):
                continue
    return 0
