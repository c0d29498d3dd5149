"""tfcalo.training: ConditionalGAN (gan.py), objectives (objectives.py), strategies
(strategy.py). Submodules import TensorFlow; this package file does not.

- ``tfcalo.training.gan.ConditionalGAN``: ``compile()``, ``fit(dataset of (showers,
  conditions, weights[, targets]))``, ``generate(conditions, seed)``,
  ``pretrain_regressor(dataset, steps)``, ``freeze_regressor(bool)``, ``noise_hook``.
- ``tfcalo.training.gan.with_regression_targets(dataset, detector, names)``.
- ``tfcalo.training.objectives.make_objective(name, ...)`` (bce, hinge, wgan-gp, cramer),
  ``global_weight_sum``, ``weighted_share``.
- ``tfcalo.training.strategy.get_strategy(kind)`` (auto, default, mirrored, multi-worker).
"""
