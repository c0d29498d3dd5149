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

import csv
import hashlib
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import InputFileError

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


# ---------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------

#: Shower cells of a CaloChallenge file that maps to cern-ecal (25 x 25 x 25).
_CALOCHALLENGE_CELLS = 25 * 25 * 25

Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (the source's content hash)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(block):
            h.update(data)
    return h.hexdigest()


def _shape_str(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


class _Table:
    """Column access to a file: ``shapes`` maps key -> full shape, ``dtypes`` key -> numpy
    dtype, ``linked_files`` other files whose bytes the table reads (HDF5 external links,
    virtual or external datasets); ``iter_rows`` streams."""

    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]
    linked_files: list[Path] = []

    def iter_rows(self, keys: list[str], chunk_size: int) -> Iterator[dict[str, np.ndarray]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _H5Table(_Table):
    """HDF5 datasets at the file's top level, read by h5py slices."""

    def __init__(self, path: Path) -> None:
        import h5py

        if not h5py.is_hdf5(path):
            raise InputFileError(f"{path} is not an HDF5 file (no HDF5 signature)")
        try:
            self._file = h5py.File(path, "r")
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            raise InputFileError(
                f"{path} is a truncated or corrupt HDF5 file ({_short(exc)})") from None
        self.path = path
        try:
            items = {k: v for k, v in self._file.items() if isinstance(v, h5py.Dataset)}
            self.shapes = {k: tuple(v.shape) for k, v in items.items()}
            self.dtypes = {k: v.dtype for k, v in items.items()}
            self.linked_files = self._linked(items)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            self._file.close()
            raise InputFileError(f"{path} is a truncated or corrupt HDF5 file, or one of its "
                                 f"external links is broken ({_short(exc)})") from None

    def _linked(self, items: dict) -> list[Path]:
        """Files read through external links, virtual datasets or external raw storage."""
        import h5py

        names = []
        for key, ds in items.items():
            link = self._file.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                names.append(link.filename)
            if ds.is_virtual:
                names.extend(src.file_name for src in ds.virtual_sources()
                             if src.file_name != ".")
            names.extend(entry[0] for entry in (ds.external or []))
        out = []
        for name in names:
            name = name.decode() if isinstance(name, bytes) else str(name)
            linked = Path(name) if Path(name).is_absolute() else self.path.parent / name
            if linked not in out:
                out.append(linked)
        return out

    def iter_rows(self, keys, chunk_size):
        n = self.shapes[keys[0]][0]
        for start in range(0, n, chunk_size):
            stop = min(n, start + chunk_size)
            out = {}
            for k in keys:
                try:
                    out[k] = self._file[k][start:stop]
                except (OSError, RuntimeError, ValueError) as exc:
                    raise InputFileError(
                        f"{self.path} is truncated or corrupt: reading rows {start}-{stop} "
                        f"of '{k}' failed ({_short(exc)})") from None
            yield out

    def close(self):
        self._file.close()


class _NpzTable(_Table):
    """Arrays of an ``.npz`` archive, streamed row by row from the zip members."""

    def __init__(self, path: Path) -> None:
        if not zipfile.is_zipfile(path):
            raise InputFileError(f"{path} is not a valid npz file (not a zip archive)")
        self.path = path
        self._zip = zipfile.ZipFile(path)
        self.shapes, self._dtypes = {}, {}
        for name in self._zip.namelist():
            if not name.endswith(".npy"):
                continue
            with self._zip.open(name) as f:
                shape, fortran, dtype = self._header(f, name)
            if fortran and len(shape) > 1:
                raise InputFileError(f"{path}: array '{name[:-4]}' is Fortran-ordered; "
                                     "save it C-ordered")
            self.shapes[name[:-4]] = shape
            self._dtypes[name[:-4]] = dtype
        self.dtypes = self._dtypes

    def _header(self, f, name):
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                return np.lib.format.read_array_header_1_0(f)
            return np.lib.format.read_array_header_2_0(f)
        except (ValueError, OSError) as exc:
            raise InputFileError(f"{self.path}: member '{name}' is not a valid .npy array "
                                 f"({_short(exc)})") from None

    def iter_rows(self, keys, chunk_size):
        handles = {}
        try:
            for k in keys:
                handles[k] = self._zip.open(k + ".npy")
                self._header(handles[k], k)
            n = self.shapes[keys[0]][0]
            for start in range(0, n, chunk_size):
                rows = min(n, start + chunk_size) - start
                out = {}
                for k in keys:
                    dt, shape = self._dtypes[k], self.shapes[k]
                    nbytes = rows * int(np.prod(shape[1:], dtype=np.int64)) * dt.itemsize
                    buf = handles[k].read(nbytes)
                    if len(buf) != nbytes:
                        raise InputFileError(f"{self.path} is truncated: array '{k}' ends "
                                             f"before row {start + rows}")
                    out[k] = np.frombuffer(buf, dtype=dt).reshape(rows, *shape[1:])
                yield out
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputFileError(f"{self.path} is corrupt ({_short(exc)})") from None
        finally:
            for h in handles.values():
                h.close()

    def close(self):
        self._zip.close()


class _CsvTable(_Table):
    """A CSV file with a header row; every column is a 1-D float array."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                n = sum(1 for row in reader if row)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InputFileError(f"{path} is not a readable CSV file ({_short(exc)})") from None
        if not header:
            raise InputFileError(f"{path} is empty (no CSV header row)")
        self.header = [h.strip() for h in header]
        twice = sorted({h for h in self.header if self.header.count(h) > 1})
        if twice:
            raise InputFileError(f"{path}: column '{twice[0]}' appears more than once in the "
                                 "CSV header; rename or drop the duplicate")
        self.shapes = {h: (n,) for h in self.header}
        self.dtypes = {h: np.dtype(np.float64) for h in self.header}

    def iter_rows(self, keys, chunk_size):
        cols = [self.header.index(k) for k in keys]
        with open(self.path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            next(reader)
            line = 1
            while True:
                rows = []
                for row in reader:
                    line += 1
                    if not row:
                        continue
                    try:
                        rows.append([float(row[c]) for c in cols])
                    except (ValueError, IndexError):
                        raise InputFileError(
                            f"{self.path}: line {line} has a missing or non-numeric value "
                            f"in columns {keys}") from None
                    if len(rows) == chunk_size:
                        break
                if not rows:
                    return
                arr = np.asarray(rows, dtype=np.float64)
                yield {k: arr[:, i] for i, k in enumerate(keys)}


def _short(exc: BaseException) -> str:
    """First line of an exception message, for embedding in one sentence."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _open_table(path: Path) -> _Table:
    if path.is_symlink() and not path.exists():
        raise InputFileError(f"{path} is a broken symbolic link or a symbolic link loop")
    if not path.exists():
        raise InputFileError(f"{path} does not exist")
    if path.is_dir():
        raise InputFileError(f"{path} is a directory, not a data file")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path} is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _NpzTable(path)
    if suffix in (".csv", ".txt"):
        return _CsvTable(path)
    return _H5Table(path)


class Source:
    """A validated source file of one detector, read chunk by chunk.

    Attributes:
        path: the file.
        detector: the detector spec the file is read as.
        layout: ``"lhcb"``, ``"cern"``, ``"calochallenge"`` or ``"tabular"``.
        n: number of examples.
        keys: ``{key: shape}`` of every array in the file.
        max_rows_read: largest number of rows read from the file at once so far (lets tests
            prove that memory is bounded by the chunk size).
        n_clipped: negative cells set to 0 so far by ``iter_chunks(clip_negative=True)``.
        linked_files: other files the source reads (HDF5 external links, virtual or external
            datasets); :func:`source_sha256` covers them.
    """

    def __init__(self, path: Path, detector: Detector, table: _Table, layout: str,
                 shower_key: str, condition_keys: list[str], weight_key: str | None) -> None:
        self.path = path
        self.detector = detector
        self.layout = layout
        self.keys = dict(table.shapes)
        self.shower_key = shower_key
        self.condition_keys = condition_keys
        self.weight_key = weight_key
        self.n = table.shapes[shower_key][0]
        self.linked_files = list(table.linked_files)
        self.max_rows_read = 0
        self.n_clipped = 0
        self._table = table

    def __repr__(self) -> str:
        return f"Source({str(self.path)!r}, {self.detector.name!r}, n={self.n})"

    def close(self) -> None:
        """Release the file handle."""
        self._table.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def shower_keys(self) -> list[str]:
        """Keys holding the shower values (one per DLL for tabular data)."""
        if self.layout == "tabular":
            return list(self.detector.shower_names)
        return [self.shower_key]

    def iter_chunks(self, chunk_size: int = 1000,
                    clip_negative: bool = False) -> Iterator[Chunk]:
        """Yield ``(showers, conditions, weights)`` canonical float32 chunks of <= chunk_size.

        Each chunk is checked: values that are NaN or infinite once converted to float32
        (so also |x| > 3.4e38 in a float64 file) and (for energy detectors) negative
        energies raise InputFileError naming the file, key and first bad example, unless
        ``clip_negative`` sets negative energies to 0.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        det = self.detector
        keys = list(dict.fromkeys(self.shower_keys + self.condition_keys
                                  + ([self.weight_key] if self.weight_key else [])))
        start = 0
        for cols in self._table.iter_rows(keys, chunk_size):
            rows = len(cols[keys[0]])
            self.max_rows_read = max(self.max_rows_read, rows)
            for k in keys:
                with np.errstate(over="ignore", invalid="ignore"):
                    bad = ~np.isfinite(np.asarray(cols[k], dtype=np.float32))
                if bad.any():
                    first = start + int(np.argwhere(bad)[0][0])
                    raise InputFileError(
                        f"{self.path}: '{k}' has {int(bad.sum())} NaN or infinite values "
                        f"as float32 (|x| above 3.4e38 overflows) in examples {start}-"
                        f"{start + rows - 1} (first at example {first})")
            showers, conditions = self._assemble(cols, rows)
            if det.nonnegative:
                neg = showers < 0
                if neg.any():
                    if not clip_negative:
                        first = start + int(np.argwhere(neg)[0][0])
                        raise InputFileError(
                            f"{self.path}: '{self.shower_key}' has negative energies "
                            f"(first at example {first}, {float(showers[neg].min()):g} "
                            f"{det.energy_unit}); pass --clip-negative to set them to 0")
                    self.n_clipped += int(neg.sum())
                    np.maximum(showers, 0.0, out=showers)
            if self.weight_key:
                weights = np.asarray(cols[self.weight_key], dtype=np.float32).reshape(rows)
            else:
                weights = np.ones(rows, np.float32)
            yield showers, conditions, weights
            start += rows

    def _assemble(self, cols: dict[str, np.ndarray], rows: int) -> tuple[np.ndarray, np.ndarray]:
        det = self.detector
        f32 = np.float32
        if self.layout == "lhcb":
            showers = np.array(cols["EnergyDeposit"], dtype=f32)
            conditions = np.concatenate([np.asarray(cols["ParticlePoint"], f32),
                                         np.asarray(cols["ParticleMomentum"], f32)], axis=1)
        elif self.layout == "cern":
            showers = np.array(cols["ECAL"], dtype=f32)
            ck = self.condition_keys[0]
            e = cols[ck][:, 1] if ck == "target" else cols[ck]
            conditions = np.asarray(e, f32).reshape(rows, 1)
        elif self.layout == "calochallenge":
            # CaloChallenge convention: MeV, flattened layer-major as (layer, x, y).
            scale = 1.0 if self._calo_gev else 1e-3
            flat = np.asarray(cols["showers"], f32) * f32(scale)
            showers = np.ascontiguousarray(flat.reshape(rows, 25, 25, 25).transpose(0, 2, 3, 1))
            conditions = (np.asarray(cols["incident_energies"], f32) * f32(scale)).reshape(rows, 1)
        else:
            showers = np.stack([np.asarray(cols[k], f32) for k in det.shower_names], axis=1)
            conditions = np.stack([np.asarray(cols[k], f32) for k in det.condition_names], axis=1)
        return showers, conditions

    _calo_gev = False


_DTYPE_KINDS = {"b": "boolean", "c": "complex", "S": "string", "U": "string", "O": "string",
                "V": "compound", "M": "date", "m": "time-delta"}


def _dtype_str(dtype: np.dtype) -> str:
    text = str(dtype)
    return text if len(text) <= 40 else text[:37] + "..."


def source_sha256(path: str | Path, linked_files: list[Path] | tuple = ()) -> str:
    """Content hash of a source: :func:`file_sha256` of the file, or, when it reads other
    files (HDF5 external links), SHA-256 over the file's and every linked file's hashes."""
    if not linked_files:
        return file_sha256(path)
    h = hashlib.sha256(file_sha256(path).encode())
    for linked in linked_files:
        if not Path(linked).is_file():
            raise InputFileError(f"{path} links to {linked}, which does not exist")
        h.update(f"\n{Path(linked).name}:{file_sha256(linked)}".encode())
    return h.hexdigest()


def read_columns(path: str | Path, names: Sequence[str], what: str = "file") -> np.ndarray:
    """The named 1-D numeric columns of a table file, read in full, as float64 ``(N, k)``.

    The file is read as :func:`open_source` reads it: HDF5 (datasets at the top level), npz
    (arrays) or CSV (``.csv``/``.txt``, a header row naming the columns); other keys are
    ignored. For small tables (a user's conditions file); shower files stream through
    :class:`Source`.

    Args:
        path: the file.
        names: column names, in the order of the result's columns.
        what: how error sentences name the file (e.g. ``"conditions file"``).

    Raises:
        InputFileError: a missing, empty or unreadable file, a missing column (all named),
            a column that is not 1-D or not numeric, columns of different lengths, or a
            non-numeric CSV value.
    """
    path = Path(path)
    table = _open_table(path)
    try:
        missing = [n for n in names if n not in table.shapes]
        if missing:
            raise InputFileError(f"{what} {path} lacks column(s) {', '.join(missing)} "
                                 f"(needed: {', '.join(names)})")
        for n in names:
            shape, dtype = table.shapes[n], np.dtype(table.dtypes[n])
            if len(shape) != 1:
                raise InputFileError(f"{what} {path}: column '{n}' must be 1-D, has shape "
                                     f"{_shape_str(shape)}")
            if dtype.kind not in "biuf":
                raise InputFileError(f"{what} {path}: column '{n}' is not numeric "
                                     f"({_DTYPE_KINDS.get(dtype.kind, _dtype_str(dtype))})")
        if len({table.shapes[n][0] for n in names}) > 1:
            raise InputFileError(f"{what} {path} has columns of different lengths")
        chunks = [np.column_stack([np.asarray(rows[n], np.float64) for n in names])
                  for rows in table.iter_rows(list(names), 1 << 16)] if names else []
    finally:
        table.close()
    return np.concatenate(chunks) if chunks else np.empty((0, len(names)), np.float64)


def _missing(path: Path, wanted: str, shapes: dict) -> InputFileError:
    found = ", ".join(sorted(shapes)) or "none"
    return InputFileError(f"{path} has no {wanted} (keys found: {found})")


def open_source(path: str | Path, detector: str | Detector,
                weights_from: str | None = None) -> Source:
    """Open and validate a source file as ``detector`` (see the module doc for layouts).

    Checks the file type, the keys, the shapes and the lengths (reading no data); content
    checks (NaN, negative energies) happen per chunk in :meth:`Source.iter_chunks`.

    Raises:
        InputFileError: one sentence naming the file and the problem.
        UnknownNameError: for an unknown detector name (with the nearest valid name).
    """
    det = get_detector(detector)
    path = Path(path)
    table = _open_table(path)
    try:
        return _validate(path, det, table, weights_from)
    except BaseException:
        table.close()
        raise


def _validate(path: Path, det: Detector, table: _Table, weights_from: str | None) -> Source:
    shapes = table.shapes
    calo_gev = False
    if det.name == "lhcb-ecal":
        layout, shower_key = "lhcb", "EnergyDeposit"
        cond_keys = ["ParticlePoint", "ParticleMomentum"]
        for k in [shower_key, *cond_keys]:
            if k not in shapes:
                raise _missing(path, f"'{k}' dataset for lhcb-ecal", shapes)
        for k in cond_keys:
            if shapes[k][1:] != (3,):
                raise InputFileError(f"{path}: '{k}' has shape {_shape_str(shapes[k])}; "
                                     "lhcb-ecal needs (N, 3)")
    elif det.name == "cern-ecal":
        if "ECAL" in shapes:
            layout, shower_key = "cern", "ECAL"
            if "energy" in shapes:
                cond_keys = ["energy"]
                if shapes["energy"][1:] not in ((), (1,)):
                    raise InputFileError(f"{path}: 'energy' has shape "
                                         f"{_shape_str(shapes['energy'])}; expected (N,)")
            elif "target" in shapes:
                cond_keys = ["target"]
                if len(shapes["target"]) != 2 or shapes["target"][1] < 2:
                    raise InputFileError(f"{path}: 'target' has shape "
                                         f"{_shape_str(shapes['target'])}; expected (N, >=2) "
                                         "with the energy in column 1")
            else:
                raise _missing(path, "'energy' or 'target' dataset next to 'ECAL'", shapes)
        elif "showers" in shapes and "incident_energies" in shapes:
            layout, shower_key, cond_keys = "calochallenge", "showers", ["incident_energies"]
            cells = int(np.prod(shapes["showers"][1:], dtype=np.int64))
            if cells != _CALOCHALLENGE_CELLS:
                raise InputFileError(
                    f"{path}: CaloChallenge 'showers' have shape "
                    f"{_shape_str(shapes['showers'])} ({cells} cells); only 25*25*25 = "
                    f"{_CALOCHALLENGE_CELLS} cells map to cern-ecal")
            if int(np.prod(shapes["incident_energies"][1:], dtype=np.int64)) != 1:
                raise InputFileError(f"{path}: 'incident_energies' has shape "
                                     f"{_shape_str(shapes['incident_energies'])}; expected (N, 1)")
            calo_gev = _h5_attr(table, "energy_unit") == "GeV"
        else:
            raise _missing(path, "'ECAL' dataset (or CaloChallenge 'showers' and "
                           "'incident_energies') for cern-ecal", shapes)
    else:
        layout, shower_key = "tabular", det.shower_names[0]
        cond_keys = list(det.condition_names)
        missing = [k for k in [*det.condition_names, *det.shower_names] if k not in shapes]
        if missing:
            raise _missing(path, f"column{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(repr(m) for m in missing)} for {det.name}", shapes)
        for k in [*det.condition_names, *det.shower_names]:
            if len(shapes[k]) != 1:
                raise InputFileError(f"{path}: column '{k}' has shape "
                                     f"{_shape_str(shapes[k])}; expected (N,)")
    if layout in ("lhcb", "cern") and shapes[shower_key][1:] != det.shower_shape:
        raise InputFileError(
            f"{path}: '{shower_key}' has shape {_shape_str(shapes[shower_key])}; {det.name} "
            f"showers must be (N, {', '.join(map(str, det.shower_shape))})")
    if weights_from is not None:
        if weights_from not in shapes:
            raise _missing(path, f"weight column '{weights_from}'", shapes)
        if int(np.prod(shapes[weights_from][1:], dtype=np.int64)) != 1:
            raise InputFileError(f"{path}: weight column '{weights_from}' has shape "
                                 f"{_shape_str(shapes[weights_from])}; expected (N,)")
    used = [*([shower_key] if layout != "tabular" else det.shower_names), *cond_keys,
            *([weights_from] if weights_from else [])]
    for k in used:
        if len(shapes[k]) == 0:
            raise InputFileError(f"{path}: '{k}' is a single value (a scalar); it needs one "
                                 "value per example, shape (N,)")
        kind = table.dtypes[k].kind
        if kind not in "fiu":
            what = _DTYPE_KINDS.get(kind, "non-numeric")
            raise InputFileError(f"{path}: '{k}' holds {what} values (dtype "
                                 f"{_dtype_str(table.dtypes[k])}); tfcalo reads only real "
                                 "integer or floating-point numbers")
    n = shapes[used[0]][0]
    for k in used[1:]:
        if shapes[k][0] != n:
            raise InputFileError(f"{path}: '{used[0]}' has {n} rows but '{k}' has "
                                 f"{shapes[k][0]}; showers and conditions must have the same "
                                 "length")
    if n == 0:
        raise InputFileError(f"{path} holds no examples ('{used[0]}' has 0 rows)")
    src = Source(path, det, table, layout, shower_key, cond_keys, weights_from)
    src._calo_gev = calo_gev
    return src


def _h5_attr(table: _Table, name: str) -> str | None:
    f = getattr(table, "_file", None)
    if f is None or name not in f.attrs:
        return None
    value = f.attrs[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def detect_detector(path: str | Path) -> str:
    """Guess the detector of a source file from its keys (for ``data inspect``)."""
    path = Path(path)
    table = _open_table(path)
    try:
        shapes = table.shapes
        if "EnergyDeposit" in shapes:
            return "lhcb-ecal"
        if "ECAL" in shapes or ("showers" in shapes and "incident_energies" in shapes):
            return "cern-ecal"
        if any(k.startswith("RichDLL") for k in shapes):
            return "rich-pid"
        raise _missing(path, "recognised layout (EnergyDeposit, ECAL, showers/"
                       "incident_energies or RichDLL* columns); pass --detector", shapes)
    finally:
        table.close()
