"""`tfcalo train`: help, user errors (exit 2, one line), and a real SIGKILL + resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from train_helpers import make_dataset

from tfcalo.cli import main

TINY_TOML = """
latent_dim = 4
[generator]
filters = 4
attention = false
[discriminator]
filters = 4
hidden = 8
attention = false
aux_targets = []
spectral_norm = false
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "ds", "lhcb-ecal", n=48)


@pytest.fixture(scope="module")
def tiny_toml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


def _run(args):
    return CliRunner().invoke(main, args)


def test_help_lists_models_and_options():
    res = _run(["train", "--help"])
    assert res.exit_code == 0
    for word in ["2dgan", "sagan", "cramer", "--strategy", "--steps-per-epoch", "--weights",
                 "--overwrite", "--set", "--batch-size"]:
        assert word in res.output


@pytest.mark.parametrize(
    "extra, pattern",
    [
        (["--model", "sagn"], r"unknown model 'sagn'; did you mean 'sagan'\?"),
        (["--model", "sagan", "--set", "optimizer.generator_rl=1e-3"],
         r"unknown config key 'optimizer.generator_rl'; did you mean 'optimizer.generator_lr'\?"),
        (["--model", "sagan", "--set", "latent_dim=many"], r"latent_dim"),
        (["--model", "2dgan"], r"model '2dgan' does not support detector 'lhcb-ecal'"),
        (["--model", "sagan", "--config", "missing.toml"], r"config file missing.toml does not exist"),
    ],
)
def test_user_errors_exit_2_one_line(dataset, tmp_path, extra, pattern):
    res = _run(["train", "--data", str(dataset), "--out", str(tmp_path / "run"), *extra])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in res.output
    assert not (tmp_path / "run").exists()


def test_bad_data_artifact_exit_2(tmp_path):
    res = _run(["train", "--data", str(tmp_path), "--model", "sagan", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and res.output.startswith("Error: ")
    assert len(res.output.strip().splitlines()) == 1


def _train_cmd(dataset: Path, toml: Path, out: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "tfcalo.cli", "train", "--data", str(dataset), "--model",
            "sagan", "--config", str(toml), "--out", str(out), "--epochs", str(epochs),
            "--steps-per-epoch", "2", "--batch-size", "8", "--seed", "1",
            "--strategy", "default"]


def test_killed_run_resumes_from_backup(dataset, tiny_toml, tmp_path):
    """SIGKILL `tfcalo train` after its first backup; the same command then resumes."""
    out = tmp_path / "run"
    epochs = 6
    cmd = _train_cmd(dataset, tiny_toml, out, epochs)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    meta = out / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 240
    while not meta.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()
    run = json.loads((out / "run.json").read_text())
    assert run["finished"] is False and run["epochs_done"] < epochs

    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    match = re.search(r"resuming the unfinished run in .* from epoch (\d+)", second.stdout)
    assert match, second.stdout
    start = int(match.group(1))
    assert start >= 1
    run = json.loads((out / "run.json").read_text())
    assert run["finished"] is True and run["epochs_done"] == epochs
    assert run["resumed_from"] == [start]
    assert [h["epoch"] for h in run["history"]] == list(range(1, epochs + 1))
    # the second process ran only the remaining epochs (one "epoch k/N: losses" line each)
    ran = [int(k) for k in re.findall(rf"^epoch (\d+)/{epochs}:", second.stdout, re.M)]
    assert ran == list(range(start + 1, epochs + 1))
    assert not (out / "backup").exists() and (out / "generator.weights.h5").is_file()

    # a finished run is refused (exit 2, one line) unless --overwrite
    res = _run(["train", "--data", str(dataset), "--model", "sagan", "--config", str(tiny_toml),
                "--out", str(out)])
    assert res.exit_code == 2
    assert "already holds a finished run; pass --overwrite" in res.output
