"""Per-shower features whose conditional means a generator's moment-matching loss compares
with the real showers' (tf), and the smooth energy basis they are conditioned on.

A GAN's critic judges each shower; nothing makes the MEAN shower at each energy right, and
that is what a physicist checks first (the longitudinal profile within 5 %, the resolution).
The transverse profiles are not matched: matching their mean over showers whose centres
jitter by a fraction of a cell made the generated showers 13-18 % too narrow
(docs/cern_g4.md); each shower's widths about its own centre of gravity are matched
instead. A detector without layers (lhcb-ecal) gets the shower's shape as moments about
its own centroid, which do not depend on where the centre falls, and its
largest cell fraction (on the lhcb-ecal SAGAN these moments are matched but the critic then
wins outright: docs/lhcb_g4.md; its g4 preset does not use them).
The moment-matching loss (:func:`tfcalo.training.objectives.moment_matching_share`) compares
``mean_i phi_k(E_i) f(x_i)`` between a generated and the real batch at the same conditions,
for each feature f of :func:`moment_features` and each basis function phi_k of
:func:`energy_basis`: the feature's conditional mean as a quadratic function of log E.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfcalo.models.layers import (
    primary_energy,
    reference_log_spread,
    reference_sf,
    slice_fractions,
)
from tfcalo.physics import cell_centres

#: Degree of the polynomial in log E (Legendre P_0 ... P_degree) along which conditional
#: means are matched: 2 lets the profile's depth move with log E and bend once.
ENERGY_BASIS_DEGREE = 2


def _log_energy_bounds(detector) -> tuple[float, float]:
    """(log E_low, log E_high), E in GeV, of the detector's condition ranges (E_low >= 1)."""
    ranges = np.asarray(detector.condition_ranges, np.float64)
    if detector.name == "lhcb-ecal":  # |p| from px, py, pz
        low, high = ranges[5, 0], float(np.sqrt((np.abs(ranges[3:6]).max(axis=1) ** 2).sum()))
    else:
        low, high = ranges[0]
    return float(np.log(max(low, 1.0))), float(np.log(high))


def energy_basis(detector, conditions):
    """(B, ENERGY_BASIS_DEGREE + 1): Legendre polynomials P_0 = 1, P_1 = t, P_2 = (3t^2 - 1)/2
    of t, the row's log primary energy mapped from the detector's energy range to [-1, 1]
    (clipped)."""
    lo, hi = _log_energy_bounds(detector)
    unit = 1000.0 if detector.name == "lhcb-ecal" else 1.0  # MeV -> GeV
    log_e = tf.math.log(tf.maximum(primary_energy(detector, conditions) / unit, 1e-6))
    t = tf.clip_by_value(2.0 * (log_e - lo) / (hi - lo) - 1.0, -1.0, 1.0)
    return tf.stack([tf.ones_like(t), t, 0.5 * (3.0 * tf.square(t) - 1.0)], axis=1)


def pt_frame_moments(images, conditions, cell_size_cm: float):
    """The shower's width along and across p_T and its skewness along p_T (tf, differentiable).

    The tf twin of :func:`tfcalo.physics.pt_frame_moments` (same definitions: moments of
    the cell energies about the shower's centroid, projected on u = p_T / |p_T|, the x axis
    where p_T = 0, and on u turned by +90 degrees); the skewness across p_T, symmetric and
    zero on average, is left out.

    Args:
        images: (B, H, W) energies [row = y, column = x], any unit.
        conditions: (B, 6) PHYSICAL ``[x, y, z, px, py, pz]`` (only px, py are used).
        cell_size_cm: cell pitch (cm).
    Returns:
        (B, 3) float32: width along, width across (cm), skewness along.
    """
    h, w = images.shape[1], images.shape[2]
    xc = tf.constant((np.arange(w) - (w - 1) / 2) * cell_size_cm, tf.float32)
    yc = tf.constant((np.arange(h) - (h - 1) / 2) * cell_size_cm, tf.float32)
    px, py = conditions[:, 3], conditions[:, 4]
    pt = tf.sqrt(tf.square(px) + tf.square(py))
    ok = pt > 0
    safe_pt = tf.where(ok, pt, 1.0)
    ux = tf.where(ok, px / safe_pt, 1.0)[:, None, None]
    uy = tf.where(ok, py / safe_pt, 0.0)[:, None, None]
    total = tf.reduce_sum(images, axis=[1, 2]) + 1e-12
    mx = tf.linalg.matvec(tf.reduce_sum(images, axis=1), xc) / total
    my = tf.linalg.matvec(tf.reduce_sum(images, axis=2), yc) / total
    dx = xc[None, None, :] - mx[:, None, None]
    dy = yc[None, :, None] - my[:, None, None]
    along, across = dx * ux + dy * uy, dy * ux - dx * uy
    m2a = tf.reduce_sum(images * tf.square(along), axis=[1, 2]) / total
    m2b = tf.reduce_sum(images * tf.square(across), axis=[1, 2]) / total
    m3a = tf.reduce_sum(images * along * tf.square(along), axis=[1, 2]) / total
    eps = (1e-3 * cell_size_cm) ** 2  # keeps sqrt and the power finite for one-cell showers
    return tf.stack([tf.sqrt(m2a + eps), tf.sqrt(m2b + eps), m3a / (m2a + eps) ** 1.5], axis=1)


def transverse_widths(showers, detector):
    """Each shower's energy-weighted standard deviation along x and along y (tf).

    The tf twin of the transverse columns of :func:`tfcalo.physics.widths` (moments about the
    shower's own centre of gravity, so they do not depend on where the centre falls within a
    cell, unlike the mean transverse profiles).

    Args:
        showers: (B, X, Y, Z) energies of a volume detector (layer axis last), any unit.
        detector: the Detector (cell pitch, cell centres).
    Returns:
        (B, 2) float32: width along x and along y (cm).
    """
    x, y = (tf.constant(c, tf.float32) for c in cell_centres(detector)[:2])
    total = tf.reduce_sum(showers, axis=[1, 2, 3]) + 1e-12
    eps = (1e-3 * detector.cell_size_cm) ** 2  # finite gradient for a one-column shower
    out = []
    for proj, coord in ((tf.reduce_sum(showers, axis=[2, 3]), x),
                        (tf.reduce_sum(showers, axis=[1, 3]), y)):
        m1 = tf.linalg.matvec(proj, coord) / total
        m2 = tf.linalg.matvec(proj, tf.square(coord)) / total
        out.append(tf.sqrt(tf.nn.relu(m2 - tf.square(m1)) + eps))
    return tf.stack(out, axis=1)


def _has_deposit_features(generator) -> bool:
    """An energy-factorised generator whose reference curve has a spread row."""
    sf_curve = getattr(generator, "sf_curve", None)
    return bool(getattr(generator, "output_kind", "cells") == "shape_energy" and sf_curve
                and len(sf_curve) > 2)


def moment_feature_groups(generator) -> list[tuple[str, int]]:
    """(name, size) of each group of :func:`moment_features`' columns, in order."""
    detector = generator.detector
    if detector.layer_axis is not None:
        groups = [("layer_profile", detector.shower_shape[detector.layer_axis]),
                  ("transverse_widths", 2)]
    else:
        groups = [("pt_frame_moments", 3), ("largest_cell", 1)]
    return groups + ([("deposit", 2)] if _has_deposit_features(generator) else [])


def moment_feature_weights(generator, balance: str = "features") -> np.ndarray:
    """(F,) float32 weights of :func:`moment_features`' columns in the moment-matching loss.

    ``"features"``: every column 1 (the 25 layer fractions of cern-ecal then make 25 / 29 of
    the loss); ``"groups"``: every group of :func:`moment_feature_groups` weighs the same
    (each column 1 / its group's size), so two widths count as much as 25 layer fractions.
    """
    groups = moment_feature_groups(generator)
    if balance == "features":
        return np.ones(sum(size for _, size in groups), np.float32)
    if balance != "groups":
        raise ValueError(f"moment balance must be 'features' or 'groups', got {balance!r}")
    return np.concatenate([np.full(size, 1.0 / size, np.float32) for _, size in groups])


def moment_features(generator, showers, conditions):
    """Per-shower features (B, F) whose conditional means the moment-matching loss compares.

    Args:
        generator: the tfcalo generator being trained (its detector, and for an
            energy-factorised one its reference sampling fraction ``sf_ref``/``sf_curve``).
        showers: (B, *shower_shape) PHYSICAL showers (calorimeters only).
        conditions: (B, n_conditions) PHYSICAL.
    Returns:
        (B, P [+ 2]) float32: the fraction of the shower's energy in each layer (the mean of
        these is the longitudinal profile) and its widths along x and y
        (:func:`transverse_widths`, cm; P = the number of layers + 2), or for a detector
        without layers (lhcb-ecal) its width along and across p_T (cm), skewness along p_T
        (:func:`pt_frame_moments`) and largest cell fraction (P = 4); for an
        energy-factorised generator whose ``sf_curve`` has a spread row also u and u^2,
        u = log(deposit / (E sf(E))) / spread(E) (the deposit in units of the data's own
        resolution at that energy: matching u^2 matches the resolution at every energy in one
        O(1) term).
    """
    detector = generator.detector
    b = tf.shape(showers)[0]
    flat = tf.reshape(showers, (b, -1))
    deposit = tf.reduce_sum(flat, axis=1)
    if detector.layer_axis is not None:
        feats = [slice_fractions(showers, detector.layer_axis + 1),
                 transverse_widths(showers, detector)]
    else:
        # the core as well as the spread: matching the moments alone drained the hottest cell
        core = tf.reduce_max(flat, axis=1) / (deposit + 1e-12)
        feats = [pt_frame_moments(showers, conditions, detector.cell_size_cm), core[:, None]]
    if _has_deposit_features(generator):
        sf_curve = generator.sf_curve
        sf = reference_sf(detector, conditions, generator.sf_ref, sf_curve)
        spread = tf.exp(reference_log_spread(detector, conditions, sf_curve))
        u = tf.math.log(deposit / (primary_energy(detector, conditions) * sf) + 1e-12) / spread
        feats.append(tf.stack([u, tf.square(u)], axis=1))
    return tf.concat(feats, axis=-1)
