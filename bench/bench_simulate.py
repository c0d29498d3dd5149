"""Benchmark of the built-in simulators: showers per second on one core, printed as JSON.

Usage: python bench/bench_simulate.py [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from tfcalo.data import gflash, richtoy
from tfcalo.data.simulate import cern_showers, lhcb_showers, simulate_chunks


def _rate(fn, n: int) -> float:
    fn(min(n, 50))  # warm-up
    t0 = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000, help="showers per measurement")
    n = ap.parse_args().n
    rng = np.random.default_rng(0)

    def lhcb_at(e: float):
        def run(k: int) -> None:
            slopes = rng.uniform(-0.25, 0.25, (k, 2))
            pz = e / np.sqrt(1 + (slopes**2).sum(axis=1))
            cond = np.column_stack([rng.uniform(-0.5, 0.5, (k, 2)), np.zeros(k),
                                    slopes * pz[:, None], pz])
            lhcb_showers(cond, rng)
        return run

    def cern_at(e: float):
        return lambda k: cern_showers(np.full(k, e), np.zeros((k, 3)), rng)

    def stream(det: str):
        return lambda k: sum(len(c["weights"]) for c in simulate_chunks(det, k, 1, 1000))

    out = {
        "lhcb_ecal_50GeV_showers_per_s": _rate(lhcb_at(50.0), n),
        "lhcb_ecal_100GeV_showers_per_s": _rate(lhcb_at(100.0), n // 2),
        "lhcb_ecal_gun_2_100GeV_showers_per_s": _rate(stream("lhcb-ecal"), n),
        "cern_ecal_100GeV_showers_per_s": _rate(cern_at(100.0), n // 4),
        "cern_ecal_gun_2_500GeV_showers_per_s": _rate(stream("cern-ecal"), n // 4),
        "rich_pid_rows_per_s_incl_fit": _rate(lambda k: richtoy.generate(k, 0), 50 * n),
        "lhcb_spots_per_shower_50GeV": float((10.3 / gflash.LHCB_ECAL_GEOMETRY.c_s) * 50**0.959),
        "n": n,
    }
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()},
                     indent=1))


if __name__ == "__main__":
    main()
