"""kill -9 of a pipeline during train: the rerun resumes train from its last epoch's backup
(issue 10, 4: at most one epoch lost), the killed run is marked interrupted in the store, and
nothing temporary is left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tfcalo.engine.runner import list_runs, run_pipeline

TESTS = Path(__file__).resolve().parents[1]  # train_helpers.py
EPOCHS = 12

SCRIPT = """
import sys
sys.path.insert(0, {here!r})
from train_helpers import TINY
from tfcalo.components import ingest, train
from tfcalo.engine.runner import Node, Pipeline, run_pipeline

pipeline = Pipeline("killable", [
    Node("ingest", ingest.COMPONENT, {{"detector": "rich-pid", "simulate_n": 64,
                                      "simulate_seed": 1, "split": [0.75, 0.25, 0.0]}}),
    Node("train", train.COMPONENT, {{"model": "cramer", "config": TINY["cramer"],
                                    "epochs": {epochs}, "steps_per_epoch": 2, "batch_size": 8,
                                    "seed": 1, "strategy": "default"}},
         {{"examples": ("ingest", "examples")}}),
])
result = run_pipeline(pipeline, {root!r}, progress=lambda line: print(line, flush=True))
print("RESULT", result.nodes["train"].status, result.output("train", "model").uri, flush=True)
"""


def test_killed_pipeline_resumes_train_from_its_backup(tmp_path):
    root = tmp_path / "root"
    cmd = [sys.executable, "-c", SCRIPT.format(here=str(TESTS), root=str(root), epochs=EPOCHS)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300
    pattern = "**/backup/training_metadata.json"  # the first epoch's backup, wherever it is
    while not list(root.glob(pattern)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    first = proc.communicate()[0].decode()
    assert proc.returncode == -signal.SIGKILL, first
    [killed_run] = list_runs(root)
    assert killed_run["status"] == "interrupted" and killed_run["nodes"]["train"] == "running"

    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"run \S+ ended without finishing .*: marked interrupted", second.stdout)
    match = re.search(r"resuming the unfinished run in .* from epoch (\d+)", second.stdout)
    assert match, second.stdout
    start = int(match.group(1))
    assert start >= 1
    status, uri = second.stdout.strip().splitlines()[-1].split()[1:]
    assert status == "ran"
    run = json.loads((Path(uri) / "run.json").read_text())
    assert run["finished"] is True and run["epochs_done"] == EPOCHS
    assert run["resumed_from"] == [start]
    assert [h["epoch"] for h in run["history"]] == list(range(1, EPOCHS + 1))
    ran = [int(k) for k in re.findall(rf"epoch (\d+)/{EPOCHS}:", second.stdout)]
    assert ran == list(range(start + 1, EPOCHS + 1))  # only the remaining epochs

    # the store no longer says "running"; the killed run is shown as interrupted
    db = sqlite3.connect(root / "metadata.sqlite")
    assert db.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM executions WHERE status = 'running'"
                      ).fetchone()[0] == 0
    db.close()
    assert [r["status"] for r in list_runs(root)] == ["interrupted", "succeeded"]
    # nothing temporary is left: no hidden artifact dirs, no work dir
    assert [p.name for p in (root / "artifacts" / "train").iterdir()
            if p.name.startswith(".")] == []
    assert not list((root / "work").glob("*/*"))


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)


def test_a_cached_rerun_sweeps_temporary_dirs_of_dead_processes(tmp_path):
    from test_runner import toy_pipeline

    from tfcalo.engine.store import HOST

    root = tmp_path / "root"
    first = run_pipeline(toy_pipeline(), root)
    fp = first.nodes["total"].fingerprint[:24]
    group = root / "artifacts" / "total"
    stale = group / f".{fp}.tmp-{HOST}-{_dead_pid()}-0123abcd"  # a killed export, say
    (stale / "model").mkdir(parents=True)
    (stale / "model" / "partial.txt").write_text("half")
    other = group / f".{'f' * 24}.tmp-{HOST}-{_dead_pid()}-0123abcd"  # a fingerprint not rerun
    other.mkdir()
    live = group / f".{'e' * 24}.tmp-{HOST}-{os.getpid()}-0123abcd"
    live.mkdir()
    second = run_pipeline(toy_pipeline(), root)
    assert {n.status for n in second.nodes.values()} == {"cached"}
    assert sorted(p.name for p in group.iterdir() if p.name.startswith(".")) == [live.name]


def _worker(inputs, outputs, params):
    """Keeps state in the execution's work dir and says where it was."""
    from tfcalo.engine.runner import current_context

    work = current_context().work_dir
    (work / "state.txt").write_text("epoch 3")
    (outputs["out"] / "work.txt").write_text(str(work))
    return {}


def test_work_dirs_are_removed_on_success_and_when_superseded(tmp_path):
    from tfcalo.engine.runner import Component, Node, Pipeline
    from tfcalo.engine.store import HOST

    root = tmp_path / "root"
    base = root / "work" / "total"

    def work(name: str, node: str, pid: int, pipeline: str = "toy") -> Path:
        path = base / f"{name}-{HOST}"
        path.mkdir(parents=True)
        (path / "owner.json").write_text(json.dumps({"pipeline": pipeline, "node": node,
                                                     "pid": pid}))
        return path

    superseded = work("a" * 24, "total", _dead_pid())  # an old config's killed training
    running = work("b" * 24, "total", os.getpid())  # a live process still uses it
    elsewhere = work("c" * 24, "total", _dead_pid(), pipeline="another")
    comp = Component("total", "1", {}, {"out": "Evaluation"}, {}, _worker)
    result = run_pipeline(Pipeline("toy", [Node("total", comp)]), root)
    used = Path((result.output("total", "out").uri / "work.txt").read_text())
    assert used == base / f"{result.nodes['total'].fingerprint[:24]}-{HOST}"
    assert not used.exists() and not superseded.exists()
    assert running.is_dir() and elsewhere.is_dir()
