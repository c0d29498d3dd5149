"""The ``tfcalo`` command line: parse, call the library or a component, report.

This is the only module that talks to the terminal. A :class:`tfcalo.errors.TfcaloError`
raised anywhere below is printed as one sentence (no traceback) and the exit status is 2.
Heavy imports (TensorFlow) happen inside the commands so that ``tfcalo --help`` is fast.

Each command group lives in its own section below; keep commands thin.
"""

from __future__ import annotations

import contextlib
import errno
import sys

import click

from tfcalo import __version__
from tfcalo.errors import TfcaloError

#: What the user should hear for the OS errors every command can meet while writing.
_SYSTEM_ERRORS = {
    errno.EROFS: ("Read-only file system", "the file system is read-only; choose an output on "
                  "a writable disk"),
    errno.ENOSPC: ("No space left on device", "no space is left on the device; free some "
                   "space and run the command again"),
    errno.EDQUOT: ("Disk quota exceeded", "the disk quota is exceeded; free some space and "
                   "run the command again"),
    errno.EACCES: ("Permission denied", "permission denied; check the permissions or choose "
                   "another path"),
}


def _system_error(exc: BaseException) -> str | None:
    """One sentence for a read-only, full or forbidden location (OSError errno, or the same
    OS message inside an h5py/TensorFlow error), else None."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code not in _SYSTEM_ERRORS:
        code = next((c for c, (text, _) in _SYSTEM_ERRORS.items() if text in str(exc)), None)
    if code is None:
        return None
    verb = "access" if code == errno.EACCES else "write"
    name = getattr(exc, "filename", None)
    if not name:
        return f"cannot {verb} the output: {_SYSTEM_ERRORS[code][1]}"
    import re

    name = re.sub(r"\.([^/]+)\.(tmp|old)-[0-9a-f]{8}", r"\1", str(name))  # atomic_dir's temp
    return f"cannot {verb} {name}: {_SYSTEM_ERRORS[code][1]}"


class _Group(click.Group):
    """A click group that turns TfcaloError (and a read-only, full or forbidden disk) into
    one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TfcaloError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except Exception as exc:
            message = _system_error(exc)
            if message is None:
                raise
            click.echo(f"Error: {message}", err=True)
            ctx.exit(2)


def echo(message: str = "", err: bool = False) -> None:
    """Print a line for the user (stdout, or stderr with err=True)."""
    click.echo(message, err=err)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tfcalo")
@click.option("--tf-log", is_flag=True,
              help="Show TensorFlow's native log lines (E0000/W0000/I0000 ..., oneDNN and "
                   "CUDA notices) on the terminal. By default they go to the running "
                   "component's log in a pipeline, else to ~/.cache/tfcalo/tensorflow.log; "
                   "TFCALO_TF_LOG=1 does the same as this flag, TFCALO_TF_LOG=FILE picks "
                   "the file.")
def main(tf_log: bool) -> None:
    """tfcalo: train, evaluate and export GAN fast simulation of calorimeter showers.

    \b
    Example:
      tfcalo pipeline run ensemble            # simulate, train, evaluate, export
      tfcalo data simulate --detector lhcb-ecal -n 1000 -o showers.h5
      tfcalo --tf-log generate model --energy 50 -o s.h5   # with TensorFlow's own log lines
    """
    if not tf_log:
        from tfcalo.native_log import divert_as_configured

        divert_as_configured()


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


@data.command("ingest")
@click.argument("src", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Output dataset directory (must be absent or empty).")
@click.option("--detector", required=True,
              help="Detector of the source: lhcb-ecal, cern-ecal or rich-pid.")
@click.option("--split", default="0.8,0.1,0.1", show_default=True,
              help="train,val,test fractions.")
@click.option("--seed", type=int, default=0, show_default=True, help="Split seed.")
@click.option("--weights-from", default=None,
              help="Source column holding per-example weights (e.g. sweight).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output directory.")
@click.option("--clip-negative", is_flag=True,
              help="Set negative energies to 0 instead of refusing the file.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Examples read at once (bounds memory).")
def data_ingest(src: str, output: str, detector: str, split: str, seed: int,
                weights_from: str | None, overwrite: bool, clip_negative: bool,
                chunk_size: int) -> None:
    """Validate SRC and write the canonical dataset (TFRecord shards + schema/stats).

    SRC is HDF5 (LHCb EnergyDeposit/ParticlePoint/ParticleMomentum, CERN ECAL/energy or
    target, CaloChallenge showers/incident_energies), npz (LHCb) or CSV (rich-pid). The
    output appears only when complete; the source is never modified.

    \b
    Example:
      tfcalo data ingest showers.h5 -o dataset --detector cern-ecal --split 0.8,0.1,0.1
    """
    from tfcalo.data.ingest import run_ingest

    summary = run_ingest(src, output, detector, split=split, seed=seed,
                         weights_from=weights_from, overwrite=overwrite,
                         clip_negative=clip_negative, chunk_size=chunk_size)
    for warning in summary["warnings"]:
        echo(f"Warning: {src}: {warning}", err=True)
    if summary["n_clipped"]:
        echo(f"Warning: {src}: clipped {summary['n_clipped']} negative cells to 0", err=True)
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
    echo(f"wrote {summary['total']} {summary['detector']} examples to {output} ({counts})")


@data.command("inspect")
@click.argument("path", type=click.Path())
@click.option("--detector", default=None,
              help="Detector of a source file (guessed from its keys if omitted).")
@click.option("--weights-from", default=None, help="Weight column of a source file.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def data_inspect(path: str, detector: str | None, weights_from: str | None,
                 as_json: bool) -> None:
    """Show counts, shapes, condition ranges and energy sums of a source file or dataset.

    \b
    Example:
      tfcalo data inspect showers.h5
      tfcalo data inspect dataset --json
    """
    import json

    from tfcalo.data.inspect import describe_lines, inspect_path

    info = inspect_path(path, detector=detector, weights_from=weights_from)
    if as_json:
        echo(json.dumps(info, indent=2))
    else:
        for line in describe_lines(info):
            echo(line)


# ---------------------------------------------------------------------------------------
# train commands
# ---------------------------------------------------------------------------------------


@main.command("train")
@click.option("--data", "data", required=True, type=click.Path(path_type=str),
              help="Canonical dataset artifact (tfcalo data ingest output).")
@click.option("--model", "model", required=True, metavar="NAME",
              help="Model: 2dgan (cern-ecal), sagan (lhcb-ecal) or cramer (any detector).")
@click.option("--config", "config_file", type=click.Path(path_type=str), default=None,
              help="TOML file overriding the model's default config.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. --set optimizer.generator_lr=2e-4 (repeatable).")
@click.option("--out", "out", required=True, type=click.Path(path_type=str),
              help="Run directory (an unfinished run there is resumed).")
@click.option("--strategy", type=click.Choice(["auto", "default", "mirrored", "multi-worker"]),
              default="auto", show_default=True, help="tf.distribute strategy.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs in total [default: 10].")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of weights, noise and shuffling [default: the config's seed].")
@click.option("--weights", "weights", type=click.Path(path_type=str), default=None,
              help="Weights artifact (sWeights or boosting weights) replacing the stored ones.")
@click.option("--steps-per-epoch", type=click.IntRange(min=1), default=None,
              help="Batches per epoch [default: one pass over the training split].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Global batch size over all replicas [default: 64].")
@click.option("--overwrite", is_flag=True, help="Replace a finished run in --out.")
@click.option("--select-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Model selection by physics: score the generator on the validation split "
                   "every N epochs and keep the best epoch (0: keep the last).")
def train_cmd(data, model, config_file, overrides, out, strategy, epochs, seed, weights,
              steps_per_epoch, batch_size, overwrite, select_every) -> None:
    """Train a GAN on a dataset artifact into a run directory.

    Writes run.json, generator.weights.h5, model.weights.h5, checkpoints/ (every epoch),
    backup/ (while unfinished: run the same command again to resume) and tensorboard/
    (`tensorboard --logdir OUT/tensorboard --host 127.0.0.1`).

    \b
    Example:
      tfcalo train --data dataset --model sagan --out runs/sagan --epochs 5
      tfcalo train --data dataset --model cramer --out runs/cramer \\
          --set optimizer.generator_lr=2e-4 --weights sweights --seed 1
    """
    from tfcalo.training.run import train_run

    record = train_run(
        data, model, out, config_file=config_file, overrides=overrides, epochs=epochs,
        seed=seed, strategy=strategy, weights=weights, batch_size=batch_size,
        steps_per_epoch=steps_per_epoch, overwrite=overwrite, select_every=select_every,
        verbose=1 if sys.stdout.isatty() else 0, log=echo,
    )
    final = ", ".join(f"{k} {v:.4g}" for k, v in record.get("final", {}).items() if k != "epoch")
    echo(f"trained {record['model']} for {record['epochs_done']} epochs into {out}"
         + (f" ({final})" if final else ""))


# ---------------------------------------------------------------------------------------
# evaluate commands
# ---------------------------------------------------------------------------------------


def blessing_verdict(blessed: bool, blessing_file=None) -> str:
    """"BLESSED", or "NOT BLESSED (failed: m1, m2); exported anyway because export.force =
    true" naming the failed checks of an evaluation's blessing.json (pipeline summary)."""
    import json
    from pathlib import Path

    if blessed:
        return "BLESSED"
    failed: list[str] = []
    try:
        checks = json.loads(Path(blessing_file).read_text()).get("checks", [])
        failed = [str(c.get("metric")) for c in checks if not c.get("passed")]
    except (OSError, TypeError, ValueError, AttributeError):
        pass
    return (f"NOT BLESSED (failed: {', '.join(failed) or 'see blessing.json'}); exported "
            "anyway because export.force = true")


@main.command("evaluate")
@click.option("--model", "model", required=True, type=click.Path(path_type=str),
              help="Trained run directory, exported SavedModel directory or the name of a "
                   "pretrained model (tfcalo models).")
@click.option("--data", "data", required=True, type=click.Path(path_type=str),
              help="Canonical dataset artifact (its test split is used).")
@click.option("--out", "out", required=True, type=click.Path(path_type=str),
              help="Output directory for metrics.json, plots, report.html, blessing.json.")
@click.option("--config", "config_file", type=click.Path(path_type=str), default=None,
              help="TOML file with evaluate settings (top level or an [evaluate] table).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. --set thresholds.prd_auc=0.6 (repeatable).")
@click.option("--limit", type=int, default=None, help="Use at most N test showers.")
@click.option("--seed", type=int, default=None, help="Seed of generation and metrics.")
@click.option("--regressor", type=click.Path(path_type=str), default=None,
              help="Regressor artifact: adds the Frechet Regression Distance.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out directory.")
def evaluate_cmd(model, data, out, config_file, overrides, limit, seed, regressor,
                 overwrite) -> None:
    """Evaluate a generator against the test split: metrics, plots, report, blessing.

    Exits 0 whether or not the model is blessed; read blessing.json for the verdict.

    \b
    Example:
      tfcalo evaluate --model runs/sagan --data dataset --out eval --limit 5000
      tfcalo evaluate --model exported/model --data dataset --out eval \\
          --set speed.repeats=[5,2,1]
    """
    from pathlib import Path

    from tfcalo.atomic import atomic_dir
    from tfcalo.config import apply_overrides, load_toml
    from tfcalo.errors import ArtifactError
    from tfcalo.evaluation.validation import load_config

    raw: dict = {}
    if config_file:
        raw = load_toml(config_file)
        if set(raw) == {"evaluate"} or ("evaluate" in raw and isinstance(raw["evaluate"], dict)):
            raw = raw["evaluate"]
    raw = apply_overrides(raw, list(overrides))
    if limit is not None:
        raw["limit"] = limit
    if seed is not None:
        raw["seed"] = seed
    cfg = load_config(raw)
    from tfcalo.export.sampling import resolve_model

    model = str(resolve_model(model))
    for path, what in ((data, "dataset artifact"), (regressor, "regressor artifact")):
        if path is not None and not Path(path).exists():
            raise ArtifactError(f"{what} {path} does not exist")
    from tfcalo.evaluation.run import evaluate_to_dir

    with atomic_dir(out, overwrite=overwrite, kind="evaluation",
                    inputs=[model, data, regressor, config_file]) as tmp:
        result = evaluate_to_dir(model, data, tmp, cfg, regressor=regressor)
    m = result.metrics
    echo(f"PRD-AUC {m['prd_auc']:.3f}  FPD {m['fpd']:.3g}  classifier AUC "
         f"{m['classifier_auc_observables']:.3f}  JSD {m['jsd_fidelity']:.3g}")
    failed = [c["metric"] for c in result.blessing["checks"] if not c["passed"]]
    verdict = "BLESSED" if result.blessing["blessed"] else f"NOT BLESSED (failed: {', '.join(failed)})"
    echo(f"{verdict}; report: {Path(out) / 'report.html'}")
    base = m.get("baseline")
    if base:
        echo(f"real vs real ({base['n_real']} vs {base['n_generated']} test showers): "
             + ("passes the same checks" if base["blessed"] else
                f"fails {', '.join(base['failed'])} too (too few showers to certify them)"))


# ---------------------------------------------------------------------------------------
# export / generate commands
# ---------------------------------------------------------------------------------------


@main.command("export")
@click.option("--model", "model", required=True, metavar="RUN_DIR",
              help="Trained run directory (run.json + weights).")
@click.option("--out", "out", required=True, metavar="DIR", help="SavedModel output directory.")
@click.option("--evaluation", metavar="EVAL_DIR", default=None,
              help="Evaluation artifact whose blessing.json must say blessed.")
@click.option("--force", is_flag=True, help="Export even if the model is not blessed.")
@click.option("--onnx", is_flag=True, help="Also write model.onnx (tf2onnx) and check it.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out directory.")
def export_cmd(model: str, out: str, evaluation: str | None, force: bool, onnx: bool,
               overwrite: bool) -> None:
    """Export a trained generator as a verified TensorFlow SavedModel.

    The SavedModel has signatures generate(conditions, seed) and generate_from_noise(noise,
    conditions) in physical units, plus model_card.json; it loads with TensorFlow alone.
    Without a blessed evaluation the export is refused unless --force.

    \b
    Example:
      tfcalo export --model runs/sagan --evaluation runs/eval --out exported/sagan
      tfcalo export --model runs/sagan --out exported/sagan --force --onnx
    """
    from tfcalo.export.savedmodel import export_run

    card = export_run(model, out, evaluation=evaluation, force=force, onnx=onnx,
                      overwrite=overwrite)
    ver = card["verification"]
    echo(f"exported {card['detector']} generator to {out} (reload max |diff| "
         f"{ver['max_abs_diff']:.3g}{', forced' if card['blessing']['forced'] else ''})")
    if card.get("onnx"):
        echo(f"ONNX: {out}/{card['onnx']['file']} (max |diff| "
             f"{card['onnx']['max_abs_diff']:.3g} vs TensorFlow)")


@main.command("generate")
@click.argument("model", metavar="MODEL")
@click.option("--conditions", "conditions_file", metavar="FILE", default=None,
              help="HDF5 (one dataset per condition) or CSV (header row) with columns named "
                   "as the detector's conditions.")
@click.option("--energy", type=float, default=None, help="Particle energy in GeV.")
@click.option("--px", type=float, default=None, help="lhcb-ecal: momentum x (GeV).")
@click.option("--py", type=float, default=None, help="lhcb-ecal: momentum y (GeV).")
@click.option("--pz", type=float, default=None,
              help="lhcb-ecal: momentum z (GeV; default sqrt(E^2-px^2-py^2)).")
@click.option("--x", "x", type=float, default=0.0, show_default=True,
              help="lhcb-ecal: entry point x (cm).")
@click.option("--y", "y", type=float, default=0.0, show_default=True,
              help="lhcb-ecal: entry point y (cm).")
@click.option("-n", "n", type=click.IntRange(min=1), default=None,
              help="Number of showers (default: 1 with --energy, one per row with "
                   "--conditions; rows are cycled if -n is larger).")
@click.option("-o", "--output", "output", required=True, metavar="OUT.h5",
              help="Output HDF5 in the detector's community layout.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="Noise seed, 0 <= seed < 2**63 (same seed, same showers).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Showers generated and written at once (bounds memory, whatever -n is).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def generate_cmd(model: str, conditions_file: str | None, energy: float | None,
                 px: float | None, py: float | None, pz: float | None, x: float, y: float,
                 n: int | None, output: str, seed: int, batch_size: int,
                 overwrite: bool) -> None:
    """Generate showers with a SavedModel or trained run directory MODEL.

    Conditions come from --conditions FILE (columns named as the detector's conditions:
    lhcb-ecal x,y,z,px,py,pz; cern-ecal Ep; rich-pid p,eta,nTracks) or from --energy: for
    cern-ecal Ep = E; for lhcb-ecal an electron entering at (--x, --y, 0) cm flying along z
    unless --px/--py are given (pz from E). Conditions outside the range the model was
    trained on (its model card) get a warning; non-finite ones are refused. MODEL may also
    be the name of a pretrained model shipped with tfcalo, checked against the content hash
    in its model card before it is loaded.

    Showers are generated and written --batch-size at a time (a progress bar on a
    terminal); the file appears only when complete.

    A SavedModel is a program: its signatures can hold any TensorFlow operation (writing
    files included) and generating runs them. Only use models from sources you trust.

    \b
    Example:
      tfcalo generate exported/sagan --energy 50 -n 1000 -o showers.h5 --seed 1
      tfcalo generate exported/sagan --energy 50 --px 5 --x 3 -n 100 -o tilted.h5
      tfcalo generate exported/2dgan --conditions energies.csv -o showers.h5
    """
    from tfcalo.errors import ConfigError
    from tfcalo.export.sampling import (
        check_finite_conditions,
        generate_to_file,
        load_sampler,
        point_conditions,
        range_warning,
        read_conditions_file,
    )

    if (conditions_file is None) == (energy is None):
        raise ConfigError("pass exactly one of --conditions FILE and --energy E")
    point_options = any(v is not None for v in (px, py, pz)) or x != 0.0 or y != 0.0
    if conditions_file is not None and point_options:
        raise ConfigError("--px/--py/--pz/--x/--y only go with --energy, not --conditions")
    sampler = load_sampler(model)
    if conditions_file is not None:
        rows = read_conditions_file(conditions_file, sampler.detector)
    else:
        rows = point_conditions(sampler.detector, energy, px=px, py=py, pz=pz, x=x, y=y)[None]
    rows = check_finite_conditions(rows, sampler.detector)
    count = n if n is not None else (len(rows) if conditions_file is not None else 1)
    warning = range_warning(sampler, rows)
    if warning:
        echo(f"Warning: {warning}", err=True)
    with _exit_on_sigterm():  # a `kill` still removes the temporary file
        if sys.stderr.isatty():
            with click.progressbar(length=count, label="generating", file=sys.stderr) as bar:
                written = generate_to_file(sampler, rows, output, seed=seed, n=count,
                                           batch_size=batch_size, overwrite=overwrite,
                                           progress=bar.update)
        else:
            written = generate_to_file(sampler, rows, output, seed=seed, n=count,
                                       batch_size=batch_size, overwrite=overwrite)
    echo(f"wrote {written} {sampler.detector.name} showers to {output}")


@contextlib.contextmanager
def _exit_on_sigterm():
    """Turn SIGTERM into SystemExit (so ``finally`` blocks clean up) inside the block."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------
# pretrained models
# ---------------------------------------------------------------------------------------


@main.group("models", cls=_Group, invoke_without_command=True)
@click.pass_context
def models(ctx) -> None:
    """List the pretrained models shipped with tfcalo (and ship a new one).

    A pretrained model's name works wherever a SavedModel path does (tfcalo generate,
    tfcalo evaluate --model, tfcalo.export.load_sampler).

    \b
    Example:
      tfcalo models
      tfcalo generate lhcb-ecal-g4 --energy 50 -n 1000 -o showers.h5
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(models_list)


@models.command("list")
def models_list() -> None:
    """List the shipped models: detector, how they were trained, headline test metrics."""
    from tfcalo.export.pretrained import pretrained_summaries

    rows = pretrained_summaries()
    if not rows:
        echo("no pretrained models are shipped with this installation")
        return
    for r in rows:
        t = r["training"]
        m = r["metrics"]
        echo(f"{r['name']}  ({r['detector']}; {'blessed' if r['blessed'] else 'not blessed'}; "
             f"pipeline {t.get('pipeline')} --preset {t.get('preset')}, seed {t.get('seed')})")
        names = {"classifier_auc_observables": "classifier AUC", "prd_auc": "PRD-AUC",
                 "sf_ratio_max_deviation": "SF worst bin", "resolution_ratio_max_deviation":
                 "resolution worst bin", "ks_max": "KS max"}
        shown = [f"{names.get(k, k)} {v:.3g}" for k, v in m.items()]
        if shown:
            echo("    test split: " + ", ".join(shown))
        if r["showers_per_s"]:
            batch, rate = r["showers_per_s"]
            echo(f"    speed: {rate:,.0f} showers/s at batch {batch} (TensorFlow alone)")


@models.command("ship")
@click.argument("export_dir", metavar="EXPORT_DIR")
@click.option("--evaluation", "evaluation", required=True, metavar="EVAL_DIR",
              help="Evaluation of that export on held-out data (metrics.json, report.html).")
@click.option("--name", required=True, help="Pretrained model name, e.g. lhcb-ecal-g4.")
@click.option("--pipeline", "pipeline_name", required=True, help="Pipeline that trained it.")
@click.option("--preset", required=True, help="Its preset.")
@click.option("--seed", type=int, required=True, help="Its training seed.")
@click.option("--data", "data_source", required=True, help="Its training data (as passed).")
@click.option("--ensemble-report", "ensemble_report", default=None, metavar="DIR",
              help="The ensemble report of an AdaGAN ensemble (ensemble_report.html, "
                   "metrics_vs_T.json, plots), shipped as ensemble_report/.")
@click.option("--overwrite", is_flag=True, help="Replace a shipped model of that name.")
def models_ship(export_dir, evaluation, name, pipeline_name, preset, seed, data_source,
                ensemble_report, overwrite) -> None:
    """Copy EXPORT_DIR and its validation report into tfcalo/pretrained/NAME (maintainers).

    \b
    Example:
      tfcalo models ship runs/aux-regressor/artifacts/export/... \\
          --evaluation runs/aux-regressor/artifacts/evaluate/... --name lhcb-ecal-g4 \\
          --pipeline aux-regressor --preset g4 --seed 0 \\
          --data ../shared/data/g4_lhcb_ecal_train.h5
    """
    from tfcalo.export.pretrained import install_pretrained

    reports = {"ensemble_report": ensemble_report} if ensemble_report else None
    path = install_pretrained(export_dir, evaluation, name, overwrite=overwrite,
                              training={"pipeline": pipeline_name, "preset": preset,
                                        "seed": seed, "data": data_source}, reports=reports)
    echo(f"shipped {name} -> {path}")


# ---------------------------------------------------------------------------------------
# pipeline commands
# ---------------------------------------------------------------------------------------


@pipeline.command("list")
def pipeline_list() -> None:
    """List the pipelines and their presets.

    \b
    Example:
      tfcalo pipeline list
    """
    from tfcalo.pipelines import names, presets_of

    for name, desc in names().items():
        echo(f"{name:15s} {desc}  [presets: {', '.join(presets_of(name))}]")


@pipeline.command("run")
@click.argument("name")
@click.option("--preset", default="quick", show_default=True,
              help="quick (minutes on a 2-core CPU), g4 (Geant4 quality on a 2-core CPU, "
                   "with --data) or full (GPU-sized).")
@click.option("--config", "config_file", type=click.Path(), default=None,
              help="TOML file overriding the preset (sections data, train, regressor, "
                   "ensemble, evaluate, export).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one config key, e.g. --set train.epochs=5 (repeatable).")
@click.option("--data", type=click.Path(), default=None,
              help="Source file of showers; without it the built-in simulator makes them.")
@click.option("--root", default="tfcalo-runs", show_default=True,
              help="Pipeline root: artifacts, logs and the SQLite metadata store.")
@click.option("--no-cache", is_flag=True, help="Run every component even if cached.")
def pipeline_run(name, preset, config_file, overrides, data, root, no_cache) -> None:
    """Run pipeline NAME end to end (ensemble, aux-regressor or rich).

    Components whose inputs and parameters did not change are taken from the cache; a run
    that failed resumes from the failed component.

    \b
    Example:
      tfcalo pipeline run ensemble
      tfcalo pipeline run aux-regressor --data ../shared/data/g4_lhcb_ecal_train.h5
      tfcalo pipeline run rich --set train.epochs=10
    """
    from tfcalo.pipelines import run

    summary = run(name, preset, config_file, overrides, data, root, no_cache,
                  progress=lambda line: echo(line, err=True))
    echo(f"\npipeline {name} finished (run {summary.run_id}); model "
         f"{blessing_verdict(summary.blessed, summary.evaluation / 'blessing.json')}")
    if summary.cached:
        echo(f"  taken from cache: {', '.join(summary.cached)}")
    key = {k: v for k, v in summary.metrics.items() if isinstance(v, int | float)}
    if key:
        echo("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in list(key.items())[:8]))
    echo(f"  model:        {summary.model}")
    echo(f"  report:       {summary.report}")
    for extra in summary.extra_reports:
        echo(f"  report:       {extra}")
    echo(f"  SavedModel:   {summary.saved_model}")
    echo(f"  TensorBoard:  tensorboard --logdir {summary.root / 'artifacts'} --host 127.0.0.1")
    echo(f"  past runs:    tfcalo pipeline runs --root {root}")


@pipeline.command("runs")
@click.option("--root", default="tfcalo-runs", show_default=True, help="Pipelines root.")
def pipeline_runs(root) -> None:
    """List past pipeline runs with their status and key metrics.

    \b
    Example:
      tfcalo pipeline runs --root tfcalo-runs
    """
    from pathlib import Path

    from tfcalo.engine.runner import list_runs

    base = Path(root)
    roots = sorted(p.parent for p in base.glob("*/metadata.sqlite"))
    if (base / "metadata.sqlite").is_file():
        roots.insert(0, base)
    if not roots:
        echo(f"no pipeline runs under {root}")
        return
    for r in roots:
        for run in list_runs(r):
            metrics = {}
            for node_metrics in (run.get("metrics") or {}).values():
                metrics.update(node_metrics)
            shown = ", ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:5]
                              if isinstance(v, int | float))
            echo(f"{run['run_id']}  {run['pipeline']:14s} {run['status']:11s} "
                 f"{(run.get('duration_s') or 0):7.0f} s  {shown}")


if __name__ == "__main__":  # pragma: no cover
    main()
