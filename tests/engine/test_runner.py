"""Tests of tfcalo.engine.runner (the component/pipeline engine) with toy components.

Toy executors write small text files. Side channels that must NOT change fingerprints (call
counters, failure switches) go through environment variables; the concurrency tests run
pipelines in subprocesses that import this module.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import pytest

from tfcalo.engine import store as pipeline_store
from tfcalo.engine.runner import (
    Artifact,
    Component,
    Node,
    Pipeline,
    current_context,
    get_run,
    list_runs,
    log,
    node_fingerprint,
    read_artifact,
    run_pipeline,
)
from tfcalo.errors import ArtifactError, ConfigError, TfcaloError, UnknownNameError

CALLS_ENV = "TFCALO_TOY_CALLS"  # directory: each executor call drops one file here
FAIL_ENV = "TFCALO_TOY_FAIL"  # path: while this file exists, the 'total' executor fails
HERE = Path(__file__).resolve().parent


# -- toy components ----------------------------------------------------------------------
def _count(name: str) -> None:
    d = os.environ.get(CALLS_ENV)
    if d:
        Path(d, f"{name}-{uuid.uuid4().hex}").touch()


def _calls(d: Path, name: str) -> int:
    return len(list(d.glob(f"{name}-*")))


def _wait_for(path: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {path}")
        time.sleep(0.05)


def make_exec(inputs, outputs, params):
    _count("make")
    log(f"making {params['n']} numbers")
    (outputs["data"] / "numbers.txt").write_text(" ".join(str(i) for i in range(params["n"])))
    return {"data": {"count": params["n"]}}


def total_exec(inputs, outputs, params):
    _count("total")
    if params["signal"]:
        Path(params["signal"]).touch()
    if params["wait_for"]:
        log(f"waiting for {params['wait_for']}")
        _wait_for(params["wait_for"])
    numbers = [int(x) for x in (inputs["data"].uri / "numbers.txt").read_text().split()]
    (outputs["model"] / "partial.txt").write_text("half")
    fail = os.environ.get(FAIL_ENV)
    if fail and Path(fail).exists():
        raise RuntimeError("boom: injected failure")
    total = sum(numbers) * params["scale"]
    (outputs["model"] / "total.txt").write_text(str(total))
    (outputs["model"] / "writer.txt").write_text(current_context().run_id)
    return {"model": {"metrics": {"total": total, "n": len(numbers)}}}


def strict_exec(inputs, outputs, params):
    (outputs["report"] / "partial.txt").write_text("half")
    raise ConfigError("threshold 'fpd_max' must be positive, got -1")


def chatty_exec(inputs, outputs, params):
    log("step one of two")
    logging.getLogger("tfcalo.somewhere").info("an info line from tfcalo")
    logging.getLogger("otherlib").warning("a warning from another library")
    logging.getLogger("otherlib").info("an info line that is not wanted")
    warnings.warn("careful with that axe", UserWarning, stacklevel=1)
    log("step two of two")
    return {}


MAKE = Component("make", "1", {}, {"data": "Examples"}, {"n": 4}, make_exec)
TOTAL = Component("total", "1", {"data": "Examples"}, {"model": "Model"},
                  {"scale": 1, "signal": "", "wait_for": ""}, total_exec)
STRICT = Component("strict", "1", {"model": "Model"}, {"report": "Evaluation"}, {},
                   strict_exec)
CHATTY = Component("chatty", "1", {}, {"out": "Evaluation"}, {}, chatty_exec)


def toy_pipeline(n: int = 4, scale: int = 1, **total_params) -> Pipeline:
    """make(n) -> total(scale); listed in reverse to exercise the topological sort."""
    return Pipeline("toy", [
        Node("total", TOTAL, {"scale": scale, **total_params}, {"data": ("make", "data")}),
        Node("make", MAKE, {"n": n}),
    ])


@pytest.fixture()
def calls(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "calls"
    d.mkdir()
    monkeypatch.setenv(CALLS_ENV, str(d))
    return d


def _visible_dirs(root: Path, component: str) -> list[Path]:
    d = root / "artifacts" / component
    return sorted(p for p in d.iterdir() if not p.name.startswith(".")) if d.exists() else []


def _hidden_dirs(root: Path, component: str) -> list[Path]:
    d = root / "artifacts" / component
    return sorted(p for p in d.iterdir() if p.name.startswith(".")) if d.exists() else []


# -- cache, fingerprints -----------------------------------------------------------------
def test_first_run_executes_second_run_is_cached(tmp_path, calls):
    root = tmp_path / "root"
    r1 = run_pipeline(toy_pipeline(), root)
    assert r1.status == "succeeded"
    assert {k: v.status for k, v in r1.nodes.items()} == {"make": "ran", "total": "ran"}
    model = r1.output("total", "model")
    assert model.type == "Model"
    assert (model.uri / "total.txt").read_text() == "6"  # 0+1+2+3
    assert model.properties == {"metrics": {"total": 6, "n": 4}}

    r2 = run_pipeline(toy_pipeline(), root)
    assert {k: v.status for k, v in r2.nodes.items()} == {"make": "cached", "total": "cached"}
    assert r2.output("total", "model") == model
    assert r2.run_id != r1.run_id
    assert (_calls(calls, "make"), _calls(calls, "total")) == (1, 1)


def test_parameter_change_misses_cache_for_node_and_downstream(tmp_path, calls):
    root = tmp_path / "root"
    r1 = run_pipeline(toy_pipeline(n=4, scale=1), root)
    r2 = run_pipeline(toy_pipeline(n=4, scale=10), root)  # downstream parameter only
    assert r2.nodes["make"].status == "cached"
    assert r2.nodes["total"].status == "ran"
    assert r2.nodes["total"].fingerprint != r1.nodes["total"].fingerprint
    assert r2.output("total", "model").properties["metrics"]["total"] == 60

    r3 = run_pipeline(toy_pipeline(n=5, scale=10), root)  # upstream parameter: both rerun
    assert {k: v.status for k, v in r3.nodes.items()} == {"make": "ran", "total": "ran"}
    assert r3.nodes["total"].fingerprint != r2.nodes["total"].fingerprint
    assert r3.output("total", "model").properties["metrics"]["total"] == 100
    # the earlier artifacts stay: going back is a cache hit
    r4 = run_pipeline(toy_pipeline(n=4, scale=1), root)
    assert {v.status for v in r4.nodes.values()} == {"cached"}
    assert (_calls(calls, "make"), _calls(calls, "total")) == (2, 3)


def test_node_fingerprint_depends_on_version_params_and_inputs():
    a = Artifact("Examples", Path("/x"), {}, "a" * 64)
    b = Artifact("Examples", Path("/y"), {"other": 1}, "b" * 64)
    base = node_fingerprint(TOTAL, {"scale": 1}, {"data": a})
    assert len(base) == 64
    # uri and properties do not matter, the input fingerprint does
    assert node_fingerprint(TOTAL, {"scale": 1}, {"data": Artifact("Examples", Path("/z"), {},
                                                                    "a" * 64)}) == base
    assert node_fingerprint(TOTAL, {"scale": 1}, {"data": b}) != base
    assert node_fingerprint(TOTAL, {"scale": 2}, {"data": a}) != base
    bumped = Component("total", "2", TOTAL.inputs, TOTAL.outputs, TOTAL.parameters, total_exec)
    assert node_fingerprint(bumped, {"scale": 1}, {"data": a}) != base
    # parameter order does not matter
    assert (node_fingerprint(TOTAL, {"scale": 1, "signal": ""}, {"data": a})
            == node_fingerprint(TOTAL, {"signal": "", "scale": 1}, {"data": a}))


def test_path_parameter_fingerprint_follows_file_content(tmp_path):
    src = tmp_path / "showers.h5"
    src.write_text("one")
    comp = Component("ingest", "1", {}, {"data": "Examples"}, {"source": None}, make_exec)
    fp1 = node_fingerprint(comp, {"source": src}, {})
    assert node_fingerprint(comp, {"source": src}, {}) == fp1
    src.write_text("a longer content")
    assert node_fingerprint(comp, {"source": src}, {}) != fp1


def test_no_cache_reruns_every_node_and_replaces_artifacts(tmp_path, calls):
    root = tmp_path / "root"
    r1 = run_pipeline(toy_pipeline(), root)
    r2 = run_pipeline(toy_pipeline(), root, no_cache=True)
    assert {v.status for v in r2.nodes.values()} == {"ran"}
    assert r2.output("total", "model").uri == r1.output("total", "model").uri
    assert (r2.output("total", "model").uri / "writer.txt").read_text() == r2.run_id
    assert (_calls(calls, "make"), _calls(calls, "total")) == (2, 2)
    assert _hidden_dirs(root, "total") == []


def test_deleted_artifact_is_recomputed(tmp_path, calls):
    import shutil

    root = tmp_path / "root"
    r1 = run_pipeline(toy_pipeline(), root)
    shutil.rmtree(r1.output("total", "model").uri)  # a user cleans up by hand
    r2 = run_pipeline(toy_pipeline(), root)
    assert r2.nodes["make"].status == "cached"
    assert r2.nodes["total"].status == "ran"
    assert (r2.output("total", "model").uri / "total.txt").read_text() == "6"


def test_artifacts_found_on_disk_survive_a_lost_store(tmp_path, calls):
    root = tmp_path / "root"
    r1 = run_pipeline(toy_pipeline(), root)
    for f in root.glob("metadata.sqlite*"):
        f.unlink()
    r2 = run_pipeline(toy_pipeline(), root)
    assert {v.status for v in r2.nodes.values()} == {"cached"}
    assert r2.output("total", "model") == r1.output("total", "model")
    assert _calls(calls, "total") == 1
    assert read_artifact(r1.output("total", "model").uri) == r1.output("total", "model")


# -- failures, atomicity, resume ---------------------------------------------------------
def test_failure_leaves_no_half_artifact_and_rerun_resumes(tmp_path, calls, monkeypatch):
    root = tmp_path / "root"
    flag = tmp_path / "fail-now"
    flag.touch()
    monkeypatch.setenv(FAIL_ENV, str(flag))
    seen = []
    with pytest.raises(RuntimeError, match="boom: injected failure") as info:
        run_pipeline(toy_pipeline(), root, progress=seen.append)
    assert any("FAILED" in m and "total" in m for m in seen)
    assert any("log:" in note for note in getattr(info.value, "__notes__", []))
    # the upstream artifact is kept, the failed one left nothing (not even a temp dir)
    assert len(_visible_dirs(root, "make")) == 1
    assert _visible_dirs(root, "total") == [] and _hidden_dirs(root, "total") == []
    [run] = list_runs(root)
    assert run["status"] == "failed" and "boom" in run["error"]
    assert run["nodes"] == {"make": "ran", "total": "failed"}
    log_text = next((root / "logs" / run["run_id"]).glob("total.log")).read_text()
    assert "Traceback" in log_text and "boom: injected failure" in log_text

    flag.unlink()
    r2 = run_pipeline(toy_pipeline(), root)
    assert {k: v.status for k, v in r2.nodes.items()} == {"make": "cached", "total": "ran"}
    assert (r2.output("total", "model").uri / "total.txt").read_text() == "6"
    assert (_calls(calls, "make"), _calls(calls, "total")) == (1, 2)


def test_tfcalo_error_is_prefixed_with_component_name(tmp_path):
    root = tmp_path / "root"
    p = Pipeline("strict", [
        Node("make", MAKE), Node("total", TOTAL, {}, {"data": ("make", "data")}),
        Node("strict", STRICT, {}, {"model": ("total", "model")}),
    ])
    with pytest.raises(ConfigError) as info:
        run_pipeline(p, root)
    assert str(info.value) == (
        "component 'strict' failed: threshold 'fpd_max' must be positive, got -1"
    )
    assert isinstance(info.value.__cause__, ConfigError)
    assert _visible_dirs(root, "strict") == [] and _hidden_dirs(root, "strict") == []
    assert len(_visible_dirs(root, "total")) == 1

    p.nodes[2].id = "check"  # node id differs from the component name: both are named
    p.nodes[2].inputs = {"model": ("total", "model")}
    with pytest.raises(TfcaloError, match=r"^component 'strict' \(node 'check'\) failed: "):
        run_pipeline(p, root)


HARD_CRASH = """
import os, sys
sys.path.insert(0, {here!r})
import test_runner as t
from tfcalo.engine.runner import Component, Node, Pipeline, run_pipeline
def crash(inputs, outputs, params):
    (outputs["model"] / "partial.txt").write_text("half")
    os._exit(3)
comp = Component("total", "1", {{"data": "Examples"}}, {{"model": "Model"}},
                 t.TOTAL.parameters, crash)
run_pipeline(Pipeline("toy", [Node("make", t.MAKE),
                              Node("total", comp, {{}}, {{"data": ("make", "data")}})]),
             {root!r})
"""


def test_hard_crash_leaves_only_a_hidden_temp_dir_and_an_interrupted_run(tmp_path, calls):
    root = tmp_path / "root"
    script = HARD_CRASH.format(here=str(HERE), root=str(root))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert _visible_dirs(root, "total") == []  # nothing that looks whole
    [stale] = _hidden_dirs(root, "total")
    assert (stale / "model" / "partial.txt").read_text() == "half"
    [run] = list_runs(root)
    assert run["status"] == "interrupted"
    assert run["nodes"] == {"make": "ran", "total": "running"}
    r2 = run_pipeline(toy_pipeline(), root)
    assert {k: v.status for k, v in r2.nodes.items()} == {"make": "cached", "total": "ran"}
    assert _hidden_dirs(root, "total") == []  # the dead process's temp dir was swept
    details = get_run(root, run["run_id"])
    assert details["executions"][1]["status"] == "failed"  # the dead claim was released
    assert "interrupted" in details["executions"][1]["error"]


def test_executor_returning_garbage_is_an_error(tmp_path):
    bad = Component("bad", "1", {}, {"out": "Evaluation"}, {},
                    lambda i, o, p: {"unknown": {}})
    with pytest.raises(TypeError, match="unknown output 'unknown'"):
        run_pipeline(Pipeline("bad", [Node("bad", bad)]), tmp_path)
    bad2 = Component("bad2", "1", {}, {"out": "Evaluation"}, {},
                     lambda i, o, p: {"out": {"x": object()}})
    with pytest.raises(TypeError, match="not JSON-able"):
        run_pipeline(Pipeline("bad", [Node("bad2", bad2)]), tmp_path)
    assert _visible_dirs(tmp_path, "bad") == [] and _visible_dirs(tmp_path, "bad2") == []


# -- logs and progress -------------------------------------------------------------------
def test_log_file_captures_log_logging_and_warnings_and_progress_reports(tmp_path):
    seen: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        result = run_pipeline(Pipeline("chat", [Node("chatty", CHATTY)]), tmp_path,
                              progress=seen.append)
    node = result.nodes["chatty"]
    text = node.log_path.read_text()
    for expected in ["step one of two", "an info line from tfcalo",
                     "a warning from another library", "careful with that axe",
                     "step two of two", "succeeded in", f"fingerprint {node.fingerprint}"]:
        assert expected in text, expected
    assert "an info line that is not wanted" not in text
    assert node.log_path == tmp_path / "logs" / result.run_id / "chatty.log"
    assert any(m.startswith("[1/1] chatty: running component 'chatty'") for m in seen)
    assert any(m.startswith("[1/1] chatty (") and m.endswith(" s): step two of two")
               for m in seen)
    assert any(m.startswith("[1/1] chatty: done in") for m in seen)
    assert current_context() is None  # the context ends with the executor
    assert logging.getLogger("tfcalo").level == logging.NOTSET  # restored


def test_log_outside_an_executor_goes_to_python_logging(caplog):
    with caplog.at_level(logging.INFO, logger="tfcalo"):
        log("hello from outside")
    assert "hello from outside" in caplog.text


# -- wiring errors -----------------------------------------------------------------------
@pytest.mark.parametrize("nodes, message", [
    (lambda: [Node("make", MAKE, {"nn": 3})],
     "node 'make' sets unknown parameter 'nn' of component 'make'; did you mean 'n'?"),
    (lambda: [Node("make", MAKE), Node("make", MAKE)],
     "pipeline 'p' has two nodes with id 'make'"),
    (lambda: [Node("total", TOTAL)],
     "node 'total' does not wire input 'data' (Examples) of component 'total'"),
    (lambda: [Node("total", TOTAL, {}, {"data": ("nowhere", "data")})],
     "node 'total' input 'data' comes from unknown node 'nowhere'"),
    (lambda: [Node("make", MAKE), Node("total", TOTAL, {}, {"dta": ("make", "data")})],
     "node 'total' wires unknown input 'dta' of component 'total'; did you mean 'data'?"),
    (lambda: [Node("make", MAKE), Node("total", TOTAL, {}, {"data": ("make", "model")})],
     "node 'total' input 'data' reads output 'model' that component 'make' does not have"),
    (lambda: [Node("make", MAKE), Node("total", TOTAL, {}, {"data": ("make", "data")}),
              Node("strict", STRICT, {}, {"model": ("make", "data")})],
     "node 'strict' input 'model' expects a Model artifact but 'make.data' is a Examples"),
    (lambda: [Node("a", TOTAL, {}, {"data": ("b", "data")}),
              Node("b", Component("m2", "1", {"x": "Model"}, {"data": "Examples"}, {},
                                  make_exec), {}, {"x": ("a", "model")})],
     "pipeline 'p' has a dependency cycle among nodes a, b"),
    (lambda: [Node("make", MAKE, {"n": object()})],
     "parameter 'n' of node 'make' cannot be fingerprinted"),
])
def test_miswired_pipelines_raise_config_error_before_running(tmp_path, nodes, message):
    with pytest.raises(ConfigError) as info:
        run_pipeline(Pipeline("p", nodes()), tmp_path / "root")
    assert str(info.value).startswith(message)
    assert not (tmp_path / "root").exists()


# -- queries -----------------------------------------------------------------------------
def test_list_runs_shows_runs_with_metrics(tmp_path):
    root = tmp_path / "root"
    assert list_runs(tmp_path) == []  # an existing directory without a store
    r1 = run_pipeline(toy_pipeline(scale=1), root)
    r2 = run_pipeline(toy_pipeline(scale=2), root)
    runs = list_runs(root)
    assert [r["run_id"] for r in runs] == [r1.run_id, r2.run_id]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[0]["pipeline"] == "toy"
    assert runs[0]["metrics"] == {"total": {"total": 6, "n": 4}}
    assert runs[1]["metrics"] == {"total": {"total": 12, "n": 4}}
    assert runs[1]["nodes"] == {"make": "cached", "total": "ran"}
    assert runs[0]["started"] <= runs[0]["ended"] and runs[0]["duration_s"] >= 0
    json.dumps(runs)  # JSON-able for the CLI

    details = get_run(root, r2.run_id)
    total = details["executions"][1]
    assert total["node_id"] == "total" and total["status"] == "succeeded"
    assert total["params"]["scale"] == 2
    assert total["inputs"]["data"]["fingerprint"] == r2.output("make", "data").fingerprint
    assert total["outputs"]["model"]["uri"] == str(r2.output("total", "model").uri)
    assert Path(total["log"]).is_file()


def test_query_errors_name_the_problem(tmp_path):
    with pytest.raises(ArtifactError, match="pipeline root .*nope does not exist"):
        list_runs(tmp_path / "nope")
    with pytest.raises(ArtifactError, match="has no metadata store"):
        get_run(tmp_path, "123")
    run_pipeline(toy_pipeline(), tmp_path)
    with pytest.raises(UnknownNameError, match="unknown run in .* '123'"):
        get_run(tmp_path, "123")
    with pytest.raises(ArtifactError, match="is not a pipeline artifact"):
        read_artifact(tmp_path)


# -- concurrency -------------------------------------------------------------------------
CHILD = """
import sys
sys.path.insert(0, {here!r})
import test_runner as t
from tfcalo.engine.runner import run_pipeline
r = run_pipeline(t.toy_pipeline(scale={scale}, signal={signal!r}, wait_for={wait!r}),
                 {root!r}, progress=lambda m: print(m, flush=True))
print("RESULT", r.run_id, r.nodes["total"].status, flush=True)
"""


def _child(root: Path, scale: int, signal: str = "", wait: str = "") -> subprocess.Popen:
    script = CHILD.format(here=str(HERE), root=str(root), scale=scale, signal=signal,
                          wait=wait)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _check_store(root: Path) -> sqlite3.Connection:
    db = sqlite3.connect(root / "metadata.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT COUNT(*) FROM executions WHERE status = 'running'"
                      ).fetchone()[0] == 0
    return db


def test_two_processes_computing_the_same_step_share_one_execution(tmp_path, calls):
    root = tmp_path / "root"
    started, release = tmp_path / "started", tmp_path / "release"
    # both runs have the same fingerprints: the first signals when it is inside 'total'
    a = _child(root, 3, signal=str(started), wait=str(release))
    _wait_for(str(started))
    b = _child(root, 3, signal=str(started), wait=str(release))
    for line in b.stdout:  # b must wait for a's claim on the same fingerprint
        if "waiting for run" in line:
            break
    release.touch()
    out_a, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)
    assert a.returncode == 0, err_a
    assert b.returncode == 0, err_b
    assert "RESULT" in out_a and out_a.split()[-1] == "ran"
    assert out_b.split()[-1] == "cached"
    assert (_calls(calls, "make"), _calls(calls, "total")) == (1, 1)

    db = _check_store(root)
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT fingerprint) FROM artifacts"
                      ).fetchone() == (2, 2)
    assert sorted(db.execute("SELECT node_id, status FROM executions").fetchall()) == [
        ("make", "cached"), ("make", "succeeded"), ("total", "cached"), ("total", "succeeded")]
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 6
    runs = list_runs(root)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[0]["metrics"] == runs[1]["metrics"] == {"total": {"total": 18, "n": 4}}
    assert len(_visible_dirs(root, "total")) == 1 and _hidden_dirs(root, "total") == []


def test_two_processes_with_different_steps_run_at_the_same_time(tmp_path, calls):
    root = tmp_path / "root"
    a_in, b_in = tmp_path / "a-inside", tmp_path / "b-inside"
    # a barrier: each 'total' waits until the other is inside its own 'total' too, so a
    # root-wide lock (serialising the runs) would deadlock and time out
    a = _child(root, 1, signal=str(a_in), wait=str(b_in))
    b = _child(root, 2, signal=str(b_in), wait=str(a_in))
    out_a, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)
    assert a.returncode == 0, err_a
    assert b.returncode == 0, err_b
    assert out_a.split()[-1] == out_b.split()[-1] == "ran"
    assert _calls(calls, "total") == 2
    assert _calls(calls, "make") == 1  # the shared upstream step ran once
    db = _check_store(root)
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT fingerprint) FROM artifacts"
                      ).fetchone() == (3, 3)
    metrics = sorted(r["metrics"]["total"]["total"] for r in list_runs(root))
    assert metrics == [6, 12]


def test_a_claim_from_another_host_does_not_block(tmp_path, calls):
    root = tmp_path / "root"
    run_pipeline(toy_pipeline(), root)
    fp = run_pipeline(toy_pipeline(scale=5), root, no_cache=True).nodes["total"].fingerprint
    db = sqlite3.connect(root / "metadata.sqlite")
    with db:  # a run on another machine claims the same step and is never heard of again
        db.execute("INSERT INTO runs VALUES ('far', 'toy', 0, NULL, 'running', 1, 'far', NULL)")
        db.execute("INSERT INTO executions (run_id, node_id, component, version, fingerprint, "
                   "params, status, started, pid, host) VALUES ('far', 'total', 'total', '1', "
                   "?, '{}', 'running', 0, 1, 'far-away-host')", (fp,))
    db.close()
    r = run_pipeline(toy_pipeline(scale=5), root, no_cache=True)
    assert r.nodes["total"].status == "ran"
    statuses = {x["run_id"]: x["status"] for x in list_runs(root)}
    assert statuses["far"] == "running"  # another host's run: liveness unknown
    assert statuses[r.run_id] == "succeeded"


def test_losing_the_final_rename_adopts_the_winners_artifacts(tmp_path, calls, monkeypatch):
    """Two runs that compute the same fingerprint (e.g. on two hosts): first rename wins."""
    root = tmp_path / "root"
    monkeypatch.setattr(pipeline_store, "pid_alive", lambda pid, host: False)
    inner: list = []

    def racing_exec(inputs, outputs, params):
        if not inner:  # the outer run: let another run finish the same step meanwhile
            inner.append(None)
            inner[0] = run_pipeline(racing, root)
        return total_exec(inputs, outputs, params)

    comp = Component("total", "1", TOTAL.inputs, TOTAL.outputs, TOTAL.parameters, racing_exec)
    racing = Pipeline("toy", [Node("make", MAKE),
                              Node("total", comp, {}, {"data": ("make", "data")})])
    outer = run_pipeline(racing, root)
    winner = inner[0]
    assert winner.nodes["total"].status == "ran" and outer.nodes["total"].status == "ran"
    art = outer.output("total", "model")
    assert art == winner.output("total", "model")
    assert (art.uri / "writer.txt").read_text() == winner.run_id
    assert _hidden_dirs(root, "total") == [] and len(_visible_dirs(root, "total")) == 1
    assert "another run finished the same step first" in outer.nodes["total"].log_path.read_text()
    db = _check_store(root)
    assert db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 2


# -- optional inputs ---------------------------------------------------------------------
def _maybe_exec(inputs, outputs, params):
    seen = sorted(inputs)
    (outputs["out"] / "seen.txt").write_text(" ".join(seen))
    return {"out": {"seen": seen}}


MAYBE = Component("maybe", "1", {"data": "Examples", "extra": "Model?"}, {"out": "Evaluation"},
                  {}, _maybe_exec)


def test_optional_input_may_be_left_unwired_or_wired(tmp_path, calls):
    without = Pipeline("opt", [Node("make", MAKE), Node("m", MAYBE, {}, {"data": ("make", "data")})])
    res = run_pipeline(without, tmp_path / "a")
    assert res.output("m", "out").properties["seen"] == ["data"]
    wired = Pipeline("opt", [*toy_pipeline().nodes,
                             Node("m", MAYBE, {}, {"data": ("make", "data"),
                                                   "extra": ("total", "model")})])
    res = run_pipeline(wired, tmp_path / "b")
    assert res.output("m", "out").properties["seen"] == ["data", "extra"]
    bad = Pipeline("opt", [*toy_pipeline().nodes,
                           Node("m", MAYBE, {}, {"data": ("make", "data"),
                                                 "extra": ("make", "data")})])
    with pytest.raises(ConfigError, match="expects a Model artifact"):
        run_pipeline(bad, tmp_path / "c")
