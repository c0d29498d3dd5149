"""Generation speed of exported SavedModels: ms per shower at batch 1, 100 and 10,000.

For each calorimeter detector a small generator is built (``tfcalo.training.build.build`` with the
model's default, CPU-sized config: sagan for lhcb-ecal, 2dgan for cern-ecal; if that fails a
Dense stand-in from tests/tiny_generators.py is used and the JSON says so), exported with
:func:`tfcalo.export.savedmodel.export_generator` (force=True, untrained weights), reloaded with
``tf.saved_model.load`` as production would, and timed through ``generate_from_noise``
(noise drawn outside the timing) and ``generate`` (noise drawn inside, seeded).

Usage:
    python bench/bench_generate.py [--batches 1,100,10000] [--repeats 3]

Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = {"lhcb-ecal": "sagan", "cern-ecal": "2dgan"}


def build_generator(detector: str):
    """(generator, description) using tfcalo.training.build.build, else the test stand-in."""
    try:
        from tfcalo.training import build as builder

        name = MODELS[detector]
        gan = builder.build(name, detector, builder.default_config(name, detector), {})
        gen = gan.generator
        return gen, {"source": "tfcalo.training.build.build", "model": name,
                     "parameters": int(gen.count_params())}
    except Exception as exc:  # noqa: BLE001 - fall back, and say why
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from tiny_generators import TinyGenerator

        gen = TinyGenerator(detector, latent_dim=16)
        return gen, {"source": "stand-in tests/tiny_generators.TinyGenerator",
                     "reason": f"{type(exc).__name__}: {exc}"[:200],
                     "parameters": int(gen.count_params())}


def time_call(fn, repeats: int) -> float:
    """Best wall time in seconds over ``repeats`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_detector(detector: str, batches: list[int], repeats: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from tfcalo.detectors import get_detector
    from tfcalo.export.savedmodel import export_generator, verification_inputs

    det = get_detector(detector)
    gen, info = build_generator(detector)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        export_generator(gen, det, Path(tmp) / "model", force=True)
        export_s = time.perf_counter() - start
        loaded = tf.saved_model.load(str(Path(tmp) / "model"))
        results = {}
        for batch in batches:
            _, cond = verification_inputs(det, 1, n=batch)
            noise = tf.constant(np.random.default_rng(0).standard_normal(
                (batch, int(gen.latent_dim)), dtype=np.float32))
            cond = tf.constant(cond)
            reps = repeats if batch < 10_000 else 1
            def from_noise(noise=noise, cond=cond):
                return loaded.generate_from_noise(noise, cond)["showers"].numpy()

            def seeded(cond=cond):
                return loaded.generate(cond, seed=1)["showers"].numpy()

            t_noise = time_call(from_noise, reps)
            t_gen = time_call(seeded, reps)
            results[str(batch)] = {
                "ms_per_shower_generate_from_noise": 1e3 * t_noise / batch,
                "ms_per_shower_generate": 1e3 * t_gen / batch,
                "showers_per_s": batch / t_noise,
            }
    return {"generator": info, "latent_dim": int(gen.latent_dim),
            "shower_shape": list(det.shower_shape), "export_and_verify_s": export_s,
            "batches": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,100,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detectors", default=",".join(MODELS))
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    import tensorflow as tf

    out = {
        "benchmark": "generate",
        "tensorflow": tf.__version__,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "timing": "best of --repeats calls after a warm-up (one call at batch >= 10000)",
        "detectors": {d: bench_detector(d, batches, args.repeats)
                      for d in args.detectors.split(",")},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
