"""tfcalo.models: the networks (generators, critics, regressor) and their configs.

- :mod:`~tfcalo.models.layers`: the generator and critic contracts (``GeneratorBase``,
  ``CriticBase``), condition normalisation and shower transforms as Keras layers;
- :mod:`~tfcalo.models.twod_gan`, :mod:`~tfcalo.models.sagan`, :mod:`~tfcalo.models.cramer`,
  :mod:`~tfcalo.models.tabular`: the model families' networks;
- :mod:`~tfcalo.models.regressor`: the energy regressor (FRD embedding, two-step SAGAN);
- :mod:`~tfcalo.models.configs`: the config dataclasses (``MODEL_NAMES``,
  ``CONFIG_CLASSES``), TensorFlow-free;
- :mod:`~tfcalo.models.noise`, :mod:`~tfcalo.models.seeding`: latent noise and seeded
  weight initialisation.

Networks never import training. The config -> GAN builder (``build``, ``load_generator``,
``default_config``, ``resolve_config``) is :mod:`tfcalo.training.build`.

Importing this package does not import TensorFlow.
"""

from tfcalo.models.configs import MODEL_NAMES

__all__ = ["MODEL_NAMES"]
