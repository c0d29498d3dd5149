"""Ingest: a source file (or the built-in simulator) -> the canonical dataset artifact.

Library use::

    from tfcalo.data.ingest import run_ingest
    summary = run_ingest("showers.h5", "dataset", "cern-ecal", split=(0.8, 0.1, 0.1), seed=0)

:func:`run_ingest` is ``tfcalo data ingest``; :func:`write_ingest` fills an existing empty
directory and is what the pipelines' ingest component (``tfcalo.components.ingest``) calls.
Validation happens before anything is written; :func:`run_ingest` writes the artifact chunk by
chunk into a temporary directory that is renamed into place on success
(``tfcalo.atomic.atomic_dir``), so a failure leaves no output behind. The source is only ever
opened for reading.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from tfcalo.atomic import atomic_dir, check_output
from tfcalo.data.artifact import parse_split, write_artifact
from tfcalo.data.formats import open_source, source_sha256
from tfcalo.detectors import Detector, get_detector

#: Examples read from the source at once (bounds memory: ~3.6 MB lhcb-ecal, 62 MB cern-ecal).
DEFAULT_CHUNK_SIZE = 1000


def _summary(schema: dict, out_dir: Path) -> dict:
    """Properties of an Examples artifact (also the CLI's summary)."""
    import json

    stats = json.loads((out_dir / "stats.json").read_text())
    det = schema["detector"]["name"]
    ranges = dict(zip(schema["detector"]["condition_names"],
                      schema["detector"]["condition_ranges"], strict=True))
    warnings = [
        f"{count} examples have {name} outside the {det} range "
        f"[{ranges[name][0]:g}, {ranges[name][1]:g}]"
        for name, count in stats["out_of_range"].items() if count
    ]
    return {
        "detector": det,
        "counts": schema["counts"],
        "total": schema["total"],
        "content_hash": schema["content_hash"],
        "source": schema["provenance"].get("source"),
        "source_sha256": schema["provenance"].get("source_sha256"),
        "n_clipped": schema["provenance"].get("n_clipped", 0),
        "out_of_range": stats["out_of_range"],
        "warnings": warnings,
    }


def write_ingest(out_dir: Path, src: str | Path | None, detector: Detector,
           split: tuple[float, float, float], seed: int, weights_from: str | None,
           clip_negative: bool, chunk_size: int, simulate_n: int = 0,
           simulate_seed: int = 0) -> dict:
    """Validate the source (or simulate ``simulate_n`` examples with ``simulate_seed`` when
    ``src`` is None) and write the artifact into the existing empty directory ``out_dir``.

    Returns:
        the summary of :func:`run_ingest`.
    """
    if src is None:
        from tfcalo.data.simulate import simulate_chunks

        def chunks() -> Iterator:
            for c in simulate_chunks(detector, simulate_n, simulate_seed, chunk_size):
                yield c["showers"], c["conditions"], c["weights"]

        provenance = {"source": f"simulate:{detector.name}:n={simulate_n}:seed={simulate_seed}",
                      "source_sha256": f"simulate-{detector.name}-{simulate_n}-{simulate_seed}",
                      "layout": "simulate", "weights_from": None, "clip_negative": False}
        schema = write_artifact(out_dir, chunks(), detector, split, seed, provenance)
        return _summary(schema, out_dir)
    with open_source(src, detector, weights_from) as source:

        def chunks() -> Iterator:
            yield from source.iter_chunks(chunk_size, clip_negative)
            provenance["n_clipped"] = source.n_clipped  # read by write_artifact at the end

        provenance = {
            "source": str(Path(src).resolve()),
            "source_sha256": source_sha256(src, source.linked_files),
            "layout": source.layout,
            "source_keys": {k: list(v) for k, v in source.keys.items()},
            "weights_from": weights_from,
            "clip_negative": bool(clip_negative),
            "chunk_size": int(chunk_size),
        }
        if source.linked_files:
            provenance["linked_files"] = [str(Path(f).resolve()) for f in source.linked_files]
        schema = write_artifact(out_dir, chunks(), detector, split, seed, provenance)
    return _summary(schema, out_dir)


def run_ingest(src: str | Path, out_dir: str | Path, detector: str | Detector,
               split: str | Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
               weights_from: str | None = None, overwrite: bool = False,
               clip_negative: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE) -> dict:
    """Ingest ``src`` into the canonical artifact ``out_dir`` (written atomically).

    Args:
        src: source file (HDF5, npz or CSV in a community layout of ``detector``).
        out_dir: artifact directory; must be absent or empty unless ``overwrite``, and may
            not be, contain or lie inside the source (or a file it links to).
        detector: detector name or spec.
        split: train/val/test fractions (``"0.8,0.1,0.1"`` or a 3-sequence).
        seed: split seed.
        weights_from: source column holding per-example weights (else weights are 1).
        overwrite: replace an existing dataset artifact ``out_dir`` (only a directory with
            schema.json and stats.json; replaced once the new artifact is complete).
        clip_negative: set negative energies to 0 instead of failing.
        chunk_size: examples read at once (bounds memory).

    Returns:
        summary dict: ``detector``, ``counts`` per split, ``total``, ``content_hash``,
        ``source``, ``source_sha256``, ``out_of_range`` per condition and ``warnings``
        (sentences for out-of-range conditions).

    Raises:
        InputFileError, UnknownNameError, ConfigError, OutputExistsError (one sentence each).
    """
    det = get_detector(detector)
    fractions = parse_split(split)
    out_dir = Path(out_dir)
    check_output(out_dir, "dataset", [src], overwrite)
    with open_source(src, det, weights_from) as source:  # validate before creating anything
        linked = source.linked_files
    check_output(out_dir, "dataset", [src, *linked], overwrite)
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        return write_ingest(tmp, src, det, fractions, int(seed), weights_from, clip_negative,
                      int(chunk_size))


__all__ = ["DEFAULT_CHUNK_SIZE", "run_ingest", "write_ingest"]
