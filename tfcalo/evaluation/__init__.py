"""tfcalo.evaluation: how faithful a generator is, with numbers, plots and a blessing.

- :mod:`~tfcalo.evaluation.validation`: every metric of the report (:func:`evaluate_arrays`
  on arrays), the blessing against thresholds, generation speed;
- :mod:`~tfcalo.evaluation.blessing`: sample-size-aware threshold rules;
- :mod:`~tfcalo.evaluation.perturbations`: known-bad "generators" that calibrate them;
- :mod:`~tfcalo.evaluation.plots`: plotting helpers shared by both reports;
- :mod:`~tfcalo.evaluation.report`: metrics.json, blessing.json, plots, report.html,
  TensorBoard;
- :mod:`~tfcalo.evaluation.ensemble_report`: the AdaGAN ensemble and its members;
- :mod:`~tfcalo.evaluation.run`: :func:`evaluate_to_dir`, a model on a dataset's test split
  into an evaluation directory (``tfcalo evaluate`` and the evaluate component).

Importing this package does not import TensorFlow or matplotlib.
"""

from tfcalo.evaluation.run import evaluate_to_dir
from tfcalo.evaluation.validation import (
    DEFAULT_THRESHOLDS,
    METRIC_OPS,
    EvaluateConfig,
    EvaluationResult,
    SpeedConfig,
    bless,
    evaluate_arrays,
    load_config,
    measure_speed,
)

__all__ = [
    "DEFAULT_THRESHOLDS", "METRIC_OPS", "EvaluateConfig", "EvaluationResult", "SpeedConfig",
    "bless", "evaluate_arrays", "evaluate_to_dir", "load_config", "measure_speed",
]
