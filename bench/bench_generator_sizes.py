"""Speed against size of the lhcb-ecal SAGAN generator (issue 12's trade-off table).

For each base width ``filters`` (and with/without the self-attention block) the g4 preset's
generator (output "shape_energy", slope features, latent 32) is built with untrained
weights, exported as a SavedModel (speed does not depend on the weights) and timed through
``generate_from_noise`` with TensorFlow alone, best of ``--repeats`` after a warm-up, at each
batch size. Prints one JSON document: parameters, multiply-accumulates per shower (counted
from the layer shapes), showers/s and ms per shower.

``--modes`` times the same generator other ways (in memory, not exported): ``xla`` is one
``tf.function(jit_compile=True)``; ``bf16`` is a plain ``tf.function`` with TensorFlow's
graph rewrite ``auto_mixed_precision_onednn_bfloat16`` on (matmuls and convolutions in
bfloat16 through oneDNN; this CPU has AVX512_BF16; the generator itself mixes float32
constants into its ops, so Keras' ``mixed_bfloat16`` policy does not build it).
``savedmodel`` is what production loads.

    python bench/bench_generator_sizes.py --filters 8,12,16,24 --batches 1,10000
    python bench/bench_generator_sizes.py --filters 24 --modes savedmodel,xla,bf16
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import time_call  # noqa: E402

STATS = {"observables": {"sampling_fraction": {"median": 0.1755}}}


def macs_per_shower(filters: int, latent: int, attention: bool) -> int:
    """Multiply-accumulates of one shower through the SAGAN generator (dense seed 8x8x4f,
    conv 3x3 to 2f at 16x16, attention at 16x16, conv 3x3 to f and to 1 at 32x32; the
    energy head's 64-unit MLP)."""
    f = filters
    n_in = latent + 6 + 2
    macs = n_in * 8 * 8 * 4 * f
    macs += 16 * 16 * 9 * 4 * f * 2 * f
    if attention:
        c, k, hw = 2 * f, max(1, 2 * f // 8), 16 * 16
        macs += hw * c * (2 * k + c) + hw * hw * (k + c)
    macs += 32 * 32 * 9 * 2 * f * f + 32 * 32 * 9 * f
    macs += n_in * 64 + 64
    return int(macs)


@contextlib.contextmanager
def generator_call(cfg: dict, mode: str):
    """Yield ``(call(noise, conditions) -> showers tensor, parameter count)`` for ``mode``."""
    import tensorflow as tf

    from tfcalo.export.savedmodel import write_saved_model
    from tfcalo.training.build import build

    if mode not in ("savedmodel", "xla", "bf16"):
        raise SystemExit(f"unknown mode {mode!r}: savedmodel, xla or bf16")
    gen = build("sagan", "lhcb-ecal", cfg, STATS).generator
    if mode == "savedmodel":
        with tempfile.TemporaryDirectory() as tmp:
            write_saved_model(gen, gen.detector, tmp)
            model = tf.saved_model.load(tmp)
            yield (lambda n, c: model.generate_from_noise(n, c)["showers"]), gen.count_params()
        return
    spec = [tf.TensorSpec((None, 32), tf.float32), tf.TensorSpec((None, 6), tf.float32)]
    fn = tf.function(lambda n, c: gen([n, c], training=False), input_signature=spec,
                     jit_compile=mode == "xla")
    rewrite = {"auto_mixed_precision_onednn_bfloat16": mode == "bf16"}
    tf.config.optimizer.set_experimental_options(rewrite)
    try:
        yield fn, gen.count_params()
    finally:
        tf.config.optimizer.set_experimental_options(
            {"auto_mixed_precision_onednn_bfloat16": False})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filters", default="8,12,16,24")
    parser.add_argument("--attention", default="1", help="comma list of 1/0")
    parser.add_argument("--batches", default="1,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="savedmodel", help="comma list of savedmodel, xla, bf16")
    args = parser.parse_args()
    import numpy as np
    import tensorflow as tf

    rows = []
    for attention in (bool(int(a)) for a in args.attention.split(",")):
        for filters in (int(f) for f in args.filters.split(",")):
            cfg = {"latent_dim": 32, "generator": {"filters": filters, "output": "shape_energy",
                                                   "slope_features": True,
                                                   "attention": attention},
                   "discriminator": {"filters": 4, "hidden": 8, "aux_targets": []}}
            for mode in args.modes.split(","):
                row = {"filters": filters, "attention": attention, "mode": mode,
                       "macs_per_shower": macs_per_shower(filters, 32, attention), "batches": {}}
                with generator_call(cfg, mode) as (call, n_params):
                    row["parameters"] = n_params
                    rng = np.random.default_rng(0)
                    for batch in (int(b) for b in args.batches.split(",")):
                        e = np.exp(rng.uniform(np.log(2), np.log(100), batch))
                        cond = np.stack([np.zeros(batch), np.zeros(batch), np.zeros(batch),
                                         0.1 * e, 0.05 * e, e], axis=1).astype("float32")
                        noise = tf.constant(rng.standard_normal((batch, 32), dtype=np.float32))
                        c = tf.constant(cond)
                        t = time_call(lambda n=noise, c=c: call(n, c).numpy(), args.repeats)
                        row["batches"][str(batch)] = {"showers_per_s": batch / t,
                                                      "ms_per_shower": 1e3 * t / batch}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    json.dump({"benchmark": "generator-sizes", "tensorflow": tf.__version__,
               "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
               "timing": f"best of {args.repeats} after a warm-up", "rows": rows},
              sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
