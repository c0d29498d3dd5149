"""Ensemble-report component: the AdaGAN ensemble and each member against real showers.

The engine's input names are static, so :func:`make_component` builds the component for an
ensemble of T generators. Inputs: ``data`` (Examples: its test split is the reference),
``ensemble_0..T-1`` (Model: the prefixes G_0..G_t of the ensemble), ``member_0..T-1`` (Model:
the trained run directories of G_t) and ``evaluation_0..T-1`` (Evaluation: the evaluate
outputs of each prefix). Output: ``report`` (Report): ensemble_report.html, metrics_vs_T.json,
ensemble_report.json and plots/ (see :mod:`tfcalo.evaluation.ensemble_report`). Parameters: ``seed``,
``limit``, ``bin_width_gev``, ``min_bin_count``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfcalo.engine.runner import Artifact, Component, log
from tfcalo.errors import ConfigError

VERSION = "1"
NAME = "ensemble-report"
PARAMETERS = {"seed": 0, "limit": None, "bin_width_gev": 10.0, "min_bin_count": 10}
#: Metrics shown by ``tfcalo pipeline runs`` at T=1 and at the final T.
SUMMARY_METRICS = ("prd_auc", "fpd", "classifier_auc_observables")


def flat_metrics(result: dict) -> dict[str, float]:
    """A few flat numbers for ``properties["metrics"]``: key metrics at T=1 and final T,
    and the sampling-fraction deviation per 10 GeV bin of the ensemble and its best member."""
    T = result["T"]
    out: dict[str, Any] = {"T": T}
    for name in SUMMARY_METRICS:
        series = result["metrics_vs_T"].get(name)
        if series:
            out[f"{name}_T1"] = series[0]
            out[f"{name}_T{T}"] = series[-1]
    sets = result["sets"]
    out["sf_bin_max_dev_ensemble"] = sets["ensemble"].get("sf_10gev_max_deviation")
    members = [v.get("sf_10gev_max_deviation") for k, v in sets.items()
               if k not in ("real", "ensemble")]
    members = [m for m in members if m is not None]
    out["sf_bin_max_dev_best_member"] = min(members) if members else None
    return {k: v for k, v in out.items() if v is not None}


def _executor_for(T: int):
    def execute(inputs: dict[str, Artifact], outputs: dict[str, Path],
                params: dict[str, Any]) -> dict[str, dict]:
        from tfcalo.evaluation.ensemble_report import ensemble_report

        limit = params.get("limit")
        result = ensemble_report(
            outputs["report"], inputs["data"].uri,
            ensembles=[inputs[f"ensemble_{t}"].uri for t in range(T)],
            members=[inputs[f"member_{t}"].uri for t in range(T)],
            evaluations=[inputs[f"evaluation_{t}"].uri for t in range(T)],
            seed=int(params["seed"]), limit=None if limit is None else int(limit),
            bin_width_gev=float(params["bin_width_gev"]),
            min_bin_count=int(params["min_bin_count"]), log=log)
        return {"report": {"T": T, "metrics_vs_T": result["metrics_vs_T"],
                           "metrics": flat_metrics(result), "html": "ensemble_report.html"}}

    return execute


def make_component(T: int) -> Component:
    """The ensemble-report component for an ensemble of ``T`` >= 1 generators."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ConfigError(f"the ensemble report needs at least one generator, got T={T!r}")
    inputs = {"data": "Examples"}
    for kind, typ in (("ensemble", "Model"), ("member", "Model"), ("evaluation", "Evaluation")):
        inputs.update({f"{kind}_{t}": typ for t in range(T)})
    return Component(name=NAME, version=VERSION, inputs=inputs, outputs={"report": "Report"},
                     parameters=dict(PARAMETERS), executor=_executor_for(T))


__all__ = ["NAME", "PARAMETERS", "VERSION", "flat_metrics", "make_component"]
