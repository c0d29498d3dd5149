"""Shared by the recipe benches: run one pipeline configuration, read its test-split metrics."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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


def bench_main(benchmark: str, doc: str, rows: dict, run_row, epochs: int, root: str,
               data: str, head: tuple[str, ...], cells) -> None:
    """The recipe benches' command line: ``--epochs --root --data --rows``; runs each row
    with ``run_row(name, epochs, root, data) -> dict``, prints each row as JSON (stderr) as it
    finishes, then one JSON document (stdout) and a markdown table (stderr) whose columns
    are ``head`` ("row" first, "wall min" last added here) and whose cells are
    ``cells(row) -> list[str]``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--root", default=root)
    parser.add_argument("--data", default=data)
    parser.add_argument("--rows", default=",".join(rows))
    args = parser.parse_args()
    done = []
    for name in args.rows.split(","):
        done.append(run_row(name, args.epochs, args.root, args.data))
        print(json.dumps(done[-1]), file=sys.stderr, flush=True)
    json.dump({"benchmark": benchmark, "epochs": args.epochs, "rows": done}, sys.stdout,
              indent=2)
    print()
    head = ("row", *head, "wall min")
    print("| " + " | ".join(head) + " |", file=sys.stderr)
    print("|" + "---|" * len(head), file=sys.stderr)
    for r in done:
        if "error" in r:
            print(f"| {r['row']} | failed |", file=sys.stderr)
            continue
        print(f"| {r['row']} | " + " | ".join([*cells(r), fmt(r["wall_s"] / 60)]) + " |",
              file=sys.stderr)
