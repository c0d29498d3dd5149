"""Atomic output directories: write into a temporary sibling, rename into place on success.

A crash (or an error) inside the ``with`` block removes the temporary directory, so no half
artifact ever sits at the final path looking whole, and an existing output is never deleted
unless ``overwrite`` was asked for and the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from tfcalo.errors import OutputExistsError


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
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` when the block succeeds.

    Example:
        >>> with atomic_dir("out/dataset") as tmp:   # doctest: +SKIP
        ...     (tmp / "schema.json").write_text("{}")
    """
    final = check_output_dir(path, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)
