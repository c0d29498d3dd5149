"""The learning-rate decay (optimizer.lr_decay_from, optimizer.lr_final): both players'
rates follow the schedule epoch by epoch, a resumed run carries on the same schedule, and
bad values are config errors."""

from __future__ import annotations

import numpy as np
import pytest
from train_helpers import TINY, StopAfter, make_dataset

import tfcalo.training.build as builder
from tfcalo.errors import ConfigError
from tfcalo.training.callbacks import decay_factor, read_scalars
from tfcalo.training.run import read_run, train_run

RATES = {"generator_lr": 2e-3, "discriminator_lr": 5e-3}
#: 5 epochs decaying from half-way (epoch index 2) to 0.1: 1, 1, 1, 0.55, 0.1
EXPECTED = [1.0, 1.0, 1.0, 0.55, 0.1]


@pytest.mark.parametrize("epochs, start, final, factors", [
    (5, 0.5, 0.1, EXPECTED),
    (3, 0.0, 0.5, [1.0, 0.75, 0.5]),
    (4, 1.0, 0.1, [1.0, 1.0, 1.0, 1.0]),
    (1, 0.0, 0.1, [1.0]),  # one epoch: nothing to decay over
])
def test_decay_factor(epochs, start, final, factors):
    got = [decay_factor(e, epochs, start, final) for e in range(epochs)]
    np.testing.assert_allclose(got, factors, rtol=1e-12)


def test_both_rates_decay_epoch_by_epoch_and_a_resumed_run_keeps_the_schedule(tmp_path):
    data = make_dataset(tmp_path / "ds", "rich-pid", n=48)
    config = {**TINY["cramer"], "optimizer": {**RATES, "lr_decay_from": 0.5, "lr_final": 0.1}}

    def run(**kwargs):
        return train_run(data, "cramer", tmp_path / "run", config=config, epochs=5,
                         steps_per_epoch=1, batch_size=8, seed=1, **kwargs)

    with pytest.raises(RuntimeError, match="interrupted"):
        run(callbacks=[StopAfter(2)])
    run()
    record = read_run(tmp_path / "run")
    assert record["resumed_from"] == [2]
    assert [h["lr_factor"] for h in record["history"]] == pytest.approx(EXPECTED)
    scalars = read_scalars(tmp_path / "run" / "tensorboard")
    for name, key in (("g_optimizer", "generator_lr"), ("d_optimizer", "discriminator_lr")):
        rates = dict(scalars[f"learning_rate/{name}"])  # epoch -> rate used in that epoch
        got = [rates[e] for e in sorted(rates)][-5:]
        np.testing.assert_allclose(got, [RATES[key] * f for f in EXPECTED], rtol=1e-5)


def test_constant_by_default_logs_no_factor(tmp_path):
    data = make_dataset(tmp_path / "ds", "rich-pid", n=48)
    train_run(data, "cramer", tmp_path / "run", config=TINY["cramer"], epochs=2,
              steps_per_epoch=1, batch_size=8, seed=1, tensorboard=False)
    assert all("lr_factor" not in h for h in read_run(tmp_path / "run")["history"])


@pytest.mark.parametrize("key, value", [("lr_decay_from", 1.5), ("lr_decay_from", -0.1),
                                        ("lr_final", 0.0), ("lr_final", 2.0)])
def test_bad_decay_is_a_config_error(key, value):
    with pytest.raises(ConfigError, match=f"optimizer.{key}"):
        builder.build("cramer", "rich-pid", {**TINY["cramer"], "optimizer": {key: value}}, {})
