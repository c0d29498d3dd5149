"""TOML configuration: loading, ``--set key=value`` overrides, validation into dataclasses.

Configs are plain nested dicts until they are validated into a dataclass with
:func:`from_dict`; unknown keys are errors that name the nearest valid key.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from tfcalo.errors import ConfigError, nearest

T = TypeVar("T")


def load_toml(path: str | Path) -> dict:
    """Read a TOML file into a dict; a missing or malformed file raises ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def deep_merge(base: dict, update: dict) -> dict:
    """Deep-merge ``update`` into a copy of ``base``: sections (dicts) merge key by key,
    every other value replaces. Neither input is modified; the result shares no mutable
    value with them.

    The one merge of nested configs (model defaults <- component config <- TOML file <-
    ``--set`` overrides, pipeline presets <- the user's TOML file).

    Example:
        >>> deep_merge({"optimizer": {"lr": 1.0, "beta": 0.5}}, {"optimizer": {"lr": 2.0}})
        {'optimizer': {'lr': 2.0, 'beta': 0.5}}
    """
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_value(text: str) -> Any:
    """Parse the value of a ``--set key=value`` override (TOML/JSON literal, else a string)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Return a copy of ``config`` with dotted ``key=value`` overrides applied.

    Example:
        >>> apply_overrides({"train": {"epochs": 1}}, ["train.epochs=3"])
        {'train': {'epochs': 3}}
    """
    out = json.loads(json.dumps(config))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section")
        node[parts[-1]] = parse_value(value.strip())
    return out


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{where}' must be a section (table)")
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{where}' must be a list, got {value!r}")
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        items = [_coerce(v, inner, where) for v in value]
        return tuple(items) if origin is tuple else items
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key '{where}' must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{where}' must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{where}' must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{where}' must be a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Validate a dict into dataclass ``cls``; unknown keys name the nearest valid key."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        full = f"{where}.{key}" if where else key
        if key not in names:
            hint = nearest(key, names)
            did = f"; did you mean '{(where + '.') if where else ''}{hint}'?" if hint else ""
            raise ConfigError(f"unknown config key '{full}'{did}")
        kwargs[key] = _coerce(value, hints[key], full)
    return cls(**kwargs)


def to_dict(obj: Any) -> dict:
    """Dataclass (possibly nested) to a JSON-ready dict."""
    return dataclasses.asdict(obj)
