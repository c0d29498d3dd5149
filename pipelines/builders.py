"""The pipeline definitions: which components run, in what order, with which parameters.

- ``ensemble``: ingest (cern-ecal) -> train GAN_0 -> (boost-weight -> train GAN_t) x (T-1),
  each GAN joining the AdaGAN mixture -> evaluate every prefix of the ensemble and every
  member -> ensemble report -> export the full ensemble.
- ``aux-regressor``: ingest (lhcb-ecal) -> train SAGAN with the shared-trunk regressor
  (multi-task or two-step, ``train.model_config.discriminator.aux_mode``) [-> train-regressor]
  -> evaluate -> export.
- ``rich``: ingest (rich-pid, sWeights as example weights) -> train Cramér GAN -> evaluate ->
  export.
"""

from __future__ import annotations

from pathlib import Path

from tfcalo.pipelines.config import PipelineConfig

from tfcalo.engine.runner import Node, Pipeline


def _components():
    # Imported lazily: components import heavier library modules.
    from tfcalo.components import boost_weight, ensemble, evaluate, export, ingest, train

    return {
        "ingest": ingest.COMPONENT,
        "train": train.COMPONENT,
        "boost-weight": boost_weight.COMPONENT,
        "ensemble": ensemble.COMPONENT,
        "evaluate": evaluate.COMPONENT,
        "export": export.COMPONENT,
    }


def ingest_node(cfg: PipelineConfig) -> Node:
    """Ingest a user file (``data.source``) or simulate ``data.simulate_n`` showers."""
    d = cfg.data
    params = {"detector": d.detector, "split": list(d.split), "seed": d.seed,
              "weights_from": d.weights_from or None}
    if d.source:
        params["src"] = Path(d.source)
    else:
        params.update(src=None, simulate_n=d.simulate_n, simulate_seed=d.seed)
    return Node("ingest", _components()["ingest"], params)


def train_params(cfg: PipelineConfig, seed_offset: int = 0) -> dict:
    t = cfg.train
    return {"model": t.model, "config": t.model_config, "epochs": t.epochs,
            "seed": t.seed + seed_offset, "strategy": t.strategy, "batch_size": t.batch_size,
            "steps_per_epoch": t.steps_per_epoch or None, "select_every": t.select_every,
            "select_n": t.select_n, "select_tolerances": t.select_tolerances}


def evaluate_node(node_id: str, model_node: tuple[str, str], cfg: PipelineConfig,
                  regressor: tuple[str, str] | None = None) -> Node:
    comps = _components()
    inputs = {"model": model_node, "data": ("ingest", "examples")}
    if regressor is not None:
        inputs["regressor"] = regressor
    return Node(node_id, comps["evaluate"], dict(cfg.evaluate), inputs)


def export_node(model_node: tuple[str, str], evaluation: tuple[str, str],
                cfg: PipelineConfig) -> Node:
    return Node("export", _components()["export"],
                {"force": cfg.export.force, "onnx": cfg.export.onnx},
                {"model": model_node, "evaluation": evaluation})


def ensemble_report_node(cfg: PipelineConfig, T: int) -> Node:
    """The AdaGAN report: every prefix's evaluation against T, the ensemble and each member
    (SF per 10 GeV bin, shower shapes, PCA) on the evaluation's test showers and seed."""
    from tfcalo.components import ensemble_report

    inputs = {"data": ("ingest", "examples")}
    for t in range(T):
        inputs.update({f"ensemble_{t}": (f"ensemble-{t}", "ensemble"),
                       f"member_{t}": (f"train-{t}", "model"),
                       f"evaluation_{t}": (f"evaluate-ensemble-{t}", "evaluation")})
    params = {"seed": int(cfg.evaluate.get("seed", 0)), "limit": cfg.evaluate.get("limit")}
    return Node("ensemble-report", ensemble_report.make_component(T), params, inputs)


def build_ensemble(cfg: PipelineConfig) -> Pipeline:
    """AdaGAN ensemble of T generators (seed 002)."""
    comps = _components()
    T = cfg.ensemble.members
    nodes = [ingest_node(cfg),
             Node("train-0", comps["train"], train_params(cfg), {"examples": ("ingest", "examples")}),
             Node("ensemble-0", comps["ensemble"], {}, {"model": ("train-0", "model")})]
    for t in range(1, T):
        nodes += [
            Node(f"boost-weight-{t}", comps["boost-weight"],
                 {"t": t, "beta": cfg.ensemble.beta, "max_iter": cfg.ensemble.mixdisc_max_iter,
                  "seed": cfg.train.seed + t, "max_examples": cfg.ensemble.max_examples},
                 {"examples": ("ingest", "examples"), "ensemble": (f"ensemble-{t - 1}", "ensemble")}),
            Node(f"train-{t}", comps["train"],
                 {**train_params(cfg, seed_offset=t), "weighting": cfg.ensemble.weighting},
                 {"examples": ("ingest", "examples"), "weights": (f"boost-weight-{t}", "weights")}),
            Node(f"ensemble-{t}", comps["ensemble"], {},
                 {"model": (f"train-{t}", "model"), "previous": (f"ensemble-{t - 1}", "ensemble"),
                  "weights": (f"boost-weight-{t}", "weights")}),
        ]
    for t in range(T):
        nodes.append(evaluate_node(f"evaluate-ensemble-{t}", (f"ensemble-{t}", "ensemble"), cfg))
    nodes.append(ensemble_report_node(cfg, T))
    nodes.append(export_node((f"ensemble-{T - 1}", "ensemble"),
                             (f"evaluate-ensemble-{T - 1}", "evaluation"), cfg))
    return Pipeline("ensemble", nodes)


def _single_model(name: str, cfg: PipelineConfig, with_regressor: bool) -> Pipeline:
    comps = _components()
    nodes = [ingest_node(cfg),
             Node("train", comps["train"], train_params(cfg), {"examples": ("ingest", "examples")})]
    regressor = None
    if with_regressor:
        from tfcalo.components import train_regressor

        r = cfg.regressor
        nodes.append(Node("train-regressor", train_regressor.COMPONENT,
                          {"epochs": r.epochs, "batch_size": r.batch_size, "limit": r.limit,
                           "config": r.config, "seed": cfg.train.seed},
                          {"examples": ("ingest", "examples")}))
        regressor = ("train-regressor", "regressor")
    nodes.append(evaluate_node("evaluate", ("train", "model"), cfg, regressor))
    nodes.append(export_node(("train", "model"), ("evaluate", "evaluation"), cfg))
    return Pipeline(name, nodes)


def build_aux_regressor(cfg: PipelineConfig) -> Pipeline:
    """SAGAN with the shared-trunk auxiliary regressor on lhcb-ecal (seeds 000, 001)."""
    return _single_model("aux-regressor", cfg, with_regressor=cfg.regressor.enabled)


def build_rich(cfg: PipelineConfig) -> Pipeline:
    """Cramér GAN trained with sWeights on rich-pid (seed 004)."""
    return _single_model("rich", cfg, with_regressor=False)


PIPELINES = {
    "ensemble": (build_ensemble, "AdaGAN ensemble of 2DGANs on cern-ecal (seed 002)"),
    "aux-regressor": (build_aux_regressor,
                      "SAGAN with a shared-trunk auxiliary regressor on lhcb-ecal (seeds 000, 001)"),
    "rich": (build_rich, "Cramér GAN trained with sWeights on rich-pid (seed 004)"),
}
