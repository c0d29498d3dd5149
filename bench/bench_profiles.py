"""Where a cern-ecal generator's mean profiles miss Geant4's, by primary energy (issue 13).

    python bench/bench_profiles.py MODEL [--first 9000 --n 600]
    python bench/bench_profiles.py --reference

MODEL (a run directory, ensemble, SavedModel or pretrained name) generates for the energies
of showers ``first ... first + n`` of ../shared/data/g4_cern_ecal_train.h5 (by default the
file's last 1,000 showers hold none of the first 9,000's) and prints, for all of them and in
three energy ranges, the largest deviation of the mean normalised longitudinal profile in its
bulk (``tfcalo.metrics.profiles.profile_deviations``) and the gen / real ratio on every other
layer.

``--reference`` prints what two showers made from the data's own means score against those
showers: every shower given (a) the product of the mean x, y and layer profiles, (b) the
mean shower, both at its own deposit (means over the file's first 3,000 showers).

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import numpy as np

from tfcalo.metrics.profiles import profile_deviations

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "g4_cern_ecal_train.h5"
RANGES = {"all": (0.0, np.inf), "2-10 GeV": (0.0, 10.0), "10-50 GeV": (10.0, 50.0),
          "50-500 GeV": (50.0, np.inf)}


def longitudinal(showers: np.ndarray) -> np.ndarray:
    """(N, 25) fraction of each shower's energy per layer."""
    layers = showers.sum(axis=(1, 2), dtype=np.float64)
    return layers / np.maximum(layers.sum(axis=1, keepdims=True), 1e-30)


def by_energy(real: np.ndarray, gen: np.ndarray, energy: np.ndarray) -> dict:
    out = {}
    lr, lg = longitudinal(real), longitudinal(gen)
    for name, (lo, hi) in RANGES.items():
        sel = (energy >= lo) & (energy < hi)
        r, g = lr[sel].mean(axis=0), lg[sel].mean(axis=0)
        bulk = r >= 0.5 * r.max()
        out[name] = {"n": int(sel.sum()),
                     "max_deviation_in_bulk": float(np.abs(g[bulk] / r[bulk] - 1).max()),
                     "ratio_every_other_layer": np.round(g / r, 3)[::2].tolist()}
    return out


def reference(f: h5py.File, real: np.ndarray) -> dict:
    train = f["ECAL"][:3000].astype(np.float32)
    shapes = train / train.sum(axis=(1, 2, 3), keepdims=True)
    px, py, pz = (shapes.sum(axis=axes).mean(axis=0) for axes in ((2, 3), (1, 3), (1, 2)))
    deposit = real.sum(axis=(1, 2, 3))[:, None, None, None]
    out = {}
    for name, shape in (("product of the mean profiles", np.einsum("i,j,k->ijk", px, py, pz)),
                        ("mean shower", shapes.mean(axis=0))):
        gen = (shape[None] * deposit).astype(np.float32)
        out[name] = profile_deviations("cern-ecal", real, gen)
    half = len(real) // 2
    out["real vs real (two halves)"] = profile_deviations("cern-ecal", real[:half], real[half:])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--first", type=int, default=9000)
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    if not args.reference and not args.model:
        parser.error("give a MODEL or --reference")
    with h5py.File(args.data, "r") as f:
        sl = slice(args.first, args.first + args.n)
        real = f["ECAL"][sl].astype(np.float32)
        energy = f["energy"][sl].astype(np.float32)
        if args.reference:
            print(json.dumps({"reference": reference(f, real)}, indent=2))
            return
    from tfcalo.export.sampling import load_sampler

    gen = load_sampler(args.model).sample(energy[:, None], seed=args.seed, batch_size=100)
    print(json.dumps({"model": args.model, "showers": [args.first, args.first + args.n],
                      "longitudinal_by_energy": by_energy(real, gen, energy)}, indent=2))


if __name__ == "__main__":
    main()
