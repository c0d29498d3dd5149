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
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tfcalo.atomic import check_output_dir
from tfcalo.config import apply_overrides, load_toml
from tfcalo.errors import ArtifactError, ConfigError, OutputExistsError, unknown_name

RUN_JSON = "run.json"
GENERATOR_WEIGHTS = "generator.weights.h5"
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


def merge_config(base: dict, update: dict) -> dict:
    """Deep-merge ``update`` into a copy of ``base`` (sections merge, values replace).

    Example:
        >>> merge_config({"optimizer": {"lr": 1.0, "beta": 0.5}}, {"optimizer": {"lr": 2.0}})
        {'optimizer': {'lr': 2.0, 'beta': 0.5}}
    """
    out = json.loads(json.dumps(base))
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = json.loads(json.dumps(value))
    return out


def resolve_config(
    model: str,
    detector: str,
    config: dict | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict:
    """The full config of a run: model defaults <- ``config`` <- TOML file <- overrides.

    Validated by :func:`tfcalo.models.resolve_config` (types, choices, unknown keys naming
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
    from tfcalo.models import MODEL_NAMES, default_config
    from tfcalo.models import resolve_config as validate

    if model not in MODEL_NAMES:
        raise unknown_name("model", model, MODEL_NAMES)
    resolved = default_config(model, detector)
    if config:
        resolved = merge_config(resolved, config)
    if config_file is not None:
        resolved = merge_config(resolved, load_toml(config_file))
    if overrides:
        resolved = merge_config(resolved, apply_overrides({}, list(overrides)))
    return to_dict(validate(model, detector, resolved))


# --------------------------------------------------------------------------------------
# run directory state
# --------------------------------------------------------------------------------------


def read_run(run_dir: str | Path) -> dict:
    """``run.json`` of a run directory (ArtifactError if missing or not JSON)."""
    path = Path(run_dir) / RUN_JSON
    if not path.is_file():
        raise ArtifactError(f"{run_dir} is not a trained run directory (no {RUN_JSON})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from None


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


def _prepare_out(out: Path, identity: dict, overwrite: bool, log: Log) -> dict | None:
    """Make ``out`` ready; return the previous record when resuming, else None."""
    state = run_state(out)
    if state == "new":
        return None
    if overwrite:
        log(f"removing the existing run in {out} (--overwrite)")
        shutil.rmtree(out)
        return None
    if state == "finished":
        raise OutputExistsError(
            f"run directory {out} already holds a finished run; pass --overwrite to replace it"
        )
    if state == "foreign":
        check_output_dir(out, overwrite=False)  # raises: not empty
    previous = read_run(out)
    for key, value in identity.items():
        if previous.get(key) != value:
            raise OutputExistsError(
                f"run directory {out} holds an unfinished run with a different '{key}'; "
                "pass --overwrite to start a new run there"
            )
    return previous


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------


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
    verbose: int = 2,
    tensorboard: bool = True,
    log: Log | None = None,
    callbacks: Sequence[Any] = (),
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
        overwrite: replace a finished (or different) run in ``out``.
        verbose: Keras ``fit`` verbosity (1 progress bar, 2 one line per epoch, 0 silent).
        tensorboard: write TensorBoard summaries.
        log: called with one-line progress messages (default: discarded).
        callbacks: extra Keras callbacks for ``fit`` (after the run's own).

    Returns:
        The final ``run.json`` record (dict).

    Raises:
        UnknownNameError, ConfigError, ArtifactError, OutputExistsError (user errors).
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
    previous = _prepare_out(out, identity, overwrite, log)
    out.mkdir(parents=True, exist_ok=True)
    backup_dir = out / "backup"
    resume_epoch = _backup_epoch(backup_dir) if previous is not None else 0
    if previous is not None:
        log(f"resuming the unfinished run in {out} from epoch {resume_epoch}")

    import keras

    from tfcalo.models import build
    from tfcalo.training.callbacks import EpochCheckpoint, GANTensorBoard, RunRecord, is_chief
    from tfcalo.training.strategy import get_strategy

    keras.utils.set_random_seed(int(seed))
    dist = get_strategy(strategy)
    with dist.scope():
        gan = build(model, detector.name, resolved, dataset.stats)
        gan.compile()
    latent_dim = int(gan.generator.latent_dim)

    record = dict(previous or {})
    record.update(identity)
    record.update({
        "stats": dataset.stats,
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
    recorder = RunRecord(out / RUN_JSON, record)
    recorder.write()

    n_train = dataset.count("train")
    steps = int(steps_per_epoch or max(1, n_train // batch_size))
    train_ds = dataset.tf_dataset(
        "train", batch_size, shuffle=True, seed=int(seed), repeat=True,
        weights=str(weights) if weights else None, drop_remainder=n_train >= batch_size,
    )
    if weighting == "resample":
        train_ds = resample(train_ds, batch_size, _max_weight(dataset, weights, data), int(seed))
    all_callbacks: list[keras.callbacks.Callback] = [
        recorder,  # before the backup: see RunRecord
        keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True,
                                         delete_checkpoint=False),
        EpochCheckpoint(out / "checkpoints", keep=3),
    ]
    if tensorboard:
        monitor = _monitor_batch(dataset, N_MONITOR)
        all_callbacks.append(GANTensorBoard(
            out / "tensorboard", detector, monitor["showers"], monitor["conditions"],
            config={"model": model, "detector": detector.name, **resolved}, seed=int(seed),
        ))
    log(f"training {model} on {detector.name} ({n_train} showers) for {epochs} epochs of "
        f"{steps} steps, batch {batch_size}, {dist.num_replicas_in_sync} replica(s) -> {out}")
    gan.fit(train_ds, epochs=epochs, steps_per_epoch=steps, verbose=verbose,
            callbacks=all_callbacks + list(callbacks), shuffle=False)

    if is_chief():
        gan.generator.save_weights(str(out / GENERATOR_WEIGHTS))
        gan.save_weights(str(out / MODEL_WEIGHTS))
    record["finished"] = True
    record["ended"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record["final"] = record["history"][-1] if record["history"] else {}
    recorder.write()
    shutil.rmtree(backup_dir, ignore_errors=True)
    log(f"finished {record['epochs_done']} epochs; run directory {out}")
    return record


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
