"""The ``tfcalo`` command line: parse, call the library or a component, report.

This is the only module that talks to the terminal. A :class:`tfcalo.errors.TfcaloError`
raised anywhere below is printed as one sentence (no traceback) and the exit status is 2.
Heavy imports (TensorFlow) happen inside the commands so that ``tfcalo --help`` is fast.

Each command group lives in its own section below; keep commands thin.
"""

from __future__ import annotations

import functools
import sys

import click

from tfcalo import __version__
from tfcalo.errors import TfcaloError


class _Group(click.Group):
    """A click group that turns TfcaloError into one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TfcaloError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)


def echo(message: str = "", err: bool = False) -> None:
    """Print a line for the user (stdout, or stderr with err=True)."""
    click.echo(message, err=err)


def handles_errors(fn):
    """Decorator for helpers called outside click's invoke (kept for symmetry)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TfcaloError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    return wrapper


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tfcalo")
def main() -> None:
    """tfcalo: train, evaluate and export GAN fast simulation of calorimeter showers.

    \b
    Example:
      tfcalo pipeline run ensemble            # simulate, train, evaluate, export
      tfcalo data simulate --detector lhcb-ecal -n 1000 -o showers.h5
    """


@main.group(cls=_Group)
def data() -> None:
    """Simulate, ingest and inspect shower data.

    \b
    Example:
      tfcalo data simulate --detector cern-ecal -n 2000 --seed 1 -o showers.h5
      tfcalo data ingest showers.h5 -o dataset --detector cern-ecal
      tfcalo data inspect dataset
    """


@main.group(cls=_Group)
def pipeline() -> None:
    """Run TFX-style pipelines (ensemble, aux-regressor, rich) and list past runs.

    \b
    Example:
      tfcalo pipeline list
      tfcalo pipeline run ensemble --preset quick
    """


# ---------------------------------------------------------------------------------------
# data commands (simulate / ingest / inspect)
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# train commands
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# evaluate commands
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# export / generate commands
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# pipeline commands
# ---------------------------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()
