"""Distribution strategies: one code path from a laptop to multi-GPU and multi-node.

``get_strategy("auto")`` returns MultiWorkerMirroredStrategy when TF_CONFIG describes more
than one worker, MirroredStrategy when more than one GPU is visible, else the default
strategy. Build the GAN (``tfcalo.training.build.build``) and ``compile`` it inside
``strategy.scope()``; ``fit`` then splits every global batch across the replicas.
"""

from __future__ import annotations

import json
import os

from tfcalo.errors import ConfigError, nearest

STRATEGY_KINDS = ("auto", "default", "mirrored", "multi-worker")


def _tf_config_workers() -> int:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return 0
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError("environment variable TF_CONFIG is not valid JSON") from None
    cluster = cfg.get("cluster", {}) if isinstance(cfg, dict) else {}
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def get_strategy(kind: str = "auto"):
    """Return a ``tf.distribute.Strategy`` of the given kind.

    Args:
        kind: ``auto`` (multi-worker if TF_CONFIG has >1 worker, mirrored if >1 GPU, else
            default), ``default``, ``mirrored`` (all local GPUs, or all logical CPUs if no
            GPU) or ``multi-worker`` (requires TF_CONFIG).
    Raises:
        ConfigError: unknown kind, or multi-worker without TF_CONFIG.
    """
    if kind not in STRATEGY_KINDS:
        raise ConfigError(f"unknown strategy '{kind}'; did you mean '{nearest(kind, STRATEGY_KINDS)}'? "
                          f"(valid: {', '.join(STRATEGY_KINDS)})")
    import tensorflow as tf

    if kind == "auto":
        if _tf_config_workers() > 1:
            kind = "multi-worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if _tf_config_workers() < 1:
        raise ConfigError("strategy 'multi-worker' needs the TF_CONFIG environment variable "
                          "with a cluster of workers")
    return tf.distribute.MultiWorkerMirroredStrategy()
