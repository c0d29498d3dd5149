"""tfcalo.config: the one deep merge of nested configs, overrides, validation."""

from __future__ import annotations

import pytest

from tfcalo.config import apply_overrides, deep_merge
from tfcalo.errors import ConfigError


def test_deep_merge_merges_sections_and_copies():
    base = {"a": 1, "s": {"x": 1, "y": 2}, "l": [1, 2]}
    update = {"s": {"y": 5, "z": {"k": 1}}, "a": {"now": "a section"}}
    out = deep_merge(base, update)
    assert out == {"a": {"now": "a section"}, "s": {"x": 1, "y": 5, "z": {"k": 1}}, "l": [1, 2]}
    assert base == {"a": 1, "s": {"x": 1, "y": 2}, "l": [1, 2]}  # inputs untouched
    out["l"].append(3)
    out["s"]["z"]["k"] = 2
    assert base["l"] == [1, 2] and update["s"]["z"]["k"] == 1  # no shared mutable values
    assert deep_merge({"s": {"x": 1}}, {"s": 3}) == {"s": 3}  # a value replaces a section


def test_apply_overrides_builds_sections():
    assert apply_overrides({"train": {"epochs": 1}}, ["train.epochs=3", "x.y=[1,2]"]) == {
        "train": {"epochs": 3}, "x": {"y": [1, 2]}}
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["train.epochs"])
