"""Self-Attention GAN with an auxiliary regressor (Rogachev & Ratnikov) for lhcb-ecal 30x30.

Generator: [noise, normalised conditions] -> Dense -> 8x8 -> (upsample, conv, BN, LeakyReLU)
x2 with self-attention at 16x16 -> 32x32 -> crop to 30x30 -> ReLU -> physical MeV.
Discriminator: spectral-normalised shared trunk (two strided convolutions + self-attention)
feeding (a) an auxiliary regressor head predicting k physics observables (scaled) from the
image and the conditions and (b) the adversarial head, which takes the regressor's prediction
as an extra condition. ``set_regressor_trainable(False)`` freezes trunk and regressor
(two-step training).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfcalo.models.layers import (
    CriticBase,
    GeneratorBase,
    SelfAttention2D,
    batch_norm,
    conv2d,
    dense,
)


@keras.saving.register_keras_serializable(package="tfcalo")
class SAGANGenerator(GeneratorBase):
    """Upsampling-convolution generator with self-attention; image2d detectors (H, W <= 32).

    Args:
        filters: base channel count (published models use 64-128).
        attention: add a self-attention block at 16x16.
    """

    def __init__(self, detector: str = "lhcb-ecal", latent_dim: int = 64, filters: int = 32,
                 attention: bool = True, sync_batchnorm: bool = True,
                 condition_norm: dict | None = None, shower_transform: dict | None = None,
                 **kwargs):
        super().__init__(detector, latent_dim, condition_norm, shower_transform, **kwargs)
        h, w = self.detector.shower_shape
        self.seed = keras.Sequential([keras.layers.Dense(8 * 8 * 4 * filters),
                                      keras.layers.Reshape((8, 8, 4 * filters)),
                                      batch_norm(sync_batchnorm), keras.layers.LeakyReLU(0.2)])
        up1 = [keras.layers.UpSampling2D(), keras.layers.Conv2D(2 * filters, 3, padding="same"),
               batch_norm(sync_batchnorm), keras.layers.LeakyReLU(0.2)]
        if attention:
            up1.append(SelfAttention2D())
        self.up1 = keras.Sequential(up1)
        self.up2 = keras.Sequential([keras.layers.UpSampling2D(),
                                     keras.layers.Conv2D(filters, 3, padding="same"),
                                     batch_norm(sync_batchnorm), keras.layers.LeakyReLU(0.2),
                                     # small init: an untrained generator starts near empty
                                     # showers instead of saturating the inverse transform
                                     keras.layers.Conv2D(1, 3, padding="same",
                                                         kernel_initializer=keras.initializers.RandomNormal(stddev=0.02))])
        self.crop = keras.layers.Cropping2D((((32 - h) // 2, (32 - h + 1) // 2),
                                             ((32 - w) // 2, (32 - w + 1) // 2)))
        self._config = {"filters": filters, "attention": attention,
                        "sync_batchnorm": sync_batchnorm}

    def core(self, noise, conditions, cond_norm, training):
        x = self.seed(tf.concat([noise, cond_norm], axis=-1), training=training)
        x = self.up2(self.up1(x, training=training), training=training)
        return tf.nn.relu(self.crop(x)[..., 0])

    def get_config(self):
        return {**super().get_config(), **self._config}


@keras.saving.register_keras_serializable(package="tfcalo")
class SAGANDiscriminator(CriticBase):
    """Spectral-normalised critic with a shared trunk and an auxiliary regressor head.

    Args:
        n_aux: number of regression targets k (0: no regressor).
        spectral_norm, attention: switches of the trunk/head layers.
    Outputs ``score`` (B, out_dim) and, when n_aux > 0, ``aux`` (B, k).
    """

    def __init__(self, detector: str = "lhcb-ecal", out_dim: int = 1, filters: int = 32,
                 hidden: int = 64, spectral_norm: bool = True, attention: bool = True,
                 n_aux: int = 1, condition_norm: dict | None = None,
                 shower_transform: dict | None = None, **kwargs):
        super().__init__(detector, out_dim, condition_norm, shower_transform, **kwargs)
        sn = bool(spectral_norm)
        self.n_aux = int(n_aux)
        trunk = [conv2d(filters, 4, 2, spectral_norm=sn), keras.layers.LeakyReLU(0.2),
                 conv2d(2 * filters, 4, 2, spectral_norm=sn), keras.layers.LeakyReLU(0.2)]
        if attention:
            trunk.append(SelfAttention2D(spectral_norm=sn))
        self.trunk = keras.Sequential(trunk, name="trunk")
        if self.n_aux:
            self.regressor = keras.Sequential(
                [conv2d(2 * filters, 3, 1, spectral_norm=sn), keras.layers.LeakyReLU(0.2),
                 keras.layers.Flatten()], name="regressor")
            self.regressor_head = keras.Sequential(
                [dense(hidden, spectral_norm=sn), keras.layers.LeakyReLU(0.2),
                 keras.layers.Dense(self.n_aux)], name="regressor_head")
        self.adv = keras.Sequential([conv2d(4 * filters, 4, 2, spectral_norm=sn),
                                     keras.layers.LeakyReLU(0.2), keras.layers.Flatten()],
                                    name="adversarial")
        self.adv_head = keras.Sequential([dense(hidden, spectral_norm=sn),
                                          keras.layers.LeakyReLU(0.2),
                                          dense(self.out_dim, spectral_norm=sn)],
                                         name="adversarial_head")
        self._config = {"filters": filters, "hidden": hidden, "spectral_norm": sn,
                        "attention": attention, "n_aux": self.n_aux}

    def set_regressor_trainable(self, trainable: bool) -> None:
        """Freeze (False) or unfreeze the shared trunk and the regressor head."""
        self.trunk.trainable = trainable
        if self.n_aux:
            self.regressor.trainable = trainable
            self.regressor_head.trainable = trainable

    def regress(self, t, cond_norm, training=None):
        """(B, k) scaled regression predictions from transformed images (B, H, W)."""
        feats = self.trunk(t[..., None], training=training)
        return self._aux(feats, cond_norm, training)

    def _aux(self, feats, cond_norm, training):
        r = self.regressor(feats, training=training)
        return self.regressor_head(tf.concat([r, cond_norm], axis=-1), training=training)

    def score_transformed(self, t, conditions, training=None, showers=None):
        c = self.cond_norm(conditions)
        feats = self.trunk(t[..., None], training=training)
        extra = [c]
        out = {}
        if self.n_aux:
            out["aux"] = self._aux(feats, c, training)
            extra.append(out["aux"])
        a = self.adv(feats, training=training)
        out["score"] = self.adv_head(tf.concat([a, *extra], axis=-1), training=training)
        return out

    def get_config(self):
        return {**super().get_config(), **self._config}
