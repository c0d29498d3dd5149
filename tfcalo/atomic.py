"""Atomic output directories: write into a temporary sibling, rename into place on success.

A crash (or an error) inside the ``with`` block removes the temporary directory, so no half
artifact ever sits at the final path looking whole, and an existing output is never deleted
unless ``overwrite`` was asked for and the new one is complete.

:func:`check_output` is the one check every command runs on its output directory before any
work: the output may not be, contain or lie inside any input, and ``--overwrite`` only
replaces a directory that tfcalo itself wrote as that kind of output (recognised by its
record files, :data:`OUTPUT_RECORDS`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from tfcalo.errors import OutputConflictError, OutputExistsError

#: Record files (all present) that mark a directory as tfcalo's own output of each kind.
OUTPUT_RECORDS: dict[str, tuple[str, ...]] = {
    "dataset": ("schema.json", "stats.json"),
    "run": ("run.json",),
    "evaluation": ("metrics.json", "blessing.json"),
    "export": ("model_card.json", "saved_model.pb"),
}
_KIND_NAMES = {"dataset": "dataset artifact", "run": "run directory",
               "evaluation": "evaluation", "export": "SavedModel export"}


def _real(path: str | Path) -> Path:
    """Absolute path with symlinks followed (never raises, also for symlink loops)."""
    return Path(os.path.realpath(os.path.abspath(os.path.expanduser(str(path)))))


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_not_input(output: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Refuse an ``output`` that is, contains or lies inside any of ``inputs``.

    Paths are compared after following symlinks; None inputs are skipped.

    Raises:
        OutputConflictError: one sentence naming the output and the input.
    """
    out = _real(output)
    for given in inputs:
        if given is None:
            continue
        src = _real(given)
        if out == src:
            how = "is"
        elif _inside(src, out):
            how = "contains"
        elif _inside(out, src):
            how = "lies inside"
        else:
            continue
        raise OutputConflictError(f"output {output} {how} the input {given}; choose an output "
                                  "path outside every input")


def is_output_of(path: str | Path, kind: str) -> bool:
    """True if directory ``path`` holds every record file of a tfcalo ``kind`` output."""
    path = Path(path)
    return path.is_dir() and all((path / name).is_file() for name in OUTPUT_RECORDS[kind])


def check_output(path: str | Path, kind: str, inputs: Iterable[str | Path | None] = (),
                 overwrite: bool = False) -> Path:
    """Check an output directory before any work is done (nothing is written).

    Args:
        path: the output directory.
        kind: ``dataset``, ``run``, ``evaluation`` or ``export`` (see :data:`OUTPUT_RECORDS`).
        inputs: the command's input paths (files or directories; None skipped).
        overwrite: whether the user asked to replace an existing output.

    Returns:
        ``Path(path)``.

    Raises:
        OutputConflictError: ``path`` is, contains or lies inside an input, or ``overwrite``
            was asked for a non-empty directory that is not a tfcalo ``kind`` output.
        OutputExistsError: ``path`` is a file, or a non-empty directory without
            ``overwrite``.
    """
    check_not_input(path, inputs)
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise OutputExistsError(f"output {path} is a broken symbolic link")
    if path.exists():
        if not path.is_dir():
            raise OutputExistsError(f"output {path} exists and is not a directory")
        if any(path.iterdir()):
            if not overwrite:
                raise OutputExistsError(
                    f"output directory {path} is not empty; pass --overwrite to replace it")
            if not is_output_of(path, kind):
                records = " and ".join(OUTPUT_RECORDS[kind])
                raise OutputConflictError(
                    f"output directory {path} is not a tfcalo {_KIND_NAMES[kind]} (no "
                    f"{records}), so --overwrite will not replace it; choose another output")
    return path


def replace_dir(new: str | Path, final: str | Path) -> None:
    """Move the complete directory ``new`` to ``final``; an old ``final`` is renamed away
    first and deleted only once ``new`` is in place."""
    new, final = Path(new), Path(final)
    old = None
    if final.exists() or final.is_symlink():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    os.replace(new, final)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()


def check_output_dir(path: str | Path, overwrite: bool) -> Path:
    """Refuse a non-empty existing ``path`` unless ``overwrite`` (raises OutputExistsError)."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputExistsError(f"output {path} exists and is not a directory")
        if any(path.iterdir()) and not overwrite:
            raise OutputExistsError(
                f"output directory {path} is not empty; pass --overwrite to replace it"
            )
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False, kind: str | None = None,
               inputs: Iterable[str | Path | None] = ()) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` when the block succeeds.

    With ``kind``, ``path`` is first checked by :func:`check_output` (against ``inputs``, and
    ``overwrite`` only replaces a tfcalo output of that kind).

    Example:
        >>> with atomic_dir("out/dataset") as tmp:   # doctest: +SKIP
        ...     (tmp / "schema.json").write_text("{}")
    """
    if kind is not None:
        check_output(path, kind, inputs, overwrite)
    final = check_output_dir(path, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, final)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
