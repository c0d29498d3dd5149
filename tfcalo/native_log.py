"""TensorFlow's native (C++) log lines: kept off the terminal, kept in a log file.

TensorFlow and the libraries under it (absl, oneDNN, the CUDA stubs) write lines such as
``E0000 ... failed call to cuInit`` or ``W0000 ... remapper failed: INVALID_ARGUMENT`` from
C++ straight to file descriptor 2, some of them on import whatever TF_CPP_MIN_LOG_LEVEL says.
They are notices, not failures, but a physicist reads "E0000" as one.

:func:`divert` (called by the ``tfcalo`` command before anything imports TensorFlow) points
descriptor 2 at a log file and gives Python a new ``sys.stderr`` on the original terminal: the
CLI's messages, Python warnings and tracebacks still reach the user, the native lines go to
the file (a fatal signal still prints a Python traceback on the terminal: faulthandler).
:func:`to_file` points the native lines at another file for a while (the pipeline engine
sends a component's lines to that component's log). Nothing here changes anything unless
:func:`divert` ran, so library users and tests see TensorFlow's output as usual.

``TFCALO_TF_LOG`` chooses where the lines go (:func:`target`): unset, empty or ``0``: the file
:func:`default_path` (``$XDG_CACHE_HOME/tfcalo/tensorflow.log``, default
``~/.cache/tfcalo/tensorflow.log``); ``1``: the terminal, as without tfcalo; anything else:
that file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import faulthandler
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ENV = "TFCALO_TF_LOG"
#: A log file larger than this is moved to ``<name>.1`` (replacing it) before a new run.
MAX_BYTES = 5_000_000

_SHOW = ("1", "true", "yes", "on", "show", "stderr")
_DEFAULT = ("", "0", "false", "no", "off")

_diverted_to: Path | None = None  # the file descriptor 2 points at between to_file() blocks


def default_path() -> Path:
    """``$XDG_CACHE_HOME/tfcalo/tensorflow.log`` (``~/.cache/tfcalo/tensorflow.log``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "tfcalo" / "tensorflow.log"


def target(value: str | None = None) -> Path | None:
    """Where native lines should go for a ``TFCALO_TF_LOG`` value (default: the environment's).

    Returns:
        the log file, or None for "leave them on the terminal".
    """
    value = (os.environ.get(ENV, "") if value is None else value).strip()
    if value.lower() in _SHOW:
        return None
    if value.lower() in _DEFAULT:
        return default_path()
    return Path(value).expanduser()


def diverted() -> Path | None:
    """The log file native lines go to, or None if :func:`divert` has not run."""
    return _diverted_to


def _open_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def divert(path: str | Path, header: str = "") -> bool:
    """Send what is written to file descriptor 2 to ``path`` (appended) from now on.

    Python keeps the terminal: ``sys.stderr`` becomes a new line-buffered stream on a
    duplicate of the original descriptor 2. Call it once, early (before TensorFlow is
    imported); a second call changes nothing.

    Args:
        path: the log file (its directory is created; a file above :data:`MAX_BYTES` is moved
            to ``<name>.1`` first).
        header: text written to the file first (e.g. the command line and the time).

    Returns:
        True if the lines now go to ``path``; False if the file cannot be written (nothing
        is changed then: the lines stay on the terminal).
    """
    global _diverted_to
    if _diverted_to is not None:
        return True
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > MAX_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
        fd = _open_append(path)
    except OSError:
        return False
    try:
        if header:
            os.write(fd, header.encode("utf-8", "backslashreplace"))
        sys.stderr.flush()
        terminal = os.dup(2)
        os.dup2(fd, 2)
    finally:
        os.close(fd)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=encoding,
                           errors="backslashreplace")
    faulthandler.enable(file=sys.stderr)
    _diverted_to = path
    return True


def divert_as_configured(argv: list[str] | None = None) -> Path | None:
    """:func:`divert` to :func:`target` (``TFCALO_TF_LOG``), with a header naming the command.

    Only when Python's ``sys.stderr`` is the process's own (a test runner's or click's
    CliRunner's captured stream is left alone).

    Returns:
        the log file, or None if the lines stay on the terminal.
    """
    path = target()
    if path is None or sys.stderr is not sys.__stderr__:
        return None
    now = _dt.datetime.now().isoformat(timespec="seconds")
    command = " ".join(["tfcalo", *(argv if argv is not None else sys.argv[1:])])
    return path if divert(path, f"==== {now} pid {os.getpid()}: {command}\n") else None


@contextlib.contextmanager
def to_file(path: str | Path) -> Iterator[None]:
    """Inside the block, native lines go to ``path`` (appended); afterwards back to the file
    of :func:`divert`. Does nothing if :func:`divert` has not run or ``path`` cannot be
    opened."""
    if _diverted_to is None:
        yield
        return
    try:
        fd = _open_append(Path(path))
    except OSError:
        yield
        return
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield
    finally:
        try:
            fd = _open_append(_diverted_to)
        except OSError:  # the log's directory vanished: drop the lines rather than fail
            fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 2)
        os.close(fd)
