"""Self-Attention GAN with an auxiliary regressor (Rogachev & Ratnikov) for lhcb-ecal 30x30.

Generator: [noise, normalised conditions] -> Dense -> 8x8 -> (upsample, conv, BN, LeakyReLU)
x2 with self-attention at 16x16 -> 32x32 -> crop to 30x30 -> ReLU -> physical MeV.
Discriminator: spectral-normalised shared trunk (two strided convolutions + self-attention)
feeding (a) an auxiliary regressor head predicting k physics observables (scaled) from the
image and the conditions and (b) the adversarial head, which takes the regressor's prediction
as an extra condition. ``set_regressor_trainable(False)`` freezes trunk and regressor
(two-step training).

Energy factorisation (``output="shape_energy"``, measured on Geant4 in docs/lhcb_g4.md): the
generator's image is a softmax over cells (a normalised shape) and a separate head gives one
number per shower, delta, with total deposit = primary energy * sf_ref * exp(delta); the critic
(``energy_input``) sees log(deposit / (primary energy * sf_ref)) beside the image, so the
sampling fraction and its per-cent fluctuations are one learned scalar instead of the sum
of 900 cells.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfcalo.models.layers import (
    GENERATOR_OUTPUTS,
    CriticBase,
    GeneratorBase,
    SelfAttention2D,
    batch_norm,
    conv2d,
    dense,
    deposit_ratio,
    energy_critic_mlp,
    energy_delta,
    profile_log_prior,
    reference_sf,
    shape_times_energy,
    slope_features,
)
from tfcalo.models.layers import energy_head as make_energy_head


@keras.saving.register_keras_serializable(package="tfcalo")
class SAGANGenerator(GeneratorBase):
    """Upsampling-convolution generator with self-attention; image2d detectors (H, W <= 32).

    Args:
        filters: base channel count (published models use 64-128).
        attention: add a self-attention block at 16x16.
        output: "cells" (the image is the shower in the transformed space) or
            "shape_energy" (softmax shape x primary energy x sf_ref x exp(delta)).
        sf_curve: optional [log E points, sampling fractions]: an energy-dependent reference
            instead of sf_ref (:func:`tfcalo.models.layers.reference_sf`).
        shape_profiles: optional mean profiles per axis of the training data: "shape_energy"
            logits start at their product (:func:`tfcalo.models.layers.profile_log_prior`).
        sf_ref: reference sampling fraction of "shape_energy" (deposit / primary energy,
            both in the shower's energy unit... lhcb-ecal MeV/MeV).
        slope_features: append the lhcb-ecal track slopes to the normalised conditions.
        energy_head: how "shape_energy" makes delta: "mlp" or "location_scale"
            (:func:`tfcalo.models.layers.energy_head`).
    """

    def __init__(self, detector: str = "lhcb-ecal", latent_dim: int = 64, filters: int = 32,
                 attention: bool = True, sync_batchnorm: bool = True, output: str = "cells",
                 sf_ref: float = 0.0, slope_features: bool = False, energy_head: str = "mlp",
                 sf_curve: list | None = None, shape_profiles: list | None = None,
                 condition_norm: dict | None = None, shower_transform: dict | None = None,
                 **kwargs):
        super().__init__(detector, latent_dim, condition_norm, shower_transform, **kwargs)
        if output not in GENERATOR_OUTPUTS:
            raise ValueError(f"SAGAN generator output must be one of {GENERATOR_OUTPUTS}, "
                             f"not {output!r}")
        if output == "shape_energy" and not sf_ref > 0:
            raise ValueError("SAGAN generator output 'shape_energy' needs sf_ref > 0")
        self.output_kind, self.sf_ref, self.slopes = output, float(sf_ref), bool(slope_features)
        self.sf_curve = sf_curve or None
        self.shape_profiles = shape_profiles or None
        self.log_prior = profile_log_prior(self.shape_profiles, self.detector.shower_shape)
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
        if output == "shape_energy":
            self.energy_head = make_energy_head(energy_head, latent_dim,
                                                spread_reference=bool(sf_curve and len(sf_curve) > 2))
        self._config = {"filters": filters, "attention": attention,
                        "sync_batchnorm": sync_batchnorm, "output": output,
                        "sf_ref": self.sf_ref, "slope_features": self.slopes,
                        "energy_head": energy_head, "sf_curve": self.sf_curve,
                        "shape_profiles": self.shape_profiles}

    def _image(self, h, training):
        x = self.up2(self.up1(self.seed(h, training=training), training=training),
                     training=training)
        return self.crop(x)[..., 0]

    def _inputs(self, noise, conditions, cond_norm):
        feats = [noise, cond_norm]
        if self.slopes:
            feats.append(slope_features(self.detector, conditions))
        return tf.concat(feats, axis=-1)

    def core(self, noise, conditions, cond_norm, training):
        return tf.nn.relu(self._image(self._inputs(noise, conditions, cond_norm), training))

    def physical(self, noise, conditions, training=None):
        if self.output_kind == "cells":
            return super().physical(noise, conditions, training)
        h = self._inputs(noise, conditions, self.cond_norm(conditions))
        delta = energy_delta(self.energy_head, h, self.detector, conditions, self.sf_curve,
                             training)
        sf = reference_sf(self.detector, conditions, self.sf_ref, self.sf_curve)
        logits = self._image(h, training)
        if self.log_prior is not None:
            logits = logits + self.log_prior
        return shape_times_energy(self.detector, logits, delta, conditions, sf)

    def get_config(self):
        return {**super().get_config(), **self._config}


@keras.saving.register_keras_serializable(package="tfcalo")
class SAGANDiscriminator(CriticBase):
    """Spectral-normalised critic with a shared trunk and an auxiliary regressor head.

    Args:
        n_aux: number of regression targets k (0: no regressor).
        spectral_norm, attention: switches of the trunk/head layers.
        energy_input: the adversarial head also sees
            ``energy_gain * log(deposit / (primary energy * sf_ref))`` (needs sf_ref > 0).
        energy_critic: a second, small critic (MLP) of that number and the conditions alone,
            output ``score_energy`` (B, 1) with its own hinge loss (needs energy_input): the
            per-shower deposit's distribution at each energy, i.e. the sampling fraction
            and the resolution, gets a critic whose whole capacity is spent on it.
        slope_features: append the lhcb-ecal track slopes to the normalised conditions.
    Outputs ``score`` (B, out_dim), when n_aux > 0 ``aux`` (B, k), and with energy_critic
    ``score_energy`` (B, 1).
    """

    def __init__(self, detector: str = "lhcb-ecal", out_dim: int = 1, filters: int = 32,
                 hidden: int = 64, spectral_norm: bool = True, attention: bool = True,
                 n_aux: int = 1, energy_input: bool = False, energy_gain: float = 30.0,
                 energy_critic: bool = False, sf_ref: float = 0.0, slope_features: bool = False,
                 sf_curve: list | None = None,
                 condition_norm: dict | None = None,
                 shower_transform: dict | None = None, **kwargs):
        super().__init__(detector, out_dim, condition_norm, shower_transform, **kwargs)
        if energy_input and not sf_ref > 0:
            raise ValueError("SAGAN critic energy_input needs sf_ref > 0")
        if energy_critic and not energy_input:
            raise ValueError("SAGAN critic energy_critic needs energy_input")
        self.energy_input, self.energy_gain = bool(energy_input), float(energy_gain)
        self.energy_critic = bool(energy_critic)
        self.sf_ref, self.slopes = float(sf_ref), bool(slope_features)
        self.sf_curve = sf_curve or None
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
        if self.energy_critic:
            self.energy_adv = energy_critic_mlp(hidden, spectral_norm=sn)
        self._config = {"filters": filters, "hidden": hidden, "spectral_norm": sn,
                        "attention": attention, "n_aux": self.n_aux,
                        "energy_input": self.energy_input, "energy_gain": self.energy_gain,
                        "energy_critic": self.energy_critic,
                        "sf_ref": self.sf_ref, "slope_features": self.slopes,
                        "sf_curve": self.sf_curve}

    def _conditions(self, conditions):
        c = self.cond_norm(conditions)
        if self.slopes:
            c = tf.concat([c, slope_features(self.detector, conditions)], axis=-1)
        return c

    def set_regressor_trainable(self, trainable: bool) -> None:
        """Freeze (False) or unfreeze the shared trunk and the regressor head."""
        self.trunk.trainable = trainable
        if self.n_aux:
            self.regressor.trainable = trainable
            self.regressor_head.trainable = trainable

    def regress(self, t, conditions, training=None):
        """(B, k) scaled regression predictions from transformed images t (B, H, W) and
        PHYSICAL conditions (B, n_conditions)."""
        feats = self.trunk(t[..., None], training=training)
        return self._aux(feats, self._conditions(conditions), training)

    def _aux(self, feats, cond_norm, training):
        r = self.regressor(feats, training=training)
        return self.regressor_head(tf.concat([r, cond_norm], axis=-1), training=training)

    def score_transformed(self, t, conditions, training=None, showers=None):
        c = self._conditions(conditions)
        feats = self.trunk(t[..., None], training=training)
        extra = [c]
        out = {}
        if self.energy_input:
            s = showers if showers is not None else self.transform.inverse(t)
            sf = reference_sf(self.detector, conditions, self.sf_ref, self.sf_curve)
            ratio = self.energy_gain * deposit_ratio(self.detector, s, conditions, sf)
            extra.append(ratio)
            if self.energy_critic:
                out["score_energy"] = self.energy_adv(tf.concat([ratio, c], axis=-1),
                                                      training=training)
        if self.n_aux:
            out["aux"] = self._aux(feats, c, training)
            extra.append(out["aux"])
        a = self.adv(feats, training=training)
        out["score"] = self.adv_head(tf.concat([a, *extra], axis=-1), training=training)
        return out

    def get_config(self):
        return {**super().get_config(), **self._config}
