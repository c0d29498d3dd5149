"""User-facing errors.

Every error a user can cause (a bad file, a bad config, an unknown name) is raised as one of
these types with a single clear sentence that names the file or key and what is wrong. The
CLI prints ``str(error)`` without a traceback and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TfcaloError(Exception):
    """Base class of every user-facing tfcalo error (the CLI exits 2 on it)."""


class InputFileError(TfcaloError):
    """A source file is missing, unreadable, corrupt, or has the wrong layout or content."""


class ConfigError(TfcaloError):
    """A configuration file, key or value is invalid."""


class UnknownNameError(TfcaloError):
    """An unknown detector, model, pipeline, preset or similar name."""


class ArtifactError(TfcaloError):
    """An artifact directory is missing, incomplete or of the wrong type."""


class OutputExistsError(TfcaloError):
    """An output location already holds data and overwriting was not requested."""


class OutputConflictError(OutputExistsError):
    """An output location is, contains or lies inside one of the command's inputs, or is a
    directory that tfcalo did not write as that kind of output (so --overwrite may not
    replace it)."""


class TrainingDivergedError(TfcaloError):
    """Training produced non-finite (NaN or infinite) losses."""


class NotBlessedError(TfcaloError):
    """A model failed (or never passed) evaluation and export was not forced."""


def nearest(name: str, choices: Iterable[str]) -> str | None:
    """Return the choice closest to ``name`` (for 'did you mean' hints), or None."""
    choices = list(choices)
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.0)
    return match[0] if match else None


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build the standard error for an unknown name, suggesting the nearest valid one.

    Example:
        >>> str(unknown_name("detector", "lhcb", ["lhcb-ecal", "cern-ecal"]))
        "unknown detector 'lhcb'; did you mean 'lhcb-ecal'? (valid: cern-ecal, lhcb-ecal)"
    """
    choices = sorted(choices)
    hint = nearest(name, choices)
    suggestion = f"; did you mean '{hint}'?" if hint else ""
    return UnknownNameError(
        f"unknown {kind} '{name}'{suggestion} (valid: {', '.join(choices)})"
    )
