"""The TFX-style component and pipeline engine: artifacts, fingerprints, cache, lineage, runner.

A :class:`Component` declares typed inputs and outputs, default parameters and an executor;
a :class:`Pipeline` wires :class:`Node` s (uses of components) into a DAG; :func:`run_pipeline`
runs it under a *pipeline root*::

    <root>/metadata.sqlite                      runs, executions, artifacts, lineage (WAL)
    <root>/artifacts/<component>/<fp[:24]>/     one directory per execution fingerprint:
        <output>/                               the artifact's files (written by the executor)
        <output>.json                           its record: type, uri, properties, fingerprint
        execution.json                          component, version, params, input fingerprints
    <root>/logs/<run id>/<node id>.log          one log per executed node

Fingerprints: a node's fingerprint is sha256 of (component name, version, merged parameters,
input artifact fingerprints); an output artifact's fingerprint is sha256 of (node fingerprint,
output name). A ``pathlib.Path`` parameter is fingerprinted by its resolved path plus, for an
existing file, its size and modification time (so editing a source file reruns ingest).

Cache: a node is skipped ("cached") when its fingerprint has a succeeded execution whose
artifact directories still exist. A failed run leaves every finished node's artifacts, so a
rerun resumes from the failed node. ``no_cache=True`` reruns every node and atomically
replaces its artifact directory (same fingerprint, new content).

Atomicity and concurrency: an executor writes into empty temporary directories that are
renamed into place together only when it returns; a crash leaves only a hidden
``.<fp>.tmp-<host>-<pid>-*`` directory, never a half artifact (the next run on the host
removes it once that process is gone, and marks the dead run "interrupted" in the store).
What an executor must keep across a crash (a training backup) goes to
``ExecutionContext.work_dir`` (``<root>/work/<component>/<fp[:24]>-<host>/``), which the next
execution of the same fingerprint finds again and the runner deletes on success. There is no pipeline
lock: runs sharing a root coordinate per fingerprint through the store (a live process that
is computing a fingerprint *claims* it; another run on the same host needing it waits, then
takes it from the cache). If two processes on different hosts still compute the same
fingerprint, the first rename wins and the other adopts the winner's artifacts; a published
artifact directory never changes under a reader (except with ``no_cache``). The store needs a
filesystem with working POSIX locks for SQLite WAL (a local disk, not NFS).

Executors report progress with :func:`log` (or ``current_context().log``)::

    from tfcalo.engine.runner import log
    def executor(inputs, outputs, params):
        log("training epoch 1/10")          # -> the node's log file + progress callback
        ...

During an executor, Python ``logging`` records of level INFO and above from the ``tfcalo``
loggers (WARNING and above from any other logger) and every shown warning are copied into the
node's log file. An executor exception is recorded with its traceback in the log; a
:class:`tfcalo.errors.TfcaloError` is re-raised as the same type with the message
"component 'train' failed: ...", any other exception is re-raised unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import json
import logging
import os
import shutil
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfcalo.atomic import atomic_write_text
from tfcalo.engine.store import HOST, ArtifactRow, MetadataStore, pid_alive
from tfcalo.errors import ConfigError, TfcaloError, nearest
from tfcalo.native_log import to_file as native_log_to

__all__ = [
    "Artifact", "Component", "Node", "Pipeline", "NodeResult", "RunResult",
    "ExecutionContext", "run_pipeline", "list_runs", "get_run", "log", "current_context",
    "node_fingerprint", "read_artifact",
]

Executor = Callable[[dict[str, "Artifact"], dict[str, Path], dict[str, Any]], dict[str, dict]]
WAIT_POLL_S = 0.5  # how often a run waiting for another run's claim on a fingerprint polls


@dataclass(frozen=True)
class Artifact:
    """A typed directory of files plus a JSON record.

    Attributes:
        type: artifact type, e.g. "Examples", "Weights", "Model", "Regressor", "Evaluation",
            "SavedModel".
        uri: absolute directory holding the artifact's files.
        properties: JSON-able dict (counts, ``metrics``, ``blessed``...).
        fingerprint: lineage fingerprint (sha256 hex of producer fingerprint + output name).
    """

    type: str
    uri: Path
    properties: dict
    fingerprint: str


@dataclass(frozen=True)
class Component:
    """A reusable step: typed inputs/outputs, default parameters and an executor.

    ``executor(inputs, output_dirs, params) -> {output name: properties}`` receives the input
    artifacts by name, one EMPTY temporary directory per output (fill it), and the merged
    parameters; it returns JSON-able properties per output (an output it leaves out gets
    ``{}``). Put evaluation numbers under ``properties["metrics"]`` (a flat dict) so
    :func:`list_runs` shows them. Bump ``version`` whenever the executor's behaviour changes:
    it is part of the cache fingerprint.
    """

    name: str
    version: str
    inputs: dict[str, str]  # a type ending in "?" marks an optional input
    outputs: dict[str, str]
    parameters: dict[str, Any]
    executor: Executor


@dataclass
class Node:
    """One use of a component in a pipeline.

    ``inputs`` maps an input name to ``(upstream node id, upstream output name)``;
    ``params`` overrides the component's default parameters (unknown keys are errors).
    """

    id: str
    component: Component
    params: dict = field(default_factory=dict)
    inputs: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Pipeline:
    """A named DAG of nodes (any order; the runner sorts them topologically)."""

    name: str
    nodes: list[Node]


@dataclass
class NodeResult:
    """What happened to one node in a run.

    ``status`` is "ran" (executed now), "cached" (outputs reused) or "failed".
    ``log_path`` is the node's log file (None when cached).
    """

    node_id: str
    status: str
    fingerprint: str
    outputs: dict[str, Artifact]
    elapsed_s: float
    log_path: Path | None


@dataclass
class RunResult:
    """The result of a successful :func:`run_pipeline`: run id and one result per node."""

    run_id: str
    pipeline: str
    status: str
    nodes: dict[str, NodeResult]

    def output(self, node_id: str, name: str) -> Artifact:
        """The artifact produced (or reused) by ``node_id`` under output ``name``."""
        return self.nodes[node_id].outputs[name]


# -- executor context --------------------------------------------------------------------
@dataclass
class ExecutionContext:
    """The node being executed; :func:`current_context` returns it inside an executor."""

    run_id: str
    node_id: str
    component: str
    fingerprint: str
    log_path: Path
    started: float
    label: str
    handler: logging.Handler
    progress: Callable[[str], None] | None = None
    work_root: Path | None = None
    pipeline: str = ""

    @property
    def work_dir(self) -> Path:
        """A directory of this execution's own that survives a crash (created on first use).

        ``<root>/work/<component>/<fp[:24]>-<host>/``: the same for every execution of this
        fingerprint on this host, so an executor killed mid-way (or that failed) finds there
        what it left, e.g. the training backup to resume from; the runner deletes it when the
        execution succeeds. Only one process at a time uses it (a live process claims the
        fingerprint). Outside the runner, a temporary directory of this process.
        """
        if self.work_root is None:
            import tempfile

            self.work_root = Path(tempfile.mkdtemp(prefix="tfcalo-work-"))
        path = _work_dir(self.work_root, self.component, self.fingerprint)
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path / _WORK_OWNER, json.dumps(
            {"pipeline": self.pipeline, "node": self.node_id, "run_id": self.run_id,
             "pid": os.getpid(), "host": HOST}))
        return path

    @property
    def elapsed_s(self) -> float:
        """Seconds since the executor started."""
        return time.monotonic() - self.started

    def log(self, message: str) -> None:
        """Write ``message`` to the node's log file and report it to the progress callback."""
        record = logging.makeLogRecord({
            "name": f"tfcalo.pipeline.{self.node_id}", "levelno": logging.INFO,
            "levelname": "INFO", "msg": message,
        })
        self.handler.handle(record)
        if self.progress is not None:
            self.progress(f"{self.label} ({self.elapsed_s:.1f} s): {message}")


_CONTEXT: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar(
    "tfcalo_pipeline_context", default=None
)
_LOGGER = logging.getLogger("tfcalo")


def current_context() -> ExecutionContext | None:
    """The :class:`ExecutionContext` of the running executor, or None outside one."""
    return _CONTEXT.get()


def log(message: str) -> None:
    """Report what the current executor is doing (log file + progress callback).

    Outside an executor it logs to the ``tfcalo`` Python logger at INFO level.
    """
    ctx = _CONTEXT.get()
    if ctx is None:
        _LOGGER.info(message)
    else:
        ctx.log(message)


@contextlib.contextmanager
def _captured(ctx: ExecutionContext) -> Iterator[None]:
    """Route :func:`log`, Python logging and warnings into ``ctx``'s log file (and
    TensorFlow's native log lines, when the CLI keeps them off the terminal:
    :mod:`tfcalo.native_log`)."""
    root_logger = logging.getLogger()
    old_level = _LOGGER.level
    token = _CONTEXT.set(ctx)
    root_logger.addHandler(ctx.handler)
    if _LOGGER.getEffectiveLevel() > logging.INFO:
        _LOGGER.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(), native_log_to(ctx.log_path):
            shown = warnings.showwarning

            def showwarning(message, category, filename, lineno, file=None, line=None):
                text = warnings.formatwarning(message, category, filename, lineno, line)
                ctx.handler.handle(logging.makeLogRecord({
                    "name": "py.warnings", "levelno": logging.WARNING,
                    "levelname": "WARNING", "msg": text.rstrip(),
                }))
                shown(message, category, filename, lineno, file, line)

            warnings.showwarning = showwarning
            yield
    finally:
        _CONTEXT.reset(token)
        root_logger.removeHandler(ctx.handler)
        _LOGGER.setLevel(old_level)


class _LogFilter(logging.Filter):
    """Keep INFO+ from tfcalo loggers and WARNING+ from everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "tfcalo" or record.name.startswith("tfcalo."):
            return record.levelno >= logging.INFO
        return record.levelno >= logging.WARNING


def _open_log(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_LogFilter())
    return handler


# -- fingerprints and validation ---------------------------------------------------------
def _json_default(value: Any) -> Any:
    """JSON form of parameter values json cannot encode (Path, numpy scalars/arrays, sets)."""
    if isinstance(value, Path):
        p = value.expanduser().resolve()
        if p.is_file():
            st = p.stat()
            return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        return {"path": str(p)}
    if hasattr(value, "tolist"):  # numpy scalar or array
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def node_fingerprint(component: Component, params: dict, inputs: dict[str, Artifact]) -> str:
    """sha256 hex of (component name, version, merged params, input fingerprints)."""
    return _sha256(_canonical_json({
        "component": component.name,
        "version": component.version,
        "params": params,
        "inputs": {name: a.fingerprint for name, a in sorted(inputs.items())},
    }))


def _output_fingerprint(fingerprint: str, name: str) -> str:
    return _sha256(f"{fingerprint}:{name}")


def _merged_params(node: Node) -> dict:
    comp = node.component
    unknown = sorted(set(node.params) - set(comp.parameters))
    if unknown:
        hint = nearest(unknown[0], comp.parameters)
        raise ConfigError(
            f"node '{node.id}' sets unknown parameter '{unknown[0]}' of component "
            f"'{comp.name}'" + (f"; did you mean '{hint}'?" if hint else "")
            + f" (valid: {', '.join(sorted(comp.parameters)) or 'none'})"
        )
    params = {**comp.parameters, **node.params}
    for key, value in params.items():
        try:
            _canonical_json(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"parameter '{key}' of node '{node.id}' cannot be fingerprinted: {exc}"
            ) from None
    return params


def _sorted_nodes(pipeline: Pipeline) -> list[Node]:
    """Validate the wiring and return the nodes in a stable topological order."""
    by_id: dict[str, Node] = {}
    for node in pipeline.nodes:
        if node.id in by_id:
            raise ConfigError(f"pipeline '{pipeline.name}' has two nodes with id '{node.id}'")
        by_id[node.id] = node
    for node in pipeline.nodes:
        comp = node.component
        for name, wire in node.inputs.items():
            if name not in comp.inputs:
                hint = nearest(name, comp.inputs)
                raise ConfigError(
                    f"node '{node.id}' wires unknown input '{name}' of component "
                    f"'{comp.name}'" + (f"; did you mean '{hint}'?" if hint else "")
                )
            src_id, out = wire
            if src_id not in by_id:
                raise ConfigError(
                    f"node '{node.id}' input '{name}' comes from unknown node '{src_id}'"
                )
            src = by_id[src_id].component
            if out not in src.outputs:
                raise ConfigError(
                    f"node '{node.id}' input '{name}' reads output '{out}' that component "
                    f"'{src.name}' does not have (outputs: {', '.join(sorted(src.outputs))})"
                )
            if src.outputs[out] != comp.inputs[name].rstrip("?"):
                raise ConfigError(
                    f"node '{node.id}' input '{name}' expects a {comp.inputs[name].rstrip('?')} artifact "
                    f"but '{src_id}.{out}' is a {src.outputs[out]}"
                )
        required = {k for k, t in comp.inputs.items() if not t.endswith("?")}
        missing = sorted(required - set(node.inputs))
        if missing:
            raise ConfigError(
                f"node '{node.id}' does not wire input '{missing[0]}' "
                f"({comp.inputs[missing[0]]}) of component '{comp.name}'"
            )
    ordered: list[Node] = []
    done: set[str] = set()
    pending = list(pipeline.nodes)
    while pending:
        ready = [n for n in pending if all(src in done for src, _ in n.inputs.values())]
        if not ready:
            raise ConfigError(
                f"pipeline '{pipeline.name}' has a dependency cycle among nodes "
                f"{', '.join(sorted(n.id for n in pending))}"
            )
        for n in ready:
            ordered.append(n)
            done.add(n.id)
        pending = [n for n in pending if n.id not in done]
    return ordered


# -- artifacts on disk -------------------------------------------------------------------
def read_artifact(uri: str | Path) -> Artifact:
    """Load the :class:`Artifact` whose files are in ``uri`` (from its ``<uri>.json`` record).

    Raises:
        ArtifactError: the directory or its record is missing or unreadable.
    """
    from tfcalo.errors import ArtifactError

    uri = Path(uri)
    record = uri.parent / f"{uri.name}.json"
    if not uri.is_dir() or not record.is_file():
        raise ArtifactError(f"{uri} is not a pipeline artifact (no directory or no {record.name})")
    try:
        r = json.loads(record.read_text())
        return Artifact(r["type"], uri, r["properties"], r["fingerprint"])
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"artifact record {record} is unreadable: {exc}") from None


def _group_outputs(group: Path, component: Component) -> dict[str, Artifact] | None:
    """The complete outputs in an execution directory, or None if any is missing."""
    outputs = {}
    for name, type_ in component.outputs.items():
        try:
            a = read_artifact(group / name)
        except TfcaloError:
            return None
        if a.type != type_:
            return None
        outputs[name] = a
    return outputs


def _rows_to_artifacts(rows: list[ArtifactRow], component: Component) -> dict[str, Artifact] | None:
    """Cached artifacts by output name, or None unless every output still exists on disk."""
    outputs = {r.name: Artifact(r.type, r.uri, r.properties, r.fingerprint) for r in rows}
    if set(outputs) != set(component.outputs):
        return None
    for a in outputs.values():
        if not a.uri.is_dir() or not (a.uri.parent / f"{a.uri.name}.json").is_file():
            return None
    return outputs


# -- the runner --------------------------------------------------------------------------
def _new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def run_pipeline(
    pipeline: Pipeline,
    root: Path,
    no_cache: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run ``pipeline`` under ``root`` (metadata store, artifacts, logs); return what happened.

    Args:
        pipeline: the DAG to run (validated first: wiring, types, parameters, cycles).
        root: the pipeline root directory (created if needed; may be shared by concurrent
            runs of this or other pipelines).
        no_cache: execute every node even if a finished execution with the same fingerprint
            exists, replacing its artifacts.
        progress: called with one human-readable line per event: a node starts, is cached,
            reports via :func:`log` (with elapsed seconds), waits for another run, finishes
            or fails.

    Returns:
        RunResult with ``run_id`` and per-node status ("ran" / "cached") and output artifacts.

    Raises:
        ConfigError: the pipeline is miswired.
        TfcaloError: an executor raised one; same type, "component 'x' failed: ...".
        Exception: any other executor exception, unchanged (traceback in the node's log).
    """
    root = Path(root).expanduser().resolve()
    order = _sorted_nodes(pipeline)
    params_by_node = {n.id: _merged_params(n) for n in order}
    root.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    run_id = _new_run_id()
    results: dict[str, NodeResult] = {}
    with MetadataStore(root) as store:
        for gone in store.mark_interrupted():
            say(f"run {gone} ended without finishing (its process is gone): marked "
                "interrupted")
        _sweep_root(root)
        store.begin_run(run_id, pipeline.name)
        say(f"run {run_id} of pipeline '{pipeline.name}' in {root}")
        try:
            for i, node in enumerate(order, 1):
                inputs = {name: results[src].outputs[out]
                          for name, (src, out) in node.inputs.items()}
                results[node.id] = _run_node(
                    store, root, run_id, node, params_by_node[node.id], inputs, no_cache,
                    f"[{i}/{len(order)}] {node.id}", say, pipeline.name,
                )
                _remove_work(root, node, results[node.id].fingerprint, pipeline.name)
        except BaseException as exc:
            store.end_run(run_id, "failed", _one_line(exc))
            raise
        store.end_run(run_id, "succeeded")
    say(f"run {run_id} succeeded")
    return RunResult(run_id, pipeline.name, "succeeded", results)


_WORK_OWNER = "owner.json"


def _work_dir(root: Path, component: str, fingerprint: str) -> Path:
    return root / "work" / component / f"{fingerprint[:24]}-{HOST}"


def _remove_work(root: Path, node: Node, fingerprint: str, pipeline: str) -> None:
    """After ``node`` succeeded (or was cached): delete its work directory, and those of
    earlier fingerprints of the same node of the same pipeline whose process is gone (left
    by an execution that failed or was killed, then superseded by a changed config)."""
    base = root / "work" / node.component.name
    if not base.is_dir():
        return
    mine = _work_dir(root, node.component.name, fingerprint)
    for path in base.glob(f"*-{HOST}"):
        if path != mine:
            try:
                owner = json.loads((path / _WORK_OWNER).read_text())
                if (owner.get("pipeline"), owner.get("node")) != (pipeline, node.id) or \
                        pid_alive(int(owner["pid"]), HOST):
                    continue
            except (OSError, ValueError, KeyError, TypeError):
                continue
        shutil.rmtree(path, ignore_errors=True)


def _sweep_root(root: Path) -> None:
    """Remove the hidden temporary directories under ``<root>/artifacts`` left by dead
    processes on this host (whatever fingerprint they were for)."""
    artifacts = root / "artifacts"
    if not artifacts.is_dir():
        return
    groups = {p.parent / p.name.split(".", 2)[1] for p in artifacts.glob("*/.*.*-*-*-*")}
    for group in groups:
        _sweep_stale_temps(group)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _run_node(
    store: MetadataStore, root: Path, run_id: str, node: Node, params: dict,
    inputs: dict[str, Artifact], no_cache: bool, label: str, say: Callable[[str], None],
    pipeline_name: str = "",
) -> NodeResult:
    comp = node.component
    fp = node_fingerprint(comp, params, inputs)
    params_json = _canonical_json(params)
    input_fps = {name: a.fingerprint for name, a in inputs.items()}
    group = root / "artifacts" / comp.name / fp[:24]
    log_path = root / "logs" / run_id / f"{node.id}.log"
    waited = False
    while True:
        if not no_cache:
            hit = store.find_cached(fp)
            outputs = _rows_to_artifacts(hit[1], comp) if hit else None
            if outputs is None:  # finished on disk but unrecorded (e.g. lost a race)
                outputs = _group_outputs(group, comp) if group.is_dir() else None
                if outputs is not None:
                    store_id, holder = store.claim(run_id, node.id, comp.name, comp.version,
                                                   fp, params_json, None)
                    if store_id is not None:
                        store.finish_execution(store_id, input_fps, _rows(outputs))
                        say(f"{label}: cached (found complete on disk)")
                        return NodeResult(node.id, "cached", fp, outputs, 0.0, None)
                    outputs = None
            if outputs is not None:
                store.record_cached(run_id, node.id, comp.name, comp.version, fp, params_json,
                                    input_fps, {k: a.fingerprint for k, a in outputs.items()})
                say(f"{label}: cached (from run {hit[0]})")
                return NodeResult(node.id, "cached", fp, outputs, 0.0, None)
        execution_id, holder = store.claim(run_id, node.id, comp.name, comp.version, fp,
                                           params_json, log_path)
        if execution_id is not None:
            break
        if not waited:
            say(f"{label}: waiting for run {holder['run_id']} (pid {holder['pid']} on "
                f"{holder['host']}), which is computing the same step")
            waited = True
        time.sleep(WAIT_POLL_S)

    handler = _open_log(log_path)
    ctx = ExecutionContext(run_id, node.id, comp.name, fp, log_path, time.monotonic(), label,
                           handler, progress=say, work_root=root, pipeline=pipeline_name)
    say(f"{label}: running component '{comp.name}' v{comp.version} (log {log_path})")
    _write_log_header(handler, node, params, inputs, fp)
    try:
        with _captured(ctx):
            outputs = _execute(node, params, inputs, fp, group, run_id, no_cache)
    except BaseException as exc:
        elapsed = ctx.elapsed_s
        handler.handle(logging.makeLogRecord({
            "name": "tfcalo.pipeline", "levelno": logging.ERROR, "levelname": "ERROR",
            "msg": f"failed after {elapsed:.1f} s:\n{traceback.format_exc().rstrip()}",
        }))
        handler.close()
        store.fail_execution(execution_id, _one_line(exc))
        say(f"{label}: FAILED after {elapsed:.1f} s: {_one_line(exc)} (log {log_path})")
        if isinstance(exc, TfcaloError):
            who = f"'{comp.name}'" + (f" (node '{node.id}')" if node.id != comp.name else "")
            try:
                err = type(exc)(f"component {who} failed: {exc}")
            except Exception:  # a subclass with a different constructor
                err = TfcaloError(f"component {who} failed: {exc}")
            err.add_note(f"log: {log_path}")
            raise err from exc
        exc.add_note(f"tfcalo: component '{comp.name}' failed; log: {log_path}")
        raise
    elapsed = ctx.elapsed_s
    handler.handle(logging.makeLogRecord({
        "name": "tfcalo.pipeline", "levelno": logging.INFO, "levelname": "INFO",
        "msg": f"succeeded in {elapsed:.1f} s",
    }))
    handler.close()
    store.finish_execution(execution_id, input_fps, _rows(outputs))
    say(f"{label}: done in {elapsed:.1f} s")
    return NodeResult(node.id, "ran", fp, outputs, elapsed, log_path)


def _rows(outputs: dict[str, Artifact]) -> list[ArtifactRow]:
    return [ArtifactRow(name, a.type, a.uri, a.properties, a.fingerprint)
            for name, a in outputs.items()]


def _write_log_header(handler: logging.Handler, node: Node, params: dict,
                      inputs: dict[str, Artifact], fp: str) -> None:
    lines = [f"component '{node.component.name}' v{node.component.version}, node '{node.id}'",
             f"fingerprint {fp}", f"parameters {_canonical_json(params)}"]
    lines += [f"input {name}: {a.type} {a.uri}" for name, a in sorted(inputs.items())]
    for line in lines:
        handler.handle(logging.makeLogRecord({
            "name": "tfcalo.pipeline", "levelno": logging.INFO, "levelname": "INFO",
            "msg": line,
        }))


def _execute(node: Node, params: dict, inputs: dict[str, Artifact], fp: str, group: Path,
             run_id: str, no_cache: bool) -> dict[str, Artifact]:
    """Run the executor into a temporary execution directory and publish it as ``group``.

    The first complete ``group`` wins: if another process published it meanwhile, its
    artifacts are adopted and ours discarded, so an artifact never changes under a reader.
    An incomplete ``group`` (a user deleted part of it) and, with ``no_cache``, a complete
    one are replaced.
    """
    comp = node.component
    _sweep_stale_temps(group)
    with _staged_dir(group) as tmp:
        dirs = {name: tmp / name for name in comp.outputs}
        for d in dirs.values():
            d.mkdir()
        result = comp.executor(dict(inputs), dict(dirs), dict(params))
        props = _check_result(comp, result)
        outputs = {
            name: Artifact(type_, group / name, props[name], _output_fingerprint(fp, name))
            for name, type_ in comp.outputs.items()
        }
        for name, a in outputs.items():
            atomic_write_text(tmp / f"{name}.json", json.dumps({
                "type": a.type, "uri": str(a.uri), "properties": a.properties,
                "fingerprint": a.fingerprint, "producer": {
                    "component": comp.name, "version": comp.version,
                    "node": node.id, "run_id": run_id, "fingerprint": fp},
            }, indent=2, default=_json_default))
        atomic_write_text(tmp / "execution.json", json.dumps({
            "component": comp.name, "version": comp.version, "node": node.id,
            "run_id": run_id, "fingerprint": fp, "params": params,
            "inputs": {k: {"type": a.type, "uri": str(a.uri), "fingerprint": a.fingerprint}
                       for k, a in inputs.items()},
        }, indent=2, default=_json_default))
        replace = no_cache or (group.exists() and _group_outputs(group, comp) is None)
        if _publish(tmp, group, replace):
            return outputs
    adopted = _group_outputs(group, comp)
    if adopted is None:
        raise RuntimeError(f"artifact directory {group} is incomplete after a concurrent run")
    log(f"another run finished the same step first; using its artifacts in {group}")
    return adopted


def _temp_name(final: Path, kind: str) -> Path:
    """A hidden sibling of ``final`` that names its host and process (for stale sweeps)."""
    return final.parent / f".{final.name}.{kind}-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def _staged_dir(final: Path) -> Iterator[Path]:
    """An empty hidden temporary sibling of ``final``, removed if it is still there at exit.

    Unlike :func:`tfcalo.atomic.atomic_dir` (last writer wins) publishing is left to
    :func:`_publish`, which lets the first complete execution win.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(final, "tmp")
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, final: Path, replace: bool) -> bool:
    """Rename ``tmp`` to ``final``; False if a complete ``final`` was already there.

    With ``replace`` an existing ``final`` is first moved aside (and deleted afterwards).
    """
    old = None
    if replace and final.exists():
        old = _temp_name(final, "old")
        with contextlib.suppress(FileNotFoundError):
            os.replace(final, old)
    try:
        os.rename(tmp, final)  # POSIX: fails on an existing non-empty directory
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        return False
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return True


def _sweep_stale_temps(final: Path) -> None:
    """Remove temporary siblings of ``final`` left by dead processes on this host."""
    if not final.parent.is_dir():
        return
    for p in final.parent.glob(f".{final.name}.*-*-*-*"):
        try:
            host, pid, _ = p.name.split(".", 2)[2].split("-", 1)[1].rsplit("-", 2)
            if not pid_alive(int(pid), host):
                shutil.rmtree(p, ignore_errors=True)
        except ValueError:
            continue


def _check_result(comp: Component, result: Any) -> dict[str, dict]:
    """Validate an executor's return value: {output name: JSON-able properties dict}."""
    if result is None:
        result = {}
    if not isinstance(result, dict):
        raise TypeError(f"executor of component '{comp.name}' returned "
                        f"{type(result).__name__}, expected a dict of output properties")
    extra = sorted(set(result) - set(comp.outputs))
    if extra:
        raise TypeError(f"executor of component '{comp.name}' returned properties for "
                        f"unknown output '{extra[0]}'")
    props = {}
    for name in comp.outputs:
        p = result.get(name) or {}
        if not isinstance(p, dict):
            raise TypeError(f"executor of component '{comp.name}' returned "
                            f"{type(p).__name__} properties for output '{name}'")
        props[name] = json.loads(json.dumps(p, default=_json_default))  # JSON-able copy
    return props


# -- queries -----------------------------------------------------------------------------
def list_runs(root: Path) -> list[dict]:
    """Past runs under ``root``, oldest first.

    Each dict has ``run_id``, ``pipeline``, ``started``/``ended`` (local ISO-8601),
    ``duration_s``, ``status`` (running / succeeded / failed / interrupted), ``error``,
    ``nodes`` ({node id: ran-as status}) and ``metrics`` ({node id: properties["metrics"] of
    its output artifacts}). A root without a store has no runs.

    Raises:
        ArtifactError: ``root`` does not exist.
    """
    from tfcalo.errors import ArtifactError

    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise ArtifactError(f"pipeline root {root} does not exist")
    if not (root / "metadata.sqlite").exists():
        return []
    with MetadataStore(root) as store:
        runs = store.list_runs()
    for r in runs:  # the store says succeeded/failed/cached; the API says ran/cached/failed
        r["nodes"] = {k: ("ran" if v == "succeeded" else v) for k, v in r["nodes"].items()}
    return runs


def get_run(root: Path, run_id: str) -> dict:
    """One run with its executions (params, fingerprints, log paths, input/output artifacts).

    Raises:
        ArtifactError: ``root`` has no metadata store.
        UnknownNameError: no run ``run_id``.
    """
    with MetadataStore(Path(root).expanduser().resolve(), create=False) as store:
        return store.get_run(run_id)
