"""Tiny dataset artifacts and tiny model configs for the training tests.

Datasets come from the built-in simulator (lhcb-ecal, cern-ecal) or a seeded Gaussian toy
(rich-pid: five DLLs depending on the conditions), written with the canonical artifact
writer; configs shrink each model to a few hundred parameters so a step takes milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from tfcalo.data.artifact import write_artifact
from tfcalo.detectors import get_detector

TINY = {
    "cramer": {"latent_dim": 4, "critic_steps": 1,
               "generator": {"hidden": [8]}, "discriminator": {"hidden": [8], "critic_dim": 4}},
    "sagan": {"latent_dim": 4, "generator": {"filters": 4, "attention": False},
              "discriminator": {"filters": 4, "hidden": 8, "attention": False,
                                "aux_targets": []}},
    "2dgan": {"latent_dim": 4, "generator": {"filters": 2}, "discriminator": {"filters": 2, "hidden": 8}},
}


#: Smaller still: the network-contract tests of every model family (2 filters, 4 hidden units).
TINY_NETS = {
    "2dgan": {"latent_dim": 4, "generator": {"filters": 2}, "discriminator": {"filters": 2, "hidden": 4}},
    "sagan": {"latent_dim": 4, "generator": {"filters": 2}, "discriminator": {"filters": 2, "hidden": 4}},
    "cramer": {"latent_dim": 4, "generator": {"hidden": [8], "filters": 2},
               "discriminator": {"hidden": [8], "filters": 2, "critic_dim": 3}},
}


class StopAfter(keras.callbacks.Callback):
    """Raise at the end of epoch ``n`` (after that epoch's backup and checkpoint)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            raise RuntimeError("interrupted")


def mid_range_conditions(det, n: int = 3) -> np.ndarray:
    """(n, n_conditions) float32 conditions spread over 20-80 % of each condition's range."""
    lo = np.array([r[0] for r in det.condition_ranges])
    hi = np.array([r[1] for r in det.condition_ranges])
    return (lo + (hi - lo) * np.linspace(0.2, 0.8, n)[:, None]).astype("float32")


def _toy_chunks(detector: str, n: int, seed: int):
    det = get_detector(detector)
    if det.name == "rich-pid":
        rng = np.random.default_rng(seed)
        p = rng.uniform(2, 100, n)
        eta = rng.uniform(2, 5, n)
        ntr = rng.integers(10, 500, n).astype(np.float64)
        cond = np.stack([p, eta, ntr], axis=1).astype(np.float32)
        dll = rng.normal(0, 1, (n, 5)) + np.log(p)[:, None] * np.arange(5)[None] * 0.3
        yield dll.astype(np.float32), cond, np.ones(n, np.float32)
        return
    from tfcalo.data.simulate import simulate_chunks

    for c in simulate_chunks(det, n, seed):
        yield c["showers"], c["conditions"], c["weights"]


def make_dataset(path: Path, detector: str = "rich-pid", n: int = 96, seed: int = 0) -> Path:
    """Write a tiny canonical dataset artifact at ``path`` (split 0.75/0.25/0)."""
    path = Path(path)
    path.mkdir(parents=True)
    write_artifact(path, _toy_chunks(detector, n, seed), get_detector(detector),
                   split=(0.75, 0.25, 0.0), seed=seed,
                   provenance={"source": f"toy:{detector}:{n}:{seed}",
                               "source_sha256": f"toy-{detector}-{n}-{seed}"})
    return path
