"""Pipeline configuration: presets (TOML) + user file + ``--set`` overrides -> dataclasses.

A pipeline config has sections ``data``, ``train``, ``regressor``, ``ensemble``,
``evaluate`` and ``export``. ``train.model_config`` and ``evaluate`` are passed through to
the model builder and the evaluate component, which validate their own keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tfcalo.config import apply_overrides, deep_merge, from_dict, load_toml
from tfcalo.errors import unknown_name

PRESETS = ("quick", "full", "g4")


def presets_of(pipeline: str) -> list[str]:
    """The presets of one pipeline (files ``presets/<pipeline>.<preset>.toml``), in
    :data:`PRESETS` order."""
    folder = resources.files("tfcalo.pipelines").joinpath("presets")
    return [p for p in PRESETS if folder.joinpath(f"{pipeline}.{p}.toml").is_file()]


@dataclass
class DataSection:
    """Where the showers come from: a file (``source``) or the built-in simulator."""

    detector: str = "cern-ecal"
    source: str = ""
    simulate_n: int = 3000
    seed: int = 1
    split: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    weights_from: str = ""


@dataclass
class TrainSection:
    """GAN training parameters (see ``tfcalo train --help``)."""

    model: str = "2dgan"
    epochs: int = 2
    batch_size: int = 64
    steps_per_epoch: int = 0
    strategy: str = "auto"
    seed: int = 0
    model_config: dict = field(default_factory=dict)
    # model selection by physics: score every N epochs on select_n validation showers and
    # keep the best epoch (0: keep the last)
    select_every: int = 0
    select_n: int = 2000
    # the selection score's tolerances over tfcalo.training.selection.DEFAULT_TOLERANCES
    select_tolerances: dict = field(default_factory=dict)


@dataclass
class RegressorSection:
    """The physics regressor used for FRD (seed 003) and its linearity/resolution."""

    enabled: bool = False
    epochs: int = 3
    batch_size: int = 128
    limit: int = 0
    config: dict = field(default_factory=dict)


@dataclass
class EnsembleSection:
    """AdaGAN ensemble: number of members T, beta rule, how GAN_t uses the weights."""

    members: int = 3
    beta: Any = "1/(t+1)"
    weighting: str = "loss"
    mixdisc_max_iter: int = 100
    max_examples: int = 0


@dataclass
class ExportSection:
    """SavedModel export options."""

    force: bool = False
    onnx: bool = False


@dataclass
class PipelineConfig:
    """The whole configuration of one pipeline run."""

    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    regressor: RegressorSection = field(default_factory=RegressorSection)
    ensemble: EnsembleSection = field(default_factory=EnsembleSection)
    evaluate: dict = field(default_factory=dict)
    export: ExportSection = field(default_factory=ExportSection)


def preset_dict(pipeline: str, preset: str) -> dict:
    """The preset TOML of a pipeline as a dict (files ``presets/<pipeline>.<preset>.toml``)."""
    if preset not in presets_of(pipeline):
        raise unknown_name("preset", preset, presets_of(pipeline) or PRESETS)
    import tomllib

    text = resources.files("tfcalo.pipelines").joinpath(f"presets/{pipeline}.{preset}.toml")
    return tomllib.loads(text.read_text())


def resolve_config(
    pipeline: str,
    preset: str = "quick",
    config_file: str | Path | None = None,
    overrides: tuple[str, ...] | list[str] = (),
    data: str | Path | None = None,
) -> PipelineConfig:
    """Preset, then the user's TOML file, then ``--set`` overrides, then ``--data``."""
    raw = preset_dict(pipeline, preset)
    if config_file:
        raw = deep_merge(raw, load_toml(config_file))
    raw = apply_overrides(raw, list(overrides))
    if data:
        raw.setdefault("data", {})["source"] = str(Path(data).resolve())
    return from_dict(PipelineConfig, raw)
