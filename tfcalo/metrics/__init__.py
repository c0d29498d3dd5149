"""tfcalo.metrics: sample-quality metrics (pure numpy/sklearn; Keras only where noted).

- PRD curve and PRD-AUC (Sajjadi et al.), the LHCb ``seed000_score``;
- Fréchet distances (FPD on observables, FRD on regressor embeddings);
- JSD and the fidelity score;
- classifier two-sample ROC AUC (observables: gradient boosting; showers: small Keras MLP);
- weighted KS and Wasserstein-1; mu90/sigma90 and per-energy-bin response.
"""

from tfcalo.metrics.classifier import (
    classifier_auc_observables,
    classifier_auc_showers,
    weighted_auc,
)
from tfcalo.metrics.distances import ks_statistic, wasserstein1
from tfcalo.metrics.divergences import jsd, jsd_fidelity
from tfcalo.metrics.frechet import (
    fpd,
    frd,
    frechet_distance,
    frechet_distance_gaussian,
    gaussian_fit,
)
from tfcalo.metrics.prd import prd_auc, prd_auc_score, prd_curve, seed000_score
from tfcalo.metrics.resolution import (
    binned_response,
    bootstrap_resolution,
    compare_response,
    mu90_sigma90,
    mu90_sigma90_rows,
)

__all__ = [
    "binned_response", "bootstrap_resolution", "classifier_auc_observables", "classifier_auc_showers", "compare_response", "fpd", "frd",
    "frechet_distance", "frechet_distance_gaussian", "gaussian_fit", "jsd", "jsd_fidelity",
    "ks_statistic", "mu90_sigma90", "mu90_sigma90_rows", "prd_auc", "prd_auc_score", "prd_curve",
    "seed000_score", "wasserstein1", "weighted_auc",
]
