"""MLP generator and critic for tabular detectors (rich-pid DLLs given p, eta, nTracks)."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfcalo.models.layers import CriticBase, GeneratorBase


def _mlp(hidden, out: int) -> keras.Sequential:
    layers = []
    for units in hidden:
        layers += [keras.layers.Dense(int(units)), keras.layers.LeakyReLU(0.2)]
    layers.append(keras.layers.Dense(out))
    return keras.Sequential(layers)


@keras.saving.register_keras_serializable(package="tfcalo")
class MLPGenerator(GeneratorBase):
    """[noise, normalised conditions] -> MLP -> standardised values -> physical (B, n)."""

    def __init__(self, detector: str = "rich-pid", latent_dim: int = 32,
                 hidden=(64, 64, 64), condition_norm: dict | None = None,
                 shower_transform: dict | None = None, **kwargs):
        super().__init__(detector, latent_dim, condition_norm, shower_transform, **kwargs)
        self.mlp = _mlp(hidden, self.detector.shower_size)
        self._config = {"hidden": [int(h) for h in hidden]}

    def core(self, noise, conditions, cond_norm, training):
        x = self.mlp(tf.concat([noise, cond_norm], axis=-1), training=training)
        return tf.reshape(x, (-1, *self.detector.shower_shape))

    def get_config(self):
        return {**super().get_config(), **self._config}


@keras.saving.register_keras_serializable(package="tfcalo")
class MLPCritic(CriticBase):
    """[standardised values, normalised conditions] -> MLP -> ``score`` (B, out_dim)."""

    def __init__(self, detector: str = "rich-pid", out_dim: int = 32, hidden=(64, 64, 64),
                 condition_norm: dict | None = None, shower_transform: dict | None = None,
                 **kwargs):
        super().__init__(detector, out_dim, condition_norm, shower_transform, **kwargs)
        self.mlp = _mlp(hidden, self.out_dim)
        self._config = {"hidden": [int(h) for h in hidden]}

    def score_transformed(self, t, conditions, training=None, showers=None):
        flat = tf.reshape(t, (tf.shape(t)[0], -1))
        x = tf.concat([flat, self.cond_norm(conditions)], axis=-1)
        return {"score": self.mlp(x, training=training)}

    def get_config(self):
        return {**super().get_config(), **self._config}
