"""Energy (and direction) regressor on raw showers; its embedding gives the FRD.

The network (Werther 2022 style: convolutions, pooling, a dense "embedding" layer, a linear
head) takes PHYSICAL showers and returns PHYSICAL targets:

- cern-ecal: ``[Ep]`` in GeV;
- lhcb-ecal: ``[E, px/pz, py/pz]`` (E = |p| in GeV).

Inputs pass through ``log1p(E / 1 MeV)``; the head predicts standardised targets and a
``Normalization(invert=True)`` layer named ``prediction`` maps them back to physical units
(its mean/variance are set from the training targets by :func:`train_regressor`, which
fits the normalised head, so the loss weighs every target equally).

Example:
    >>> model = build_regressor("cern-ecal", {"filters": [8], "embedding_dim": 16})
    >>> history = train_regressor(model, showers, conditions, epochs=2, batch_size=64, seed=0)
    >>> emb = embedding_model(model).predict(showers)      # (N, 16), input to metrics.frd
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ConfigError, nearest
from tfcalo.metrics.resolution import mu90_sigma90

EMBEDDING_LAYER = "embedding"
NORMALISED_LAYER = "normalised_prediction"
PREDICTION_LAYER = "prediction"
DEFAULTS = {"filters": [16, 32], "embedding_dim": 64, "learning_rate": 1e-3}


@keras.saving.register_keras_serializable(package="tfcalo")
class LogEnergy(keras.layers.Layer):
    """``log1p(max(x, 0) * scale)``: physical cell energies to a compressed range."""

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, x):
        return keras.ops.log1p(keras.ops.relu(x) * self.scale)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


def regression_targets(detector: str | Detector, conditions: np.ndarray) -> np.ndarray:
    """Targets ``(N, k)`` float32 the regressor predicts, from physical conditions."""
    det = get_detector(detector)
    c = np.asarray(conditions, dtype=np.float64)
    if det.name == "cern-ecal":
        return c[:, :1].astype(np.float32)
    if det.name == "lhcb-ecal":
        pz = np.where(c[:, 5] == 0, 1e-12, c[:, 5])
        e = np.sqrt((c[:, 3:6] ** 2).sum(axis=1))
        return np.column_stack([e, c[:, 3] / pz, c[:, 4] / pz]).astype(np.float32)
    raise ConfigError(f"the regressor needs a calorimeter detector, not {det.name}")


def target_names(detector: str | Detector) -> list[str]:
    """Names of the regressor outputs for ``detector``."""
    det = get_detector(detector)
    return ["Ep"] if det.name == "cern-ecal" else ["E", "px/pz", "py/pz"]


def _config(config: dict | None) -> dict:
    cfg = dict(DEFAULTS)
    for key, value in (config or {}).items():
        if key not in DEFAULTS:
            hint = nearest(key, DEFAULTS)
            raise ConfigError(f"unknown regressor config key '{key}'; did you mean '{hint}'?")
        cfg[key] = value
    return cfg


def build_regressor(detector: str | Detector, config: dict | None = None) -> keras.Model:
    """Build the (uncompiled) regressor for ``detector``.

    Config keys: ``filters`` (list of conv widths, default [16, 32]), ``embedding_dim``
    (width of the layer named ``embedding``, default 64), ``learning_rate`` (used by
    :func:`train_regressor`). Unknown keys raise ConfigError.
    """
    det = get_detector(detector)
    cfg = _config(config)
    n_out = len(target_names(det))
    scale = 1000.0 if det.energy_unit == "GeV" else 1.0
    inp = keras.Input(det.shower_shape, name="showers")
    x = LogEnergy(scale, name="log_energy")(inp)
    x = keras.layers.Reshape((*det.shower_shape, 1))(x)
    conv = keras.layers.Conv3D if det.kind == "volume3d" else keras.layers.Conv2D
    pool = keras.layers.MaxPooling3D if det.kind == "volume3d" else keras.layers.MaxPooling2D
    for f in cfg["filters"]:
        x = conv(int(f), 3, padding="same", use_bias=False)(x)
        x = keras.layers.LeakyReLU(0.02)(x)
        x = pool(2)(x)
    x = keras.layers.Flatten()(x)
    emb = keras.layers.Dense(int(cfg["embedding_dim"]), name=EMBEDDING_LAYER)(x)
    x = keras.layers.LeakyReLU(0.02)(emb)
    norm = keras.layers.Dense(n_out, name=NORMALISED_LAYER)(x)
    denorm = keras.layers.Normalization(axis=-1, invert=True, name=PREDICTION_LAYER)
    denorm.build((None, n_out))
    denorm.adapt(np.array([[-1.0] * n_out, [1.0] * n_out], dtype=np.float32))  # mean 0, var 1
    out = denorm(norm)
    model = keras.Model(inp, out, name=f"regressor_{det.name.replace('-', '_')}")
    model.tfcalo_config = {"detector": det.name, **cfg}
    return model


def embedding_model(regressor: keras.Model) -> keras.Model:
    """Model mapping showers to the ``embedding`` layer's activations ``(N, embedding_dim)``."""
    return keras.Model(regressor.inputs, regressor.get_layer(EMBEDDING_LAYER).output)


def train_regressor(model: keras.Model, showers: np.ndarray, conditions: np.ndarray,
                    epochs: int, batch_size: int, seed: int,
                    learning_rate: float | None = None) -> dict[str, list[float]]:
    """Fit ``model`` on (showers, conditions); returns the Keras history dict.

    The target standardisation (mean/std of the training targets) is written into the
    ``prediction`` layer; the head before it is trained with MSE on standardised targets.
    """
    config = getattr(model, "tfcalo_config", None)
    if config is None:  # a reloaded model: the detector is in its name
        name = model.name.removeprefix("regressor_").replace("_", "-")
        if not model.name.startswith("regressor_"):
            raise ConfigError(f"model '{model.name}' was not made by build_regressor")
        config = {"detector": name}
    detector = config["detector"]
    y = regression_targets(detector, conditions)
    mean, std = y.mean(axis=0), y.std(axis=0)
    std[std == 0] = 1.0
    model.get_layer(PREDICTION_LAYER).adapt(y)
    head = keras.Model(model.inputs, model.get_layer(NORMALISED_LAYER).output)
    lr = learning_rate or config.get("learning_rate", DEFAULTS["learning_rate"])
    keras.utils.set_random_seed(seed)
    head.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
    hist = head.fit(np.asarray(showers, np.float32), (y - mean) / std, epochs=epochs,
                    batch_size=batch_size, shuffle=True, verbose=0)
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def linearity_resolution(pred: np.ndarray, true: np.ndarray,
                         bins: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
    """Per bin of the true value: mu90/sigma90 of the predictions, linearity and resolution.

    Returns dict of ``(B,)`` arrays: ``bin_centres``, ``n``, ``true_mean``, ``mu90``,
    ``sigma90``, ``linearity = mu90 / true_mean`` and ``resolution = sigma90 / mu90``
    (NaN for empty bins).
    """
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    edges = np.asarray(bins, dtype=np.float64)
    nb = len(edges) - 1
    idx = np.digitize(t, edges) - 1
    out = {k: np.full(nb, np.nan) for k in ("true_mean", "mu90", "sigma90", "linearity",
                                            "resolution")}
    out["bin_centres"] = 0.5 * (edges[:-1] + edges[1:])
    out["n"] = np.array([(idx == b).sum() for b in range(nb)])
    for b in range(nb):  # loop over bins, not showers
        sel = idx == b
        if not sel.any():
            continue
        out["true_mean"][b] = t[sel].mean()
        out["mu90"][b], out["sigma90"][b] = mu90_sigma90(p[sel])
        out["linearity"][b] = out["mu90"][b] / out["true_mean"][b]
        out["resolution"][b] = out["sigma90"][b] / out["mu90"][b]
    return out


# -- the regressor artifact (written by the train-regressor component) ---------------------

REGRESSOR_FILE = "regressor.keras"


def save_regressor(model: keras.Model, out_dir) -> None:
    """Save a regressor made by :func:`build_regressor` into directory ``out_dir``."""
    import json
    from pathlib import Path

    model.save(Path(out_dir) / REGRESSOR_FILE)
    (Path(out_dir) / "regressor_config.json").write_text(json.dumps(model.tfcalo_config))


def load_regressor(path) -> keras.Model:
    """Load the regressor saved by :func:`save_regressor` in artifact directory ``path``."""
    import json
    from pathlib import Path

    from tfcalo.errors import ArtifactError

    f = Path(path) / REGRESSOR_FILE
    if not f.is_file():
        raise ArtifactError(f"{path} is not a regressor artifact (no {REGRESSOR_FILE})")
    model = keras.models.load_model(f, compile=False)
    model.tfcalo_config = json.loads((Path(path) / "regressor_config.json").read_text())
    return model


def load_embedding(path):
    """``embed(showers, conditions) -> (N, embedding_dim)`` of a regressor artifact (FRD)."""
    emb = embedding_model(load_regressor(path))

    def embed(showers: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        return np.asarray(emb.predict(np.asarray(showers, np.float32), batch_size=512, verbose=0))

    return embed
