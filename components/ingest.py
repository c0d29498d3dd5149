"""Ingest component: a source file (or the built-in simulator) -> the canonical "Examples" artifact.

``COMPONENT`` has no inputs and one output ``examples`` of type "Examples"; its parameters are
``src`` (path, or None to simulate ``simulate_n`` examples with ``simulate_seed``),
``detector``, ``split``, ``seed``, ``weights_from``, ``clip_negative``, ``chunk_size``. The
work is :func:`tfcalo.data.ingest.write_ingest` (``tfcalo data ingest`` is
:func:`tfcalo.data.ingest.run_ingest`, also importable from here for one release).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfcalo.data.artifact import parse_split
from tfcalo.data.ingest import DEFAULT_CHUNK_SIZE, run_ingest, write_ingest
from tfcalo.detectors import get_detector
from tfcalo.engine.runner import Component, log
from tfcalo.errors import ConfigError


def executor(inputs: dict[str, Any], outputs: dict[str, Path], params: dict) -> dict[str, dict]:
    """Pipeline executor: fill ``outputs["examples"]`` (an empty temp dir) with the artifact."""
    det = get_detector(params["detector"])
    src = params.get("src")
    if src is None and not params.get("simulate_n"):
        raise ConfigError("ingest needs 'src' (a data file) or 'simulate_n' > 0")
    summary = write_ingest(
        Path(outputs["examples"]), src, det, parse_split(params.get("split", (0.8, 0.1, 0.1))),
        int(params.get("seed", 0)), params.get("weights_from"),
        bool(params.get("clip_negative", False)),
        int(params.get("chunk_size", DEFAULT_CHUNK_SIZE)),
        simulate_n=int(params.get("simulate_n", 0) or 0),
        simulate_seed=int(params.get("simulate_seed", 0) or 0))
    for w in summary["warnings"]:
        log(f"warning: {w}")
    return {"examples": summary}


COMPONENT = Component(
    name="ingest",
    version="2",  # 2: stats.json layer_profile_curve
    inputs={},
    outputs={"examples": "Examples"},
    parameters={"src": None, "detector": "lhcb-ecal", "split": [0.8, 0.1, 0.1], "seed": 0,
                "weights_from": None, "clip_negative": False, "chunk_size": DEFAULT_CHUNK_SIZE,
                "simulate_n": 0, "simulate_seed": 0},
    executor=executor,
)

__all__ = ["COMPONENT", "DEFAULT_CHUNK_SIZE", "executor", "run_ingest"]
