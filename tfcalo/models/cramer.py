"""Cramér GAN networks (Bellemare et al. 2017; LHCb RICH fast simulation, seed 004).

The critic maps a sample and its conditions to a vector h(x | c) in R^critic_dim; the
energy-distance surrogate loss lives in :mod:`tfcalo.training.objectives`. For tabular data
the generator and critic are MLPs (:mod:`tfcalo.models.tabular`); for calorimeter showers the
critic is convolutional (:class:`ConvCritic`, 2D or 3D) and the generator is the SAGAN
generator without attention (image2d) or the 2DGAN generator (volume3d).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfcalo.models.layers import CriticBase


@keras.saving.register_keras_serializable(package="tfcalo")
class ConvCritic(CriticBase):
    """Strided convolutions (Conv2D for images, Conv3D for volumes) + conditions -> MLP.

    No batch normalisation (it would break the per-example gradient penalty).
    """

    def __init__(self, detector: str = "lhcb-ecal", out_dim: int = 32, filters: int = 16,
                 hidden=(64,), condition_norm: dict | None = None,
                 shower_transform: dict | None = None, **kwargs):
        super().__init__(detector, out_dim, condition_norm, shower_transform, **kwargs)
        conv = keras.layers.Conv3D if self.detector.kind == "volume3d" else keras.layers.Conv2D
        self.conv = keras.Sequential([conv(filters, 4, strides=2, padding="same"),
                                      keras.layers.LeakyReLU(0.2),
                                      conv(2 * filters, 4, strides=2, padding="same"),
                                      keras.layers.LeakyReLU(0.2), keras.layers.Flatten()])
        layers = []
        for units in hidden:
            layers += [keras.layers.Dense(int(units)), keras.layers.LeakyReLU(0.2)]
        self.head = keras.Sequential([*layers, keras.layers.Dense(self.out_dim)])
        self._config = {"filters": filters, "hidden": [int(h) for h in hidden]}

    def score_transformed(self, t, conditions, training=None, showers=None):
        f = self.conv(t[..., None], training=training)
        return {"score": self.head(tf.concat([f, self.cond_norm(conditions)], axis=-1),
                                   training=training)}

    def get_config(self):
        return {**super().get_config(), **self._config}
