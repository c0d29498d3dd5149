"""Config -> ready-to-compile GAN: the builder of tfcalo's models (networks + objective).

The networks live in :mod:`tfcalo.models` (which never imports training); this module
validates a model config and assembles them with an objective into a
:class:`tfcalo.training.gan.ConditionalGAN`.

Public API:

- ``MODEL_NAMES = ("2dgan", "sagan", "cramer")``
- ``default_config(name, detector) -> dict``: the full nested config with every key.
- ``resolve_config(name, detector, config) -> dataclass``: ``config`` merged over the
  defaults and validated (unknown keys raise ConfigError naming the nearest key).
- ``build(name, detector, config, stats) -> ConditionalGAN``: validate ``config``, build
  generator, critic and objective. ``stats`` is the dataset's stats.json (missing keys get
  defaults: condition ranges of the detector, ``sf_slope`` 1, ``cell_max`` 1). Call it inside
  ``strategy.scope()`` for distributed training. Initial weights are reproducible from
  ``config["seed"]``; the caller's global random state is left as it was.
- ``load_generator(run_dir) -> keras.Model``: rebuild a trained generator from run.json
  (``model``, ``detector``, ``config``, optional ``stats``; read by
  :func:`tfcalo.training.run_record.read_run`) and ``generator.weights.h5``.

These lived in ``tfcalo.models`` before the library was organised in wings; import them
from here (``from tfcalo.training.build import build, load_generator``).

Importing this module does not import TensorFlow; ``build`` and ``load_generator`` do.
"""

from __future__ import annotations

from pathlib import Path

from tfcalo.config import deep_merge, from_dict, to_dict
from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ArtifactError, ConfigError, nearest, unknown_name
from tfcalo.models.configs import (
    CONFIG_CLASSES,
    LAYER_MODELS,
    MODEL_KINDS,
    MODEL_NAMES,
    MOMENT_BALANCES,
    UPSAMPLING,
)
from tfcalo.training.run_record import GENERATOR_WEIGHTS, read_run

_CHOICES = {"objective.name": ("bce", "hinge", "wgan-gp", "cramer"),
            "transform.mode": ("log", "power", "linear"),
            "generator.conditioning": ("multiply", "concat"),
            "discriminator.aux_mode": ("multi-task", "two-step"),
            "generator.upsampling": UPSAMPLING, "generator.layer_model": LAYER_MODELS,
            "objective.moment_balance": MOMENT_BALANCES}


def _check_model(name: str, detector: Detector) -> None:
    if name not in CONFIG_CLASSES:
        raise unknown_name("model", name, MODEL_NAMES)
    if detector.kind not in MODEL_KINDS[name]:
        valid = [m for m in MODEL_NAMES if detector.kind in MODEL_KINDS[m]]
        raise ConfigError(f"model '{name}' does not support detector '{detector.name}' "
                          f"(models for it: {', '.join(valid)})")


def default_config(name: str, detector: str | Detector) -> dict:
    """Full default config (nested dict) of model ``name`` for ``detector``.

    Sizes are CPU-friendly (the ``quick`` presets); raise ``filters``/``hidden`` for the
    published sizes.
    """
    det = get_detector(detector)
    _check_model(name, det)
    cfg = to_dict(CONFIG_CLASSES[name]())
    if name == "cramer" and det.kind == "tabular":
        cfg["transform"]["mode"] = "linear"
    if name == "cramer" and det.kind == "volume3d":
        cfg["transform"].update(mode="power", power=0.85)
    return cfg


def resolve_config(name: str, detector: str | Detector, config: dict | None):
    """Merge ``config`` over the defaults and validate it into the model's dataclass."""
    det = get_detector(detector)
    merged = deep_merge(default_config(name, det), config or {})
    cfg = from_dict(CONFIG_CLASSES[name], merged)
    for key, choices in _CHOICES.items():
        section, field = key.split(".")
        value = getattr(getattr(cfg, section), field, None)
        if value is not None and value not in choices:
            raise ConfigError(f"config key '{key}' must be one of {', '.join(choices)}, got "
                              f"{value!r} (did you mean '{nearest(str(value), choices)}'?)")
    if cfg.latent_dim < 1 or cfg.critic_steps < 1:
        raise ConfigError("config keys 'latent_dim' and 'critic_steps' must be at least 1")
    if not 0.0 <= cfg.optimizer.generator_ema < 1.0:
        raise ConfigError(f"config key 'optimizer.generator_ema' must be in [0, 1), got "
                          f"{cfg.optimizer.generator_ema}")
    oc = cfg.optimizer
    if not (0.0 <= oc.lr_decay_from <= 1.0 and 0.0 < oc.lr_final <= 1.0):
        raise ConfigError(f"config keys 'optimizer.lr_decay_from' (the fraction of the epochs "
                          f"where the decay starts) must be in [0, 1] and 'optimizer.lr_final' "
                          f"(the last epoch's factor) in (0, 1], got {oc.lr_decay_from} and "
                          f"{oc.lr_final}")
    if cfg.objective.moment_weight < 0 or (cfg.objective.moment_weight > 0
                                           and det.kind == "tabular"):
        raise ConfigError(f"config key 'objective.moment_weight' must be >= 0 and needs a "
                          f"calorimeter (showers with profiles), not {det.name} with "
                          f"{cfg.objective.moment_weight}")
    return cfg


def _networks(name: str, det: Detector, cfg, stats: dict, out_dim: int):
    from tfcalo.models.layers import condition_norm_args, shower_transform_args

    common = {"condition_norm": condition_norm_args(det, stats),
              "shower_transform": shower_transform_args(det, stats, to_dict(cfg.transform))}
    g, d = to_dict(cfg.generator), to_dict(cfg.discriminator)
    if name == "2dgan":
        from tfcalo.models.twod_gan import TwoDGANDiscriminator, TwoDGANGenerator

        if g["layer_model"] == "smooth" and (g["output"] != "shape_energy"
                                             or g["layer_degree"] < 1):
            raise ConfigError("config key 'generator.layer_model = \"smooth\"' needs "
                              "'generator.output = \"shape_energy\"' and "
                              "'generator.layer_degree' >= 1")
        ep_ref = float(stats.get("ep_ref", 100.0)) if stats else 100.0
        _energy_reference(g, d, stats, cfg.objective.name)
        return (TwoDGANGenerator(det.name, cfg.latent_dim, ep_ref=ep_ref, **g, **common),
                TwoDGANDiscriminator(det.name, out_dim, ep_ref=ep_ref, **d, **common))
    if name == "sagan":
        from tfcalo.models.sagan import SAGANDiscriminator, SAGANGenerator

        n_aux = len(d.pop("aux_targets"))
        for key in ("aux_mode", "aux_weight", "aux_scales", "aux_clip", "aux_pretrain_steps"):
            d.pop(key)
        _energy_reference(g, d, stats, cfg.objective.name)
        return (SAGANGenerator(det.name, cfg.latent_dim, **g, **common),
                SAGANDiscriminator(det.name, out_dim, n_aux=n_aux, **d, **common))
    # cramer
    d.pop("critic_dim")
    if det.kind == "tabular":
        from tfcalo.models.tabular import MLPCritic, MLPGenerator

        return (MLPGenerator(det.name, cfg.latent_dim, hidden=g["hidden"], **common),
                MLPCritic(det.name, out_dim, hidden=d["hidden"], **common))
    from tfcalo.models.cramer import ConvCritic

    critic = ConvCritic(det.name, out_dim, filters=d["filters"], hidden=d["hidden"][:1], **common)
    if det.kind == "image2d":
        from tfcalo.models.sagan import SAGANGenerator

        gen = SAGANGenerator(det.name, cfg.latent_dim, filters=g["filters"], attention=False,
                             sync_batchnorm=g["sync_batchnorm"], **common)
    else:
        from tfcalo.models.twod_gan import TwoDGANGenerator

        gen = TwoDGANGenerator(det.name, cfg.latent_dim, filters=g["filters"],
                               conditioning="concat", sync_batchnorm=g["sync_batchnorm"], **common)
    return gen, critic


def _energy_reference(g: dict, d: dict, stats: dict, objective: str) -> None:
    """Check ``generator.output`` and ``discriminator.energy_critic`` and give an
    energy-factorised generator and an energy-aware critic their common ``sf_ref`` (config,
    else the data's median sampling fraction)."""
    from tfcalo.models.layers import ENERGY_HEADS, SHAPE_PRIORS
    from tfcalo.models.layers import GENERATOR_OUTPUTS as outputs

    if g["output"] not in outputs:
        raise ConfigError(f"config key 'generator.output' must be one of {', '.join(outputs)}, "
                          f"not {g['output']!r}")
    if g["energy_head"] not in ENERGY_HEADS:
        raise ConfigError(f"config key 'generator.energy_head' must be one of "
                          f"{', '.join(ENERGY_HEADS)}, not {g['energy_head']!r}")
    if d.get("shape_only") and not d["energy_critic"]:
        raise ConfigError("config key 'discriminator.shape_only' needs "
                          "'discriminator.energy_critic = true'")
    if d.get("profile_critic") and objective not in ("hinge", "bce"):
        raise ConfigError("config key 'discriminator.profile_critic' needs 'objective.name' "
                          f"hinge or bce (not {objective!r})")
    if d["energy_critic"] and not (d["energy_input"] and objective in ("hinge", "bce")):
        raise ConfigError("config key 'discriminator.energy_critic' needs "
                          "'discriminator.energy_input = true' and 'objective.name' hinge or "
                          f"bce (not {objective!r})")
    if g["output"] == "shape_energy" or d["energy_input"]:
        g["sf_ref"] = d["sf_ref"] = g["sf_ref"] or reference_sampling_fraction(stats)
    reference = g.pop("sf_reference")
    if reference not in ("median", "curve"):
        raise ConfigError("config key 'generator.sf_reference' must be one of median, curve, "
                          f"not {reference!r}")
    if reference == "curve":
        curve = (stats or {}).get("sampling_fraction_curve")
        if not curve or len(curve.get("log_energy_gev", [])) < 2 or "sf_mean" not in curve:
            raise ConfigError("config key 'generator.sf_reference = \"curve\"' needs a dataset "
                              "whose stats.json records sampling_fraction_curve (re-ingest it)")
        g["sf_curve"] = d["sf_curve"] = [list(curve["log_energy_gev"]), list(curve["sf_mean"]),
                                         list(curve["log_sf_spread"])]
    prior = g.pop("shape_prior")
    if prior not in SHAPE_PRIORS:
        raise ConfigError(f"config key 'generator.shape_prior' must be one of "
                          f"{', '.join(SHAPE_PRIORS)}, not {prior!r}")
    if prior in ("profiles", "energy_profiles"):
        profiles = (stats or {}).get("mean_profiles")
        needs = "mean_profiles"
        if prior == "energy_profiles":
            curve = (stats or {}).get("layer_profile_curve")
            needs = "mean_profiles and layer_profile_curve"
            if not curve:
                profiles = None
        if g["output"] != "shape_energy" or not profiles:
            raise ConfigError(f"config key 'generator.shape_prior = \"{prior}\"' needs "
                              "'generator.output = \"shape_energy\"' and a dataset whose "
                              f"stats.json records {needs} (re-ingest it)")
        g["shape_profiles"] = [list(p) for p in profiles]
        if prior == "energy_profiles":
            g["layer_curve"] = [list(curve["log_energy_gev"]),
                                [list(p) for p in curve["profiles"]]]


def reference_sampling_fraction(stats: dict) -> float:
    """The training data's median sampling fraction (stats.json ``observables``), the
    ``sf_ref`` of energy-factorised generators and critics."""
    try:
        value = float(stats["observables"]["sampling_fraction"]["median"])
    except (KeyError, TypeError, ValueError):
        value = 0.0
    if not value > 0:
        raise ConfigError("config keys 'generator.output = \"shape_energy\"' and "
                          "'discriminator.energy_input' need 'generator.sf_ref' or a dataset "
                          "whose stats.json records the sampling fraction (re-ingest it)")
    return value


def build(name: str, detector: str | Detector, config: dict | None = None,
          stats: dict | None = None):
    """Build a ConditionalGAN (not yet compiled) of model ``name`` for ``detector``.

    Args:
        name: one of MODEL_NAMES.
        detector: detector name or spec.
        config: nested dict overriding :func:`default_config` (unknown keys are errors).
        stats: the dataset's stats.json dict (missing keys get defaults).
    Returns:
        tfcalo.training.gan.ConditionalGAN; call ``.compile()`` then ``.fit(dataset)``.
    """
    from tfcalo.models.seeding import seeded_initialisation

    det = get_detector(detector)
    _check_model(name, det)
    cfg = resolve_config(name, det, config)
    stats = dict(stats or {})
    with seeded_initialisation(cfg.seed):
        return _assemble(name, det, cfg, stats)


def _assemble(name: str, det: Detector, cfg, stats: dict):
    """The ConditionalGAN of a validated config (call inside ``seeded_initialisation``)."""
    from tfcalo.training.gan import ConditionalGAN
    from tfcalo.training.objectives import make_objective

    obj_cfg = to_dict(cfg.objective)
    critic_dim = getattr(cfg.discriminator, "critic_dim", 32)
    objective = make_objective(obj_cfg.pop("name"), critic_dim=critic_dim,
                               sf_slope=float(stats.get("sf_slope", 1.0)), **obj_cfg)
    generator, critic = _networks(name, det, cfg, stats, objective.critic_out_dim)
    aux = None
    if name == "sagan" and cfg.discriminator.aux_targets:
        aux = aux_config(det, cfg.discriminator, stats)
    return ConditionalGAN(generator, critic, objective, critic_steps=cfg.critic_steps,
                          optimizer=to_dict(cfg.optimizer), aux=aux, seed=cfg.seed,
                          model_name=name, config=to_dict(cfg))


def aux_config(detector: str | Detector, disc, stats: dict | None) -> dict:
    """The ConditionalGAN ``aux`` dict of a SAGAN critic config: targets, their robust
    centres and scales, clip, mode and weight.

    Centres and scales are the training data's median and IQR / 1.349 per target
    (``stats["observables"]``, written at ingest); ``disc.aux_scales``, when given, overrides
    the scales. A target missing from ``stats`` (a dataset ingested before these statistics
    were recorded; ``tfcalo.training.run`` fills them in from a sample of the training split)
    gets centre 0 and scale 1 and is listed under ``unstandardised`` (``ConditionalGAN.compile``
    warns: training needs the statistics, loading a generator does not).

    Args:
        detector: detector name or spec.
        disc: the validated ``discriminator`` section (aux_targets, aux_scales, aux_clip,
            aux_mode, aux_weight).
        stats: the dataset's stats.json dict.
    """
    from tfcalo.physics import observable_names

    det = get_detector(detector)
    names = list(disc.aux_targets)
    valid = observable_names(det)
    for n in names:
        if n not in valid:
            raise ConfigError(f"config key 'discriminator.aux_targets' has unknown observable "
                              f"'{n}'; did you mean '{nearest(n, valid)}'?")
    robust = (stats or {}).get("observables") or {}
    missing = [n for n in names if n not in robust]
    scales = list(disc.aux_scales) or [float(robust[n]["scale"]) if n in robust else 1.0
                                       for n in names]
    if len(scales) != len(names):
        raise ConfigError("config key 'discriminator.aux_scales' must have one value per "
                          f"entry of 'discriminator.aux_targets' ({len(names)})")
    if any(not v > 0 for v in scales) or not disc.aux_clip > 0:
        raise ConfigError("config keys 'discriminator.aux_scales' and 'discriminator.aux_clip' "
                          "must be positive")
    centres = [float(robust[n]["median"]) if n in robust else 0.0 for n in names]
    return {"targets": names, "centres": centres, "scales": [float(v) for v in scales],
            "clip": float(disc.aux_clip), "mode": disc.aux_mode, "weight": disc.aux_weight,
            "unstandardised": missing}


def load_generator(run_dir: str | Path):
    """Rebuild the trained generator of a run directory (run.json + generator.weights.h5).

    Raises:
        ArtifactError: no run.json or generator weights, or a run.json that is not a run
            record (needs ``model`` and ``detector``).
    """
    run_dir = Path(run_dir)
    meta = read_run(run_dir, required=("model", "detector"))
    weights = run_dir / GENERATOR_WEIGHTS
    if not weights.is_file():
        raise ArtifactError(f"run directory {run_dir} has no {weights.name}")
    gan = build(meta["model"], meta["detector"], meta.get("config") or {},
                meta.get("stats") or {})
    gan.generator.load_weights(str(weights))
    return gan.generator


__all__ = ["MODEL_NAMES", "aux_config", "build", "default_config", "load_generator",
           "resolve_config"]
