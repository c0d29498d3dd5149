"""Writing the canonical dataset artifact (the "Examples" artifact) chunk by chunk.

Directory layout (see docs/internals.md, "Canonical dataset artifact"):

- ``{split}-{k:05d}.tfrecord`` for split in train/val/test; each record is a
  ``tf.train.Example`` with ``shower`` (bytes: raw float32, C order), ``conditions`` (bytes:
  raw float32), ``weight`` (float) and ``index`` (int64, position in the source file).
- ``schema.json``: detector, feature shapes/dtypes, counts and shard files per split, split
  fractions and seed, provenance (source path, SHA-256 of the source bytes, layout, options).
- ``stats.json``: see :class:`StatsAccumulator`.

Splits are assigned per example from a seeded hash of its index (splitmix64), so the
assignment needs no data in memory and does not depend on the chunk size. Memory use is
bounded by one chunk plus the TFRecord writers' buffers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tfcalo.detectors import Detector
from tfcalo.errors import ConfigError

SPLITS = ("train", "val", "test")
FORMAT_NAME = "tfcalo-examples"
FORMAT_VERSION = 1
#: Target uncompressed bytes per TFRecord shard (several shards allow parallel interleave
#: and per-worker file sharding).
SHARD_BYTES = 16 << 20

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
#: Examples (at most) whose observables give the ``observables`` entry of stats.json.
OBSERVABLE_SAMPLE = 10_000
#: Seed of the hash that picks that sample (independent of the split seed's stream).
OBSERVABLE_SEED = 0x0B5E
#: ``layer_profile_curve``: log-spaced primary-energy bins, and the fewest showers a bin needs
LAYER_CURVE_BINS = 12
LAYER_CURVE_MIN_COUNT = 20


def parse_split(split: str | Sequence[float]) -> tuple[float, float, float]:
    """Validate train/val/test fractions (``"0.8,0.1,0.1"`` or a sequence) summing to 1."""
    if isinstance(split, str):
        try:
            values = tuple(float(v) for v in split.split(","))
        except ValueError:
            raise ConfigError(f"split '{split}' must be three numbers like 0.8,0.1,0.1") from None
    else:
        try:
            values = tuple(float(v) for v in split)
        except (TypeError, ValueError):
            raise ConfigError(f"split {split!r} must be three numbers like 0.8,0.1,0.1") from None
    if (len(values) != 3 or not all(np.isfinite(values)) or any(v < 0 for v in values)
            or abs(sum(values) - 1.0) > 1e-6):
        raise ConfigError(f"split {','.join(f'{v:g}' for v in values)} must be three "
                          "non-negative fractions (train,val,test) summing to 1")
    return values  # type: ignore[return-value]


def hash_uniform(index: np.ndarray, seed: int) -> np.ndarray:
    """Uniform number in [0, 1) per global example ``index`` from a seeded hash, float64.

    The splitmix64 finaliser of ``index + seed * golden``; the number is its top 53 bits.
    """
    with np.errstate(over="ignore"):
        z = np.asarray(index, dtype=np.uint64) + np.uint64(seed % (1 << 64)) * np.uint64(
            0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def split_assignment(index: np.ndarray, seed: int,
                     fractions: Sequence[float]) -> np.ndarray:
    """Split id (0 train, 1 val, 2 test) of each global example ``index``, from a seeded hash.

    Deterministic per (index, seed): the same example lands in the same split whatever the
    chunking (:func:`hash_uniform`).
    """
    u = hash_uniform(index, seed)
    edges = np.cumsum(fractions)[:2]
    return np.searchsorted(edges, u, side="right").astype(np.int8)


class _Moments:
    """Streaming count/sum/sum of squares/min/max per column (float64)."""

    def __init__(self, width: int) -> None:
        self.n = 0
        self.s = np.zeros(width)
        self.ss = np.zeros(width)
        self.lo = np.full(width, np.inf)
        self.hi = np.full(width, -np.inf)

    def add(self, x: np.ndarray) -> None:
        if len(x) == 0:
            return
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        self.n += len(x)
        self.s += x.sum(0)
        self.ss += (x * x).sum(0)
        self.lo = np.minimum(self.lo, x.min(0))
        self.hi = np.maximum(self.hi, x.max(0))

    def column(self, i: int) -> dict:
        if self.n == 0:
            return {"mean": None, "std": None, "min": None, "max": None}
        mean = self.s[i] / self.n
        var = max(0.0, self.ss[i] / self.n - mean * mean)
        return {"mean": float(mean), "std": float(np.sqrt(var)),
                "min": float(self.lo[i]), "max": float(self.hi[i])}


class StatsAccumulator:
    """Streaming statistics of showers, conditions and weights (what transforms need).

    ``result()`` gives a JSON-ready dict:
        ``count``; ``conditions`` {name: {mean, std, min, max}} in condition units;
        ``total_energy`` {mean, std, min, max} of the per-shower sum of all cells (energy
        unit); ``max_cell`` (largest single value); ``showers`` {name: {...}} per component
        for tabular detectors; ``weights`` {sum, mean, min, max, n_negative}; for cern-ecal
        and lhcb-ecal ``sf_slope``/``sf_intercept``: least-squares line total = a*E0 + b with
        the primary energy E0 in the energy unit (cern-ecal: Ep; lhcb-ecal: |p|);
        ``out_of_range`` {name: count of values outside the detector's condition range};
        with ``observables=True``, ``observables`` {name: {median, q25, q75, scale, n}} of
        every :func:`tfcalo.physics.observables` entry (unweighted; ``scale`` = IQR / 1.349,
        see :func:`tfcalo.physics.observable_stats`), the robust centres and scales that
        standardise the SAGAN's regression targets. They are computed on a uniform sample of
        at most :data:`OBSERVABLE_SAMPLE` examples: those with the smallest
        ``hash_uniform(index, OBSERVABLE_SEED)`` (deterministic, independent of chunking).
        For cern-ecal and lhcb-ecal also ``sampling_fraction_curve`` from that sample
        (:func:`tfcalo.physics.sampling_fraction_curve`).
        For image detectors ``mean_profiles``: one list per shower axis, the mean over showers
        with a positive sum of the fraction of the shower's energy in each slice along that
        axis (cern-ecal: x, y, layer; lhcb-ecal: y, x), the ``shape_prior`` of generators.
        For detectors with layers ``layer_profile_curve``: the same mean layer profile in
        :data:`LAYER_CURVE_BINS` log-spaced bins of the primary energy over the detector's
        range, ``{"log_energy_gev": [mean log E (GeV) per bin], "profiles": [[fraction per
        layer], ...], "n": [...]}`` (bins of at least :data:`LAYER_CURVE_MIN_COUNT`
        showers; absent with fewer than two): the shower maximum moves deeper with log E.
    """

    def __init__(self, detector: Detector, observables: bool = False) -> None:
        self.detector = detector
        self.obs_on = bool(observables)
        self.obs_names: list[str] = []
        self.obs_priority = np.zeros(0)
        self.obs_values = np.zeros((0, 0))
        self.n_seen = 0
        self.cond = _Moments(detector.n_conditions)
        self.total = _Moments(1)
        self.comp = _Moments(detector.shower_size) if detector.kind == "tabular" else None
        self.weights = _Moments(1)
        self.n_negative_weights = 0
        self.max_cell = -np.inf
        self.fit = np.zeros(5)  # n, Sx, Sy, Sxx, Sxy
        self.out_of_range = np.zeros(detector.n_conditions, dtype=np.int64)
        self.profiles = ([np.zeros(n) for n in detector.shower_shape]
                         if detector.kind != "tabular" else None)
        self.n_profiled = 0
        self.layer_curve = None  # (edges GeV, sums (bins, layers), sum of log E, n)
        if detector.layer_axis is not None:
            corners = np.array(detector.condition_ranges, np.float64).T  # (2, n_conditions)
            lo, hi = self._energy_gev(corners)
            self.layer_curve = (np.geomspace(max(lo, 1e-3), hi, LAYER_CURVE_BINS + 1),
                                np.zeros((LAYER_CURVE_BINS,
                                          detector.shower_shape[detector.layer_axis])),
                                np.zeros(LAYER_CURVE_BINS), np.zeros(LAYER_CURVE_BINS))

    def _energy_gev(self, conditions: np.ndarray) -> np.ndarray:
        """Primary energy in GeV, NaN for tabular detectors."""
        from tfcalo.physics import primary_energy_gev

        if self.detector.kind == "tabular":
            return np.full(len(conditions), np.nan)
        return primary_energy_gev(self.detector, conditions)

    def add(self, showers: np.ndarray, conditions: np.ndarray, weights: np.ndarray,
            index: np.ndarray | None = None) -> None:
        """Add a chunk of canonical arrays (``index``: their global example indices; default:
        running position)."""
        if len(showers) == 0:
            return
        if index is None:
            index = np.arange(self.n_seen, self.n_seen + len(showers))
        self.n_seen += len(showers)
        if self.obs_on:
            self._sample_observables(showers, conditions, index)
        flat = showers.reshape(len(showers), -1)
        total = flat.sum(axis=1, dtype=np.float64)
        e_gev = self._energy_gev(conditions)
        self.cond.add(conditions)
        self.total.add(total)
        if self.comp is not None:
            self.comp.add(flat)
        if self.profiles is not None:
            self._add_profiles(showers, total, e_gev)
        self.weights.add(weights)
        self.n_negative_weights += int((weights < 0).sum())
        self.max_cell = max(self.max_cell, float(flat.max()))
        if self.detector.kind != "tabular":  # primary energy in the shower energy unit
            e0 = e_gev * 1000.0 if self.detector.name == "lhcb-ecal" else e_gev
            self.fit += [len(e0), e0.sum(), total.sum(), (e0 * e0).sum(), (e0 * total).sum()]
        lo = np.array([r[0] for r in self.detector.condition_ranges])
        hi = np.array([r[1] for r in self.detector.condition_ranges])
        self.out_of_range += ((conditions < lo) | (conditions > hi)).sum(axis=0)

    def _add_profiles(self, showers: np.ndarray, total: np.ndarray,
                      e_gev: np.ndarray) -> None:
        """Accumulate the chunk's normalised profiles and, along the layer axis, the layer
        profile per energy bin (``total`` (N,) deposits, ``e_gev`` (N,) primary energies)."""
        keep = total > 0
        if not keep.any():
            return
        axes = range(1, showers.ndim)
        for axis, acc in enumerate(self.profiles):  # projections first: no copy of the chunk
            proj = showers.sum(axis=tuple(a for a in axes if a != axis + 1), dtype=np.float64)
            fractions = proj[keep] / total[keep, None]
            acc += fractions.sum(axis=0)
            if axis == self.detector.layer_axis:
                edges, sums, log_e, n = self.layer_curve
                e = e_gev[keep]
                ok = e > 0
                which = np.clip(np.digitize(e[ok], edges) - 1, 0, len(n) - 1)
                np.add.at(sums, which, fractions[ok])
                np.add.at(log_e, which, np.log(e[ok]))
                np.add.at(n, which, 1)
        self.n_profiled += int(keep.sum())

    def _sample_observables(self, showers: np.ndarray, conditions: np.ndarray,
                            index: np.ndarray) -> None:
        """Keep the observables of the OBSERVABLE_SAMPLE examples of smallest priority."""
        from tfcalo.physics import observables

        priority = hash_uniform(index, OBSERVABLE_SEED)
        if len(self.obs_priority) >= OBSERVABLE_SAMPLE:  # only rows that can enter the sample
            keep = priority < self.obs_priority.max()
            if not keep.any():
                return
            showers, conditions, priority = showers[keep], conditions[keep], priority[keep]
        obs = observables(self.detector, showers, conditions)
        self.obs_names = list(obs)
        # the primary energy rides along as a last column (for sampling_fraction_curve)
        values = np.column_stack([*obs.values(), self._energy_gev(conditions)])
        if len(self.obs_priority):
            priority = np.concatenate([self.obs_priority, priority])
            values = np.concatenate([self.obs_values, values])
        order = np.argsort(priority, kind="stable")[:OBSERVABLE_SAMPLE]
        self.obs_priority, self.obs_values = priority[order], values[order]

    def result(self) -> dict:
        det = self.detector
        out: dict = {
            "count": self.cond.n,
            "conditions": {name: self.cond.column(i)
                           for i, name in enumerate(det.condition_names)},
            "total_energy": self.total.column(0),
            "max_cell": float(self.max_cell) if self.cond.n else None,
        }
        if self.comp is not None:
            out["showers"] = {name: self.comp.column(i) for i, name in enumerate(det.shower_names)}
        w = self.weights.column(0)
        out["weights"] = {"sum": float(self.weights.s[0]), "mean": w["mean"], "min": w["min"],
                          "max": w["max"], "n_negative": self.n_negative_weights}
        n, sx, sy, sxx, sxy = self.fit
        if n >= 2 and n * sxx - sx * sx > 0:
            slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
            out["sf_slope"] = float(slope)
            out["sf_intercept"] = float((sy - slope * sx) / n)
        if self.profiles is not None and self.n_profiled:
            out["mean_profiles"] = [(p / self.n_profiled).tolist() for p in self.profiles]
        if self.layer_curve is not None:
            _, sums, log_e, n = self.layer_curve
            ok = n >= LAYER_CURVE_MIN_COUNT
            if ok.sum() >= 2:
                out["layer_profile_curve"] = {
                    "log_energy_gev": (log_e[ok] / n[ok]).tolist(),
                    "profiles": (sums[ok] / n[ok, None]).tolist(), "n": n[ok].astype(int).tolist()}
        out["out_of_range"] = {name: int(c) for name, c in
                               zip(det.condition_names, self.out_of_range, strict=True)}
        if self.obs_on and self.obs_names:
            from tfcalo.physics import observable_stats

            out["observables"] = observable_stats(
                {name: self.obs_values[:, i] for i, name in enumerate(self.obs_names)})
            if "sampling_fraction" in self.obs_names:
                from tfcalo.physics import sampling_fraction_curve

                curve = sampling_fraction_curve(
                    self.obs_values[:, -1],
                    self.obs_values[:, self.obs_names.index("sampling_fraction")])
                if curve is not None:
                    out["sampling_fraction_curve"] = curve
        return out


def _example_bytes(shower: bytes, conditions: bytes, weight: float, index: int) -> bytes:
    import tensorflow as tf

    feature = {
        "shower": tf.train.Feature(bytes_list=tf.train.BytesList(value=[shower])),
        "conditions": tf.train.Feature(bytes_list=tf.train.BytesList(value=[conditions])),
        "weight": tf.train.Feature(float_list=tf.train.FloatList(value=[weight])),
        "index": tf.train.Feature(int64_list=tf.train.Int64List(value=[index])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class _ShardWriter:
    """Rotating TFRecord writers for one split."""

    def __init__(self, out_dir: Path, split: str, rows_per_shard: int, compression: str) -> None:
        self.out_dir, self.split = out_dir, split
        self.rows_per_shard, self.compression = rows_per_shard, compression
        self.files: list[str] = []
        self.count = 0
        self._writer = None
        self._in_shard = 0

    def write(self, record: bytes) -> None:
        import tensorflow as tf

        if self._writer is None or self._in_shard >= self.rows_per_shard:
            self.close()
            name = f"{self.split}-{len(self.files):05d}.tfrecord"
            options = tf.io.TFRecordOptions(compression_type=self.compression)
            self._writer = tf.io.TFRecordWriter(str(self.out_dir / name), options)
            self.files.append(name)
            self._in_shard = 0
        self._writer.write(record)
        self._in_shard += 1
        self.count += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def write_artifact(out_dir: str | Path, chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
                   detector: Detector, split: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                   provenance: dict | None = None, compression: str = "",
                   shard_bytes: int = SHARD_BYTES) -> dict:
    """Write the canonical artifact into the (existing, empty) directory ``out_dir``.

    Args:
        out_dir: directory to fill (normally the temporary dir of ``tfcalo.atomic.atomic_dir``).
        chunks: canonical ``(showers, conditions, weights)`` chunks in source order.
        detector: the detector spec.
        split: train/val/test fractions.
        seed: split seed.
        provenance: JSON-able description of the source (path, ``source_sha256``, options).
        compression: TFRecord compression (``""`` or ``"GZIP"``).
        shard_bytes: target uncompressed bytes per shard.

    Returns:
        the schema dict (also written to ``schema.json``); stats go to ``stats.json``.
    """
    out_dir = Path(out_dir)
    fractions = parse_split(split)
    example_bytes = 4 * (detector.shower_size + detector.n_conditions) + 32
    rows = max(1, shard_bytes // example_bytes)
    writers = [_ShardWriter(out_dir, s, rows, compression) for s in SPLITS]
    train_stats = StatsAccumulator(detector, observables=True)
    all_stats = StatsAccumulator(detector)
    start = 0
    try:
        for showers, conditions, weights in chunks:
            n = len(showers)
            index = np.arange(start, start + n, dtype=np.int64)
            which = split_assignment(index, seed, fractions)
            all_stats.add(showers, conditions, weights)
            train = which == 0
            train_stats.add(showers[train], conditions[train], weights[train], index[train])
            showers = np.ascontiguousarray(showers, dtype=np.float32)
            conditions = np.ascontiguousarray(conditions, dtype=np.float32)
            for i in range(n):
                record = _example_bytes(showers[i].tobytes(), conditions[i].tobytes(),
                                        float(weights[i]), int(index[i]))
                writers[which[i]].write(record)
            start += n
    finally:
        for w in writers:
            w.close()
    stats = train_stats.result() if train_stats.cond.n else all_stats.result()
    stats["computed_on"] = "train" if train_stats.cond.n else "all"
    stats["out_of_range"] = all_stats.result()["out_of_range"]
    provenance = dict(provenance or {})
    provenance.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
    from tfcalo import __version__

    provenance.setdefault("tfcalo_version", __version__)
    split_info = {"fractions": list(fractions), "seed": int(seed),
                  "method": "splitmix64 hash of the example index"}
    identity = {"source_sha256": provenance.get("source_sha256"), "split": split_info,
                "detector": detector.name, "format_version": FORMAT_VERSION,
                "options": {k: provenance.get(k) for k in ("weights_from", "clip_negative")}}
    content_hash = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    schema = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "detector": detector.to_dict(),
        "features": {
            "shower": {"dtype": "float32", "shape": list(detector.shower_shape),
                       "unit": detector.energy_unit, "names": list(detector.shower_names)},
            "conditions": {"dtype": "float32", "shape": [detector.n_conditions],
                           "names": list(detector.condition_names),
                           "units": list(detector.condition_units)},
            "weight": {"dtype": "float32", "shape": []},
            "index": {"dtype": "int64", "shape": []},
        },
        "counts": {s: w.count for s, w in zip(SPLITS, writers, strict=True)},
        "total": start,
        "shards": {s: w.files for s, w in zip(SPLITS, writers, strict=True)},
        # bytes per shard file: Dataset.open detects a truncated or replaced shard cheaply
        "shard_sizes": {f: (out_dir / f).stat().st_size for w in writers for f in w.files},
        "compression": compression,
        "split": split_info,
        "provenance": provenance,
        "content_hash": content_hash,
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    (out_dir / "schema.json").write_text(json.dumps(schema, indent=2) + "\n")
    return schema
