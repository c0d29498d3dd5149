"""Samplers: draw showers from a trained run directory or an exported SavedModel.

:func:`load_sampler` recognises two kinds of directory:

- a tfcalo SavedModel (``model_card.json`` + ``saved_model.pb``, written by
  :func:`tfcalo.export.export_generator`), loaded with ``tf.saved_model.load`` and called
  through its ``generate_from_noise`` signature;
- a trained run directory (``run.json``), rebuilt with ``tfcalo.models.load_generator``.

Either way a :class:`Sampler` takes PHYSICAL conditions ``(N, n_conditions)`` and returns
PHYSICAL showers ``(N, *detector.shower_shape)`` in ``detector.energy_unit``. Noise is drawn
with ``numpy.random.default_rng(seed)`` one batch after the other, so each shower's noise for
a seed does not depend on ``batch_size`` (outputs agree to float rounding). (The SavedModel's own ``generate(conditions, seed)``
signature draws its noise with TensorFlow instead; both are reproducible, but they are
different streams.)

This module also turns what a user types into conditions: :func:`read_conditions_file`
(HDF5 or CSV with one column per condition name) and :func:`point_conditions` (one particle
given by its energy and optional direction/position).
"""

from __future__ import annotations

import csv
import json
import math
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ArtifactError, ConfigError, InputFileError

MODEL_CARD = "model_card.json"
SAVED_MODEL_PB = "saved_model.pb"
RUN_JSON = "run.json"

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
        """Wrap an in-memory generator (keras.Model or tf.Module with ``latent_dim``)."""
        detector = get_detector(detector)

        def from_noise(noise: np.ndarray, conditions: np.ndarray) -> np.ndarray:
            return generator([noise, conditions], training=False)

        card = card if card is not None else {"detector": detector.name,
                                              "latent_dim": int(generator.latent_dim)}
        return cls(detector, card, int(generator.latent_dim), from_noise)

    def sample(self, conditions: np.ndarray, seed: int = 0,
               batch_size: int = 1024) -> np.ndarray:
        """Generate one shower per row of ``conditions``.

        Args:
            conditions: float array ``(N, n_conditions)`` in the detector's condition units
                (a single row ``(n_conditions,)`` is accepted too).
            seed: seed of the noise; the same seed gives the same noise whatever
                ``batch_size`` is (showers then agree to float rounding).
            batch_size: showers per generator call (memory bound, not a result change).

        Returns:
            float32 ``(N, *detector.shower_shape)`` in ``detector.energy_unit``.
        """
        cond = self._check_conditions(conditions)
        out = np.empty((len(cond), *self.detector.shower_shape), dtype=np.float32)
        for start, showers in self.iter_sample(cond, seed, batch_size):
            out[start:start + len(showers)] = showers
        return out

    def iter_sample(self, conditions: np.ndarray, seed: int = 0, batch_size: int = 1024):
        """Yield ``(start, showers)`` batch by batch (same numbers as :meth:`sample`)."""
        cond = self._check_conditions(conditions)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive; Received: {batch_size}")
        rng = np.random.default_rng(seed)
        for start in range(0, len(cond), batch_size):
            chunk = cond[start:start + batch_size]
            noise = rng.standard_normal((len(chunk), self.latent_dim), dtype=np.float32)
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


# --------------------------------------------------------------------------- loading


def is_saved_model_dir(path: str | Path) -> bool:
    """True if ``path`` looks like a tfcalo SavedModel (model_card.json + saved_model.pb)."""
    path = Path(path)
    return (path / MODEL_CARD).is_file() and (path / SAVED_MODEL_PB).is_file()


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


def read_run_info(run_dir: str | Path) -> dict:
    """Read ``run.json`` of a trained run directory (ArtifactError if missing or corrupt)."""
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise ArtifactError(f"{run_dir} is not a trained run directory (no {RUN_JSON})")
    info = _read_json(run_dir / RUN_JSON)
    if "detector" not in info:
        raise ArtifactError(f"{run_dir / RUN_JSON} has no 'detector' key")
    return info


def run_detector(info: dict) -> Detector:
    """The detector named in a run.json dict (a name or a ``{"name": ...}`` dict)."""
    det = info["detector"]
    return get_detector(det["name"] if isinstance(det, dict) else det)


def run_data_hash(info: dict) -> str | None:
    """The training-data fingerprint recorded in run.json, whatever its key is called."""
    for key in ("data_fingerprint", "data_hash", "content_hash", "dataset_hash"):
        if info.get(key):
            return str(info[key])
    data = info.get("data")
    if isinstance(data, dict):
        for key in ("fingerprint", "content_hash", "hash"):
            if data.get(key):
                return str(data[key])
    return None


def load_run_generator(run_dir: str | Path) -> Any:
    """Rebuild the generator of a run directory via ``tfcalo.models.load_generator``.

    An AdaGAN ensemble artifact (ensemble.json beside its run.json) loads as the mixture
    generator of its members (:func:`tfcalo.ensemble.load_mixture`).
    """
    from tfcalo import ensemble

    if (Path(run_dir) / ensemble.ENSEMBLE_FILE).is_file():
        return ensemble.load_mixture(run_dir)[0]
    from tfcalo.models import load_generator  # lazy: pulls in TensorFlow

    return load_generator(Path(run_dir))


def _run_card(run_dir: Path, info: dict, detector: Detector, latent_dim: int) -> dict:
    return {
        "source": "run",
        "run_dir": str(run_dir),
        "model": info.get("model") or info.get("model_name"),
        "detector": detector.name,
        "condition_names": list(detector.condition_names),
        "condition_units": list(detector.condition_units),
        "shower_shape": list(detector.shower_shape),
        "energy_unit": detector.energy_unit,
        "latent_dim": int(latent_dim),
        "training_data_hash": run_data_hash(info),
    }


def load_sampler(path: str | Path) -> Sampler:
    """Open a SavedModel directory or a trained run directory as a :class:`Sampler`.

    Raises:
        ArtifactError: the path does not exist or is neither kind of directory.
    """
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"model path {path} does not exist")
    if is_saved_model_dir(path):
        return _saved_model_sampler(path)
    if is_run_dir(path):
        info = read_run_info(path)
        detector = run_detector(info)
        generator = load_run_generator(path)
        card = _run_card(path, info, detector, generator.latent_dim)
        return Sampler.from_generator(generator, detector, card)
    raise ArtifactError(
        f"{path} is neither a tfcalo SavedModel ({MODEL_CARD} + {SAVED_MODEL_PB}) "
        f"nor a trained run directory ({RUN_JSON})"
    )


def _saved_model_sampler(path: Path) -> Sampler:
    card = _read_json(path / MODEL_CARD)
    for key in ("detector", "latent_dim"):
        if key not in card:
            raise ArtifactError(f"{path / MODEL_CARD} has no '{key}' key")
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # noqa: BLE001 - any TF failure means a broken artifact
        raise ArtifactError(f"SavedModel {path} cannot be loaded ({type(exc).__name__})") from None
    fn = loaded.signatures["generate_from_noise"]

    def from_noise(noise: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        out = fn(noise=tf.constant(noise), conditions=tf.constant(conditions))
        return out["showers"].numpy()

    sampler = Sampler(card["detector"], card, card["latent_dim"], from_noise)
    sampler.module = loaded  # keep the trackable alive
    return sampler


# --------------------------------------------------------------------------- conditions


def read_conditions_file(path: str | Path, detector: Detector | str) -> np.ndarray:
    """Read conditions from an HDF5 or CSV file with one column per condition name.

    Layouts:
        - HDF5 (``.h5``/``.hdf5``): one 1-D dataset per name in ``detector.condition_names``
          at the file's top level (e.g. ``Ep`` for cern-ecal; ``x, y, z, px, py, pz`` for
          lhcb-ecal), all the same length. Other datasets are ignored.
        - CSV (any other suffix): a header row naming the columns, then one row per shower.
          Extra columns are ignored.

    Returns:
        float32 ``(N, n_conditions)`` in canonical column order.

    Raises:
        InputFileError: missing/unreadable file, missing columns (named), ragged or
            non-numeric values, or no rows.
    """
    detector = get_detector(detector)
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"conditions file {path} does not exist")
    names = detector.condition_names
    if path.suffix.lower() in (".h5", ".hdf5", ".he5"):
        columns = _read_h5_columns(path, names)
    else:
        columns = _read_csv_columns(path, names)
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        raise InputFileError(f"conditions file {path} has columns of different lengths")
    cond = np.stack(columns, axis=1).astype(np.float32)
    if len(cond) == 0:
        raise InputFileError(f"conditions file {path} has no rows")
    if not np.all(np.isfinite(cond)):
        raise InputFileError(f"conditions file {path} holds non-finite values")
    return cond


def _missing(path: Path, missing: list[str], detector_names: tuple[str, ...]) -> InputFileError:
    return InputFileError(
        f"conditions file {path} lacks column(s) {', '.join(missing)} "
        f"(needed: {', '.join(detector_names)})"
    )


def _read_h5_columns(path: Path, names: tuple[str, ...]) -> list[np.ndarray]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            missing = [n for n in names if n not in f or not isinstance(f[n], h5py.Dataset)]
            if missing:
                raise _missing(path, missing, names)
            columns = [np.asarray(f[n][()], dtype=np.float64) for n in names]
    except OSError as exc:
        raise InputFileError(f"conditions file {path} is not readable HDF5 ({exc})") from None
    for n, c in zip(names, columns, strict=True):
        if c.ndim != 1:
            raise InputFileError(
                f"conditions file {path}: dataset '{n}' must be 1-D, has shape {c.shape}"
            )
    return columns


def _read_csv_columns(path: Path, names: tuple[str, ...]) -> list[np.ndarray]:
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"conditions file {path} is not readable CSV ({exc})") from None
    if not rows:
        raise InputFileError(f"conditions file {path} is empty (expected a header row)")
    header = [h.strip() for h in rows[0]]
    missing = [n for n in names if n not in header]
    if missing:
        raise _missing(path, missing, names)
    idx = [header.index(n) for n in names]
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    try:
        return [np.array([float(r[i]) for r in body], dtype=np.float64) for i in idx]
    except (ValueError, IndexError):
        raise InputFileError(
            f"conditions file {path} has a short or non-numeric row"
        ) from None


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
        ConfigError: a non-positive energy, an inconsistent momentum, an option that the
            detector does not have, or rich-pid.
    """
    detector = get_detector(detector)
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


def generate_to_file(sampler: Sampler, conditions: np.ndarray, out: str | Path,
                     seed: int = 0, batch_size: int = 1024, overwrite: bool = False) -> int:
    """Sample one shower per row of ``conditions`` and write them in the community layout.

    The file is written under a temporary name and renamed into place when complete.

    Args:
        sampler: where showers come from.
        conditions: ``(N, n_conditions)`` physical conditions.
        out: output HDF5 path (the detector's community layout, see
            :class:`tfcalo.data.formats.CommunityWriter`).
        seed: noise seed (reproducible).
        batch_size: generator batch size and write chunk size.
        overwrite: replace an existing file.

    Returns:
        the number of showers written.
    """
    from tfcalo.data.formats import CommunityWriter
    from tfcalo.errors import OutputExistsError

    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output file {out} exists; pass --overwrite to replace it")
    if out.is_dir():
        raise OutputExistsError(f"output {out} is a directory, not a file")
    conditions = np.atleast_2d(np.asarray(conditions, dtype=np.float32))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with CommunityWriter(tmp, sampler.detector) as writer:
            for start, showers in sampler.iter_sample(conditions, seed, batch_size):
                writer.write(showers, conditions[start:start + len(showers)])
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(conditions)
