"""tfcalo.atomic: outputs never overlap inputs; --overwrite only replaces tfcalo's own
output of the same kind, and only once the new one is complete."""

from __future__ import annotations

import os

import pytest

from tfcalo.atomic import OUTPUT_RECORDS, atomic_dir, check_output, replace_dir
from tfcalo.errors import OutputConflictError, OutputExistsError


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def layout(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "src.h5").write_bytes(b"source")
    (data / "notes.txt").write_text("mine")
    return tmp_path, data


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("where, how", [
    ("data/src.h5", "is the input"),
    ("data", "contains the input"),
    (".", "contains the input"),
    ("data/src.h5/sub", "lies inside the input"),
])
def test_output_overlapping_an_input_is_refused(layout, where, how, overwrite):
    root, data = layout
    before = _tree(root)
    out = root / where
    with pytest.raises(OutputConflictError) as err:
        check_output(out, "dataset", [data / "src.h5"], overwrite=overwrite)
    assert str(err.value) == (f"output {out} {how} {data / 'src.h5'}; choose an output path "
                              "outside every input")
    assert _tree(root) == before


def test_directory_inputs_and_symlinks(layout):
    root, data = layout
    with pytest.raises(OutputConflictError, match="lies inside the input"):
        check_output(data / "eval", "evaluation", [data])
    link = root / "link"
    link.symlink_to(data)
    with pytest.raises(OutputConflictError, match="is the input"):
        check_output(link, "dataset", [data], overwrite=True)
    check_output(root / "elsewhere", "dataset", [data, None])  # unrelated: fine


@pytest.mark.parametrize("kind", sorted(OUTPUT_RECORDS))
def test_overwrite_only_replaces_own_kind(tmp_path, kind):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("x")
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        check_output(out, kind, overwrite=False)
    with pytest.raises(OutputConflictError, match="--overwrite will not replace it"):
        check_output(out, kind, overwrite=True)
    for name in OUTPUT_RECORDS[kind]:
        (out / name).write_text("{}")
    assert check_output(out, kind, overwrite=True) == out
    other = next(k for k in OUTPUT_RECORDS if set(OUTPUT_RECORDS[k]) - set(OUTPUT_RECORDS[kind]))
    with pytest.raises(OutputConflictError):
        check_output(out, other, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a directory"):
        check_output(tmp_path / "file", kind, overwrite=True)


def test_atomic_dir_keeps_the_old_output_until_the_new_one_is_complete(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    for name in OUTPUT_RECORDS["dataset"]:
        (out / name).write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(out, overwrite=True, kind="dataset") as tmp:
            (tmp / "schema.json").write_text("half")
            raise RuntimeError("crash")
    assert (out / "schema.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    with atomic_dir(out, overwrite=True, kind="dataset") as tmp:
        (tmp / "schema.json").write_text("new")
        assert (out / "schema.json").read_text() == "old"
    assert _tree(out) == {"schema.json": b"new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_replace_dir_moves_new_over_old(tmp_path):
    new, final = tmp_path / "new", tmp_path / "final"
    new.mkdir()
    (new / "a").write_text("new")
    final.mkdir()
    (final / "b").write_text("old")
    replace_dir(new, final)
    assert _tree(final) == {"a": b"new"} and not new.exists()
    assert sorted(os.listdir(tmp_path)) == ["final"]
