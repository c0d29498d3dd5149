"""A torn training backup (disk full, kill during the write) is detected on resume and an
earlier readable copy is used; if none reads back, training starts over (issue 10, 4).

The tear zeroes the second half of ``backup/latest.weights.h5`` (what a full disk leaves):
loading it raises "RuntimeError: Unable to synchronously check link existence", which
Keras's own fallback (OSError only) does not catch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from train_helpers import TINY, StopAfter, make_dataset

from tfcalo.training.run import read_run, train_run

EPOCHS = 3


def _train(data: Path, out: Path, **kwargs):
    return train_run(data, "cramer", out, config=TINY["cramer"], epochs=EPOCHS,
                     steps_per_epoch=1, batch_size=8, seed=1, tensorboard=False, **kwargs)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """(dataset, run dir) of a run interrupted after epoch 2 of 3."""
    root = tmp_path_factory.mktemp("torn")
    data = make_dataset(root / "ds", "rich-pid", n=48)
    with pytest.raises(RuntimeError, match="interrupted"):
        _train(data, root / "run", callbacks=[StopAfter(2)])
    return data, root / "run"


def _tear(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] + bytes(len(raw) - len(raw) // 2))


@pytest.mark.parametrize("case, resumed, message", [
    ("latest", 2, "resuming from checkpoint epoch-0002.weights.h5 (epoch 2)"),
    ("latest-no-checkpoints", 1, "resuming from the previous backup (epoch 1)"),
    ("everything", 0, "no earlier copy reads back; training starts again from epoch 1"),
])
def test_torn_backup_falls_back_to_a_readable_copy(interrupted, tmp_path, case, resumed,
                                                   message):
    data, template = interrupted
    run = tmp_path / "run"
    shutil.copytree(template, run)
    backup = run / "backup"
    assert read_run(run)["epochs_done"] == 2
    _tear(backup / "latest.weights.h5")
    if case != "latest":
        shutil.rmtree(run / "checkpoints")
    if case == "everything":
        _tear(backup / "latest.weights.h5.bkp")
    logs: list[str] = []
    record = _train(data, run, log=logs.append)
    assert sum(message in line for line in logs) == 1, logs
    assert f"from epoch {resumed}" in next(line for line in logs if "resuming the" in line)
    assert record["finished"] is True and record["epochs_done"] == EPOCHS
    assert record["resumed_from"] == [resumed]
    assert [h["epoch"] for h in record["history"]] == list(range(1, EPOCHS + 1))
    ran = [line.split("/")[0] for line in logs if line.startswith("epoch ")]
    assert ran == [f"epoch {k}" for k in range(resumed + 1, EPOCHS + 1)]
    assert not backup.exists() and (run / "generator.weights.h5").is_file()
