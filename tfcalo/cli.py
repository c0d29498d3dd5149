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


@data.command("simulate")
@click.option("--detector", required=True,
              type=click.Choice(["lhcb-ecal", "cern-ecal", "rich-pid"]),
              help="Detector whose community layout is written.")
@click.option("-n", "n", type=click.IntRange(min=1), default=10000, show_default=True,
              help="Number of events.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed (same seed, same file, whatever the chunk size).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output HDF5 file.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Events generated and written per chunk (bounds memory).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def data_simulate(detector: str, n: int, seed: int, output: str, chunk_size: int,
                  overwrite: bool) -> None:
    """Simulate showers (GFlash-style) or RICH PID tracks into a community-layout file.

    lhcb-ecal writes EnergyDeposit/ParticlePoint/ParticleMomentum, cern-ecal writes
    ECAL/energy, rich-pid writes one column per variable including `sweight` (use
    `--weights-from sweight` at ingest). The file appears only when complete.

    \b
    Example:
      tfcalo data simulate --detector lhcb-ecal -n 10000 --seed 1 -o showers.h5
    """
    from tfcalo.data.simulate import simulate_to_file

    path = simulate_to_file(detector, n, seed, output, chunk_size=chunk_size,
                            overwrite=overwrite)
    echo(f"wrote {n} {detector} events to {path}")


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
