"""Shared by the recipe benches: run one pipeline configuration, read its test-split metrics."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path


def run_pipeline(name: str, cmd: list[str]) -> dict:
    """Run ``cmd`` (a ``tfcalo pipeline run ...`` command); returns ``{"row", "command",
    "wall_s", "evaluation", "metrics"}`` (the evaluate component's metrics.json, found from
    the ``report:`` line the run prints), or ``{"row", "command", "error"}``."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"row": name, "command": " ".join(cmd), "error": proc.stderr[-2000:]}
    report = next(line.split(":", 1)[1].strip() for line in proc.stdout.splitlines()
                  if line.strip().startswith("report:"))
    metrics = json.loads((Path(report).parent / "metrics.json").read_text())
    return {"row": name, "command": " ".join(cmd), "wall_s": wall,
            "evaluation": str(Path(report).parent), "metrics": metrics}


def fmt(v) -> str:
    """A table cell: 3 significant digits, '-' for None."""
    return "-" if v is None else f"{v:.3g}"
