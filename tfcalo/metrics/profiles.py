"""The shape of the mean shower against the data's: normalised longitudinal and radial profiles
compared in the shower's bulk (issue 13's "profiles within 5 % in the bulk")."""

from __future__ import annotations

import numpy as np

from tfcalo import physics
from tfcalo.detectors import Detector, get_detector

#: The bulk of a mean profile: its entries above this fraction of the real profile's peak:
#: the longitudinal profile's full width at half maximum (before it the share of the first
#: layers depends so much on the energy mix that two halves of 1,000 Geant4 showers differ
#: by 9 %), the radial profile's core and first rings (above 5 % of the central ring).
PROFILE_BULK = {"longitudinal": 0.5, "radial": 0.05}
#: The metrics of :func:`profile_deviations` (lower is better; not blessed by default).
PROFILE_METRICS = ("longitudinal_profile_max_deviation", "radial_profile_max_deviation")


def profile_deviations(det: Detector | str, real: np.ndarray, gen: np.ndarray,
                       w: np.ndarray | None = None, wg: np.ndarray | None = None) -> dict:
    """The shape of the mean shower against the data's, in its bulk.

    ``longitudinal_profile_max_deviation`` (volume detectors: the fraction of each shower's
    energy per layer) and ``radial_profile_max_deviation`` (the fraction per ring around the
    shower's own centre, :func:`tfcalo.physics.radial_profile`): each shower's profile is
    normalised to its sum (the shape, whatever the energy scale), averaged with the weights,
    and the result is max |gen / real - 1| over the entries where the real mean is at least
    :data:`PROFILE_BULK` of its peak (the tails are noise). Tabular detectors: {}.
    """
    det = get_detector(det)
    if det.kind == "tabular" or not len(real) or not len(gen):
        return {}
    out = {}
    profilers = {"radial": physics.radial_profile}
    if det.layer_axis is not None:
        profilers["longitudinal"] = physics.longitudinal_profile
    for name, profile in sorted(profilers.items()):
        means = []
        for showers, weights in ((real, w), (gen, wg)):
            p = profile(showers, det)
            total = p.sum(axis=1, keepdims=True)
            p = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
            means.append(p.mean(axis=0) if weights is None else
                         np.tensordot(weights, p, axes=1) / weights.sum())
        r, g = means
        if not r.max() > 0:
            continue
        bulk = r >= PROFILE_BULK[name] * r.max()
        out[f"{name}_profile_max_deviation"] = float(np.max(np.abs(g[bulk] / r[bulk] - 1)))
    return out
