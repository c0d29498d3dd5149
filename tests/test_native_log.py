"""TensorFlow's native log lines stay off the terminal of a `tfcalo` run (issue 9, section 1).

Real CLI subprocesses: by default no "E0000 ..."/"I0000 ..." line and no oneDNN notice reaches
stdout or stderr, and they land in the log file; with `--tf-log` or TFCALO_TF_LOG=1 they are
on the terminal again. The engine sends a component's native lines to that component's log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from tiny_generators import TinyGenerator

from tfcalo.export.savedmodel import build_card, write_saved_model

NATIVE = re.compile(r"^[EWIF]\d{4} ", re.MULTILINE)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny cern-ecal SavedModel with its card (what `tfcalo generate` reads)."""
    gen = TinyGenerator("cern-ecal", latent_dim=3)
    out = tmp_path_factory.mktemp("native-log") / "model"
    write_saved_model(gen, gen.detector, out)
    card = build_card(gen.detector, 3, training_data_hash=None, metrics={}, blessing=None)
    (out / "model_card.json").write_text(json.dumps(card))
    return out


def _environment(tmp_path, **extra) -> dict:
    """A user's environment: TensorFlow's default log level, a private cache directory."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFCALO_TF_LOG")}
    return {**env, "XDG_CACHE_HOME": str(tmp_path / "cache"), **extra}


def _generate(saved, tmp_path, *options, **env):
    out = tmp_path / f"showers-{len(list(tmp_path.glob('showers-*')))}.h5"
    cmd = [sys.executable, "-m", "tfcalo.cli", *options, "generate", str(saved),
           "--energy", "50", "-n", "2", "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env=_environment(tmp_path, **env))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "wrote 2 cern-ecal showers" in proc.stdout
    return proc


def _shown(proc) -> str:
    return proc.stdout + proc.stderr


def test_native_lines_go_to_the_log_file_not_the_terminal(saved, tmp_path):
    proc = _generate(saved, tmp_path)
    assert not NATIVE.search(_shown(proc)), _shown(proc)
    assert "oneDNN" not in _shown(proc) and "absl" not in _shown(proc)
    log = (tmp_path / "cache" / "tfcalo" / "tensorflow.log").read_text()
    assert f"tfcalo generate {saved}" in log  # the header names the command
    assert NATIVE.search(log), log


@pytest.mark.parametrize("how", ["flag", "env"])
def test_opt_in_shows_them(saved, tmp_path, how):
    if how == "flag":
        proc = _generate(saved, tmp_path, "--tf-log")
    else:
        proc = _generate(saved, tmp_path, TFCALO_TF_LOG="1")
    assert NATIVE.search(proc.stderr), proc.stderr
    assert not (tmp_path / "cache" / "tfcalo" / "tensorflow.log").exists()


def test_log_file_from_the_environment(saved, tmp_path):
    path = tmp_path / "chosen" / "tf.log"
    proc = _generate(saved, tmp_path, TFCALO_TF_LOG=str(path))
    assert not NATIVE.search(_shown(proc))
    assert NATIVE.search(path.read_text())


def test_errors_still_reach_the_terminal(tmp_path):
    """The CLI's own messages go to the original stderr, not into the log file."""
    proc = subprocess.run([sys.executable, "-m", "tfcalo.cli", "generate", str(tmp_path / "no"),
                           "--energy", "5", "-o", str(tmp_path / "x.h5")],
                          capture_output=True, text=True, env=_environment(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: model path") and "does not exist" in proc.stderr


_ENGINE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from tfcalo import native_log
    from tfcalo.engine.runner import Component, Node, Pipeline, run_pipeline

    root = Path(sys.argv[1])
    def native(inputs, outputs, params):
        os.write(2, b"E0000 native line inside the component\\n")
        return {}
    assert native_log.divert(root / "cli.log")
    os.write(2, b"W0000 native line before the pipeline\\n")
    run_pipeline(Pipeline("p", [Node("n", Component("c", "1", {}, {"o": "Model"}, {}, native))]),
                 root / "pipe", progress=lambda line: None)
    os.write(2, b"I0000 native line after the pipeline\\n")
    print("python stderr line", file=sys.stderr)
""")


def test_a_components_native_lines_go_to_its_log(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _ENGINE, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "python stderr line\n"
    (node_log,) = (tmp_path / "pipe" / "logs").glob("*/n.log")
    assert "E0000 native line inside the component" in node_log.read_text()
    assert (tmp_path / "cli.log").read_text() == ("W0000 native line before the pipeline\n"
                                                  "I0000 native line after the pipeline\n")
