"""2DGAN (Rehm et al. 2021; Jaruskova & Vallecorsa 2024) for the 25x25x25 cern-ecal volume.

Generator: latent (conditioned on Ep) -> Dense -> 5x5x5 volume. Three branches see the
volume through permutations (x, y and z views: the viewed axis becomes the channel axis of a
5x5 image), each a stack Conv2DTranspose(stride 3) -> Conv2DTranspose(stride 2) -> Conv2D
(kernel 6, valid) giving 25x25 images with 25 channels; the branches are un-permuted,
concatenated and fused (a learned 1x1x1 combination) into 25x25x25.
Discriminator: three permuted Conv2D branches, concatenated, dense, heads real/fake
(``score``), Ep regression (``ep``, GeV) and the total energy (``etot``, the image sum).

``output="shape_energy"`` (as in tfcalo.models.sagan): the fused volume is a softmax shape
over all 15,625 cells and a separate head gives delta per shower, deposit = Ep * sf_ref *
exp(delta); the critic's ``energy_input`` gives its dense layer energy_gain * log(deposit /
(Ep * sf_ref)) and the normalised Ep, so it can judge the sampling fraction per energy.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfcalo.models.configs import LAYER_MODELS, UPSAMPLING
from tfcalo.models.layers import (
    GENERATOR_OUTPUTS,
    CriticBase,
    GeneratorBase,
    batch_norm,
    deposit_ratio,
    energy_critic_mlp,
    energy_delta,
    layer_head,
    layer_log_prior,
    layered_logits,
    legendre_basis,
    nominal_deposit,
    profile_features,
    profile_log_prior,
    reference_sf,
    shape_times_energy,
)
from tfcalo.models.layers import energy_head as make_energy_head

# Permutations of (x, y, z): the last entry is the axis that becomes channels.
_VIEWS = ((1, 2, 0), (0, 2, 1), (0, 1, 2))


def _inverse_perm(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _block(layers: list, dropout: float, sync: bool):
    layers += [keras.layers.LeakyReLU(0.2), batch_norm(sync)]
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout))


@keras.saving.register_keras_serializable(package="tfcalo")
class TwoDGANGenerator(GeneratorBase):
    """Three-branch 2D-convolutional generator of (B, 25, 25, 25) GeV showers.

    Args:
        filters: channels of each branch's transposed convolutions (published: 64).
        seed_channels: channels of the 5x5x5 seed volume.
        conditioning: ``multiply`` (noise * Ep / ep_ref, as the original) or ``concat``
            (noise concatenated with the normalised log Ep).
        ep_ref: reference energy (GeV) of the multiplicative conditioning.
        output, sf_ref: "cells" or "shape_energy" (softmax shape x Ep x sf_ref x exp(delta)).
        energy_head: how "shape_energy" makes delta: "mlp" or "location_scale"
            (:func:`tfcalo.models.layers.energy_head`).
        shape_profiles: optional mean profiles per axis of the training data: "shape_energy"
            logits start at their product (:func:`tfcalo.models.layers.profile_log_prior`).
        layer_curve: optional [log E points, layer profiles] of the training data: the
            prior's layer profile is then the data's at each shower's energy
            (:func:`tfcalo.models.layers.layer_log_prior`; needs ``shape_profiles``).
        upsampling: one of :data:`tfcalo.models.configs.UPSAMPLING`.
        layer_model, layer_degree: "shape_energy" only. "free": one softmax over all cells;
            "smooth": each shower's fraction per layer is the prior's layer profile (flat
            without one) times exp of a Legendre polynomial of degree ``layer_degree`` in
            the depth, its coefficients from a head of [noise, conditions]; the three
            branches shape each layer transversally only (:func:`layered_logits`).
    """

    def __init__(self, detector: str = "cern-ecal", latent_dim: int = 64, filters: int = 16,
                 seed_channels: int = 1, dropout: float = 0.0, conditioning: str = "multiply",
                 sync_batchnorm: bool = True, ep_ref: float = 100.0, output: str = "cells",
                 sf_ref: float = 0.0, energy_head: str = "mlp", sf_curve: list | None = None,
                 shape_profiles: list | None = None, upsampling: str = "transpose",
                 layer_model: str = "free", layer_degree: int = 4,
                 layer_curve: list | None = None,
                 condition_norm: dict | None = None,
                 shower_transform: dict | None = None, **kwargs):
        super().__init__(detector, latent_dim, condition_norm, shower_transform, **kwargs)
        if output not in GENERATOR_OUTPUTS or (output == "shape_energy" and not sf_ref > 0):
            raise ValueError(f"2DGAN generator output must be one of {GENERATOR_OUTPUTS} "
                             f"(shape_energy with sf_ref > 0), not {output!r} with sf_ref "
                             f"{sf_ref}")
        self.output_kind, self.sf_ref, self.sf_curve = output, float(sf_ref), sf_curve or None
        if upsampling not in UPSAMPLING:
            raise ValueError(f"2DGAN generator upsampling must be one of {UPSAMPLING}, not "
                             f"{upsampling!r}")
        if layer_model not in LAYER_MODELS or (layer_model == "smooth" and (
                output != "shape_energy" or int(layer_degree) < 1)):
            raise ValueError(f"2DGAN generator layer_model must be one of {LAYER_MODELS} "
                             f"(smooth with output shape_energy and layer_degree >= 1), not "
                             f"{layer_model!r} with {output!r}, degree {layer_degree}")
        self.shape_profiles = shape_profiles or None
        self.log_prior = profile_log_prior(self.shape_profiles, self.detector.shower_shape)
        if layer_curve and self.log_prior is None:
            raise ValueError("2DGAN generator layer_curve needs shape_profiles")
        self.layer_curve = layer_curve or None
        self.n = self.detector.shower_shape[0]
        self.seed_channels = int(seed_channels)
        self.conditioning = conditioning
        self.ep_ref = float(ep_ref)
        self.dense = keras.layers.Dense(5 * 5 * 5 * self.seed_channels)
        self.branches = []
        for _ in _VIEWS:
            layers = []
            for stride in (3, 2):  # 5x5 -> 15x15 -> 30x30
                if upsampling == "transpose":
                    layers.append(keras.layers.Conv2DTranspose(filters, 5, strides=stride,
                                                               padding="same"))
                else:
                    layers += [keras.layers.UpSampling2D(stride),
                               keras.layers.Conv2D(filters, 5, padding="same")]
                _block(layers, dropout, sync_batchnorm)
            layers.append(keras.layers.Conv2D(self.n, 30 - self.n + 1, padding="valid"))
            self.branches.append(keras.Sequential(layers))
        # with a shape prior the untrained generator IS the prior (to 1 %): the network's
        # per-layer channels start near 0 instead of adding O(1) noise to the logits
        # layer by layer (a jagged longitudinal profile, docs/cern_g4.md)
        self.fuse = keras.layers.Dense(1, kernel_initializer=(
            keras.initializers.RandomNormal(stddev=0.003) if self.log_prior is not None
            else "glorot_uniform"))
        self.layer_model, self.layer_degree = layer_model, int(layer_degree)
        if layer_model == "smooth":
            self.layer_head = layer_head(self.layer_degree)
            self.layer_basis = legendre_basis(self.n, self.layer_degree)
        # the prior's own layer part (log profile + a constant), replaced per shower by the
        # energy's with a layer_curve
        self.layer_prior = (self.log_prior.mean(axis=(0, 1)) if self.log_prior is not None
                            else np.zeros(self.n, np.float32))
        if output == "shape_energy":
            self.energy_head = make_energy_head(energy_head, latent_dim,
                                                spread_reference=bool(sf_curve and len(sf_curve) > 2))
        self._config = {"filters": filters, "seed_channels": seed_channels, "dropout": dropout,
                        "conditioning": conditioning, "sync_batchnorm": sync_batchnorm,
                        "ep_ref": ep_ref, "output": output, "sf_ref": self.sf_ref,
                        "energy_head": energy_head, "sf_curve": self.sf_curve,
                        "shape_profiles": self.shape_profiles, "upsampling": upsampling,
                        "layer_model": layer_model, "layer_degree": self.layer_degree,
                        "layer_curve": self.layer_curve}

    def physical(self, noise, conditions, training=None):
        if self.output_kind == "cells":
            return super().physical(noise, conditions, training)
        cond_norm = self.cond_norm(conditions)
        logits = self._volume(noise, conditions, cond_norm, training)
        layer_prior = self.layer_prior  # (Z,), or (B, Z) at each shower's energy
        if self.log_prior is not None:
            logits = logits + self.log_prior
            if self.layer_curve:
                layer_prior = layer_log_prior(self.detector, conditions, self.layer_curve)
                logits = logits + (layer_prior - self.layer_prior)[:, None, None, :]
        h = tf.concat([noise, cond_norm], axis=-1)
        if self.layer_model == "smooth":
            coefficients = self.layer_head(h, training=training)  # (B, degree)
            logits = layered_logits(logits, layer_prior + tf.matmul(
                coefficients, self.layer_basis, transpose_b=True))
        delta = energy_delta(self.energy_head, h, self.detector, conditions, self.sf_curve,
                             training)
        sf = reference_sf(self.detector, conditions, self.sf_ref, self.sf_curve)
        return shape_times_energy(self.detector, logits, delta, conditions, sf)

    def core(self, noise, conditions, cond_norm, training):
        return tf.nn.relu(self._volume(noise, conditions, cond_norm, training))

    def _volume(self, noise, conditions, cond_norm, training):
        if self.conditioning == "multiply":
            z = noise * (conditions[:, :1] / self.ep_ref)
        else:
            z = tf.concat([noise, cond_norm], axis=-1)
        v = tf.reshape(self.dense(z), (-1, 5, 5, 5, self.seed_channels))
        views = []
        for perm, branch in zip(_VIEWS, self.branches, strict=False):
            vp = tf.transpose(v, (0, *(p + 1 for p in perm), 4))
            img = tf.reshape(vp, (-1, 5, 5, 5 * self.seed_channels))
            out = branch(img, training=training)  # (B, n, n, n): axes perm[0], perm[1], perm[2]
            views.append(tf.transpose(out, (0, *(p + 1 for p in _inverse_perm(perm)))))
        return self.fuse(tf.stack(views, axis=-1))[..., 0]

    def get_config(self):
        return {**super().get_config(), **self._config}


@keras.saving.register_keras_serializable(package="tfcalo")
class TwoDGANDiscriminator(CriticBase):
    """Three permuted Conv2D branches -> dense -> heads ``score``, ``ep`` (GeV), ``etot``.

    The discriminator is unconditional (auxiliary-classifier style, as the original): the Ep
    head does the conditioning. ``etot`` is the physical image sum (no parameters).
    ``energy_input``: the dense layer also gets ``energy_gain * log(deposit / (Ep sf_ref))``
    and the normalised Ep (a conditional critic of the sampling fraction).
    ``energy_critic``: a second small critic of that number and Ep alone, output
    ``score_energy`` (B, 1) with its own loss (:func:`tfcalo.models.layers.energy_critic_mlp`).
    ``shape_only`` (needs energy_critic): the branches see each shower rescaled to the
    nominal deposit Ep * sf_ref and the dense layer does not get the deposit, so only the
    energy critic judges the deposit (and only it trains an energy-factorised generator's
    delta: the rescaled shower does not depend on delta). Measured on the quick preset:
    without it, a losing image critic drags the sampling fraction 10-25 % low.
    ``profile_features``: the dense layer also gets the shower's normalised x, y and layer
    profiles (:func:`tfcalo.models.layers.profile_features`); ``profile_critic``: a small
    side critic of those profiles and Ep alone, output ``score_profile`` with its own loss.
    """

    def __init__(self, detector: str = "cern-ecal", out_dim: int = 1, filters: int = 16,
                 hidden: int = 64, dropout: float = 0.0, sync_batchnorm: bool = True,
                 ep_ref: float = 100.0, energy_input: bool = False, energy_gain: float = 30.0,
                 energy_critic: bool = False, shape_only: bool = False,
                 profile_features: bool = False, profile_critic: bool = False,
                 sf_ref: float = 0.0,
                 sf_curve: list | None = None, condition_norm: dict | None = None,
                 shower_transform: dict | None = None, **kwargs):
        super().__init__(detector, out_dim, condition_norm, shower_transform, **kwargs)
        if energy_input and not sf_ref > 0:
            raise ValueError("2DGAN critic energy_input needs sf_ref > 0")
        if energy_critic and not energy_input:
            raise ValueError("2DGAN critic energy_critic needs energy_input")
        if shape_only and not energy_critic:
            raise ValueError("2DGAN critic shape_only needs energy_critic")
        self.energy_critic, self.shape_only = bool(energy_critic), bool(shape_only)
        self.profile_features, self.profile_critic = bool(profile_features), bool(profile_critic)
        if self.profile_critic:
            self.profile_adv = energy_critic_mlp(hidden, name="profile_critic")
        if self.energy_critic:
            self.energy_adv = energy_critic_mlp(hidden)
        self.ep_ref = float(ep_ref)
        self.energy_input, self.energy_gain = bool(energy_input), float(energy_gain)
        self.sf_ref, self.sf_curve = float(sf_ref), sf_curve or None
        self.branches = []
        for _ in _VIEWS:
            layers = [keras.layers.Conv2D(filters, 5, padding="same")]
            _block(layers, dropout, sync_batchnorm)
            layers.append(keras.layers.Conv2D(filters, 5, strides=2, padding="valid"))
            _block(layers, dropout, sync_batchnorm)
            layers += [keras.layers.Conv2D(filters, 3, strides=2, padding="valid"),
                       keras.layers.LeakyReLU(0.2), keras.layers.Flatten()]
            self.branches.append(keras.Sequential(layers))
        self.hidden = keras.layers.Dense(hidden)
        self.act = keras.layers.LeakyReLU(0.2)
        self.score_head = keras.layers.Dense(self.out_dim)
        self.ep_head = keras.layers.Dense(1)
        self._config = {"filters": filters, "hidden": hidden, "dropout": dropout,
                        "sync_batchnorm": sync_batchnorm, "ep_ref": ep_ref,
                        "energy_input": self.energy_input, "energy_gain": self.energy_gain,
                        "energy_critic": self.energy_critic, "shape_only": self.shape_only,
                        "profile_features": self.profile_features,
                        "profile_critic": self.profile_critic,
                        "sf_ref": self.sf_ref, "sf_curve": self.sf_curve}

    def score_transformed(self, t, conditions, training=None, showers=None):
        if showers is None:
            showers = self.transform.inverse(t)
        sf = reference_sf(self.detector, conditions, self.sf_ref, self.sf_curve)
        if self.shape_only:
            t = self.transform(nominal_deposit(self.detector, showers, conditions, sf))
        feats = [branch(tf.transpose(t, (0, *(p + 1 for p in perm))), training=training)
                 for perm, branch in zip(_VIEWS, self.branches, strict=False)]
        energy = None
        if self.energy_input:
            energy = [self.energy_gain * deposit_ratio(self.detector, showers, conditions, sf),
                      self.cond_norm(conditions)]
            feats += [energy[1]] if self.shape_only else energy
        profiles = (profile_features(showers)
                    if self.profile_features or self.profile_critic else None)
        if self.profile_features:
            feats.append(profiles)
        h = self.act(self.hidden(tf.concat(feats, axis=-1)))
        out = {"score": self.score_head(h),
               "ep": self.ep_ref * tf.nn.softplus(self.ep_head(h))[:, 0]}
        if self.energy_critic:
            out["score_energy"] = self.energy_adv(tf.concat(energy, axis=-1), training=training)
        if self.profile_critic:
            out["score_profile"] = self.profile_adv(
                tf.concat([profiles, self.cond_norm(conditions)], axis=-1), training=training)
        out["etot"] = tf.reduce_sum(tf.reshape(showers, (tf.shape(showers)[0], -1)), axis=-1)
        return out

    def get_config(self):
        return {**super().get_config(), **self._config}
