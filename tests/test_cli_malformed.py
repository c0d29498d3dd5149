"""A hostile and clumsy user (issue 10): every malformed input or unsafe output is refused
with one sentence on stderr and exit status 2, without a traceback, leaving nothing behind and
every input byte for byte as it was; --overwrite never destroys an input and replaces only
tfcalo's own output, once the new one is complete."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from train_helpers import _toy_chunks

from tfcalo.cli import main

TINY_TOML = """
latent_dim = 4
critic_steps = 1
[generator]
hidden = [8]
[discriminator]
hidden = [8]
critic_dim = 4
"""
FAST_EVAL_TOML = """
threads = 1
prd_runs = 1
tensorboard = false
[speed]
enabled = false
"""
TRAIN = ["--model", "cramer", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "8",
         "--strategy", "default"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Inputs shared by the cases (never modified): a rich-pid dataset with a test split,
    a tiny cramer config, a finished one-step run on it, a fast evaluate config."""
    from tfcalo.data.artifact import write_artifact
    from tfcalo.detectors import get_detector
    from tfcalo.training.run import train_run

    root = tmp_path_factory.mktemp("shared")
    ds = root / "ds"
    ds.mkdir()
    write_artifact(ds, _toy_chunks("rich-pid", 64, 0), get_detector("rich-pid"),
                   split=(0.5, 0.25, 0.25), seed=0,
                   provenance={"source": "toy", "source_sha256": "toy"})
    (root / "tiny.toml").write_text(TINY_TOML)
    (root / "eval.toml").write_text(FAST_EVAL_TOML)
    train_run(ds, "cramer", root / "run", config_file=root / "tiny.toml", epochs=1, seed=1,
              strategy="default", batch_size=8, steps_per_epoch=1, tensorboard=False)
    return root


def _snapshot(*roots: Path) -> dict[str, bytes]:
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            key = str(p)
            out[key] = b"<dir>" if p.is_dir() and not p.is_symlink() else (
                b"<link>" if p.is_symlink() else p.read_bytes())
    return out


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_sentence(result, *fragments):
    """Exit 2, exactly one 'Error: ...' line on stderr, nothing else, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- input builders ------------------------------------------------------------------------


def _lhcb(path: Path, n: int = 12, **edit) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"EnergyDeposit": rng.exponential(1.0, (n, 30, 30)).astype(np.float32),
              "ParticlePoint": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
              "ParticleMomentum": np.tile([0.0, 0.0, 50.0], (n, 1)).astype(np.float32)}
    arrays.update(edit)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
    return path


def _ingest(src, out, *extra, detector="lhcb-ecal"):
    return ["data", "ingest", src, "-o", out, "--detector", detector, *extra]


def c_string_dtype(t, s):
    return _ingest(_lhcb(t / "in" / "x.h5", ParticlePoint=np.array([[b"a", b"b", b"c"]] * 12)),
                   t / "out"), ["'ParticlePoint' holds string values"]


def c_compound_dtype(t, s):
    dt = np.dtype([("a", "f4"), ("b", "f4"), ("c", "f4")])
    return _ingest(_lhcb(t / "in" / "x.h5", ParticlePoint=np.zeros((12, 3), dt)),
                   t / "out"), ["compound"]


def c_inspect_string_dtype(t, s):
    src = _lhcb(t / "in" / "x.h5", ParticleMomentum=np.array([[b"a", b"b", b"c"]] * 12))
    return ["data", "inspect", src], ["'ParticleMomentum' holds string values"]


def c_bool_dtype(t, s):
    return _ingest(_lhcb(t / "in" / "x.h5", ParticlePoint=np.ones((12, 3), bool)),
                   t / "out"), ["boolean"]


def c_complex_dtype(t, s):
    return _ingest(_lhcb(t / "in" / "x.h5", EnergyDeposit=np.ones((12, 30, 30), np.complex64)),
                   t / "out"), ["complex"]


def c_scalar_energy(t, s):
    src = t / "in" / "cern.h5"
    src.parent.mkdir()
    with h5py.File(src, "w") as f:
        f["ECAL"] = np.ones((3, 25, 25, 25), np.float32)
        f["energy"] = 50.0
    return _ingest(src, t / "out", detector="cern-ecal"), ["'energy' is a single value"]


def c_scalar_incident_energies(t, s):
    src = t / "in" / "calo.h5"
    src.parent.mkdir()
    with h5py.File(src, "w") as f:
        f["showers"] = np.ones((3, 15625), np.float32)
        f["incident_energies"] = np.float32(5000)
    return _ingest(src, t / "out", detector="cern-ecal"), ["'incident_energies'", "scalar"]


def c_scalar_weight(t, s):
    src = _lhcb(t / "in" / "x.h5")
    with h5py.File(src, "a") as f:
        f["sw"] = 1.0
    return _ingest(src, t / "out", "--weights-from", "sw"), ["'sw' is a single value"]


def c_symlink_loop(t, s):
    (t / "in").mkdir()
    (t / "in" / "a.h5").symlink_to(t / "in" / "b.h5")
    (t / "in" / "b.h5").symlink_to(t / "in" / "a.h5")
    return _ingest(t / "in" / "a.h5", t / "out"), ["symbolic link loop"]


def c_float32_overflow(t, s):
    e = np.ones((12, 30, 30))
    e[7, 1, 1] = 1e39  # finite as float64, inf as float32
    return _ingest(_lhcb(t / "in" / "x.h5", EnergyDeposit=e), t / "out"), ["example 7"]


def c_split_nan(t, s):
    return _ingest(_lhcb(t / "in" / "x.h5"), t / "out", "--split", "nan,0.5,0.5"), ["split"]


def c_csv_duplicate_header(t, s):
    src = t / "in" / "pid.csv"
    src.parent.mkdir()
    src.write_text("p,eta,nTracks,RichDLLe,RichDLLmu,RichDLLk,RichDLLp,RichDLLbt,p\n"
                   "1,3,40,1,2,3,4,5,9\n")
    return _ingest(src, t / "out", detector="rich-pid"), ["'p' appears more than once"]


def c_ingest_into_source_dir(t, s):
    src = _lhcb(t / "in" / "x.h5")
    (t / "in" / "notes.txt").write_text("unrelated")
    return _ingest(src, t / "in", "--overwrite"), ["contains the input"]


def c_ingest_through_symlink_to_source_dir(t, s):
    src = _lhcb(t / "in" / "x.h5")
    (t / "alias").symlink_to(t / "in")
    return _ingest(src, t / "alias", "--overwrite"), ["contains the input"]


def c_ingest_overwrite_foreign(t, s):
    (t / "precious").mkdir()
    (t / "precious" / "thesis.tex").write_text("years of work")
    return _ingest(_lhcb(t / "in" / "x.h5"), t / "precious", "--overwrite"), [
        "not a tfcalo dataset artifact"]


def _damaged_dataset(t, s, edit):
    import shutil

    ds = t / "in" / "ds"
    shutil.copytree(s / "ds", ds)
    edit(ds)
    return ["train", "--data", ds, "--out", t / "out", "--config", s / "tiny.toml", *TRAIN]


def _schema(ds, change):
    path = ds / "schema.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def c_schema_without_shards(t, s):
    return _damaged_dataset(t, s, lambda ds: _schema(
        ds, lambda d: {k: v for k, v in d.items() if k != "shards"})), ["'shards'"]


def c_schema_is_a_list(t, s):
    return _damaged_dataset(t, s, lambda ds: (ds / "schema.json").write_text("[1, 2]")), [
        "schema.json"]


def c_truncated_shard(t, s):
    def cut(ds):
        f = ds / "train-00000.tfrecord"
        f.write_bytes(f.read_bytes()[:-100])
    return _damaged_dataset(t, s, cut), ["train-00000.tfrecord", "truncated"]


def c_corrupt_shard(t, s):
    def flip(ds):
        f = ds / "train-00000.tfrecord"
        b = bytearray(f.read_bytes())
        b[len(b) // 2] ^= 0xFF
        f.write_bytes(bytes(b))
    return _damaged_dataset(t, s, flip), ["corrupt"]


def _train(t, s, *extra):
    return ["train", "--data", s / "ds", "--config", s / "tiny.toml", *TRAIN, *extra]


def c_negative_filters(t, s):
    return _train(t, s, "--out", t / "out", "--set", "generator.filters=-4"), [
        "'generator.filters' must be at least 1"]


def c_negative_learning_rate(t, s):
    return _train(t, s, "--out", t / "out", "--set", "optimizer.discriminator_lr=-1e-4"), [
        "'optimizer.discriminator_lr' must be a positive learning rate"]


def c_train_over_dataset(t, s):
    return _train(t, s, "--out", s / "ds", "--overwrite"), ["is the input"]


def c_train_inside_dataset(t, s):
    return _train(t, s, "--out", s / "ds" / "run"), ["lies inside the input"]


def c_train_overwrite_foreign(t, s):
    (t / "precious").mkdir()
    (t / "precious" / "data.txt").write_text("keep me")
    return _train(t, s, "--out", t / "precious", "--overwrite"), [
        "is not a tfcalo run directory"]


def c_train_bad_weights(t, s):
    (t / "in" / "w").mkdir(parents=True)
    return _train(t, s, "--out", t / "out", "--weights", t / "in" / "w"), [
        "not a weights artifact"]


def c_train_nan_losses(t, s):
    return _train(t, s, "--out", t / "out", "--set", "optimizer.generator_lr=1e30",
                  "--set", "optimizer.discriminator_lr=1e30"), ["training diverged", "NaN"]


def _evaluate(t, s, *extra):
    return ["evaluate", "--model", s / "run", "--data", s / "ds", "--config", s / "eval.toml",
            *extra]


def c_evaluate_over_dataset(t, s):
    return _evaluate(t, s, "--out", s / "ds", "--overwrite"), ["is the input"]


def c_evaluate_over_run(t, s):
    return _evaluate(t, s, "--out", s / "run" / "eval"), ["lies inside the input"]


def c_evaluate_overwrite_foreign(t, s):
    (t / "precious").mkdir()
    (t / "precious" / "a.txt").write_text("keep")
    return _evaluate(t, s, "--out", t / "precious", "--overwrite"), ["not a tfcalo evaluation"]


def c_evaluate_negative_seed(t, s):
    return _evaluate(t, s, "--out", t / "out", "--seed", "-1"), ["'seed'"]


def c_evaluate_unsafe_regressor(t, s):
    import keras

    reg = t / "in" / "reg"
    reg.mkdir(parents=True)
    inp = keras.Input((8,))
    model = keras.Model(inp, keras.layers.Lambda(lambda x: x * 2.0)(inp))
    model.save(reg / "regressor.keras")
    (reg / "regressor_config.json").write_text("{}")
    return _evaluate(t, s, "--out", t / "out", "--regressor", reg), ["safe mode"]


def c_export_over_run(t, s):
    return ["export", "--model", s / "run", "--out", s / "run", "--force", "--overwrite"], [
        "is the input"]


def c_export_overwrite_foreign(t, s):
    (t / "precious").mkdir()
    (t / "precious" / "a.txt").write_text("keep")
    return ["export", "--model", s / "run", "--out", t / "precious", "--force",
            "--overwrite"], ["not a tfcalo SavedModel export"]


def c_pipeline_store_is_a_directory(t, s):
    (t / "root" / "rich" / "metadata.sqlite").mkdir(parents=True)
    return ["pipeline", "run", "rich", "--root", t / "root"], ["is a directory"]


def c_pipeline_store_corrupt(t, s):
    (t / "root" / "rich").mkdir(parents=True)
    (t / "root" / "rich" / "metadata.sqlite").write_bytes(b"not sqlite" * 400)
    return ["pipeline", "run", "rich", "--root", t / "root"], ["not a usable SQLite database"]


def c_pipeline_negative_filters(t, s):
    return ["pipeline", "run", "aux-regressor", "--root", t / "root", "--set",
            "train.model_config.generator.filters=-4"], [
        "'train.model_config.generator.filters' must be at least 1"]


def c_pipeline_runs_corrupt(t, s):
    (t / "root").mkdir()
    (t / "root" / "metadata.sqlite").write_bytes(b"\x00garbage" * 500)
    return ["pipeline", "runs", "--root", t / "root"], ["not a usable SQLite database"]


CASES = {name[2:]: fn for name, fn in dict(globals()).items() if name.startswith("c_")}


def test_at_least_twenty_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_input_one_sentence_nothing_left_inputs_unchanged(shared, tmp_path, case):
    args, fragments = CASES[case](tmp_path, shared)
    before = _snapshot(tmp_path, shared)
    result = invoke(*args)
    assert_one_sentence(result, *fragments)
    assert _snapshot(tmp_path, shared) == before  # nothing written, nothing changed


# -- --overwrite of tfcalo's own outputs: atomic -------------------------------------------


def test_train_overwrite_keeps_the_old_run_until_the_new_one_finishes(shared, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(shared / "run", run)
    before = _snapshot(run)
    failed = invoke(*_train(tmp_path, shared, "--out", run, "--overwrite", "--set",
                            "optimizer.generator_lr=1e30", "--set",
                            "optimizer.discriminator_lr=1e30"))
    assert_one_sentence(failed, "training diverged")
    assert _snapshot(run) == before and sorted(p.name for p in tmp_path.iterdir()) == ["run"]

    ok = invoke(*_train(tmp_path, shared, "--out", run, "--overwrite", "--seed", "7"))
    assert ok.exit_code == 0, ok.output
    assert json.loads((run / "run.json").read_text())["seed"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_ingest_overwrite_replaces_a_dataset(tmp_path):
    src = _lhcb(tmp_path / "x.h5", n=12)
    out = tmp_path / "ds"
    assert invoke(*_ingest(src, out, "--split", "1,0,0")).exit_code == 0
    r = invoke(*_ingest(src, out, "--split", "0.5,0.5,0", "--overwrite"))
    assert r.exit_code == 0, r.output
    assert json.loads((out / "schema.json").read_text())["split"]["fractions"] == [0.5, 0.5, 0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "x.h5"]


# -- read-only and full disks ---------------------------------------------------------------


@pytest.mark.parametrize("code, fragment", [(errno.EROFS, "read-only"),
                                            (errno.ENOSPC, "no space is left")])
@pytest.mark.parametrize("command", ["ingest", "simulate", "train", "evaluate", "export"])
def test_unwritable_output_is_one_sentence(shared, tmp_path, monkeypatch, command, code,
                                           fragment):
    """Whatever the command, an OSError of a read-only or full disk while creating the
    output is one sentence, exit 2 (the real file systems: see the tmpfs test below)."""
    target = tmp_path / "disk"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(target)):
            raise OSError(code, "Read-only file system" if code == errno.EROFS
                          else "No space left on device", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    out = target / "out"
    args = {
        "ingest": _ingest(_lhcb(tmp_path / "x.h5"), out),
        "simulate": ["data", "simulate", "--detector", "rich-pid", "-n", "5", "-o",
                     out / "s.h5"],
        "train": _train(tmp_path, shared, "--out", out),
        "evaluate": _evaluate(tmp_path, shared, "--out", out),
        "export": ["export", "--model", shared / "run", "--out", out, "--force"],
    }[command]
    line = assert_one_sentence(invoke(*args), fragment)
    assert ".tmp-" not in line
    assert not target.exists()


def test_disk_full_during_ingest_leaves_nothing(tmp_path):
    """A real 64 KiB tmpfs (needs root and mount; skipped elsewhere)."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        src = _lhcb(tmp_path / "x.h5", n=60)
        before = src.read_bytes()
        assert_one_sentence(invoke(*_ingest(src, disk / "ds")), "no space is left")
        assert list(disk.iterdir()) == []
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        assert_one_sentence(invoke(*_ingest(src, disk / "ds")), "read-only")
        assert src.read_bytes() == before
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_tensorboard_hints_bind_localhost():
    from tfcalo.evaluation.report import render_html

    assert "--host 127.0.0.1" in invoke("train", "--help").output
    assert "--host 127.0.0.1" in render_html({}, {"blessed": False, "checks": []}, [], {})
