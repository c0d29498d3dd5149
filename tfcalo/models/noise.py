"""The latent noise of a seed: one definition shared by every seeded generation path.

``ConditionalGAN.generate``, :class:`tfcalo.sampling.Sampler` (over a run directory, an
in-memory generator or a SavedModel) and the exported SavedModel's ``generate(conditions,
seed)`` signature all draw their noise with :func:`latent_noise`, so the same seed and
conditions give the same showers along all three (to float rounding).

The rule: for a seed, the noise is an endless stream of standard-normal rows of length
``latent_dim``. Row ``i`` of the stream is row ``i % NOISE_CHUNK`` of

    tf.random.stateless_normal((NOISE_CHUNK, latent_dim), seed=[seed, i // NOISE_CHUNK])

Shower ``i`` of a request of N showers gets row ``i``, however the N showers are split into
generator calls (batch size, chunking into files): results do not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

#: Rows per stateless draw of the noise stream. It is part of the definition (changing it
#: changes every seeded shower); 128 keeps a one-shower call cheap (one draw of 128 rows).
NOISE_CHUNK = 128


def _chunk(seed, k, latent_dim: int) -> tf.Tensor:
    """Chunk k of the stream: rows [k * NOISE_CHUNK, (k + 1) * NOISE_CHUNK), float32
    (NOISE_CHUNK, latent_dim)."""
    if isinstance(seed, int | np.integer) and isinstance(k, int | np.integer):
        key = tf.constant([int(seed), int(k)], tf.int64)  # one eager op instead of three
    else:
        key = tf.stack([tf.cast(seed, tf.int64), tf.cast(k, tf.int64)])
    return tf.random.stateless_normal((NOISE_CHUNK, latent_dim), seed=key)


def latent_noise(seed, n, latent_dim: int, start=0) -> tf.Tensor:
    """Rows ``[start, start + n)`` of the noise stream of ``seed`` (see the module docstring).

    Works eagerly and inside a tf.function / SavedModel: with Python ints for ``n`` and
    ``start`` the chunks are drawn in a Python loop (fast in eager mode), with tensors in a
    ``tf.map_fn``; both draw whole chunks and slice, so they give identical rows.

    Args:
        seed: int >= 0 (Python int or int32/int64 scalar tensor).
        n: number of rows N >= 0 (Python int or integer scalar tensor).
        latent_dim: length of a row (Python int).
        start: index of the first row (Python int or integer scalar tensor).

    Returns:
        float32 tensor (N, latent_dim), standard normal.

    Example:
        >>> a = latent_noise(7, 5, 4)
        >>> b = latent_noise(7, 3, 4, start=2)      # rows 2, 3, 4 of the same stream
        >>> bool(tf.reduce_all(a[2:] == b))
        True
    """
    latent_dim = int(latent_dim)
    if isinstance(n, int | np.integer) and isinstance(start, int | np.integer):
        n, start = int(n), int(start)
        first, stop = start // NOISE_CHUNK, -(-(start + n) // NOISE_CHUNK)
        blocks = [_chunk(seed, k, latent_dim) for k in range(first, stop)]
        if not blocks:
            return tf.zeros((0, latent_dim), tf.float32)
        rows = tf.concat(blocks, 0) if len(blocks) > 1 else blocks[0]
    else:
        n, start = tf.cast(n, tf.int64), tf.cast(start, tf.int64)
        first = start // NOISE_CHUNK
        stop = (start + n + NOISE_CHUNK - 1) // NOISE_CHUNK
        blocks = tf.map_fn(lambda k: _chunk(seed, k, latent_dim),
                           tf.range(first, stop, dtype=tf.int64),
                           fn_output_signature=tf.TensorSpec((NOISE_CHUNK, latent_dim), tf.float32))
        rows = tf.reshape(blocks, (-1, latent_dim))
    offset = start - first * NOISE_CHUNK
    return rows[offset:offset + n]


def noise_batches(n: int, seed: int, latent_dim: int,
                  batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, noise)`` for consecutive generator calls covering N showers.

    ``noise`` is float32 (min(batch_size, N - start), latent_dim): rows ``[start, start +
    len(noise))`` of the stream of ``seed``, so that the concatenated noise is
    ``latent_noise(seed, n, latent_dim)`` whatever ``batch_size`` is.

    Raises:
        ValueError: ``batch_size`` < 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; Received: {batch_size}")
    for start in range(0, int(n), int(batch_size)):
        rows = min(int(batch_size), int(n) - start)
        yield start, latent_noise(seed, rows, latent_dim, start=start).numpy()
