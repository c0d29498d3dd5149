"""Benchmark the pipeline engine's own overhead (no real work in the executors).

Prints JSON: milliseconds per node for a first run (execute + publish + record), a fully
cached rerun, and a no_cache rerun, on a chain of trivial components in a temporary root.

Usage: python bench/bench_pipeline_engine.py [--nodes 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tfcalo.engine.runner import Component, Node, Pipeline, run_pipeline


def _step(inputs, outputs, params):
    (outputs["out"] / "value.txt").write_text(str(params["i"]))
    return {"out": {"i": params["i"]}}


def chain(n: int) -> Pipeline:
    """n nodes, each consuming the previous node's output."""
    first = Component("first", "1", {}, {"out": "Examples"}, {"i": 0}, _step)
    step = Component("step", "1", {"x": "Examples"}, {"out": "Examples"}, {"i": 0}, _step)
    nodes = [Node("n0", first)]
    nodes += [Node(f"n{i}", step, {"i": i}, {"x": (f"n{i - 1}", "out")}) for i in range(1, n)]
    return Pipeline("chain", nodes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    p = chain(args.nodes)
    times: dict[str, list[float]] = {"first_run": [], "cached_rerun": [], "no_cache_rerun": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            for key, kw in [("first_run", {}), ("cached_rerun", {}),
                            ("no_cache_rerun", {"no_cache": True})]:
                t0 = time.perf_counter()
                run_pipeline(p, Path(d), **kw)
                times[key].append((time.perf_counter() - t0) * 1000 / args.nodes)
    print(json.dumps({"nodes": args.nodes, "repeats": args.repeats,
                      **{f"{k}_ms_per_node": round(min(v), 2) for k, v in times.items()}}))


if __name__ == "__main__":
    main()
