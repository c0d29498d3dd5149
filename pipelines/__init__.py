"""Pipeline definitions and presets (installed as ``tfcalo.pipelines``).

    >>> from tfcalo.pipelines import run            # doctest: +SKIP
    >>> summary = run("ensemble", preset="quick", root="tfcalo-runs")

Presets live in ``presets/<pipeline>.<preset>.toml``: ``quick`` (minutes on a 2-core CPU)
and ``full`` (the physics-quality run, GPU-sized).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tfcalo.pipelines.config import PRESETS, PipelineConfig, presets_of, resolve_config

from tfcalo.errors import ConfigError, unknown_name

DEFAULT_ROOT = "tfcalo-runs"


def names() -> dict[str, str]:
    """Pipeline names and one-line descriptions."""
    from tfcalo.pipelines.builders import PIPELINES

    return {name: desc for name, (_, desc) in PIPELINES.items()}


def build(name: str, cfg: PipelineConfig):
    """The :class:`tfcalo.engine.runner.Pipeline` of pipeline ``name`` for a resolved config."""
    from tfcalo.pipelines.builders import PIPELINES

    if name not in PIPELINES:
        raise unknown_name("pipeline", name, PIPELINES)
    return PIPELINES[name][0](cfg)


@dataclass
class RunSummary:
    """Where a finished run put its results."""

    run_id: str
    pipeline: str
    root: Path
    model: Path
    evaluation: Path
    report: Path
    tensorboard: list[Path]
    saved_model: Path
    metrics: dict
    blessed: bool
    cached: list[str]
    extra_reports: list[Path] = field(default_factory=list)


def run(name: str, preset: str = "quick", config_file: str | Path | None = None,
        overrides: tuple[str, ...] | list[str] = (), data: str | Path | None = None,
        root: str | Path = DEFAULT_ROOT, no_cache: bool = False,
        progress: Callable[[str], None] | None = None) -> RunSummary:
    """Resolve the config, build the pipeline and run it under ``root/name``."""
    from tfcalo.engine.runner import run_pipeline

    if name not in names():
        raise unknown_name("pipeline", name, names())
    cfg = resolve_config(name, preset, config_file, overrides, data)
    from tfcalo.training.run import resolve_config as resolve_model_config

    # a bad train.model_config fails now, in one sentence, not after ingest has run
    try:
        resolve_model_config(cfg.train.model, cfg.data.detector, cfg.train.model_config)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("config key '", "config key 'train.model_config.",
                                           1)) from None
    pipe = build(name, cfg)
    pipe_root = Path(root).resolve() / name
    result = run_pipeline(pipe, pipe_root, no_cache=no_cache, progress=progress)
    export = result.output("export", "saved_model")
    model_node = next(n.inputs["model"] for n in pipe.nodes if n.id == "export")
    eval_node = next(n.inputs["evaluation"] for n in pipe.nodes if n.id == "export")
    model = result.output(*model_node)
    evaluation = result.output(*eval_node)
    tensorboard = sorted({Path(a.uri) / "tensorboard" for n in result.nodes.values()
                          for a in n.outputs.values() if (Path(a.uri) / "tensorboard").is_dir()})
    extra_reports = sorted({Path(a.uri) / "ensemble_report.html" for n in result.nodes.values()
                            for a in n.outputs.values()
                            if (Path(a.uri) / "ensemble_report.html").is_file()})
    return RunSummary(
        run_id=result.run_id, pipeline=name, root=pipe_root, model=Path(model.uri),
        evaluation=Path(evaluation.uri), report=Path(evaluation.uri) / "report.html",
        tensorboard=tensorboard, saved_model=Path(export.uri),
        metrics=evaluation.properties.get("metrics", {}),
        blessed=bool(evaluation.properties.get("blessed")),
        cached=[k for k, v in result.nodes.items() if v.status == "cached"],
        extra_reports=extra_reports,
    )


__all__ = ["DEFAULT_ROOT", "PRESETS", "RunSummary", "build", "names", "presets_of", "run"]
