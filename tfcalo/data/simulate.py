"""Built-in simulators: the embedded default data of tfcalo (no input files needed).

- ``lhcb-ecal``: GFlash-style showers (:mod:`tfcalo.data.gflash`) in the LHCb-like shashlik,
  drawn like a particle gun: energy log-uniform in 2-100 GeV, slopes px/pz uniform in
  +-0.3 and py/pz in +-0.25, entry point uniform in a 1x1 cm square at the centre of the
  front face (z = 0). Electrons are massless here, so |p| = E.
- ``cern-ecal``: GFlash-style showers in the CLIC-like Si-W ECAL at normal incidence, Ep
  log-uniform in 2-500 GeV (as the Geant4 reference file), entry point uniform within the
  central 5.1 mm pad.
- ``rich-pid``: the RICH PID toy with sWeights (:mod:`tfcalo.data.richtoy`).

Reproducibility: showers are generated in fixed blocks of ``BLOCK`` events, block ``b``
using ``numpy.random.default_rng([seed, b])``; output chunks are cut from that stream, so
the numbers for a seed do not depend on ``chunk_size``. Memory is bounded by
``chunk_size + BLOCK`` showers whatever ``n`` is. rich-pid is the exception: its sWeights
come from one fit over the whole sample, so it generates all n rows (5 DLLs + a few columns
each, tiny), fits, then yields them in chunks.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tfcalo.data import gflash
from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ConfigError, OutputExistsError

BLOCK = 64  # showers per random block (fixed: determines the random stream)


def lhcb_gun(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw (n, 6) lhcb-ecal conditions [x, y, z, px, py, pz] (cm, GeV) like the Geant4 gun."""
    e = np.exp(rng.uniform(np.log(2.0), np.log(100.0), n))
    sx = rng.uniform(-0.3, 0.3, n)
    sy = rng.uniform(-0.25, 0.25, n)
    xy = rng.uniform(-0.5, 0.5, (n, 2))
    pz = e / np.sqrt(1.0 + sx**2 + sy**2)
    return np.column_stack([xy, np.zeros(n), sx * pz, sy * pz, pz])


def cern_gun(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw cern-ecal conditions (n, 1) [Ep] in GeV and (n, 3) entry points in cm."""
    e = np.exp(rng.uniform(np.log(2.0), np.log(500.0), n))
    half = 0.5 * gflash.CERN_ECAL_GEOMETRY.pitch_cm
    xy = rng.uniform(-half, half, (n, 2))
    return e[:, None], np.column_stack([xy, np.zeros(n)])


def lhcb_showers(conditions: np.ndarray, rng: np.random.Generator,
                 geometry: gflash.Geometry = gflash.LHCB_ECAL_GEOMETRY) -> np.ndarray:
    """(N, 30, 30) float32 images in MeV [row = y, column = x] for (N, 6) lhcb conditions."""
    mom = conditions[:, 3:6]
    e = np.linalg.norm(mom, axis=1)
    out = gflash.simulate_showers(geometry, e, conditions[:, 0:3], mom, rng)
    return (out.image * 1000.0).astype(np.float32)


def cern_showers(energy: np.ndarray, point: np.ndarray, rng: np.random.Generator,
                 geometry: gflash.Geometry = gflash.CERN_ECAL_GEOMETRY) -> np.ndarray:
    """(N, 25, 25, 25) float32 showers in GeV indexed [x, y, layer], normal incidence."""
    n = energy.shape[0]
    u = np.tile([0.0, 0.0, 1.0], (n, 1))
    out = gflash.simulate_showers(geometry, energy, point, u, rng, per_layer=True)
    return np.transpose(out.layers, (0, 2, 1, 3)).astype(np.float32)  # [y,x,l] -> [x,y,l]


def _block(detector: Detector, seed: int, b: int, size: int) -> dict:
    rng = np.random.default_rng([seed, b])
    if detector.name == "lhcb-ecal":
        cond = lhcb_gun(rng, size)
        showers = lhcb_showers(cond, rng)
    else:
        cond, point = cern_gun(rng, size)
        showers = cern_showers(cond[:, 0], point, rng)
    return {"showers": showers, "conditions": cond.astype(np.float32),
            "weights": np.ones(size, np.float32)}


def _check(detector: str | Detector, n: int, seed: int, chunk_size: int) -> Detector:
    det = get_detector(detector)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"number of events n must be a positive integer, got {n!r}")
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return det


def simulate_chunks(detector: str | Detector, n: int, seed: int,
                    chunk_size: int = 1000) -> Iterator[dict]:
    """Yield ``n`` simulated events of ``detector`` in chunks of at most ``chunk_size``.

    Each chunk is ``{"showers", "conditions", "weights"}`` in canonical form (see
    :mod:`tfcalo.detectors`), plus ``"extra"`` (dict of named (N,) arrays) for rich-pid.
    The concatenation of the chunks is the same for a seed whatever ``chunk_size``.

    Example:
        >>> chunks = list(simulate_chunks("lhcb-ecal", 10, seed=1, chunk_size=4))
        >>> [c["showers"].shape for c in chunks]
        [(4, 30, 30), (4, 30, 30), (2, 30, 30)]
    """
    det = _check(detector, n, seed, chunk_size)
    if det.name == "rich-pid":
        from tfcalo.data import richtoy

        yield from richtoy.simulate_chunks(n, seed, chunk_size)
        return
    buf: list[dict] = []
    have = 0
    done = 0
    b = 0
    while done < n:
        while have < min(chunk_size, n - done):
            size = min(BLOCK, n - b * BLOCK)
            blk = _block(det, seed, b, size)
            b += 1
            buf.append(blk)
            have += size
        take = min(chunk_size, n - done)
        cat = {k: np.concatenate([x[k] for x in buf]) for k in buf[0]}
        yield {k: v[:take] for k, v in cat.items()}
        rest = {k: v[take:] for k, v in cat.items()}
        buf = [rest] if len(rest["weights"]) else []
        have -= take
        done += take


def simulate_to_file(detector: str | Detector, n: int, seed: int, path: str | Path,
                     chunk_size: int = 1000, overwrite: bool = False) -> Path:
    """Simulate ``n`` events and write them to ``path`` in the detector's community layout.

    The file is written to a temporary sibling and renamed into place when complete, so an
    interrupted run never leaves a half file. An existing ``path`` raises OutputExistsError
    unless ``overwrite``. Returns the path written.
    """
    from tfcalo.data.formats import CommunityWriter

    det = _check(detector, n, seed, chunk_size)
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"output file {path} exists; pass --overwrite to replace it")
    if path.exists() and path.is_dir():
        raise OutputExistsError(f"output {path} is a directory, not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        with CommunityWriter(tmp, det) as writer:
            for chunk in simulate_chunks(det, n, seed, chunk_size):
                # Weights of rich-pid travel as the 'sweight' column of "extra"; the
                # calorimeter layouts carry none (all weights are 1).
                writer.write(chunk["showers"], chunk["conditions"], extra=chunk.get("extra"))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
