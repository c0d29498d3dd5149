"""Reproducible weight initialisation without touching the caller's random state."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np


@contextlib.contextmanager
def seeded_initialisation(seed: int) -> Iterator[None]:
    """Seed Keras (and the Python, NumPy and TensorFlow global RNGs it draws from) with
    ``seed`` inside the block, and restore all of them afterwards.

    Networks built inside the block get the same initial weights for the same seed; the
    caller's own ``random``/``numpy.random``/``tf.random`` sequences continue as if the block
    had not run (building a model is not a reason to reseed a user's program).
    """
    import keras
    import tensorflow as tf
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils
    from tensorflow.python.eager import context

    saved_python, saved_numpy = random.getstate(), np.random.get_state()
    saved_keras = {key: global_state.get_global_attribute(key) for key in
                   (rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR)}
    saved_tf = context.global_seed()
    keras.utils.set_random_seed(int(seed))
    try:
        yield
    finally:
        random.setstate(saved_python)
        np.random.set_state(saved_numpy)
        for key, value in saved_keras.items():
            global_state.set_global_attribute(key, value)
        tf.random.set_seed(saved_tf)
