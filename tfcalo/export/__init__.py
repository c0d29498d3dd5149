"""tfcalo.export: ship a trained generator and draw showers from it.

- :mod:`~tfcalo.export.sampling`: :class:`Sampler` over a run directory, a SavedModel or a
  pretrained model (:func:`load_sampler`), conditions input, chunked generation to a file;
- :mod:`~tfcalo.export.savedmodel`: the SavedModel export (signatures ``generate`` and
  ``generate_from_noise``), the model card, the blessing check and the fresh-process
  verification (:func:`export_generator`, :func:`export_run` for a run directory);
- :mod:`~tfcalo.export.onnx`: tf2onnx conversion and its onnxruntime check;
- :mod:`~tfcalo.export.integrity`: the content hash of an export (:func:`verify_export_hash`).

The pretrained models shipped as package data live in ``tfcalo/pretrained/<name>/``.
Importing this package does not import TensorFlow.
"""

from tfcalo.export.integrity import verify_export_hash
from tfcalo.export.sampling import Sampler, load_sampler
from tfcalo.export.savedmodel import (
    export_generator,
    export_run,
    verification_inputs,
    write_saved_model,
)

__all__ = ["Sampler", "export_generator", "export_run", "load_sampler", "verification_inputs",
           "verify_export_hash", "write_saved_model"]
