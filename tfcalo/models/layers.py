"""Building-block Keras layers shared by the tfcalo models.

- :class:`ConditionNormalization`: physical conditions -> standardised network inputs
  (optional log of selected columns first).
- :class:`ShowerTransform`: physical shower energies <-> the network's scaled space
  (``log``: log1p(x/scale), ``power``: (x/scale)**p, ``linear``: (x-mean)/std).
- :class:`SelfAttention2D`: the SAGAN self-attention block (Zhang et al. 2019).
- :class:`SNConv2D`, :class:`SNDense`: spectral normalisation in the forward graph.
- :func:`stat`: tolerant lookup of dataset statistics (stats.json) with defaults.

The transform constants are stored as non-trainable weights, so a generator reloaded from
its weights file alone still maps physical conditions to physical energies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfcalo.errors import ConfigError


def stat(stats: dict | None, key: str, default, size: int | None = None):
    """Look up ``stats[key]`` (stats.json of the dataset), falling back to ``default``.

    Accepts the flat form (``stats["condition_mean"] = [..]``) and the nested per-name form
    of stats.json (``stats["conditions"] = {"Ep": {"mean": ..}}`` for "condition_mean",
    ``stats["showers"] = {"RichDLLe": {"mean": ..}}`` for "shower_mean").
    ``size``: expected length of a per-column list (wrong length -> default).
    """
    stats = stats or {}
    value = stats.get(key)
    for prefix, section in (("condition_", "conditions"), ("shower_", "showers")):
        if value is None and key.startswith(prefix) and isinstance(stats.get(section), dict):
            field = key[len(prefix):]
            try:
                value = [float(col[field]) for col in stats[section].values()]
            except (KeyError, TypeError):
                value = None
    if value is None:
        return default
    if size is not None:
        arr = np.asarray(value, dtype="float64").reshape(-1)
        if arr.size != size:
            return default
        return [float(v) for v in arr]
    return value


@keras.saving.register_keras_serializable(package="tfcalo")
class ConditionNormalization(keras.layers.Layer):
    """Standardise physical conditions: ``(f(c) - mean) / std`` per column.

    Args:
        mean, std: per-column constants (of f(c)), length n_conditions.
        log_columns: per-column booleans; True applies ``f = log`` (for positive energies).

    Input: (B, n_conditions) physical; output: (B, n_conditions) float32.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float],
                 log_columns: Sequence[bool] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.mean_init = [float(v) for v in mean]
        self.std_init = [float(max(abs(v), 1e-6)) for v in std]
        n = len(self.mean_init)
        self.log_columns = [bool(v) for v in (log_columns or [False] * n)]
        self.mean = self.add_weight(shape=(n,), initializer=keras.initializers.Constant(self.mean_init),
                                    trainable=False, name="mean")
        self.std = self.add_weight(shape=(n,), initializer=keras.initializers.Constant(self.std_init),
                                   trainable=False, name="std")
        self.built = True  # weights are created above

    def call(self, conditions):
        c = tf.cast(conditions, tf.float32)
        if any(self.log_columns):
            mask = tf.constant(self.log_columns)
            c = tf.where(mask, tf.math.log(tf.maximum(c, 1e-6)), c)
        return (c - self.mean) / self.std

    def get_config(self):
        return {**super().get_config(), "mean": self.mean_init, "std": self.std_init,
                "log_columns": self.log_columns}


@keras.saving.register_keras_serializable(package="tfcalo")
class ShowerTransform(keras.layers.Layer):
    """Map physical shower values to the network's space and back.

    Modes: ``log`` t = log1p(x / scale); ``power`` t = (x / scale) ** power; ``linear``
    t = (x - offset) / scale (per-component offset/scale allowed, for tabular data).
    ``call(x)`` is the forward map (physical -> t); :meth:`inverse` maps t -> physical
    (negative t is clipped to 0 for log/power, whose physical values are energies >= 0, and
    physical values are capped at ``max_value``, e.g. 10x the largest cell of the training
    data, so that an untrained or diverging generator gives large but finite energies).
    """

    MODES = ("log", "power", "linear")

    def __init__(self, mode: str = "log", scale: float | Sequence[float] = 1.0,
                 offset: float | Sequence[float] = 0.0, power: float = 0.5,
                 max_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ConfigError(f"config key 'transform.mode' must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.mode = mode
        self.scale_init = np.atleast_1d(np.asarray(scale, "float32")).tolist()
        self.offset_init = np.atleast_1d(np.asarray(offset, "float32")).tolist()
        self.power = float(power)
        self.max_value = float(max_value)  # 0: no cap
        self.scale = self.add_weight(shape=(len(self.scale_init),), trainable=False, name="scale",
                                     initializer=keras.initializers.Constant(self.scale_init))
        self.offset = self.add_weight(shape=(len(self.offset_init),), trainable=False, name="offset",
                                      initializer=keras.initializers.Constant(self.offset_init))
        self.built = True  # weights are created above; inverse() may be the only use

    def call(self, x):
        x = tf.cast(x, tf.float32)
        if self.mode == "log":
            return tf.math.log1p(tf.nn.relu(x) / self.scale)
        if self.mode == "power":
            return tf.pow(tf.nn.relu(x) / self.scale + 1e-12, self.power)
        return (x - self.offset) / self.scale

    def inverse(self, t):
        """Network space -> physical values (same shape)."""
        if self.mode == "linear":
            return t * self.scale + self.offset
        if self.max_value > 0:  # cap in network space, before the (steep) inverse map
            t = tf.minimum(t, self.call(tf.constant(self.max_value, tf.float32)))
        if self.mode == "log":
            return self.scale * tf.math.expm1(tf.nn.relu(t))
        return self.scale * tf.pow(tf.nn.relu(t) + 1e-12, 1.0 / self.power)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "scale": self.scale_init,
                "offset": self.offset_init, "power": self.power, "max_value": self.max_value}


@keras.saving.register_keras_serializable(package="tfcalo")
class SelfAttention2D(keras.layers.Layer):
    """SAGAN self-attention over the H*W positions of a (B, H, W, C) feature map.

    ``y = x + gamma * o`` with o = softmax(f(x) g(x)^T) h(x) and 1x1 convolutions f, g
    (C // reduction channels) and h (C channels); gamma starts at 0 so the block starts as
    the identity. ``spectral_norm`` wraps the 1x1 convolutions.
    """

    def __init__(self, reduction: int = 8, spectral_norm: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)
        self.spectral_norm = bool(spectral_norm)

    def build(self, input_shape):
        c = int(input_shape[-1])
        k = max(1, c // self.reduction)
        self.f = conv2d(k, 1, use_bias=False, spectral_norm=self.spectral_norm)
        self.g = conv2d(k, 1, use_bias=False, spectral_norm=self.spectral_norm)
        self.h = conv2d(c, 1, use_bias=False, spectral_norm=self.spectral_norm)
        for layer in (self.f, self.g, self.h):
            layer.build(input_shape)
        self.gamma = self.add_weight(shape=(), initializer="zeros", name="gamma")

    def call(self, x, training=None):
        shape = tf.shape(x)
        b, hw = shape[0], shape[1] * shape[2]
        f = tf.reshape(self.f(x, training=training), (b, hw, -1))
        g = tf.reshape(self.g(x, training=training), (b, hw, -1))
        h = tf.reshape(self.h(x, training=training), (b, hw, -1))
        attn = tf.nn.softmax(tf.matmul(f, g, transpose_b=True), axis=-1)
        o = tf.reshape(tf.matmul(attn, h), shape)
        return x + self.gamma * o

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction,
                "spectral_norm": self.spectral_norm}


class _SpectralNormMixin:
    """Divide the kernel by its largest singular value (one power iteration per training
    call, Miyato et al. 2018). Unlike ``keras.layers.SpectralNormalization`` (which assigns
    the normalised kernel back into the trainable variable, so no gradient flows through
    sigma and replicas write a trainable variable), the normalisation is part of the
    forward graph and only the non-trainable vector u is updated."""

    def _build_u(self):
        n_out = int(self.kernel.shape[-1])
        self.sn_u = self.add_weight(shape=(1, n_out), trainable=False, name="sn_u",
                                    initializer=keras.initializers.RandomNormal(stddev=1.0),
                                    aggregation="only_first_replica")

    def _sn_variables(self) -> list:
        return [self.kernel, *([self.bias] if self.use_bias else []), self.sn_u]

    # Conv2D/Dense save only kernel and bias; u must round-trip too (checkpoints, resume).
    def save_own_variables(self, store):
        for i, v in enumerate(self._sn_variables()):
            store[str(i)] = v

    def load_own_variables(self, store):
        variables = self._sn_variables()
        if len(store.keys()) != len(variables):
            raise ValueError(f"Layer '{self.name}' expected {len(variables)} variables, "
                             f"but received {len(store.keys())} variables during loading.")
        for i, v in enumerate(variables):
            v.assign(store[str(i)])

    def normalized_kernel(self, training):
        w = tf.reshape(self.kernel, (-1, int(self.kernel.shape[-1])))
        u = tf.convert_to_tensor(self.sn_u)
        v = tf.math.l2_normalize(tf.matmul(u, w, transpose_b=True))
        u_new = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(v, w)))
        v = tf.stop_gradient(v)
        sigma = tf.reduce_sum(tf.matmul(v, w) * u_new)
        if training:
            self.sn_u.assign(u_new)
        return self.kernel / sigma


@keras.saving.register_keras_serializable(package="tfcalo")
class SNConv2D(_SpectralNormMixin, keras.layers.Conv2D):
    """Conv2D with spectral normalisation of the kernel."""

    def build(self, input_shape):
        super().build(input_shape)
        self._build_u()

    def call(self, inputs, training=None):
        y = self.convolution_op(inputs, self.normalized_kernel(bool(training)))
        if self.use_bias:
            y = y + self.bias
        return self.activation(y) if self.activation is not None else y


@keras.saving.register_keras_serializable(package="tfcalo")
class SNDense(_SpectralNormMixin, keras.layers.Dense):
    """Dense with spectral normalisation of the kernel."""

    def build(self, input_shape):
        super().build(input_shape)
        self._build_u()

    def call(self, inputs, training=None):
        y = tf.matmul(inputs, self.normalized_kernel(bool(training)))
        if self.use_bias:
            y = y + self.bias
        return self.activation(y) if self.activation is not None else y


def conv2d(filters: int, kernel: int, strides: int = 1, padding: str = "same",
           spectral_norm: bool = False, **kw) -> keras.layers.Layer:
    """Conv2D, spectral-normalised when ``spectral_norm``."""
    cls = SNConv2D if spectral_norm else keras.layers.Conv2D
    return cls(filters, kernel, strides=strides, padding=padding, **kw)


def dense(units: int, spectral_norm: bool = False, **kw) -> keras.layers.Layer:
    """Dense, spectral-normalised when ``spectral_norm``."""
    return (SNDense if spectral_norm else keras.layers.Dense)(units, **kw)


def batch_norm(sync: bool) -> keras.layers.Layer:
    """BatchNormalization; ``sync=True`` uses global-batch statistics across replicas."""
    return keras.layers.BatchNormalization(synchronized=sync)


# ----------------------------------------------------------------------- shared plumbing
_CELL_MAX_KEYS = ("cell_max", "max_cell", "shower_max", "max_cell_value")


def condition_norm_args(detector, stats: dict | None) -> dict:
    """Constructor kwargs of :class:`ConditionNormalization` for a detector and stats.json.

    Positive energy-like conditions whose range starts above 0 (cern-ecal Ep, rich-pid p) are
    log-scaled and standardised from the detector's range; the others use stats
    ``condition_mean``/``condition_std`` (default: the centre and half-width of the range).
    """
    n = detector.n_conditions
    lo = np.array([r[0] for r in detector.condition_ranges], "float64")
    hi = np.array([r[1] for r in detector.condition_ranges], "float64")
    log_cols = [(u == "GeV" and low > 0) for u, low in zip(detector.condition_units, lo, strict=False)]
    mean = np.array(stat(stats, "condition_mean", list((lo + hi) / 2), size=n))
    std = np.array(stat(stats, "condition_std", list((hi - lo) / 2), size=n))
    for i, is_log in enumerate(log_cols):
        if is_log:
            mean[i] = (np.log(lo[i]) + np.log(hi[i])) / 2
            std[i] = (np.log(hi[i]) - np.log(lo[i])) / np.sqrt(12.0)
    return {"mean": mean.tolist(), "std": std.tolist(), "log_columns": log_cols}


def shower_transform_args(detector, stats: dict | None, transform: dict) -> dict:
    """Constructor kwargs of :class:`ShowerTransform` from the ``transform`` config section.

    Tabular detectors always use ``linear`` with stats ``shower_mean``/``shower_std``
    (default 0/1 per component). Calorimeters: ``scale`` 0 means stats max cell value
    (``cell_max``) / 1000 for log and the max cell value for power (default 1).
    """
    if detector.kind == "tabular":
        n = detector.shower_size
        return {"mode": "linear", "offset": stat(stats, "shower_mean", [0.0] * n, size=n),
                "scale": [max(abs(v), 1e-6) for v in stat(stats, "shower_std", [1.0] * n, size=n)]}
    mode = transform.get("mode", "log")
    scale = float(transform.get("scale", 0.0))
    cell_max = next((float(stats[k]) for k in _CELL_MAX_KEYS if stats and stats.get(k)), None)
    max_value = 10.0 * cell_max if cell_max else 0.0
    if scale <= 0:
        if cell_max is None:
            scale = 1.0
        else:
            scale = cell_max / 1000.0 if mode == "log" else cell_max
    return {"mode": mode, "scale": scale, "power": float(transform.get("power", 0.5)),
            "max_value": max_value}


def primary_energy(detector, conditions):
    """Primary energy in the detector's shower energy unit, (B,) float32 (tf).

    lhcb-ecal: |p| in GeV x 1000 (deposits are in MeV); cern-ecal: Ep in GeV. The numpy
    counterpart in GeV is :func:`tfcalo.physics.primary_energy_gev`.
    """
    if detector.name == "lhcb-ecal":
        return tf.norm(conditions[:, 3:6], axis=1) * 1000.0
    if detector.name == "cern-ecal":
        return conditions[:, 0]
    raise ConfigError(f"detector {detector.name} has no primary energy")


#: How a calorimeter generator makes its showers: every cell from the network, or an
#: energy-factorised softmax shape times one total (:func:`shape_times_energy`).
GENERATOR_OUTPUTS = ("cells", "shape_energy")


def _interp_log_energy(detector, conditions, x, y):
    """Piecewise-linear interpolation of points (x = log E in GeV, y) at each row's primary
    energy, constant beyond the end points, (B,) (tf); y of shape (n, k) gives (B, k)."""
    x = tf.constant(x, tf.float32)
    y = tf.constant(y, tf.float32)
    scale = 1000.0 if detector.name == "lhcb-ecal" else 1.0  # MeV -> GeV
    log_e = tf.math.log(tf.maximum(primary_energy(detector, conditions) / scale, 1e-6))
    n = tf.shape(x)[0]
    hi = tf.clip_by_value(tf.searchsorted(x[None], log_e[None])[0], 1, n - 1)
    x0, x1 = tf.gather(x, hi - 1), tf.gather(x, hi)
    y0, y1 = tf.gather(y, hi - 1), tf.gather(y, hi)
    w = tf.clip_by_value((log_e - x0) / tf.maximum(x1 - x0, 1e-9), 0.0, 1.0)
    if len(y.shape) == 2:  # a vector per point: (B, k)
        w = w[:, None]
    return y0 + w * (y1 - y0)


def reference_sf(detector, conditions, sf_ref: float, sf_curve=None):
    """The reference sampling fraction of energy-factorised networks: ``sf_ref`` (a float),
    or with ``sf_curve`` = [log E (GeV) points, mean sampling fractions, ...] (increasing
    log E; the training data's per energy bin, stats.json ``sampling_fraction_curve``) its
    piecewise-linear interpolation in log E, constant beyond the end points, (B,) (tf).

    A detector whose sampling fraction changes with energy (cern-ecal: 0.027 at 2-10 GeV to
    0.022 at 200-500 GeV in Geant4) then starts every energy at its own value, and the
    generator learns only the per-shower fluctuation around it.
    """
    if not sf_curve:
        return sf_ref
    return _interp_log_energy(detector, conditions, sf_curve[0], sf_curve[1])


def reference_log_spread(detector, conditions, sf_curve=None):
    """log of the data's spread of log(sampling fraction) at each row's energy, (B,) (tf),
    from the third row of ``sf_curve``; None without one. The location-scale energy head
    learns its scale relative to it, so the resolution starts at the data's at every energy."""
    if not sf_curve or len(sf_curve) < 3:
        return None
    return _interp_log_energy(detector, conditions, sf_curve[0],
                              np.log(np.maximum(np.asarray(sf_curve[2], np.float64), 1e-4)))


def energy_delta(head, h, detector, conditions, sf_curve, training=None):
    """delta (B,) of an energy-factorised generator from its head and inputs h (the
    location-scale head gets the data's spread reference when ``sf_curve`` has one)."""
    if isinstance(head, LocationScaleHead):
        log_spread = reference_log_spread(detector, conditions, sf_curve)
        return head(h, log_spread=log_spread, training=training)[:, 0]
    return head(h, training=training)[:, 0]


def shape_times_energy(detector, logits, delta, conditions, sf_ref):
    """Physical showers from a softmax shape and one energy number per shower (tf).

    Args:
        detector: the Detector (its primary energy: :func:`primary_energy`).
        logits: (B, *shower_shape) per-cell logits; the shape is their softmax over all cells.
        delta: (B,) log sampling-fraction offsets.
        conditions: (B, n_conditions) PHYSICAL.
        sf_ref: reference sampling fraction (deposit / primary energy, same unit): a float
            or (B,) (:func:`reference_sf`).
    Returns:
        (B, *shower_shape) showers whose sum is primary energy * sf_ref * exp(delta).
    """
    flat = tf.reshape(logits, (tf.shape(logits)[0], -1))
    shape = tf.reshape(tf.nn.softmax(flat, axis=-1), tf.shape(logits))
    total = primary_energy(detector, conditions) * sf_ref * tf.exp(delta)
    return shape * tf.reshape(total, tf.concat([[-1], tf.ones(tf.rank(logits) - 1, tf.int32)], 0))


#: Generator ``shape_prior`` choices: "none", "profiles" (:func:`profile_log_prior`), or
#: "energy_profiles": the same with the layer profile at each shower's energy
#: (:func:`layer_log_prior`).
SHAPE_PRIORS = ("none", "profiles", "energy_profiles")


def profile_log_prior(profiles, shower_shape) -> np.ndarray | None:
    """A fixed per-cell logit offset from the training data's mean profiles, or None.

    Args:
        profiles: one list per axis of the shower (``len(shower_shape)`` lists, each of that
            axis' length): the mean over showers of the fraction of a shower's energy in each
            slice along that axis (stats.json ``mean_profiles``), or None.
        shower_shape: the detector's shower shape.
    Returns:
        float32 array of ``shower_shape``: sum over axes of log(profile), floored at 1e-6 of the
        shower. Added to a softmax generator's logits, an untrained generator starts at the
        product of the data's mean profiles (the right depth and widths) instead of a uniform
        volume, and the network learns the per-shower, per-energy deviations from it.
    """
    if not profiles:
        return None
    if len(profiles) != len(shower_shape) or any(
            len(p) != n for p, n in zip(profiles, shower_shape, strict=True)):
        raise ValueError(f"shape prior profiles must have lengths {list(shower_shape)}, not "
                         f"{[len(p) for p in profiles]}")
    prior = np.zeros(shower_shape, np.float64)
    for axis, p in enumerate(profiles):
        p = np.asarray(p, np.float64)
        shape = [1] * len(shower_shape)
        shape[axis] = len(p)
        prior = prior + np.log(np.maximum(p / max(p.sum(), 1e-30), 1e-6)).reshape(shape)
    return prior.astype(np.float32)


def legendre_basis(n: int, degree: int) -> np.ndarray:
    """(n, degree) float32: Legendre polynomials P_1 ... P_degree at n points evenly spaced
    on [-1, 1] (the layers, front to back): a smooth basis for per-shower changes of the
    longitudinal profile."""
    t = np.linspace(-1.0, 1.0, n)
    return np.stack([np.polynomial.legendre.Legendre.basis(k)(t) for k in range(1, degree + 1)],
                    axis=1).astype(np.float32)


def layer_head(degree: int, hidden: int = 64):
    """h (B, latent_dim + n_features) -> (B, degree) coefficients of :func:`legendre_basis`,
    starting near 0 (the prior's layer profile)."""
    return keras.Sequential([keras.layers.Dense(hidden), keras.layers.LeakyReLU(0.2),
                             keras.layers.Dense(degree, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3))])


def layered_logits(cell_logits, layer_logits):
    """Log-probabilities of a volume shower factorised into layers (tf).

    Args:
        cell_logits: (B, X, Y, Z) per-cell logits, Z the layer axis: only their shape within
            each layer counts (the softmax over x and y).
        layer_logits: (B, Z): the fraction of the shower in each layer is their softmax.
    Returns:
        (B, X, Y, Z) log-probabilities (their exp sums to 1 over the volume) whose per-layer
        sums are softmax(layer_logits): the network making ``cell_logits`` cannot change the
        longitudinal profile, which is the smooth ``layer_logits`` alone.
    """
    transverse = cell_logits - tf.reduce_logsumexp(cell_logits, axis=(1, 2), keepdims=True)
    return transverse + tf.nn.log_softmax(layer_logits, axis=-1)[:, None, None, :]


def layer_log_prior(detector, conditions, layer_curve):
    """(B, Z) log of the data's mean fraction of a shower per layer at each row's primary
    energy (tf): ``layer_curve`` = [log E (GeV) points, increasing; one profile (Z
    fractions) per point] (stats.json ``layer_profile_curve``), the log profiles
    interpolated linearly in log E, constant beyond the end points, floored at 1e-6."""
    profiles = np.asarray(layer_curve[1], np.float64)
    profiles = profiles / np.maximum(profiles.sum(axis=1, keepdims=True), 1e-30)
    return _interp_log_energy(detector, conditions, layer_curve[0],
                              np.log(np.maximum(profiles, 1e-6)))


def deposit_ratio(detector, showers, conditions, sf_ref):
    """log(deposit / (primary energy * sf_ref)), (B, 1) (tf): what an energy-aware critic sees
    (sf_ref a float or (B,), :func:`reference_sf`)."""
    deposit = tf.reduce_sum(tf.reshape(showers, (tf.shape(showers)[0], -1)), axis=1)
    return tf.math.log(deposit / (primary_energy(detector, conditions) * sf_ref) + 1e-6)[:, None]


#: How an energy-factorised generator makes delta from its inputs h = [noise, conditions]:
#: "mlp" (one MLP of h) or "location_scale" (:class:`LocationScaleHead`).
ENERGY_HEADS = ("mlp", "location_scale")


def energy_head(kind: str = "mlp", latent_dim: int = 0, spread_reference: bool = False):
    """The head of an energy-factorised generator: h (B, latent_dim + n_features) with the
    noise first -> delta (B, 1), starting near 0 (the reference sampling fraction)."""
    if kind == "location_scale":
        return LocationScaleHead(latent_dim, spread_reference=spread_reference)
    if kind != "mlp":
        raise ValueError(f"energy head must be one of {ENERGY_HEADS}, not {kind!r}")
    return keras.Sequential([keras.layers.Dense(64), keras.layers.LeakyReLU(0.2),
                             keras.layers.Dense(1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))])


@keras.saving.register_keras_serializable(package="tfcalo")
class LocationScaleHead(keras.layers.Layer):
    """delta = mu(h) + exp(s(c)) * z_0 (B, 1): a location from all inputs h (noise and
    conditions, so shape and deposit may correlate) plus a scale that depends on the
    conditions c = h[:, latent_dim:] alone, times the first noise component z_0.

    The resolution of a calorimeter changes by a factor 5 over 2-100 GeV (sigma/E ~ a/sqrt(E)
    (+) b); a single MLP of [noise, conditions] has to build that product of noise and
    energy from LeakyReLU pieces, and measured on Geant4 it did not (the plain head's spread
    came out the same at every energy: docs/lhcb_g4.md). s starts at log(0.01): a 1 % spread;
    with ``spread_reference`` the call adds the data's log spread at each energy
    (:func:`reference_log_spread`) and s starts at 0, so the spread starts at the data's.
    """

    def __init__(self, latent_dim: int, hidden: int = 64, spread_reference: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.hidden = int(latent_dim), int(hidden)
        self.spread_reference = bool(spread_reference)
        bias = 0.0 if self.spread_reference else math.log(0.01)
        small = keras.initializers.RandomNormal(stddev=0.01)
        # tiny location weights: the initial spread is the scale's (1 %), not the MLP's noise
        self.location = keras.Sequential([
            keras.layers.Dense(hidden), keras.layers.LeakyReLU(0.2),
            keras.layers.Dense(1, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3))])
        self.log_scale = keras.Sequential([
            keras.layers.Dense(hidden // 2), keras.layers.LeakyReLU(0.2),
            keras.layers.Dense(1, kernel_initializer=small,
                               bias_initializer=keras.initializers.Constant(bias))])

    def call(self, h, log_spread=None, training=None):
        z0 = h[:, :1]
        c = h[:, self.latent_dim:]
        log_scale = self.log_scale(c, training=training)
        if log_spread is not None:
            log_scale = log_scale + log_spread[:, None]
        return self.location(h, training=training) + tf.exp(log_scale) * z0

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "hidden": self.hidden,
                "spread_reference": self.spread_reference}


def nominal_deposit(detector, showers, conditions, sf_ref):
    """Each shower rescaled to the deposit primary energy * sf_ref (tf, same shape): its shape
    alone, for a critic that must not judge the deposit (the energy critic does)."""
    flat = tf.reshape(showers, (tf.shape(showers)[0], -1))
    scale = primary_energy(detector, conditions) * sf_ref / (tf.reduce_sum(flat, axis=1) + 1e-12)
    return showers * tf.reshape(scale, tf.concat([[-1], tf.ones(tf.rank(showers) - 1, tf.int32)], 0))


def slice_fractions(showers, axis: int):
    """(B, shower_shape[axis - 1]) fraction of each shower's energy in each slice along
    ``axis`` (1-based, the batch axis is 0) of (B, *shower_shape) PHYSICAL showers (tf)."""
    rank = len(showers.shape) - 1
    total = tf.reduce_sum(tf.reshape(showers, (tf.shape(showers)[0], -1)), axis=1,
                          keepdims=True) + 1e-12
    return tf.reduce_sum(showers, axis=[a for a in range(1, rank + 1) if a != axis]) / total


def profile_features(showers):
    """The shower's normalised profile along each axis, in log space, for a critic (tf).

    Args:
        showers: (B, *shower_shape) PHYSICAL (non-negative) showers.
    Returns:
        (B, sum(shower_shape)): for each axis the fraction of the shower's energy in each
        slice along it (cern-ecal: 25 x, 25 y, 25 layers), as (log(fraction + 1e-4) + 4) / 4
        (about -1.3 for an empty slice to 1 for a slice holding everything). A critic that
        reads these judges the longitudinal and transverse profiles directly: convolutional
        branches alone let a 2DGAN's per-layer channels drift layer by layer (a jagged
        longitudinal profile, measured in docs/cern_g4.md).
    """
    return tf.concat([(tf.math.log(slice_fractions(showers, axis) + 1e-4) + 4.0) / 4.0
                      for axis in range(1, len(showers.shape))], axis=-1)


def energy_critic_mlp(hidden: int, spectral_norm: bool = False, name: str = "energy_critic"):
    """A small critic MLP of (energy_gain * log deposit ratio, normalised conditions) -> (B, 1):
    the ``score_energy`` of critics with ``energy_critic``, trained with its own GAN loss
    beside the image critic's, so the deposit's distribution at each energy (sampling
    fraction and resolution) has a critic whose whole capacity is spent on it."""
    return keras.Sequential([dense(hidden, spectral_norm=spectral_norm), keras.layers.LeakyReLU(0.2),
                             dense(hidden, spectral_norm=spectral_norm), keras.layers.LeakyReLU(0.2),
                             dense(1, spectral_norm=spectral_norm)], name=name)


def slope_features(detector, conditions):
    """lhcb-ecal track slopes (B, 2): px/pz / 0.17 and py/pz / 0.14, about unit spread for the
    detector's slope ranges (+-0.3 and +-0.25). A network given only standardised px, py, pz
    has to learn the division itself."""
    if detector.name != "lhcb-ecal":
        raise ConfigError(f"config key 'slope_features' needs lhcb-ecal, not {detector.name}")
    pz = tf.maximum(conditions[:, 5:6], 1e-3)
    return tf.concat([conditions[:, 3:4] / pz / 0.17, conditions[:, 4:5] / pz / 0.14], axis=1)


def call_nonempty(fn, noise, conditions):
    """``fn(noise, conditions)`` for every batch size B >= 0, never calling ``fn`` on B = 0.

    Some CPU kernels mishandle empty batches (with oneDNN, Conv2D on a (0, 30, 30, 8) batch
    raises in eager mode and returns the INPUT's shape inside a tf.function), so an empty
    batch is padded with one zero row before ``fn`` and the output is sliced back to
    ``[:B]``. The padding is a dynamic ``tf.zeros((max(1 - B, 0), ...))`` (no control flow,
    so SavedModel and ONNX graphs stay simple); for B >= 1 it is an empty concatenation and
    the slice is the identity.

    Args:
        fn: ``fn(noise (B', latent), conditions (B', n_cond)) -> (B', ...)`` with B' >= 1.
        noise: (B, latent) float32.
        conditions: (B, n_cond) float32.
    Returns:
        ``fn``'s output for the B real rows: (B, ...).
    """
    b = tf.shape(noise)[0]
    n_pad = tf.maximum(1 - b, 0)

    def pad(x):
        return tf.concat([x, tf.zeros(tf.concat([[n_pad], tf.shape(x)[1:]], 0), x.dtype)], 0)

    return fn(pad(noise), pad(conditions))[:b]


class ShowerNetwork(keras.Model):
    """What every generator and critic holds: the detector, the condition normalisation and
    the shower transform (Keras layers, so a SavedModel takes and returns physical units),
    and the ``get_config`` of those constructor arguments.

    Args:
        detector: detector name.
        size: the network's one size argument, ``{"latent_dim": n}`` (generators) or
            ``{"out_dim": n}`` (critics); set as an int attribute and recorded in the config.
        condition_norm: :class:`ConditionNormalization` arguments.
        shower_transform: :class:`ShowerTransform` arguments.
        kwargs: ``name``; other Keras keywords are ignored.
    """

    def __init__(self, detector: str, size: dict[str, int], condition_norm: dict,
                 shower_transform: dict, **kwargs):
        super().__init__(name=kwargs.pop("name", None))
        from tfcalo.detectors import get_detector

        self.detector = get_detector(detector)
        (key, value), = size.items()
        setattr(self, key, int(value))
        self.cond_norm = ConditionNormalization(**condition_norm)
        self.transform = ShowerTransform(**shower_transform)
        self._base_config = {"detector": self.detector.name, key: int(value),
                             "condition_norm": condition_norm,
                             "shower_transform": shower_transform}

    def build(self, input_shape):  # sublayers build on the first call
        self.built = True

    def get_config(self):
        return dict(self._base_config)


class GeneratorBase(ShowerNetwork):
    """Common generator contract: ``generator([noise, conditions]) -> showers``.

    noise (B, latent_dim) standard normal; conditions (B, n_conditions) PHYSICAL; returns
    PHYSICAL showers (B, *shower_shape) for every B >= 0 (an empty batch never reaches the
    network: :func:`call_nonempty`). Subclasses implement ``core(noise, conditions_raw,
    conditions_norm, training) -> t`` in the transformed space.
    """

    def __init__(self, detector: str, latent_dim: int, condition_norm: dict,
                 shower_transform: dict, **kwargs):
        super().__init__(detector, {"latent_dim": latent_dim}, condition_norm,
                         shower_transform, **kwargs)

    def call(self, inputs, training=None):
        noise, conditions = inputs

        return call_nonempty(lambda z, c: self.physical(z, c, training), tf.cast(noise, tf.float32), tf.cast(conditions, tf.float32))


    def physical(self, noise, conditions, training=None):
        """PHYSICAL showers (B', *shower_shape) for B' >= 1 rows; by default the inverse
        shower transform of ``core``. A family that builds showers in physical units (a
        shape times a total energy) overrides this instead of ``core``."""
        return self.transform.inverse(self.core(noise, conditions, self.cond_norm(conditions),
                                                training))


class CriticBase(ShowerNetwork):
    """Common critic contract: ``critic([showers, conditions]) -> dict`` of outputs.

    showers are PHYSICAL (B, *shower_shape). The output dict always has ``score``
    (B, out_dim): logits for bce/hinge/wgan-gp (out_dim 1) or the Cramér embedding h(x|c).
    Optional keys: ``ep`` (B,) predicted primary energy in GeV, ``etot`` (B,) physical image
    sum, ``aux`` (B, k) auxiliary-regressor predictions (scaled targets).
    ``score_transformed(t, conditions)`` evaluates from the transformed space: gradient
    penalties interpolate there, so they do not depend on the energy unit.
    """

    def __init__(self, detector: str, out_dim: int, condition_norm: dict,
                 shower_transform: dict, **kwargs):
        super().__init__(detector, {"out_dim": out_dim}, condition_norm, shower_transform,
                         **kwargs)

    def call(self, inputs, training=None):
        showers, conditions = inputs
        showers = tf.cast(showers, tf.float32)
        return self.score_transformed(self.transform(showers), tf.cast(conditions, tf.float32),
                                      training=training, showers=showers)

    def score_transformed(self, t, conditions, training=None, showers=None) -> dict:
        raise NotImplementedError
