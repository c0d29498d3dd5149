"""tfcalo: GAN-based fast simulation of calorimeter showers with Keras/TensorFlow.

Train conditional generators on detailed-simulation showers (HDF5), evaluate their physics
with numbers and plots, and export TensorFlow SavedModels that production simulation loads
with TensorFlow alone.

The package is organised in wings, one per layer (lowest first): detectors/physics/metrics
-> data -> models -> training -> export -> evaluation -> engine -> components -> pipelines ->
cli; an import never points up (tests/test_layering.py).
Importing ``tfcalo`` is cheap: TensorFlow is only imported by the modules that need it.
"""

__version__ = "0.1.0"

from tfcalo.detectors import DETECTORS, Detector, get_detector  # noqa: E402
from tfcalo.errors import TfcaloError  # noqa: E402

__all__ = ["__version__", "DETECTORS", "Detector", "get_detector", "TfcaloError"]
