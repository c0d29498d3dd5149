"""The TFX-style component and pipeline engine: artifacts, fingerprints, cache, lineage, runner.

SKELETON: the public API below is fixed; the implementation follows.

Executors report what they are doing with :func:`log` (module function, works from inside an
executor; outside one it falls back to the ``tfcalo`` Python logger).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Executor = Callable[[dict[str, "Artifact"], dict[str, Path], dict[str, Any]], dict[str, dict]]


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
    parameters; it returns JSON-able properties per output. Bump ``version`` whenever the
    executor's behaviour changes: it is part of the cache fingerprint.
    """

    name: str
    version: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    parameters: dict[str, Any]
    executor: Executor


@dataclass
class Node:
    """One use of a component in a pipeline.

    ``inputs`` maps an input name to ``(upstream node id, upstream output name)``;
    ``params`` overrides the component's default parameters.
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
    """What happened to one node in a run: status "ran", "cached", "failed" or "skipped"."""

    node_id: str
    status: str
    fingerprint: str
    outputs: dict[str, Artifact]
    elapsed_s: float
    log_path: Path | None


@dataclass
class RunResult:
    """The result of :func:`run_pipeline`."""

    run_id: str
    pipeline: str
    status: str
    nodes: dict[str, NodeResult]

    def output(self, node_id: str, name: str) -> Artifact:
        """The artifact produced (or reused) by ``node_id`` under output ``name``."""
        return self.nodes[node_id].outputs[name]


def log(message: str) -> None:
    """Report what the current executor is doing (log file + progress callback)."""
    raise NotImplementedError


def run_pipeline(
    pipeline: Pipeline,
    root: Path,
    no_cache: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run ``pipeline`` under ``root`` (metadata store, artifacts, logs)."""
    raise NotImplementedError


def list_runs(root: Path) -> list[dict]:
    """Past runs under ``root``: run_id, pipeline, started, ended, status, metrics."""
    raise NotImplementedError
