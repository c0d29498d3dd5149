"""Readers and writers of the community shower file layouts.

Layouts (one HDF5 dataset per name, first axis = example):

- ``lhcb-ecal`` (LHCb calorimeter GAN files, HDF5 or npz): ``EnergyDeposit`` (N, 30, 30) MeV
  [row = y, col = x], ``ParticlePoint`` (N, 3) cm, ``ParticleMomentum`` (N, 3) GeV.
- ``cern-ecal`` (CERN ECAL HDF5): ``ECAL`` (N, 25, 25, 25) GeV [x, y, layer] plus ``energy``
  (N,) GeV or ``target`` (N, >=2) whose column 1 is the energy. CaloChallenge HDF5
  (``incident_energies`` (N,) or (N, 1), ``showers`` (N, 15625) flattened) maps here.
- ``rich-pid`` (tabular HDF5 with one dataset per column, or CSV with a header):
  ``p``, ``eta``, ``nTracks``, ``RichDLLe``, ``RichDLLmu``, ``RichDLLk``, ``RichDLLp``,
  ``RichDLLbt`` and optionally a weight column (``--weights-from``).

The writer writes these layouts; optional per-example weights go to a ``weight`` dataset and
extra per-example arrays to datasets named by their key. Readers stream chunk by chunk (h5py
slices), never reading a whole file.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np

from tfcalo.detectors import Detector, get_detector

#: Name of the optional per-example weight dataset written by :class:`CommunityWriter`.
WEIGHT_KEY = "weight"


def _layout_arrays(detector: Detector, showers: np.ndarray,
                   conditions: np.ndarray) -> dict[str, np.ndarray]:
    """Split canonical ``showers``/``conditions`` into the detector's community datasets."""
    if detector.name == "lhcb-ecal":
        return {
            "EnergyDeposit": showers,
            "ParticlePoint": conditions[:, 0:3],
            "ParticleMomentum": conditions[:, 3:6],
        }
    if detector.name == "cern-ecal":
        return {"ECAL": showers, "energy": conditions[:, 0]}
    if detector.kind == "tabular":
        cols = {name: conditions[:, i] for i, name in enumerate(detector.condition_names)}
        cols.update({name: showers[:, i] for i, name in enumerate(detector.shower_names)})
        return cols
    raise ValueError(f"no community layout for detector {detector.name}")  # pragma: no cover


class CommunityWriter:
    """Append canonical chunks to an HDF5 file in the detector's community layout.

    Args:
        path: output ``.h5`` file (created or truncated).
        detector: detector name or spec.
        compression: h5py compression filter for the shower datasets (``None`` for none).

    Example:
        >>> with CommunityWriter("showers.h5", "cern-ecal") as w:   # doctest: +SKIP
        ...     w.write(showers, conditions)      # (N,25,25,25) GeV, (N,1) GeV
    """

    def __init__(self, path: str | Path, detector: str | Detector,
                 compression: str | None = "gzip") -> None:
        self.path = Path(path)
        self.detector = get_detector(detector)
        self.compression = compression
        self.n = 0
        self._file = None
        self._has_weights: bool | None = None
        self._extra_keys: tuple[str, ...] | None = None

    def __enter__(self) -> CommunityWriter:
        import h5py

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.path, "w")
        self._file.attrs["detector"] = self.detector.name
        self._file.attrs["written_by"] = "tfcalo"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append(self, name: str, values: np.ndarray) -> None:
        f = self._file
        if name not in f:
            big = values.ndim > 1 and values[0].size > 16
            rows = max(1, min(1000, (1 << 20) // max(1, values[0].nbytes)))
            f.create_dataset(
                name, shape=(0, *values.shape[1:]), maxshape=(None, *values.shape[1:]),
                dtype=values.dtype, chunks=(rows, *values.shape[1:]),
                compression=self.compression if big else None,
            )
        ds = f[name]
        ds.resize(self.n + len(values), axis=0)
        ds[self.n:self.n + len(values)] = values

    def write(self, showers: np.ndarray, conditions: np.ndarray,
              weights: np.ndarray | None = None,
              extra: dict[str, np.ndarray] | None = None) -> None:
        """Append one chunk.

        Args:
            showers: float32 ``(n, *detector.shower_shape)`` in ``detector.energy_unit``.
            conditions: float32 ``(n, detector.n_conditions)`` in canonical order.
            weights: optional float32 ``(n,)``; if the first chunk has weights, a ``weight``
                dataset is written (later chunks without weights get 1).
            extra: optional per-example arrays ``{name: (n, ...)}`` written as datasets; the
                same keys must be given with every chunk.
        """
        if self._file is None:
            raise RuntimeError("CommunityWriter.write called outside its 'with' block")
        det = self.detector
        showers = np.asarray(showers, dtype=np.float32)
        conditions = np.asarray(conditions, dtype=np.float32)
        n = len(showers)
        if showers.shape[1:] != det.shower_shape:
            raise ValueError(f"showers have shape {showers.shape}; {det.name} needs "
                             f"(n, {', '.join(map(str, det.shower_shape))})")
        if conditions.shape != (n, det.n_conditions):
            raise ValueError(f"conditions have shape {conditions.shape}; expected "
                             f"({n}, {det.n_conditions})")
        if self._has_weights is None:
            self._has_weights = weights is not None
        elif weights is not None and not self._has_weights:
            raise ValueError("weights given for a later chunk but not for the first one")
        extra = dict(extra or {})
        if self._extra_keys is None:
            self._extra_keys = tuple(sorted(extra))
        elif tuple(sorted(extra)) != self._extra_keys:
            raise ValueError(f"extra keys {sorted(extra)} differ from the first chunk's "
                             f"{list(self._extra_keys)}")
        arrays = _layout_arrays(det, showers, conditions)
        if self._has_weights:
            w = np.ones(n, np.float32) if weights is None else weights
            arrays[WEIGHT_KEY] = np.asarray(w, dtype=np.float32).reshape(n)
        for key, values in extra.items():
            values = np.asarray(values)
            if len(values) != n:
                raise ValueError(f"extra '{key}' has {len(values)} rows; expected {n}")
            arrays[key] = values
        for name, values in arrays.items():
            self._append(name, np.ascontiguousarray(values))
        self.n += n
