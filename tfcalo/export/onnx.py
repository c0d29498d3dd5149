"""ONNX: convert an exported SavedModel's ``generate_from_noise`` with tf2onnx and check the
result with onnxruntime (``tfcalo export --onnx``; needs the ``onnx`` extra).

:func:`convert_onnx` runs tf2onnx's command line in a child process with two op handlers
added: Expm1 and Log1p (used by the shower transforms) have no ONNX operator, so they become
``Exp - 1`` and ``Log(1 + x)``. :func:`verify_onnx` runs the converted model on the fixed
verification inputs (:func:`tfcalo.export.savedmodel.verification_inputs`) and compares it
with the in-memory generator.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfcalo.detectors import Detector
from tfcalo.export.savedmodel import VerificationError, verification_inputs

ONNX_FILE = "model.onnx"
ONNX_OPSET = 17


# tf2onnx's command line, plus handlers for the two TensorFlow ops of the shower transforms
# that have no ONNX operator (tf2onnx would copy them into an invalid model): Expm1 becomes
# Exp - 1 (absolute error about 1e-7 of the energy scale; the transforms apply it to
# relu(t) >= 0) and Log1p becomes Log(1 + x).
_ONNX_CONVERT = r"""
import sys
import numpy as np
from tf2onnx import utils
from tf2onnx.handler import tf_op


def _one(ctx, name):
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(name))
    return ctx.make_const(utils.make_name("one"), np.array(1, dtype)).output[0]


@tf_op("Expm1")
class Expm1:
    @classmethod
    def version_1(cls, ctx, node, **kwargs):
        node.type = "Exp"
        sub = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(node.name),
                                            inputs=[node.output[0], _one(ctx, node.input[0])])
        ctx.copy_shape(node.output[0], sub.output[0])
        ctx.set_dtype(sub.output[0], ctx.get_dtype(node.output[0]))


@tf_op("Log1p")
class Log1p:
    @classmethod
    def version_1(cls, ctx, node, **kwargs):
        x = node.input[0]
        add = ctx.make_node("Add", [x, _one(ctx, x)], name=utils.make_name(node.name))
        ctx.copy_shape(x, add.output[0])
        ctx.set_dtype(add.output[0], ctx.get_dtype(x))
        ctx.replace_input(node, x, add.output[0], 0)
        node.type = "Log"


from tf2onnx.convert import main

sys.argv[0] = "tf2onnx.convert"
main()
"""


def convert_onnx(saved: str | Path, output: str | Path, opset: int = ONNX_OPSET) -> None:
    """Convert the ``generate_from_noise`` signature with tf2onnx (``tf2onnx.convert``'s
    command line, with handlers for Expm1 and Log1p, which ONNX lacks)."""
    cmd = [sys.executable, "-c", _ONNX_CONVERT, "--saved-model", str(saved),
           "--signature_def", "generate_from_noise", "--opset", str(opset),
           "--output", str(output)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not Path(output).is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise VerificationError(f"tf2onnx could not convert the export ({last[:300]})")


def verify_onnx(generator: Any, detector: Detector, onnx_path: str | Path, *, n: int = 8,
                atol: float = 1e-4, rtol: float = 1e-5,
                ranges: Sequence[Sequence[float]] | None = None) -> dict:
    """Run ``onnx_path`` with onnxruntime on fixed noise and compare with the generator."""
    import onnxruntime as ort

    latent_dim = int(generator.latent_dim)
    noise, cond = verification_inputs(detector, latent_dim, n, ranges=ranges)
    expected = np.asarray(generator([noise, cond], training=False))
    try:
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise VerificationError(
            f"onnxruntime cannot load the converted model ({str(exc).splitlines()[0][:300]})"
        ) from None
    feeds = {}
    for inp in session.get_inputs():
        feeds[inp.name] = noise if "noise" in inp.name else cond
    got = session.run(None, feeds)[0]
    scale = float(np.max(np.abs(expected)))
    tolerance = atol + rtol * scale
    max_diff = float(np.max(np.abs(got - expected)))
    if got.shape != expected.shape or not max_diff <= tolerance:
        raise VerificationError(
            f"ONNX model differs from the generator by {max_diff:.3g} (tolerance "
            f"{tolerance:.3g}, shape {got.shape} vs {expected.shape})")
    return {"file": Path(onnx_path).name, "opset": ONNX_OPSET,
            "signature": "generate_from_noise", "inputs": sorted(feeds),
            "max_abs_diff": max_diff, "tolerance": tolerance, "onnxruntime": ort.__version__}
