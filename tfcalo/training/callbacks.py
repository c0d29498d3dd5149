"""Keras callbacks for GAN training: per-epoch checkpoints, the run record, TensorBoard.

- :class:`EpochCheckpoint` saves the whole model's weights (networks and optimizer states)
  after every epoch into ``checkpoints/epoch-XXXX.weights.h5`` (atomic rename).
- :class:`RunRecord` keeps ``run.json`` current: ``epochs_done`` and per-epoch ``history``
  (and reports each finished epoch's losses in one line to an optional ``log``).
- :class:`LearningRateDecay` lowers every optimizer's learning rate linearly over the last
  epochs (``optimizer.lr_decay_from``, ``optimizer.lr_final``).
- :class:`GANTensorBoard` writes, with ``tf.summary``: the losses and every other metric the
  model's ``train_step`` returns (gradient norms included), the learning rate of every
  optimizer, real and generated showers as images (lhcb-ecal: the 30x30 image; cern-ecal:
  the xy and xz projections and the longitudinal (layer) profile; rich-pid: histograms of
  the DLLs), histograms of physics observables of a fixed validation batch, real and
  generated, and the run's config as text.

Fault tolerance itself is ``keras.callbacks.BackupAndRestore`` (see
:func:`tfcalo.training.run.train_run`). Under a multi-worker strategy only the chief writes.
"""

from __future__ import annotations

import io
import json
import math
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfcalo.atomic import atomic_write_text
from tfcalo.detectors import Detector, get_detector
from tfcalo.training.objectives import global_weight_sum

ObservablesFn = Callable[[Detector, np.ndarray, np.ndarray], dict]


def is_chief() -> bool:
    """True unless TF_CONFIG names this process a non-chief worker of a multi-worker job."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError:
        return True
    task = cfg.get("task", {})
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    if kind == "chief":
        return True
    has_chief = "chief" in cfg.get("cluster", {})
    return kind == "worker" and index == 0 and not has_chief


def optimizers_of(model: keras.Model) -> dict[str, keras.optimizers.Optimizer]:
    """The distinct optimizers a (GAN) model holds as attributes, by attribute name.

    ``ConditionalGAN`` keeps one optimizer per player (e.g. ``g_optimizer``,
    ``d_optimizer``); a plain model has only ``model.optimizer``.
    """
    found: dict[str, keras.optimizers.Optimizer] = {}
    seen: set[int] = set()
    for name, value in sorted(vars(model).items()):
        if isinstance(value, keras.optimizers.Optimizer) and id(value) not in seen:
            name = name.strip("_")
            if name != "optimizer":
                found[name] = value
                seen.add(id(value))
    opt = getattr(model, "optimizer", None)
    if isinstance(opt, keras.optimizers.Optimizer) and id(opt) not in seen:
        found["optimizer"] = opt
    return found


def learning_rate(opt: keras.optimizers.Optimizer) -> float:
    """The current learning rate of ``opt`` (a schedule is evaluated at the current step)."""
    return float(keras.ops.convert_to_numpy(opt.learning_rate))


def gradient_norms(gan: keras.Model, showers: np.ndarray, conditions: np.ndarray,
                   weights: np.ndarray | None = None) -> dict[str, float]:
    """Global L2 norms of the critic's and the generator's loss gradients on one batch.

    For a :class:`tfcalo.training.gan.ConditionalGAN` (``generator``, ``discriminator``,
    ``objective``, ``draw``, ``fakes``): the losses are the objective's weighted means over the given
    batch, with the networks in inference mode and the noise of the model's current step.
    Used when ``train_step`` does not report gradient norms itself.

    Returns:
        ``{"d_grad_norm": float, "g_grad_norm": float}``.
    """
    real = tf.constant(showers, tf.float32)
    cond = tf.constant(conditions, tf.float32)
    w = tf.ones(len(showers)) if weights is None else tf.constant(weights, tf.float32)
    den = global_weight_sum(w)  # the train step's denominator (never ~0 or negative)
    gen, critic, objective = gan.generator, gan.discriminator, gan.objective

    def rand(kind, c, dim):
        return gan.draw(kind, c, dim, 0)

    def fakes():  # the model's own (latent, independent latent2) pair, as in train_step
        return gan.fakes(cond, 0, training=False)

    fake, fake2 = fakes()
    d_vars = critic.trainable_variables
    with tf.GradientTape() as tape:
        d_loss = objective.critic_loss(critic, real, fake, cond, w, den, rand, fake2,
                                       training=False)[0]
    d_norm = tf.linalg.global_norm([g for g in tape.gradient(d_loss, d_vars) if g is not None])
    g_vars = gen.trainable_variables
    with tf.GradientTape() as tape:
        fake, fake2 = fakes()
        g_loss = objective.generator_loss(critic, real, fake, cond, w, den, fake2,
                                          training=False)[0]
    g_norm = tf.linalg.global_norm([g for g in tape.gradient(g_loss, g_vars) if g is not None])
    return {"d_grad_norm": float(d_norm), "g_grad_norm": float(g_norm)}


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the model's weights after every epoch: ``directory/epoch-XXXX.weights.h5``.

    ``XXXX`` is the number of epochs done (1-based). The file is written to a temporary name
    and renamed, so a kill never leaves a truncated checkpoint; only the newest ``keep`` are
    kept (all if ``keep`` is None).
    """

    def __init__(self, directory: str | Path, keep: int | None = 3) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.keep = keep

    @staticmethod
    def path_for(directory: str | Path, epochs_done: int) -> Path:
        return Path(directory) / f"epoch-{epochs_done:04d}.weights.h5"

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not is_chief():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.path_for(self.directory, epoch + 1)
        tmp = final.with_name(f".tmp-{uuid.uuid4().hex[:8]}.weights.h5")
        self.model.save_weights(str(tmp))
        os.replace(tmp, final)
        if self.keep is not None:
            old = sorted(self.directory.glob("epoch-*.weights.h5"))[: -self.keep or None]
            for path in old:
                path.unlink(missing_ok=True)


def decay_factor(epoch: int, epochs: int, start: float, final: float) -> float:
    """The learning-rate factor of 0-based ``epoch`` of ``epochs``: 1 up to epoch
    ``round(start * (epochs - 1))``, then linear down to ``final`` at the last epoch."""
    last = max(epochs - 1, 0)
    first = int(round(start * last))
    if epoch <= first or last == first:
        return 1.0
    return 1.0 + (final - 1.0) * (min(epoch, last) - first) / (last - first)


class LearningRateDecay(keras.callbacks.Callback):
    """Set every optimizer's learning rate to its configured value times
    :func:`decay_factor` at the start of each epoch, and log the factor as ``lr_factor``.

    The configured rates are the optimizers' when fit attaches the callback (``set_model``,
    before BackupAndRestore restores anything), so whatever the optimizers were compiled
    with; the rate then depends on the epoch's index alone, so a resumed run carries on the
    same schedule.
    """

    def __init__(self, epochs: int, start: float, final: float):
        super().__init__()
        self.epochs, self.start, self.final = int(epochs), float(start), float(final)
        self.factor = 1.0
        self._base: dict[str, float] | None = None

    def set_model(self, model):
        super().set_model(model)
        if self._base is None:  # a second fit with this callback keeps the first rates
            self._base = {name: learning_rate(opt) for name, opt in optimizers_of(model).items()}

    def on_epoch_begin(self, epoch, logs=None):
        self.factor = decay_factor(epoch, self.epochs, self.start, self.final)
        for name, opt in optimizers_of(self.model).items():
            opt.learning_rate = self._base[name] * self.factor

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr_factor"] = self.factor


def _jsonable(logs: dict | None) -> dict[str, float]:
    out = {}
    for key, value in (logs or {}).items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out


class RunRecord(keras.callbacks.Callback):
    """Keep ``run.json`` current after every epoch (atomic rewrite).

    ``record`` is the run's dict (see docs/internals.md, "Trained run directory"); this
    callback maintains its ``epochs_done`` and ``history`` (one dict of floats per epoch,
    with key ``epoch`` 1-based). On a resumed run, entries beyond the epoch restored from
    the backup are dropped before new ones are appended, so ``len(history) == epochs_done``.

    Put it BEFORE ``keras.callbacks.BackupAndRestore`` in the callback list: run.json is
    then written before the backup of the same epoch, so a kill between the two leaves a
    history that covers the backup's epoch (the extra entry is dropped on resume) rather
    than one that misses it.
    """

    def __init__(self, path: str | Path, record: dict, log=None) -> None:
        super().__init__()
        self.path = Path(path)
        self.record = record
        self.log = log  # called with one line per finished epoch (losses), if given
        self.record.setdefault("history", [])
        self.record.setdefault("epochs_done", 0)
        self._started = False

    def write(self) -> None:
        if is_chief():
            atomic_write_text(self.path, json.dumps(self.record, indent=2, sort_keys=True))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if not self._started:  # the first epoch of this fit = the epoch restored from backup
            self._started = True
            self.record["history"] = self.record["history"][:epoch]
            self.record["epochs_done"] = epoch
            self.write()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        entry = {"epoch": epoch + 1, **_jsonable(logs)}
        self.record["history"] = self.record["history"][:epoch] + [entry]
        self.record["epochs_done"] = epoch + 1
        self.write()
        if self.log is not None:
            total = self.record.get("epochs", "?")
            losses = ", ".join(f"{k} {v:.4g}" for k, v in sorted(entry.items()) if k != "epoch")
            self.log(f"epoch {epoch + 1}/{total}: {losses}")


# --------------------------------------------------------------------------------------
# TensorBoard
# --------------------------------------------------------------------------------------


def _scalar_tag(key: str) -> str:
    """TensorBoard group of a train_step log: gradients/, losses/ (``*loss*`` and the
    ``d_*``/``g_*`` loss terms) or metrics/."""
    if "grad" in key:
        return f"gradients/{key}"
    if "loss" in key or key.startswith(("d_", "g_")):
        return f"losses/{key}"
    return f"metrics/{key}"


def _log_image(x: np.ndarray) -> np.ndarray:
    """Energies to [0, 1] display values: log(1 + E), the scale set by the whole stack."""
    x = np.log1p(np.clip(np.nan_to_num(x), 0.0, None))
    top = x.max()
    return x / top if top > 0 else x


def shower_images(detector: Detector, real: np.ndarray, fake: np.ndarray) -> dict[str, np.ndarray]:
    """Image summaries of paired real and generated showers.

    Args:
        detector: the detector spec (image2d or volume3d; tabular returns {}).
        real, fake: ``(k, *detector.shower_shape)`` showers in the detector's energy unit;
            row i of each has the same conditions.

    Returns:
        ``{tag: (k, H, W, 1) float32 in [0, 1]}``; real and generated of one pair share one
        log colour scale, so intensities compare. Tags: ``showers/real``,
        ``showers/generated`` (lhcb-ecal, rows = y); ``showers_xy/...`` (sum over layers,
        rows = y) and ``showers_xz/...`` (sum over y, rows = x, columns = layer) for
        cern-ecal.
    """
    views: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if detector.kind == "image2d":
        views["showers"] = (real, fake)
    elif detector.kind == "volume3d":
        views["showers_xy"] = (real.sum(axis=3).transpose(0, 2, 1), fake.sum(axis=3).transpose(0, 2, 1))
        views["showers_xz"] = (real.sum(axis=2), fake.sum(axis=2))
    out: dict[str, np.ndarray] = {}
    for name, (r, f) in views.items():
        pairs = [_log_image(np.stack([a, b])) for a, b in zip(r, f, strict=True)]
        stack = np.stack(pairs).astype(np.float32)  # (k, 2, H, W)
        out[f"{name}/real"] = stack[:, 0, :, :, None]
        out[f"{name}/generated"] = stack[:, 1, :, :, None]
    return out


def _figure_to_image(fig) -> np.ndarray:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return tf.image.decode_png(buf.getvalue(), channels=4).numpy()[None]


def layer_profile_image(real: np.ndarray, fake: np.ndarray, unit: str) -> np.ndarray:
    """Plot of the mean energy per layer, real vs generated, as a (1, H, W, 4) uint8 image.

    ``real``, ``fake``: ``(N, x, y, layer)`` showers.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    layers = np.arange(real.shape[-1])
    ax.step(layers, real.sum(axis=(1, 2)).mean(axis=0), where="mid", label="real")
    ax.step(layers, fake.sum(axis=(1, 2)).mean(axis=0), where="mid", label="generated")
    ax.set_xlabel("layer")
    ax.set_ylabel(f"mean energy per layer [{unit}]")
    ax.legend()
    fig.tight_layout()
    return _figure_to_image(fig)


class GANTensorBoard(keras.callbacks.Callback):
    """TensorBoard summaries of a conditional GAN (see the module docstring for the list).

    Args:
        log_dir: summary directory (``run_dir/tensorboard``).
        detector: detector name or spec.
        val_showers: ``(N, *shower_shape)`` fixed real showers (physical units).
        val_conditions: ``(N, n_conditions)`` their conditions; the generator is called on
            these with fixed noise each epoch.
        config: the run's resolved config, written once as text.
        seed: seed of the fixed noise.
        n_images: showers shown as images per epoch.
        update_freq: also write batch-level scalars every this many batches (None: only per
            epoch). Batch-level steps are the first optimizer's iteration count.
        observables_fn: ``(detector, showers, conditions) -> {name: (N,) array}``; defaults
            to :func:`tfcalo.physics.observables`.
        grad_norms: when the epoch logs have no ``*grad*`` entry, write
            :func:`gradient_norms` of the first 64 validation showers as
            ``gradients/monitor_{d,g}_grad_norm`` (needs a ConditionalGAN-like model).
        generator_attr: attribute of the model holding the generator.

    Example:
        >>> cb = GANTensorBoard("run/tensorboard", "lhcb-ecal", val["showers"],
        ...                     val["conditions"], config=cfg)   # doctest: +SKIP
        >>> gan.fit(ds, epochs=3, callbacks=[cb])                 # doctest: +SKIP
    """

    def __init__(
        self,
        log_dir: str | Path,
        detector: str | Detector,
        val_showers: np.ndarray,
        val_conditions: np.ndarray,
        config: dict | None = None,
        seed: int = 0,
        n_images: int = 4,
        update_freq: int | None = None,
        observables_fn: ObservablesFn | None = None,
        generator_attr: str = "generator",
        grad_norms: bool = True,
    ) -> None:
        super().__init__()
        self.log_dir = str(log_dir)
        self.detector = get_detector(detector)
        self.val_showers = np.asarray(val_showers, dtype=np.float32)
        self.val_conditions = np.asarray(val_conditions, dtype=np.float32)
        self.config = config
        self.seed = seed
        self.n_images = n_images
        self.update_freq = update_freq
        self._observables_fn = observables_fn
        self.generator_attr = generator_attr
        self.grad_norms = grad_norms
        self._writer = None
        self._noise: np.ndarray | None = None
        self._real_obs: dict | None = None

    # -- helpers -------------------------------------------------------------------------
    @property
    def writer(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def _observables(self, showers: np.ndarray, conditions: np.ndarray) -> dict:
        fn = self._observables_fn
        if fn is None:
            from tfcalo.physics import observables as fn
        return fn(self.detector, showers, conditions)

    def generate(self, batch_size: int = 256) -> np.ndarray:
        """Generated showers for the validation conditions with the fixed noise (numpy)."""
        gen = getattr(self.model, self.generator_attr)
        if self._noise is None:
            rng = np.random.default_rng(self.seed)
            shape = (len(self.val_conditions), int(gen.latent_dim))
            self._noise = rng.standard_normal(shape).astype(np.float32)
        parts = []
        for start in range(0, len(self.val_conditions), batch_size):
            sl = slice(start, start + batch_size)
            out = gen([self._noise[sl], self.val_conditions[sl]], training=False)
            parts.append(keras.ops.convert_to_numpy(out))
        return np.concatenate(parts).astype(np.float32)

    def _step(self) -> int:
        opts = list(optimizers_of(self.model).values())
        return int(keras.ops.convert_to_numpy(opts[0].iterations)) if opts else 0

    # -- callback hooks ------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        if not is_chief() or self.config is None:
            return
        text = "```\n" + json.dumps(self.config, indent=2, sort_keys=True) + "\n```"
        with self.writer.as_default():
            tf.summary.text("config", text, step=int(getattr(self.model, "_initial_epoch", 0) or 0))
        self.writer.flush()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self.update_freq or (batch + 1) % self.update_freq or not is_chief():
            return
        step = self._step()
        with self.writer.as_default():
            for key, value in _jsonable(logs).items():
                tf.summary.scalar(f"batch_{_scalar_tag(key)}", value, step=step)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not is_chief():
            return
        step = epoch + 1
        fake = self.generate()
        with self.writer.as_default():
            values = _jsonable(logs)
            for key, value in values.items():
                tf.summary.scalar(_scalar_tag(key), value, step=step)
            if self.grad_norms and not any("grad" in key for key in values):
                norms = gradient_norms(self.model, self.val_showers[:64], self.val_conditions[:64])
                for key, value in norms.items():
                    tf.summary.scalar(f"gradients/monitor_{key}", value, step=step)
            for name, opt in optimizers_of(self.model).items():
                tf.summary.scalar(f"learning_rate/{name}", learning_rate(opt), step=step)
            self._write_showers(fake, step)
            self._write_observables(fake, step)
        self.writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- summaries -----------------------------------------------------------------------
    def _write_showers(self, fake: np.ndarray, step: int) -> None:
        det, k = self.detector, self.n_images
        real = self.val_showers
        for tag, images in shower_images(det, real[:k], fake[:k]).items():
            tf.summary.image(tag, images, step=step, max_outputs=k)
        if det.kind == "volume3d":
            img = layer_profile_image(real, fake, det.energy_unit)
            tf.summary.image("showers_layer_profile", img, step=step)
        if det.kind == "tabular":
            for i, name in enumerate(det.shower_names or range(real.shape[1])):
                tf.summary.histogram(f"showers_{name}/real", real[:, i], step=step)
                tf.summary.histogram(f"showers_{name}/generated", _finite(fake[:, i]), step=step)

    def _write_observables(self, fake: np.ndarray, step: int) -> None:
        if self._real_obs is None:
            self._real_obs = self._observables(self.val_showers, self.val_conditions)
        fake_obs = self._observables(fake, self.val_conditions)
        for name, real_values in self._real_obs.items():
            gen_values = _finite(np.asarray(fake_obs[name], dtype=np.float64))
            real_values = _finite(np.asarray(real_values, dtype=np.float64))
            tf.summary.histogram(f"observables_{name}/real", real_values, step=step)
            tf.summary.histogram(f"observables_{name}/generated", gen_values, step=step)
            if len(gen_values) and len(real_values):
                scale = float(np.std(real_values)) or 1.0
                diff = (float(np.mean(gen_values)) - float(np.mean(real_values))) / scale
                if math.isfinite(diff):
                    tf.summary.scalar(f"observables_mean_shift/{name}", diff, step=step)


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x[np.isfinite(x)]


def read_scalars(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Read the scalar summaries of a TensorBoard directory: ``{tag: [(step, value)]}``.

    A helper for tests and reports (uses tensorboard's EventAccumulator).
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    acc.Reload()
    out: dict[str, list[tuple[int, float]]] = {}
    for tag in acc.Tags().get("tensors", []):
        events = acc.Tensors(tag)
        vals = []
        for ev in events:
            arr = tf.make_ndarray(ev.tensor_proto)
            if arr.ndim == 0 and arr.dtype.kind == "f":
                vals.append((ev.step, float(arr)))
        if vals:
            out[tag] = vals
    return out


def summary_tags(log_dir: str | Path) -> dict[str, str]:
    """All summary tags in a TensorBoard directory with their plugin (scalars, images...)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    acc.Reload()
    out: dict[str, str] = {}
    for tag in acc.Tags().get("tensors", []):
        meta = acc.SummaryMetadata(tag)
        out[tag] = meta.plugin_data.plugin_name
    return out


__all__: list[Any] = [
    "EpochCheckpoint",
    "GANTensorBoard",
    "RunRecord",
    "gradient_norms",
    "is_chief",
    "layer_profile_image",
    "learning_rate",
    "optimizers_of",
    "read_scalars",
    "shower_images",
    "summary_tags",
]
