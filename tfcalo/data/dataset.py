"""Reading the canonical dataset artifact: metadata, tf.data input, numpy loading, weights.

The artifact is written by :func:`tfcalo.data.artifact.write_artifact` (through
:func:`tfcalo.data.ingest.run_ingest`). Training streams it with :meth:`Dataset.tf_dataset`: shards are
read by a parallel interleave, examples shuffled (seeded), batched, and only then parsed
(one ``tf.io.parse_example`` + ``tf.io.decode_raw`` per batch), then prefetched.

Per-example weights (sWeights, boosting weights) can live in a separate small "weights
artifact" (``weights.h5`` with ``index`` int64 and ``weight`` float32, plus ``meta.json``)
written by :func:`write_weights`; :meth:`Dataset.tf_dataset` swaps them in by ``index``
without copying the showers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfcalo.data.artifact import FORMAT_NAME, SPLITS
from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ArtifactError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

#: Bytes of examples held in the default shuffle buffer.
SHUFFLE_BYTES = 64 << 20


class Dataset:
    """A canonical dataset artifact directory.

    Attributes:
        path: the artifact directory.
        schema: parsed ``schema.json``.
        stats: parsed ``stats.json``.
        detector: the :class:`~tfcalo.detectors.Detector`.

    Example:
        >>> ds = Dataset.open("dataset")                        # doctest: +SKIP
        >>> for showers, conditions, weights in ds.tf_dataset("train", 256, seed=0):
        ...     ...                                              # (256, 30, 30), (256, 6), (256,)
    """

    def __init__(self, path: Path, schema: dict, stats: dict) -> None:
        self.path = path
        self.schema = schema
        self.stats = stats
        self.detector: Detector = get_detector(schema["detector"]["name"])

    @classmethod
    def open(cls, path: str | Path) -> Dataset:
        """Open an artifact directory; raises ArtifactError if it is not one."""
        path = Path(path)
        if not path.is_dir():
            raise ArtifactError(f"dataset {path} does not exist or is not a directory")
        docs = {}
        for name in ("schema.json", "stats.json"):
            f = path / name
            if not f.is_file():
                raise ArtifactError(f"{path} is not a tfcalo dataset (no {name}); create one "
                                    "with 'tfcalo data ingest'")
            try:
                docs[name] = json.loads(f.read_text())
            except json.JSONDecodeError as exc:
                raise ArtifactError(f"{f} is not valid JSON ({exc.msg})") from None
        schema = docs["schema.json"]
        if not isinstance(schema, dict) or schema.get("format") != FORMAT_NAME:
            raise ArtifactError(f"{path}/schema.json is not a {FORMAT_NAME} schema")
        _check_schema(path, schema, docs["stats.json"])
        sizes = schema.get("shard_sizes") or {}
        for split in SPLITS:
            for shard in schema["shards"][split]:
                if not (path / shard).is_file():
                    raise ArtifactError(f"dataset {path} is incomplete: shard {shard} is "
                                        "missing")
                size = (path / shard).stat().st_size
                if shard in sizes and sizes[shard] != size:
                    raise ArtifactError(f"dataset {path} is damaged: shard {shard} has {size} "
                                        f"bytes, not the {sizes[shard]} written at ingest "
                                        "(truncated or replaced); ingest the data again")
        return cls(path, schema, docs["stats.json"])

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={self.count(s)}" for s in SPLITS)
        return f"Dataset({str(self.path)!r}, {self.detector.name}, {counts})"

    @property
    def content_hash(self) -> str:
        """Fingerprint of the data: source bytes hash + split + options (hex SHA-256)."""
        return self.schema["content_hash"]

    def count(self, split: str) -> int:
        """Number of examples in ``split`` (train/val/test)."""
        return int(self.schema["counts"][self._check_split(split)])

    def shard_paths(self, split: str) -> list[str]:
        """Absolute paths of the TFRecord shards of ``split``."""
        return [str(self.path / s) for s in self.schema["shards"][self._check_split(split)]]

    def _check_split(self, split: str) -> str:
        if split not in SPLITS:
            from tfcalo.errors import unknown_name

            raise unknown_name("split", split, SPLITS)
        return split

    # -- tf.data -------------------------------------------------------------------------

    def tf_dataset(self, split: str, batch_size: int, shuffle: bool = True,
                   seed: int | None = None, repeat: bool = False,
                   weights: str | Path | None = None, drop_remainder: bool = False,
                   shard_for_workers: bool = True, input_context: Any = None,
                   shuffle_buffer: int | None = None) -> tf.data.Dataset:
        """Batches ``(showers, conditions, weights)`` of ``split`` as a ``tf.data.Dataset``.

        Args:
            split: "train", "val" or "test".
            batch_size: examples per batch (the GLOBAL batch when ``input_context`` is given;
                each input pipeline then gets the per-replica share).
            shuffle: shuffle shard order and examples (buffer bounded to ~64 MB).
            seed: shuffle seed (same seed, same order); use one under multi-worker input.
            repeat: repeat forever.
            weights: a weights artifact dir (:func:`write_weights`) whose values replace the
                stored weights by ``index``.
            drop_remainder: drop the last partial batch.
            shard_for_workers: let tf.distribute auto-shard (AUTO: by file, else by data);
                False sets AutoShardPolicy.OFF.
            input_context: a ``tf.distribute.InputContext`` (from
                ``distribute_datasets_from_function``): shard explicitly by input pipeline.
            shuffle_buffer: examples in the shuffle buffer (default from SHUFFLE_BYTES).

        Returns:
            dataset of float32 ``(B, *shower_shape)``, ``(B, n_conditions)``, ``(B,)``.
        """
        ds = self._batched(split, batch_size, shuffle, seed, repeat, weights, drop_remainder,
                           shard_for_workers, input_context, shuffle_buffer)
        return ds.map(lambda s, c, w, i: (s, c, w))

    def _batched(self, split, batch_size, shuffle=False, seed=None, repeat=False, weights=None,
                 drop_remainder=False, shard_for_workers=True, input_context=None,
                 shuffle_buffer=None) -> tf.data.Dataset:
        import tensorflow as tf

        files = self.shard_paths(split)
        det = self.detector
        autotune = tf.data.AUTOTUNE
        if input_context is not None:
            batch_size = input_context.get_per_replica_batch_size(batch_size)
        file_ds = tf.data.Dataset.from_tensor_slices(tf.constant(files, dtype=tf.string)
                                                     if files else tf.zeros([0], tf.string))
        by_file = input_context is not None and len(files) >= input_context.num_input_pipelines
        if by_file:
            file_ds = file_ds.shard(input_context.num_input_pipelines,
                                    input_context.input_pipeline_id)
        if shuffle and len(files) > 1:
            file_ds = file_ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        compression = self.schema.get("compression", "")
        ds = file_ds.interleave(
            lambda f: tf.data.TFRecordDataset(f, compression_type=compression,
                                              buffer_size=1 << 20),
            cycle_length=max(1, min(4, len(files))), block_length=16,
            num_parallel_calls=autotune, deterministic=(seed is not None or not shuffle))
        if input_context is not None and not by_file:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if shuffle:
            example_bytes = 4 * (det.shower_size + det.n_conditions) + 32
            buf = shuffle_buffer or max(batch_size, min(10_000, SHUFFLE_BYTES // example_bytes))
            ds = ds.shuffle(buf, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        table = self._weight_table(weights) if weights is not None else None
        spec = {
            "shower": tf.io.FixedLenFeature([], tf.string),
            "conditions": tf.io.FixedLenFeature([], tf.string),
            "weight": tf.io.FixedLenFeature([], tf.float32),
            "index": tf.io.FixedLenFeature([], tf.int64),
        }
        shape, n_cond = list(det.shower_shape), det.n_conditions

        def parse(records):
            ex = tf.io.parse_example(records, spec)
            showers = tf.reshape(tf.io.decode_raw(ex["shower"], tf.float32), [-1, *shape])
            conds = tf.reshape(tf.io.decode_raw(ex["conditions"], tf.float32), [-1, n_cond])
            w = ex["weight"]
            if table is not None:
                w = tf.gather(table, ex["index"])
                w = tf.debugging.assert_all_finite(
                    w, f"weights artifact {weights} has no weight for some example index")
            return showers, conds, w, ex["index"]

        ds = ds.map(parse, num_parallel_calls=autotune, deterministic=True)
        options = tf.data.Options()
        policy = tf.data.experimental.AutoShardPolicy
        explicit = input_context is not None or not shard_for_workers
        options.experimental_distribute.auto_shard_policy = (
            policy.OFF if explicit else policy.AUTO)
        ds = ds.with_options(options)
        return ds.prefetch(autotune)

    def _weight_table(self, weights_dir: str | Path):
        """Dense float32 table index -> weight (NaN where the artifact has no entry)."""
        import tensorflow as tf

        index, values = read_weights(weights_dir)
        total = int(self.schema["total"])
        if len(index) and (index.min() < 0 or index.max() >= total):
            raise ArtifactError(f"weights artifact {weights_dir} has indices outside "
                                f"0..{total - 1} of dataset {self.path}")
        table = np.full(total, np.nan, np.float32)
        table[index] = values
        return tf.constant(table)

    # -- numpy ---------------------------------------------------------------------------

    def iter_batches(self, split: str, batch_size: int = 1024,
                     weights: str | Path | None = None) -> Iterator[dict[str, np.ndarray]]:
        """Stream ``split`` in file order, ``batch_size`` examples at a time (memory bounded
        by the batch, not the split).

        Yields:
            ``{"showers": (b, *shower_shape) float32, "conditions": (b, n_conditions)
            float32, "weights": (b,) float32, "index": (b,) int64}`` with b <= batch_size.
        """
        if not self.count(split):
            return
        ds = self._batched(split, batch_size, shuffle=False, weights=weights,
                           shard_for_workers=False)
        for s, c, w, i in ds.as_numpy_iterator():
            yield {"showers": s, "conditions": c, "weights": w, "index": i}

    def load(self, split: str, limit: int | None = None,
             weights: str | Path | None = None) -> dict[str, np.ndarray]:
        """Read (the first ``limit`` examples of) ``split`` in file order as numpy arrays.

        Returns:
            ``{"showers": (N, *shower_shape) float32, "conditions": (N, n_conditions)
            float32, "weights": (N,) float32, "index": (N,) int64}``.
        """
        det = self.detector
        out: dict[str, list] = {"showers": [], "conditions": [], "weights": [], "index": []}
        n = 0
        for batch in self.iter_batches(split, 1024, weights=weights):
            for key in out:
                out[key].append(batch[key])
            n += len(batch["index"])
            if limit is not None and n >= limit:
                break
        empty = {"showers": np.zeros((0, *det.shower_shape), np.float32),
                 "conditions": np.zeros((0, det.n_conditions), np.float32),
                 "weights": np.zeros(0, np.float32), "index": np.zeros(0, np.int64)}
        return {k: (np.concatenate(v)[:limit] if v else empty[k]) for k, v in out.items()}


def _check_schema(path: Path, schema: dict, stats: Any) -> None:
    """ArtifactError (one sentence) unless schema.json/stats.json have the fields and types
    a reader relies on (e.g. a hand-edited schema without ``shards``)."""
    def bad(what: str) -> ArtifactError:
        return ArtifactError(f"{path}/schema.json is damaged: {what}; ingest the data again")

    for key, kind in (("detector", dict), ("shards", dict), ("counts", dict), ("total", int),
                      ("content_hash", str)):
        if not isinstance(schema.get(key), kind) or isinstance(schema.get(key), bool):
            found = type(schema[key]).__name__ if key in schema else "missing"
            raise bad(f"'{key}' must be {'an object' if kind is dict else 'a ' + kind.__name__}"
                      f" (found {found})")
    if not isinstance(schema["detector"].get("name"), str):
        raise bad("'detector.name' is missing")
    try:
        get_detector(schema["detector"]["name"])
    except ArtifactError:
        raise
    except Exception as exc:
        raise bad(str(exc)) from None
    for split in SPLITS:
        shards = schema["shards"].get(split)
        if not isinstance(shards, list) or not all(isinstance(f, str) for f in shards):
            raise bad(f"'shards.{split}' must be a list of file names")
        if any(Path(f).name != f or f in ("", ".", "..") for f in shards):
            raise bad(f"'shards.{split}' names a file outside the dataset directory")
        count = schema["counts"].get(split)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise bad(f"'counts.{split}' must be a non-negative integer")
    if not isinstance(stats, dict):
        raise ArtifactError(f"{path}/stats.json is damaged: it must be a JSON object; ingest "
                            "the data again")


# -- weights artifact ---------------------------------------------------------------------

def write_weights(out_dir: str | Path, index: np.ndarray, weights: np.ndarray,
                  meta: dict | None = None) -> None:
    """Write a weights artifact: ``weights.h5`` (``index`` int64, ``weight`` float32) + meta.

    Args:
        out_dir: existing directory to write into (e.g. an atomic_dir temp dir).
        index: (N,) global example indices (the dataset's ``index`` feature), unique.
        weights: (N,) float32 weights (may be negative: sWeights).
        meta: JSON-able description (e.g. {"kind": "boosting", "dataset": content_hash}).
    """
    import h5py

    index = np.asarray(index, dtype=np.int64).reshape(-1)
    weights = np.asarray(weights, dtype=np.float32).reshape(-1)
    if index.shape != weights.shape:
        raise ValueError(f"index has {len(index)} entries but weights {len(weights)}")
    if len(np.unique(index)) != len(index):
        raise ValueError("index has duplicate entries")
    out_dir = Path(out_dir)
    with h5py.File(out_dir / "weights.h5", "w") as f:
        f.create_dataset("index", data=index)
        f.create_dataset("weight", data=weights)
    (out_dir / "meta.json").write_text(json.dumps(meta or {}, indent=2) + "\n")


def read_weights(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a weights artifact dir: ``(index int64 (N,), weights float32 (N,))``."""
    import h5py

    f = Path(path) / "weights.h5"
    if not f.is_file():
        raise ArtifactError(f"{path} is not a weights artifact (no weights.h5)")
    try:
        with h5py.File(f, "r") as h:
            return np.asarray(h["index"][:], np.int64), np.asarray(h["weight"][:], np.float32)
    except (OSError, KeyError) as exc:
        raise ArtifactError(f"{f} is not a readable weights file ({exc})") from None
