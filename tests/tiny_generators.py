"""Tiny generators that follow the tfcalo generator contract (for export/sampling tests).

A generator is called ``g([noise (B, latent_dim), conditions (B, n_cond)], training=False)``
and returns showers ``(B, *detector.shower_shape)``; it has an int attribute ``latent_dim``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfcalo.detectors import get_detector


class TinyGenerator(keras.Model):
    """Dense + Reshape stand-in for a real generator (non-negative output, physical scale)."""

    def __init__(self, detector: str = "lhcb-ecal", latent_dim: int = 4, seed: int = 0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.detector = get_detector(detector)
        self.latent_dim = latent_dim
        self.dense = keras.layers.Dense(
            self.detector.shower_size, activation="softplus",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed))
        self.reshape = keras.layers.Reshape(self.detector.shower_shape)
        self.scale = 1.0 / np.array([max(abs(lo), abs(hi)) for lo, hi
                                     in self.detector.condition_ranges], np.float32)
        self([np.zeros((1, latent_dim), np.float32),
              np.ones((1, self.detector.n_conditions), np.float32)])

    def call(self, inputs, training=False):
        noise, conditions = inputs
        x = tf.concat([noise, tf.cast(conditions, tf.float32) * self.scale], axis=-1)
        return self.reshape(self.dense(x))


class TinyModule(tf.Module):
    """The same contract as a plain tf.Module (how a mixture/ensemble may look)."""

    def __init__(self, detector: str = "rich-pid", latent_dim: int = 3) -> None:
        super().__init__()
        self.detector = get_detector(detector)
        self.latent_dim = latent_dim
        rng = np.random.default_rng(1)
        n_in = latent_dim + self.detector.n_conditions
        self.w = tf.Variable(rng.normal(size=(n_in, self.detector.shower_size)).astype("f"))

    def __call__(self, inputs, training=False):
        noise, conditions = inputs
        x = tf.concat([tf.cast(noise, tf.float32), tf.cast(conditions, tf.float32) * 0.01], -1)
        return tf.reshape(x @ self.w, (-1, *self.detector.shower_shape))


class EagerOnlyShift(TinyGenerator):
    """Differs between eager calls and traced (exported) calls: export must reject it."""

    def call(self, inputs, training=False):
        out = super().call(inputs, training)
        return out + 1.0 if tf.executing_eagerly() else out
