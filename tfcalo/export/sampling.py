"""Samplers: draw showers from a trained run directory or an exported SavedModel.

:func:`load_sampler` recognises two kinds of directory:

- a tfcalo SavedModel (``model_card.json`` + ``saved_model.pb``, written by
  :func:`tfcalo.export.savedmodel.export_generator`), loaded with ``tf.saved_model.load`` and called
  through its ``generate_from_noise`` signature;
- a trained run directory (``run.json``, read by :func:`tfcalo.training.run_record.read_run`),
  rebuilt with :func:`tfcalo.training.build.load_generator`.

Either way a :class:`Sampler` takes PHYSICAL conditions ``(N, n_conditions)`` and returns
PHYSICAL showers ``(N, *detector.shower_shape)`` in ``detector.energy_unit``. The noise of
shower i for a seed is row i of :func:`tfcalo.models.noise.latent_noise`'s stream, whatever
``batch_size`` is; ``ConditionalGAN.generate`` and the SavedModel's own ``generate(conditions,
seed)`` signature draw the same rows, so the three paths give the same showers for the same
seed and conditions (to float rounding).

This module also turns what a user types into conditions: :func:`read_conditions_file`
(HDF5, npz or CSV with one column per condition name, read by
:func:`tfcalo.data.formats.read_columns`) and :func:`point_conditions` (one particle
given by its energy and optional direction/position).
"""

from __future__ import annotations

import json
import math
import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ArtifactError, ConfigError, InputFileError
from tfcalo.export.integrity import CARD_KEY, verify_export_hash
from tfcalo.export.pretrained import (
    MODEL_CARD,
    SAVED_MODEL_PB,
    is_pretrained,
    is_saved_model_dir,
    pretrained_names,
    pretrained_path,
)
from tfcalo.training.run_record import RUN_JSON, data_hash, read_run

FromNoise = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Sampler:
    """Draws physical showers for physical conditions from any conforming generator.

    Attributes:
        detector: the :class:`~tfcalo.detectors.Detector` the model simulates.
        card: a model-card-like dict (for a SavedModel its ``model_card.json``; for a run
            directory a description built from ``run.json``).
        latent_dim: length of the noise vector per shower.

    Args:
        detector: detector spec or name.
        card: description of the model (JSON-ready dict).
        latent_dim: noise length.
        from_noise: ``f(noise (B, latent_dim) float32, conditions (B, n_cond) float32) ->
            showers (B, *shower_shape)`` (numpy in, numpy or tensor out).

    Example:
        >>> sampler = load_sampler("exported/model")          # doctest: +SKIP
        >>> showers = sampler.sample(np.array([[50.0]]), seed=1)  # (1, 25, 25, 25) GeV
    """

    def __init__(self, detector: Detector | str, card: dict, latent_dim: int,
                 from_noise: FromNoise) -> None:
        self.detector = get_detector(detector)
        self.card = card
        self.latent_dim = int(latent_dim)
        self._from_noise = from_noise

    @classmethod
    def from_generator(cls, generator: Any, detector: Detector | str,
                       card: dict | None = None) -> Sampler:
        """Wrap an in-memory generator (keras.Model or tf.Module with ``latent_dim``).

        The generator runs inside one tf.function (any batch size, traced once): eager
        calls are several times slower per batch.
        """
        import tensorflow as tf

        detector = get_detector(detector)
        spec = [tf.TensorSpec((None, int(generator.latent_dim)), tf.float32),
                tf.TensorSpec((None, detector.n_conditions), tf.float32)]
        traced = tf.function(lambda z, c: generator([z, c], training=False), input_signature=spec)

        def from_noise(noise: np.ndarray, conditions: np.ndarray) -> np.ndarray:
            return traced(noise, conditions).numpy()

        card = card if card is not None else {"detector": detector.name,
                                              "latent_dim": int(generator.latent_dim)}
        return cls(detector, card, int(generator.latent_dim), from_noise)

    def sample(self, conditions: np.ndarray, seed: int = 0,
               batch_size: int = 1024) -> np.ndarray:
        """Generate one shower per row of ``conditions``.

        Args:
            conditions: float array ``(N, n_conditions)`` in the detector's condition units
                (a single row ``(n_conditions,)`` is accepted too).
            seed: seed of the noise (int >= 0): shower i gets row i of
                ``latent_noise(seed, N, latent_dim)``, whatever ``batch_size`` is (showers
                then agree to float rounding, and with the other seeded paths).
            batch_size: showers per generator call (memory bound, not a result change).

        Returns:
            float32 ``(N, *detector.shower_shape)`` in ``detector.energy_unit``.
        """
        cond = self._check_conditions(conditions)
        out = np.empty((len(cond), *self.detector.shower_shape), dtype=np.float32)
        for start, showers in self.iter_sample(cond, seed, batch_size):
            out[start:start + len(showers)] = showers
        return out

    def iter_sample(self, conditions: np.ndarray, seed: int = 0, batch_size: int = 1024,
                    n: int | None = None):
        """Yield ``(start, showers)`` batch by batch (same numbers as :meth:`sample`).

        With ``n``, ``n`` showers are drawn and shower i gets row ``i % len(conditions)``
        (:func:`cycled_rows`): memory stays that of one batch however large ``n`` is, and
        shower i still gets row i of the seed's noise, so the showers equal those of
        :meth:`sample` on the cycled conditions.
        """
        from tfcalo.models.noise import noise_batches  # lazy: pulls in TensorFlow

        cond = self._check_conditions(conditions)
        check_seed(seed)
        total = len(cond) if n is None else int(n)
        if total > 0 and len(cond) == 0:
            raise ValueError("no conditions to cycle through; Received: shape=(0, ...)")
        for start, noise in noise_batches(total, seed, self.latent_dim, batch_size):
            chunk = cycled_rows(cond, start, len(noise))
            yield start, np.asarray(self._from_noise(noise, chunk), dtype=np.float32)

    def _check_conditions(self, conditions: np.ndarray) -> np.ndarray:
        cond = np.asarray(conditions, dtype=np.float32)
        if cond.ndim == 1:
            cond = cond[None, :]
        n_cond = self.detector.n_conditions
        if cond.ndim != 2 or cond.shape[1] != n_cond:
            raise ValueError(
                f"conditions for {self.detector.name} must have shape (N, {n_cond}) "
                f"({', '.join(self.detector.condition_names)}); Received: shape={cond.shape}"
            )
        return cond


#: Largest seed + 1: seeds are int64 keys of tf.random.stateless_normal.
SEED_LIMIT = 2**63


def check_seed(seed: Any) -> int:
    """``seed`` as an int if ``0 <= seed < 2**63``, else ConfigError (one sentence)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) \
            or not 0 <= int(seed) < SEED_LIMIT:
        raise ConfigError(f"the seed must be an integer with 0 <= seed < 2**63; got {seed!r}")
    return int(seed)


def cycled_rows(rows: np.ndarray, start: int, count: int) -> np.ndarray:
    """Rows ``start .. start + count - 1`` of ``rows`` repeated end to end (row i is
    ``rows[i % len(rows)]``); a plain slice (no copy) when no wrap-around is needed."""
    if start + count <= len(rows):
        return rows[start:start + count]
    return rows[np.arange(start, start + count) % len(rows)]


# --------------------------------------------------------------------------- loading


def is_run_dir(path: str | Path) -> bool:
    """True if ``path`` looks like a trained run directory (has run.json)."""
    return (Path(path) / RUN_JSON).is_file()


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} does not hold a JSON object")
    return data


def load_run_generator(run_dir: str | Path) -> Any:
    """Rebuild the generator of a run directory via
    :func:`tfcalo.training.build.load_generator`.

    An AdaGAN ensemble artifact (ensemble.json beside its run.json) loads as the mixture
    generator of its members (:func:`tfcalo.training.adagan.load_mixture`).
    """
    from tfcalo.training import adagan as ensemble

    if (Path(run_dir) / ensemble.ENSEMBLE_FILE).is_file():
        return ensemble.load_mixture(run_dir)[0]
    from tfcalo.training.build import load_generator  # lazy: pulls in TensorFlow

    return load_generator(Path(run_dir))


def _run_card(run_dir: Path, info: dict, detector: Detector, latent_dim: int) -> dict:
    card = {
        "source": "run",
        "run_dir": str(run_dir),
        "model": info.get("model"),
        "detector": detector.name,
        "condition_names": list(detector.condition_names),
        "condition_units": list(detector.condition_units),
        "shower_shape": list(detector.shower_shape),
        "energy_unit": detector.energy_unit,
        "latent_dim": int(latent_dim),
        "training_data_hash": data_hash(info),
    }
    columns = (info.get("stats") or {}).get("conditions")
    try:  # the training data's range of each condition, as an export records it
        card["conditions"] = [
            {"name": name, "unit": unit,
             "range": [float(columns[name]["min"]), float(columns[name]["max"])]}
            for name, unit in zip(detector.condition_names, detector.condition_units,
                                  strict=True)]
    except (KeyError, TypeError, ValueError):
        pass
    return card


def resolve_model(path: str | Path) -> Path:
    """The directory of a model given as a path or as a pretrained model's name (an existing
    path wins). Raises ArtifactError naming the known pretrained models if it is neither."""
    given = str(path)
    path = Path(path)
    if path.exists():
        return path
    shipped = pretrained_path(given)
    if shipped is None:
        names = pretrained_names()
        known = f" nor a pretrained model ({', '.join(names)})" if names else ""
        raise ArtifactError(f"model path {path} does not exist{known}")
    return shipped


def load_sampler(path: str | Path) -> Sampler:
    """Open a SavedModel directory, a trained run directory or a pretrained model by name
    (:func:`pretrained_names`) as a :class:`Sampler`.

    A SavedModel is a program: loading and calling it runs whatever TensorFlow ops its
    signatures hold (file writes included), so load only models from sources you trust.
    A pretrained model is checked against the content hash in its model card first
    (:func:`tfcalo.export.integrity.verify_export_hash`), and so is any export whose card records
    one (tfcalo records it at export): a file changed since export is refused.

    Raises:
        ArtifactError: the path does not exist (and is no pretrained name), is neither kind
            of directory, does not match its recorded content hash, or has a model card that
            contradicts the SavedModel.
    """
    path = resolve_model(path)
    if is_pretrained(path):  # shipped: must carry a content hash and match it
        verify_export_hash(path)
        return _saved_model_sampler(path)
    if is_saved_model_dir(path):
        card = _read_json(path / MODEL_CARD)
        if CARD_KEY in card:
            verify_export_hash(path)
        return _saved_model_sampler(path)
    if is_run_dir(path):
        info = read_run(path, required=("detector",))
        detector = get_detector(info["detector"])
        generator = load_run_generator(path)
        card = _run_card(path, info, detector, generator.latent_dim)
        return Sampler.from_generator(generator, detector, card)
    raise ArtifactError(
        f"{path} is neither a tfcalo SavedModel ({MODEL_CARD} + {SAVED_MODEL_PB}) "
        f"nor a trained run directory ({RUN_JSON})"
    )


def _card_detector_and_latent(path: Path, card: dict) -> tuple[Detector, int]:
    """The detector and latent_dim a model card names (ArtifactError, one sentence, if
    either is missing or malformed)."""
    from tfcalo.detectors import DETECTORS

    where = path / MODEL_CARD
    for key in ("detector", "latent_dim"):
        if key not in card:
            raise ArtifactError(f"{where} has no '{key}' key")
    name = card["detector"]
    if not isinstance(name, str) or name not in DETECTORS:
        raise ArtifactError(f"{where} names detector {name!r}, which is not one of "
                            f"{', '.join(sorted(DETECTORS))}")
    latent = card["latent_dim"]
    if isinstance(latent, bool) or not isinstance(latent, int) or latent < 1:
        raise ArtifactError(f"{where} has latent_dim {latent!r}, not a positive integer")
    return get_detector(name), int(latent)


def _check_signature(path: Path, fn: Any, detector: Detector, latent_dim: int) -> None:
    """Refuse a card whose detector or latent_dim contradicts the SavedModel's signature."""
    try:
        specs = fn.structured_input_signature[1]
        noise = specs["noise"].shape.as_list()
        cond = specs["conditions"].shape.as_list()
        out = fn.structured_outputs["showers"].shape.as_list()[1:]
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise ArtifactError(f"SavedModel {path} has no generate_from_noise(noise, conditions) "
                            "-> showers signature") from None
    found = []
    if noise[-1] is not None and noise[-1] != latent_dim:
        found.append(f"noise of length {noise[-1]}, its card latent_dim {latent_dim}")
    if cond[-1] is not None and cond[-1] != detector.n_conditions:
        found.append(f"{cond[-1]} condition(s), its card's detector {detector.name} "
                     f"{detector.n_conditions}")
    if len(out) != len(detector.shower_shape) or any(
            a is not None and a != b for a, b in zip(out, detector.shower_shape, strict=False)):
        found.append(f"showers of shape {tuple(out)}, its card's detector {detector.name} "
                     f"{tuple(detector.shower_shape)}")
    if found:
        raise ArtifactError(f"{path / MODEL_CARD} does not describe the SavedModel beside it "
                            f"(the model takes {'; '.join(found)})")


def _saved_model_sampler(path: Path) -> Sampler:
    card = _read_json(path / MODEL_CARD)
    detector, latent_dim = _card_detector_and_latent(path, card)
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        fn = loaded.signatures["generate_from_noise"]
    except Exception as exc:  # noqa: BLE001 - any TF failure means a broken artifact
        raise ArtifactError(f"SavedModel {path} cannot be loaded ({type(exc).__name__})") from None
    _check_signature(path, fn, detector, latent_dim)

    def from_noise(noise: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        out = fn(noise=tf.constant(noise), conditions=tf.constant(conditions))
        return out["showers"].numpy()

    sampler = Sampler(detector, card, latent_dim, from_noise)
    sampler.module = loaded  # keep the trackable alive
    return sampler


# --------------------------------------------------------------------------- conditions

#: The largest finite float32 (models take float32 conditions).
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_finite_conditions(rows: np.ndarray, detector: Detector | str,
                            what: str = "the conditions") -> np.ndarray:
    """``rows`` as float32 ``(N, n_conditions)``; ConfigError naming the first condition
    that is NaN or infinite once cast to float32 (1e39 overflows to inf)."""
    detector = get_detector(detector)
    with np.errstate(over="ignore", invalid="ignore"):
        cond = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    bad = ~np.isfinite(cond)
    if bad.any():
        i, j = (int(k[0]) for k in np.nonzero(bad))
        raise ConfigError(
            f"{what} must be finite numbers that fit in float32 (|value| <= "
            f"{FLOAT32_MAX:.3g}); row {i + 1} has {detector.condition_names[j]} = "
            f"{np.asarray(rows, dtype=np.float64).reshape(cond.shape)[i, j]:g}")
    return cond


def training_ranges(card: dict) -> dict[str, tuple[float, float, str]] | None:
    """``{condition name: (low, high, unit)}`` recorded in a model card (None if absent)."""
    entries = card.get("conditions") if isinstance(card, dict) else None
    if not isinstance(entries, list):
        return None
    ranges = {}
    for entry in entries:
        try:
            low, high = (float(v) for v in entry["range"])
            ranges[str(entry["name"])] = (low, high, str(entry.get("unit") or ""))
        except (KeyError, TypeError, ValueError):
            continue
    return ranges or None


def range_warning(sampler: Sampler, rows: np.ndarray) -> str | None:
    """One line saying which conditions of ``rows`` lie outside the range recorded in the
    model card (the training data's range), or None if all lie inside (or none is known)."""
    ranges = training_ranges(sampler.card)
    if ranges is None:
        return None
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    parts = []
    for j, name in enumerate(sampler.detector.condition_names):
        if name not in ranges:
            continue
        low, high, unit = ranges[name]
        col = rows[:, j]
        out = (col < low) | (col > high)
        if not out.any():
            continue
        unit = f" {unit}" if unit else ""
        seen = (f"{col[out][0]:g}" if len(col) == 1 else
                f"{int(out.sum())} of {len(col)} rows, e.g. {col[out][0]:g}")
        parts.append(f"{name} {seen} (range {low:g} to {high:g}{unit})")
    if not parts:
        return None
    return ("conditions outside the range the model was trained on (its model card): "
            + "; ".join(parts) + "; showers there are extrapolations")


def read_conditions_file(path: str | Path, detector: Detector | str) -> np.ndarray:
    """Read conditions from an HDF5, npz or CSV file with one column per condition name.

    Layouts (:func:`tfcalo.data.formats.read_columns`):
        - HDF5: one 1-D dataset per name in ``detector.condition_names`` at the file's top
          level (e.g. ``Ep`` for cern-ecal; ``x, y, z, px, py, pz`` for lhcb-ecal), all the
          same length. Other datasets are ignored. npz: one 1-D array per name.
        - CSV (``.csv``/``.txt``): a header row naming the columns, then one row per shower.
          Extra columns are ignored.

    Returns:
        float32 ``(N, n_conditions)`` in canonical column order.

    Raises:
        InputFileError: missing/unreadable file, missing columns (named), ragged or
            non-numeric values, or no rows.
    """
    from tfcalo.data.formats import read_columns

    detector = get_detector(detector)
    path = Path(path)
    cond = read_columns(path, detector.condition_names, what="conditions file").astype(np.float32)
    if len(cond) == 0:
        raise InputFileError(f"conditions file {path} has no rows")
    if not np.all(np.isfinite(cond)):
        raise InputFileError(f"conditions file {path} holds non-finite values")
    return cond


def point_conditions(detector: Detector | str, energy: float, *,
                     px: float | None = None, py: float | None = None,
                     pz: float | None = None, x: float = 0.0,
                     y: float = 0.0) -> np.ndarray:
    """Conditions of one particle from its energy, as a ``(n_conditions,)`` float32 row.

    - cern-ecal: ``[Ep] = [energy]`` (GeV); position/momentum options are not allowed.
    - lhcb-ecal: an electron (massless at these energies) entering at ``(x, y, 0)`` cm.
      Without ``px``/``py`` it flies along z: ``p = (0, 0, energy)``; otherwise ``pz`` is
      ``sqrt(energy^2 - px^2 - py^2)`` unless given, in which case ``|p|`` must equal the
      energy within 1 %.
    - rich-pid: not supported (its conditions are not an energy; use a conditions file).

    Raises:
        ConfigError: a non-positive energy, a value that is not finite or does not fit in
            float32 (NaN, inf, 1e39), an inconsistent momentum, an option that the detector
            does not have, or rich-pid.
    """
    detector = get_detector(detector)
    for option, value in (("energy", energy), ("px", px), ("py", py), ("pz", pz), ("x", x),
                          ("y", y)):
        if value is not None and not abs(float(value)) <= FLOAT32_MAX:
            raise ConfigError(f"--{option} must be a finite number that fits in float32 "
                              f"(|value| <= {FLOAT32_MAX:.3g}); got {value}")
    if not energy > 0:
        raise ConfigError(f"--energy must be positive; got {energy} GeV")
    if detector.name == "cern-ecal":
        given = [n for n, v in (("px", px), ("py", py), ("pz", pz)) if v is not None]
        given += [n for n, v in (("x", x), ("y", y)) if v]
        if given:
            raise ConfigError(
                f"cern-ecal conditions are only the energy; --{given[0]} is not allowed"
            )
        return np.array([energy], dtype=np.float32)
    if detector.name == "lhcb-ecal":
        px = 0.0 if px is None else float(px)
        py = 0.0 if py is None else float(py)
        pt2 = px * px + py * py
        if pz is None:
            if pt2 >= energy * energy:
                raise ConfigError(
                    f"transverse momentum sqrt(px^2+py^2) = {math.sqrt(pt2):.4g} GeV is not "
                    f"below --energy {energy} GeV"
                )
            pz = math.sqrt(energy * energy - pt2)
        else:
            p = math.sqrt(pt2 + float(pz) ** 2)
            if abs(p - energy) > 0.01 * energy:
                raise ConfigError(
                    f"momentum (px, py, pz) has |p| = {p:.4g} GeV but --energy is {energy} GeV"
                )
        return np.array([x, y, 0.0, px, py, pz], dtype=np.float32)
    raise ConfigError(
        f"{detector.name} conditions ({', '.join(detector.condition_names)}) are not set "
        "by an energy; pass --conditions FILE"
    )


# --------------------------------------------------------------------------- generation


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _sweep_stale_temps(out: Path) -> None:
    """Remove temporary files of ``out`` left by killed processes on this host."""
    for tmp in out.parent.glob(f".{out.name}.tmp-*"):
        try:
            host, pid, _ = tmp.name[len(out.name) + 6:].rsplit("-", 2)
            if host == _HOST and not _pid_alive(int(pid)):
                tmp.unlink(missing_ok=True)
        except (ValueError, OSError):
            continue


_HOST = socket.gethostname()


def generate_to_file(sampler: Sampler, conditions: np.ndarray, out: str | Path,
                     seed: int = 0, batch_size: int = 1024, overwrite: bool = False,
                     n: int | None = None,
                     progress: Callable[[int], None] | None = None) -> int:
    """Sample showers batch by batch and write them in the community layout.

    Memory stays that of one batch, whatever ``n`` is: the conditions of a batch are cut
    from ``conditions`` (cycled) and its noise drawn from the seed's stream at the batch's
    offset, so the file equals one-shot generation (:meth:`Sampler.sample`) for the seed.
    The file is written under a temporary name in the same directory (``.<name>.tmp-<host>-
    <pid>-<hex>``, removed on any error and, after a kill, by the next call for the same
    output) and renamed into place when complete.

    Args:
        sampler: where showers come from.
        conditions: ``(R, n_conditions)`` physical conditions; shower i gets row ``i % R``.
        out: output HDF5 path (the detector's community layout, see
            :class:`tfcalo.data.formats.CommunityWriter`).
        seed: noise seed, ``0 <= seed < 2**63`` (reproducible).
        batch_size: generator batch size and write chunk size.
        overwrite: replace an existing file.
        n: number of showers (default: one per row of ``conditions``).
        progress: called with the number of showers of each batch once it is written.

    Returns:
        the number of showers written.

    Raises:
        ConfigError: a bad seed, non-finite conditions, or non-finite showers (conditions too
            far outside the model's range); nothing is written.
        OutputExistsError: ``out`` exists (without ``overwrite``) or is a directory.
    """
    from tfcalo.data.formats import CommunityWriter
    from tfcalo.errors import OutputExistsError

    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output file {out} exists; pass --overwrite to replace it")
    if out.is_dir():
        raise OutputExistsError(f"output {out} is a directory, not a file")
    check_seed(seed)
    rows = check_finite_conditions(conditions, sampler.detector)
    total = len(rows) if n is None else int(n)
    if total < 0:
        raise ConfigError(f"the number of showers must be positive; got {total}")
    out.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_temps(out)
    tmp = out.with_name(f".{out.name}.tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with CommunityWriter(tmp, sampler.detector) as writer:
            for start, showers in sampler.iter_sample(rows, seed, batch_size, n=total):
                chunk = cycled_rows(rows, start, len(showers))
                finite = np.isfinite(showers).reshape(len(showers), -1).all(axis=1)
                if not finite.all():
                    i = int(np.argmin(finite))
                    values = ", ".join(f"{name} = {v:g}" for name, v in
                                       zip(sampler.detector.condition_names, chunk[i],
                                           strict=True))
                    raise ConfigError(
                        f"the model produced NaN or infinite energies for shower "
                        f"{start + i + 1} ({values}); conditions this far outside its "
                        "training range are beyond what it can represent")
                writer.write(showers, chunk)
                if progress is not None:
                    progress(len(showers))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return total
