"""Summaries of a source file or a dataset artifact (``tfcalo data inspect``)."""

from __future__ import annotations

from pathlib import Path

from tfcalo.data.artifact import SPLITS, StatsAccumulator
from tfcalo.data.formats import detect_detector, open_source
from tfcalo.detectors import get_detector


def inspect_path(path: str | Path, detector: str | None = None,
                 weights_from: str | None = None, chunk_size: int = 1000) -> dict:
    """Describe ``path``: an artifact directory (from its JSON files) or a source file
    (streamed once, chunk by chunk).

    Returns:
        ``{"kind": "artifact"|"source", "path", "detector", "counts", "shower_shape",
        "stats"}`` where ``stats`` is a :class:`~tfcalo.data.artifact.StatsAccumulator`
        result (condition mean/std/min/max, total-energy stats, ``energy_sum``, max cell);
        sources add ``layout`` and ``keys`` ({key: shape}).
    """
    path = Path(path)
    if path.is_dir():
        from tfcalo.data.dataset import Dataset

        ds = Dataset.open(path)
        return {"kind": "artifact", "path": str(path), "detector": ds.detector.name,
                "counts": {s: ds.count(s) for s in SPLITS},
                "shower_shape": list(ds.detector.shower_shape), "stats": ds.stats,
                "content_hash": ds.content_hash,
                "source": ds.schema["provenance"].get("source")}
    det = get_detector(detector or detect_detector(path))
    acc = StatsAccumulator(det)
    with open_source(path, det, weights_from) as src:
        for showers, conditions, weights in src.iter_chunks(chunk_size):
            acc.add(showers, conditions, weights)
        stats = acc.result()
        stats["energy_sum"] = float(acc.total.s[0])
        return {"kind": "source", "path": str(path), "detector": det.name,
                "layout": src.layout, "counts": {"all": src.n},
                "keys": {k: list(v) for k, v in src.keys.items()},
                "shower_shape": list(det.shower_shape), "stats": stats}


def _fmt(stat: dict) -> str:
    if stat.get("mean") is None:
        return "n/a"
    return (f"mean {stat['mean']:.4g}, std {stat['std']:.4g}, "
            f"range [{stat['min']:.4g}, {stat['max']:.4g}]")


def describe_lines(info: dict) -> list[str]:
    """Human-readable lines for an :func:`inspect_path` result."""
    det = get_detector(info["detector"])
    stats = info["stats"]
    lines = [f"{info['path']}: {info['kind']} of {det.name}"]
    if info["kind"] == "source":
        lines.append(f"  layout {info['layout']}; keys: " + ", ".join(
            f"{k} {tuple(v)}" for k, v in sorted(info["keys"].items())))
    lines.append("  examples: " + ", ".join(f"{k} {v}" for k, v in info["counts"].items()))
    lines.append(f"  shower shape {tuple(info['shower_shape'])} {det.energy_unit}".rstrip())
    where = f" (on {stats['computed_on']})" if "computed_on" in stats else ""
    lines.append(f"  conditions{where}:")
    for name, unit in zip(det.condition_names, det.condition_units, strict=True):
        lines.append(f"    {name:8s} {_fmt(stats['conditions'][name])} {unit}".rstrip())
    if det.kind == "tabular":
        for name, s in stats.get("showers", {}).items():
            lines.append(f"    {name:8s} {_fmt(s)}")
    else:
        lines.append(f"  total energy per shower: {_fmt(stats['total_energy'])} "
                     f"{det.energy_unit}")
        if "energy_sum" in stats:
            lines.append(f"  energy sum over all showers: {stats['energy_sum']:.6g} "
                         f"{det.energy_unit}")
        if stats.get("max_cell") is not None:
            lines.append(f"  max cell: {stats['max_cell']:.6g} {det.energy_unit}")
        if "sf_slope" in stats:
            lines.append(f"  total vs primary energy slope (sampling fraction): "
                         f"{stats['sf_slope']:.5g}")
    w = stats.get("weights", {})
    if w.get("mean") is not None:
        lines.append(f"  weights: sum {w['sum']:.6g}, range [{w['min']:.4g}, {w['max']:.4g}], "
                     f"{w['n_negative']} negative")
    for name, count in stats.get("out_of_range", {}).items():
        if count:
            lines.append(f"  {count} examples have {name} outside the {det.name} range")
    return lines
