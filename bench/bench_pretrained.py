"""Generation speed of a shipped (or any exported) tfcalo SavedModel, TensorFlow alone.

Production simulation loads the SavedModel with ``tf.saved_model.load`` and nothing of
tfcalo; so does this script (numpy and the model card's JSON besides). Conditions are drawn
uniformly inside the card's training ranges (lhcb-ecal: the ranges of x, y, z, px, py, pz);
noise is drawn outside the timing for ``generate_from_noise``, inside for ``generate``.
Times are the best of ``--repeats`` calls after a warm-up call.

    python bench/bench_pretrained.py tfcalo/pretrained/lhcb-ecal-g4 --batches 1,100,10000

``--record`` also writes the figures into the model card (outside its content hash).

Prints one JSON document (showers/s and ms per shower per batch size).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import time_call  # noqa: E402


def card_conditions(card: dict, n: int, seed: int = 0):
    """(n, n_conditions) float32 conditions uniform in the card's training ranges."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cols = []
    for c in card["conditions"]:
        lo, hi = c["range"][:2]
        cols.append(rng.uniform(lo, hi, n))
    return np.stack(cols, axis=1).astype("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="SavedModel directory with model_card.json")
    parser.add_argument("--batches", default="1,100,10000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--geant4-s-per-shower", type=float, default=None,
                        help="Geant4's CPU seconds per shower per core (lhcb-ecal 0.158, "
                             "cern-ecal 0.4): adds the speed-up at each batch size, against "
                             "Geant4 on as many cores as this machine has")
    parser.add_argument("--record", action="store_true",
                        help="also write the figures into the model card's 'speed' entry")
    args = parser.parse_args()
    import numpy as np
    import tensorflow as tf

    path = Path(args.model)
    card = json.loads((path / "model_card.json").read_text())
    model = tf.saved_model.load(str(path))
    latent = int(card["latent_dim"])
    results = {}
    for batch in (int(b) for b in args.batches.split(",")):
        cond = tf.constant(card_conditions(card, batch))
        noise = tf.constant(np.random.default_rng(1).standard_normal((batch, latent), dtype=np.float32))
        t_noise = time_call(lambda noise=noise, cond=cond:
                            model.generate_from_noise(noise, cond)["showers"].numpy(), args.repeats)
        t_gen = time_call(lambda cond=cond: model.generate(cond, seed=1)["showers"].numpy(),
                          args.repeats)
        results[str(batch)] = {"showers_per_s": batch / t_noise,
                               "ms_per_shower_generate_from_noise": 1e3 * t_noise / batch,
                               "ms_per_call_generate_from_noise": 1e3 * t_noise,
                               "ms_per_shower_generate": 1e3 * t_gen / batch}
    out = {"benchmark": "pretrained", "model": str(path), "tensorflow": tf.__version__,
           "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
           "timing": f"best of {args.repeats} calls after a warm-up", "batches": results}
    if args.geant4_s_per_shower:
        cores = os.cpu_count() or 1
        for r in results.values():
            r["speedup_vs_geant4_same_cores"] = (r["showers_per_s"] * args.geant4_s_per_shower
                                                 / cores)
        out["geant4_s_per_shower_per_core"] = args.geant4_s_per_shower
    if args.record:
        from tfcalo.export.pretrained import record_speed

        out["command"] = (f"python bench/bench_pretrained.py {args.model} --batches "
                          f"{args.batches} --geant4-s-per-shower {args.geant4_s_per_shower} "
                          "--record")
        record_speed(path, {k: v for k, v in out.items() if k != "model"})
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
