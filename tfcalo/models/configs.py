"""Model configuration dataclasses (TensorFlow-free, so printing defaults is cheap).

A model config is a nested dict validated into one of :data:`CONFIG_CLASSES` with
:func:`tfcalo.config.from_dict` (unknown keys name the nearest valid key). Sections:

- top level: ``latent_dim``, ``seed``, ``critic_steps`` (critic updates per generator update,
  each on the same real batch with fresh noise);
- ``objective``: name (bce | hinge | wgan-gp | cramer), gradient-penalty weight and side,
  weights of the adversarial and 2DGAN auxiliary terms;
- ``optimizer``: Adam learning rates and betas, the generator's weight average;
- ``transform``: how physical shower energies are scaled inside the networks;
- ``generator`` / ``discriminator``: sizes and switches of the model family.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OBJECTIVES = ("bce", "hinge", "wgan-gp", "cramer")


#: ``objective.moment_balance``: how the moment-matching loss weighs its features.
MOMENT_BALANCES = ("features", "groups")


@dataclass
class ObjectiveConfig:
    """Loss choice. bce: non-saturating + 2DGAN heads (ep/etot weights, relative errors)."""

    name: str = "hinge"
    gp_weight: float = 10.0
    one_sided: bool = False
    adv_weight: float = 1.0
    ep_weight: float = 0.0
    etot_weight: float = 0.0
    # the 2DGAN profile critic's weight (0: adv_weight)
    profile_weight: float = 0.0
    # generator's moment-matching loss (tfcalo.models.moments; 0: off): the mean profiles and
    # standardised deposit moments at each energy against the real batch's
    moment_weight: float = 0.0
    # how its features weigh (tfcalo.models.moments.moment_feature_weights): "features" each
    # alike, "groups" each group (layer profile, widths, deposit) alike
    moment_balance: str = "features"


@dataclass
class OptimizerConfig:
    """Adam settings; ``pretrain_lr`` is used by SAGAN's regressor pretraining."""

    generator_lr: float = 1e-4
    discriminator_lr: float = 1e-4
    beta_1: float = 0.5
    beta_2: float = 0.9
    pretrain_lr: float = 1e-3
    # momentum of an exponential moving average of the generator's weights (0: off); the
    # averaged weights are the ones model selection judges and the run exports
    generator_ema: float = 0.0
    # both learning rates fall linearly from their value at this fraction of the epochs to
    # ``lr_final`` times it at the last epoch (1.0: constant; tfcalo.training.callbacks.
    # LearningRateDecay): a GAN at a constant rate keeps oscillating about the equilibrium
    lr_decay_from: float = 1.0
    lr_final: float = 0.1


@dataclass
class TransformConfig:
    """Shower scaling inside the networks: log (log1p(x/scale)), power ((x/scale)**power),
    linear ((x-mean)/std per component). ``scale`` 0 means derived from stats.json."""

    mode: str = "log"
    scale: float = 0.0
    power: float = 0.5


#: 2DGAN ``generator.upsampling``: how each branch upsamples its 5x5 image to 30x30,
#: "transpose" (the published Conv2DTranspose, stride 3 then 2) or "resize" (nearest-neighbour
#: UpSampling2D then a stride-1 Conv2D, kernel 5: no uneven kernel overlap, no checkerboard)
UPSAMPLING = ("transpose", "resize")
#: 2DGAN ``generator.layer_model`` ("shape_energy" output): "free" (one softmax over all
#: cells) or "smooth" (:func:`tfcalo.models.layers.layered_logits`)
LAYER_MODELS = ("free", "smooth")


@dataclass
class TwoDGANGenerator:
    """Three-branch 2DGAN generator; ``conditioning`` multiply (noise * Ep/Ep_ref) or concat."""

    filters: int = 16
    seed_channels: int = 1
    dropout: float = 0.0
    conditioning: str = "multiply"
    sync_batchnorm: bool = True
    # "shape_energy": softmax shape x Ep x sf_ref x exp(delta) (see SAGANGenerator.output)
    output: str = "cells"
    sf_ref: float = 0.0
    energy_head: str = "mlp"
    # "median": one reference sampling fraction (sf_ref); "curve": the training data's median
    # per energy bin (stats.json sampling_fraction_curve), interpolated in log E
    sf_reference: str = "median"
    # "shape_energy": "none", or "profiles": the logits start at the product of the training
    # data's mean profiles per axis (stats.json mean_profiles), or "energy_profiles": the
    # same with the layer profile at each shower's energy (stats.json layer_profile_curve)
    shape_prior: str = "none"
    # "transpose" (published) or "resize" (nearest-neighbour upsampling + convolution)
    upsampling: str = "transpose"
    # "shape_energy": "free" (one softmax over the volume) or "smooth" (the fraction per layer
    # is the prior's layer profile times exp(a Legendre polynomial of degree layer_degree in
    # depth, per shower); the network shapes each layer transversally only)
    layer_model: str = "free"
    layer_degree: int = 4


@dataclass
class TwoDGANDiscriminator:
    """Three permuted Conv2D branches + dense; heads real/fake, Ep (GeV), total energy."""

    filters: int = 16
    hidden: int = 64
    dropout: float = 0.0
    sync_batchnorm: bool = True
    # the dense layer also sees energy_gain * log(deposit / (Ep sf_ref)) and the normalised Ep
    energy_input: bool = False
    energy_gain: float = 30.0
    # a second small critic of that number and Ep alone, with its own loss (bce or hinge)
    energy_critic: bool = False
    # the image branches see showers rescaled to the nominal deposit: only the energy critic
    # judges the deposit (needs energy_critic)
    shape_only: bool = False
    # the dense layer also sees the shower's normalised x, y and layer profiles (log space)
    profile_features: bool = False
    # a side critic of those profiles and Ep alone, with its own loss (bce or hinge)
    profile_critic: bool = False


@dataclass
class SAGANGenerator:
    """Noise + 6 conditions -> 8x8 -> upsampling convolutions (+ self-attention) -> 30x30."""

    filters: int = 32
    attention: bool = True
    sync_batchnorm: bool = True
    # "cells": every cell from the network; "shape_energy": a softmax shape times one
    # generated total per shower, primary energy * sf_ref * exp(delta) (the sampling fraction
    # and its fluctuations learned as one number). sf_ref 0: the training data's median.
    output: str = "cells"
    sf_ref: float = 0.0
    # lhcb-ecal: give the network the track slopes px/pz and py/pz besides the conditions.
    slope_features: bool = False
    # How "shape_energy" makes delta: "mlp" of [noise, conditions], or "location_scale",
    # mu(noise, conditions) + exp(s(conditions)) * z_0: a spread that follows the energy.
    energy_head: str = "mlp"
    # "median" (sf_ref) or "curve" (the data's sampling fraction per energy bin)
    sf_reference: str = "median"
    # "none" or "profiles" (as TwoDGANGenerator.shape_prior)
    shape_prior: str = "none"


@dataclass
class SAGANDiscriminator:
    """Spectral-normalised critic with a shared trunk feeding an auxiliary regressor.

    ``aux_targets``: tfcalo.physics observable names the regressor predicts (empty: none).
    The default, the second moments along and across p_T and the longitudinal asymmetry, is
    defined for every direction (the LHCb code's ``width_long``/``width_trans`` explode near
    px = 0; they stay available as targets and in the evaluation, for the papers' numbers).
    Targets are standardised, ``clip((t - median) / scale, -aux_clip, aux_clip)``, with the
    training split's median and IQR / 1.349 (stats.json ``observables``).
    ``aux_mode``: multi-task (critic loss += aux_weight * weighted MSE) or two-step
    (``aux_pretrain_steps`` batches of pretrain_regressor, then freeze; hinge only). ``aux_scales``: per-target scales overriding
    the IQR-based ones (empty: from the data). ``aux_clip``: clip of the standardised targets.
    """

    filters: int = 32
    hidden: int = 64
    spectral_norm: bool = True
    attention: bool = True
    aux_targets: list[str] = field(default_factory=lambda: [
        "width_along_pt", "width_across_pt", "asymmetry_long"])
    aux_mode: str = "multi-task"
    aux_weight: float = 1.0
    aux_scales: list[float] = field(default_factory=list)
    aux_clip: float = 5.0
    aux_pretrain_steps: int = 200
    # The adversarial head also sees log(deposit / (primary energy * sf_ref)) * energy_gain,
    # so the critic resolves the sampling fraction at the per-cent level.
    energy_input: bool = False
    energy_gain: float = 30.0
    # A second small critic of that number and the conditions alone, with its own loss
    # (needs energy_input and the hinge or bce objective): resolution per energy bin.
    energy_critic: bool = False
    slope_features: bool = False


@dataclass
class CramerGenerator:
    """MLP (tabular) or convolutional (calorimeter) generator."""

    hidden: list[int] = field(default_factory=lambda: [64, 64, 64])
    filters: int = 16
    sync_batchnorm: bool = True


@dataclass
class CramerCritic:
    """Critic h(x | c) -> R^critic_dim; MLP for tabular data, convolutional for showers."""

    hidden: list[int] = field(default_factory=lambda: [64, 64, 64])
    filters: int = 16
    critic_dim: int = 32


@dataclass
class TwoDGANConfig:
    latent_dim: int = 64
    seed: int = 0
    critic_steps: int = 1
    objective: ObjectiveConfig = field(default_factory=lambda: ObjectiveConfig(
        name="bce", adv_weight=6.0, ep_weight=0.2, etot_weight=0.1))
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(
        generator_lr=2e-4, discriminator_lr=2e-4, beta_1=0.5, beta_2=0.999))
    # log, not the original's power 0.85: with power scaling a small positive background in
    # the ~15k mostly empty cells costs a huge total energy. Measured on the quick preset's
    # data (300 steps): median sampling fraction 0.96 with power 0.85, 0.05 with log
    # (real 0.022). ``transform.mode = "power"`` restores the original.
    transform: TransformConfig = field(default_factory=lambda: TransformConfig(mode="log", power=0.85))
    generator: TwoDGANGenerator = field(default_factory=TwoDGANGenerator)
    discriminator: TwoDGANDiscriminator = field(default_factory=TwoDGANDiscriminator)


@dataclass
class SAGANConfig:
    latent_dim: int = 64
    seed: int = 0
    critic_steps: int = 1
    objective: ObjectiveConfig = field(default_factory=lambda: ObjectiveConfig(name="hinge"))
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(
        generator_lr=1e-4, discriminator_lr=4e-4, beta_1=0.0, beta_2=0.9))
    transform: TransformConfig = field(default_factory=lambda: TransformConfig(mode="log"))
    generator: SAGANGenerator = field(default_factory=SAGANGenerator)
    discriminator: SAGANDiscriminator = field(default_factory=SAGANDiscriminator)


@dataclass
class CramerConfig:
    latent_dim: int = 32
    seed: int = 0
    critic_steps: int = 5
    objective: ObjectiveConfig = field(default_factory=lambda: ObjectiveConfig(name="cramer"))
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(
        generator_lr=1e-4, discriminator_lr=1e-4, beta_1=0.5, beta_2=0.9))
    transform: TransformConfig = field(default_factory=lambda: TransformConfig(mode="log"))
    generator: CramerGenerator = field(default_factory=CramerGenerator)
    discriminator: CramerCritic = field(default_factory=CramerCritic)


CONFIG_CLASSES = {"2dgan": TwoDGANConfig, "sagan": SAGANConfig, "cramer": CramerConfig}
#: The model families, in the order the CLI and errors list them.
MODEL_NAMES = tuple(CONFIG_CLASSES)

# Which detector kinds each model family supports.
MODEL_KINDS = {"2dgan": ("volume3d",), "sagan": ("image2d",),
               "cramer": ("tabular", "image2d", "volume3d")}
