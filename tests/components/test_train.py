"""Train component and tfcalo.training.run: run directory, TensorBoard, seeds, errors.

Two real trainings (a tiny SAGAN, 2 epochs of 1 step on simulated lhcb-ecal showers): one
through the component's executor with a weights artifact, one with --overwrite and the same seed into the
same directory, which must reproduce the generator weights exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from tfcalo.components.train import COMPONENT, executor
from train_helpers import TINY, make_dataset

from tfcalo.data.dataset import Dataset, write_weights
from tfcalo.engine.runner import Artifact
from tfcalo.errors import ArtifactError, ConfigError, OutputExistsError, UnknownNameError
from tfcalo.training.callbacks import read_scalars, summary_tags
from tfcalo.training.run import resolve_config, run_state, train_run

PARAMS = {"model": "sagan", "config": TINY["sagan"], "epochs": 2, "seed": 3,
          "strategy": "default", "batch_size": 8, "steps_per_epoch": 1, "weighting": "loss",
          "select_every": 0, "select_n": 2000, "select_tolerances": {}}


def _h5_arrays(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "ds", "lhcb-ecal", n=48)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory, dataset) -> Path:
    d = tmp_path_factory.mktemp("w") / "weights"
    d.mkdir()
    index = Dataset.open(dataset).load("train")["index"]
    write_weights(d, index, np.full(len(index), 0.5, np.float32), {"kind": "test"})
    return d


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset, weights_dir) -> tuple[Path, dict]:
    """A finished run written by the component's executor with a weights artifact."""
    out = tmp_path_factory.mktemp("run") / "model"
    out.mkdir()
    inputs = {"examples": Artifact("Examples", dataset, {}, "f1"),
              "weights": Artifact("Weights", weights_dir, {}, "f2")}
    import io
    from contextlib import redirect_stdout

    import tfcalo.components.train as train_component

    lines: list[str] = []
    terminal = io.StringIO()
    original, train_component.log = train_component.log, lines.append
    try:
        with redirect_stdout(terminal):
            props = executor(inputs, {"model": out}, dict(PARAMS))
    finally:
        train_component.log = original
    TRAINING_OUTPUT.update(log=lines, stdout=terminal.getvalue())
    return out, props["model"]


TRAINING_OUTPUT: dict = {}


# -- pure helpers --------------------------------------------------------------------------


def test_resolve_config_precedence(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("latent_dim = 7\n[optimizer]\ngenerator_lr = 0.002\n")
    cfg = resolve_config("sagan", "lhcb-ecal", {"latent_dim": 5, "critic_steps": 2}, toml,
                         ["optimizer.generator_lr=0.003"])
    assert cfg["latent_dim"] == 7 and cfg["critic_steps"] == 2
    assert cfg["optimizer"]["generator_lr"] == 0.003
    assert "discriminator_lr" in cfg["optimizer"]  # full config, defaults kept


def test_resolve_config_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown model 'sagn'; did you mean 'sagan'"):
        resolve_config("sagn", "lhcb-ecal")
    with pytest.raises(ConfigError, match="optimizer.generator_lr"):
        resolve_config("sagan", "lhcb-ecal", overrides=["optimizer.generator_rl=1"])
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config("sagan", "lhcb-ecal", config_file=tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="does not support detector"):
        resolve_config("2dgan", "lhcb-ecal")


def test_component_declarations():
    assert COMPONENT.inputs == {"examples": "Examples", "weights": "Weights?"}
    assert COMPONENT.outputs == {"model": "Model"}
    assert set(COMPONENT.parameters) == set(PARAMS)


def test_resample_keeps_examples_in_proportion_to_weight():
    import tensorflow as tf

    from tfcalo.training.run import resample

    n = 4000
    x = np.arange(n, dtype=np.float32)[:, None]
    w = np.where(np.arange(n) % 2 == 0, 1.0, 0.25).astype(np.float32)  # even 4x odd
    ds = tf.data.Dataset.from_tensor_slices((x, x, w)).batch(100)
    out = list(resample(ds, 50, 1.0, seed=1).as_numpy_iterator())
    kept = np.concatenate([b[0][:, 0] for b in out]).astype(int)
    assert all(np.all(b[2] == 1.0) for b in out) and all(len(b[0]) == 50 for b in out)
    n_even, n_odd = np.sum(kept % 2 == 0), np.sum(kept % 2 == 1)
    assert 2000 - 50 <= n_even <= 2000  # weight = w_max: always kept (last partial batch dropped)
    assert n_odd / n_even == pytest.approx(0.25, abs=0.04)  # binomial sd 0.01
    again = np.concatenate([b[0][:, 0] for b in resample(ds, 50, 1.0, seed=1).as_numpy_iterator()])
    np.testing.assert_array_equal(kept, again.astype(int))


def test_resample_refuses_negative_weights(tmp_path, dataset):
    wdir = tmp_path / "neg"
    wdir.mkdir()
    index = Dataset.open(dataset).load("train")["index"]
    write_weights(wdir, index, np.linspace(-1, 1, len(index)).astype(np.float32), {})
    with pytest.raises(ConfigError, match="weighting 'resample' needs non-negative weights"):
        train_run(dataset, "sagan", tmp_path / "o", config=TINY["sagan"], weights=wdir,
                  weighting="resample", epochs=1)
    with pytest.raises(UnknownNameError, match="unknown weighting"):
        train_run(dataset, "sagan", tmp_path / "o", weighting="boost")


def test_executor_needs_model(tmp_path, dataset):
    with pytest.raises(ConfigError, match="'model'"):
        executor({"examples": Artifact("Examples", dataset, {}, "f")}, {"model": tmp_path},
                 {**PARAMS, "model": None})


def test_user_errors_before_training(tmp_path, dataset):
    with pytest.raises(ArtifactError):
        train_run(tmp_path / "nothing", "sagan", tmp_path / "o1")
    with pytest.raises(ConfigError, match="epochs"):
        train_run(dataset, "sagan", tmp_path / "o2", epochs=0)
    with pytest.raises(UnknownNameError):
        train_run(dataset, "gan", tmp_path / "o3")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        train_run(dataset, "sagan", tmp_path / "foreign", config=TINY["sagan"])
    assert (tmp_path / "foreign" / "x.txt").read_text() == "mine"
    assert not (tmp_path / "o2").exists()


# -- one real training -------------------------------------------------------------------------


def test_run_directory(trained, dataset, weights_dir):
    out, props = trained
    for name in ["run.json", "generator.weights.h5", "model.weights.h5",
                 "checkpoints/epoch-0001.weights.h5", "checkpoints/epoch-0002.weights.h5"]:
        assert (out / name).is_file(), name
    assert not (out / "backup").exists()
    run = json.loads((out / "run.json").read_text())
    ds = Dataset.open(dataset)
    assert run["model"] == "sagan" and run["detector"] == "lhcb-ecal"
    assert run["data"] == {"path": str(dataset.resolve()), "content_hash": ds.content_hash}
    assert run["stats"] == ds.stats
    assert run["seed"] == 3 and run["config"]["seed"] == 3
    assert run["config"]["latent_dim"] == run["latent_dim"] == 4
    assert run["config"]["optimizer"]["discriminator_lr"] == pytest.approx(4e-4)  # a default
    assert run["epochs_done"] == 2 and run["finished"] is True
    assert [h["epoch"] for h in run["history"]] == [1, 2]
    assert all(np.isfinite(h["g_loss"]) and np.isfinite(h["d_loss"]) for h in run["history"])
    assert run["weights"] == str(weights_dir.resolve())
    assert run_state(out) == "finished"
    assert props["epochs_done"] == 2 and props["data_content_hash"] == ds.content_hash
    assert props["final"] == run["history"][-1]


def test_component_progress_goes_to_the_log_not_the_terminal(trained):
    """Keras' own epoch lines would bypass the node's log file during `pipeline run`."""
    epoch_lines = [m for m in TRAINING_OUTPUT["log"] if m.startswith("epoch ")]
    assert [m.split(":")[0] for m in epoch_lines] == ["epoch 1/2", "epoch 2/2"]
    assert "d_loss" in epoch_lines[0] and "g_loss" in epoch_lines[0]
    assert "Epoch" not in TRAINING_OUTPUT["stdout"] and "step" not in TRAINING_OUTPUT["stdout"]


def test_run_directory_loads_generator(trained):
    from tfcalo.training.build import load_generator

    out, _ = trained
    gen = load_generator(out)
    saved = _h5_arrays(out / "generator.weights.h5")
    assert sum(v.size for v in saved.values()) == sum(int(np.prod(w.shape)) for w in gen.weights)
    x = gen([np.zeros((2, 4), np.float32), np.array([[0, 0, 0, 0, 0, 50]] * 2, np.float32)],
            training=False)
    assert tuple(x.shape) == (2, 30, 30) and np.all(np.isfinite(np.asarray(x)))


def test_tensorboard_written(trained):
    out, _ = trained
    tags = summary_tags(out / "tensorboard")
    scalars = read_scalars(out / "tensorboard")
    assert tags["config"] == "text"
    assert tags["showers/real"] == tags["showers/generated"] == "images"
    assert tags["observables_total_energy/real"] == "histograms"
    assert tags["observables_total_energy/generated"] == "histograms"
    for tag in ["losses/g_loss", "losses/d_loss", "learning_rate/g_optimizer",
                "learning_rate/d_optimizer"]:
        assert [s for s, _ in scalars[tag]] == [1, 2], tag
        assert all(np.isfinite(v) for _, v in scalars[tag])
    assert scalars["learning_rate/g_optimizer"][0][1] == pytest.approx(1e-4)
    grads = [t for t in scalars if t.startswith("gradients/")]
    assert grads and all(v > 0 for t in grads for _, v in scalars[t])


def test_finished_run_refused_then_overwrite_reproduces(trained, dataset, weights_dir, tmp_path):
    out, _ = trained
    with pytest.raises(OutputExistsError, match="finished run; pass --overwrite"):
        train_run(dataset, "sagan", out, config=TINY["sagan"], epochs=2, seed=3)
    first = _h5_arrays(out / "generator.weights.h5")
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    train_run(dataset, "sagan", copy, config=TINY["sagan"], epochs=2, seed=3, strategy="default",
              weights=weights_dir, batch_size=8, steps_per_epoch=1, overwrite=True, verbose=0,
              tensorboard=False)
    second = _h5_arrays(copy / "generator.weights.h5")
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    run = json.loads((copy / "run.json").read_text())
    assert run["resumed_from"] == [] and run["epochs_done"] == 2
    assert not (copy / "tensorboard").exists()


def test_unfinished_run_with_other_config_refused(trained, dataset, tmp_path):
    out, _ = trained
    half = tmp_path / "half"
    shutil.copytree(out, half)
    run = json.loads((half / "run.json").read_text())
    run["finished"] = False
    (half / "run.json").write_text(json.dumps(run))
    assert run_state(half) == "unfinished"
    with pytest.raises(OutputExistsError, match="different 'config'"):
        train_run(dataset, "sagan", half, config={**TINY["sagan"], "latent_dim": 5}, seed=3,
                  weights=run["weights"], batch_size=8, steps_per_epoch=1)


def test_two_step_mode_pretrains_then_freezes_the_regressor(dataset, tmp_path):
    """aux_mode two-step: the regressor is trained before fit (its head moves from the
    seeded initialisation) and stays frozen during fit (the saved head equals the one
    right after pretraining, while the adversarial head trains)."""
    import tfcalo.training.build as builder

    cfg = {**TINY["sagan"], "discriminator": {**TINY["sagan"]["discriminator"],
                                              "aux_targets": ["width_along_pt", "asymmetry_long"],
                                              "aux_mode": "two-step", "aux_pretrain_steps": 3}}
    run = train_run(dataset, "sagan", tmp_path / "two", config=cfg, epochs=2, seed=5,
                    batch_size=8, steps_per_epoch=2, tensorboard=False)
    assert run["aux_pretrain"]["steps"] == 3 and np.isfinite(run["aux_pretrain"]["final_mse"])
    fresh = builder.build("sagan", "lhcb-ecal", run["config"], run["stats"])
    fresh.compile()
    trained = builder.build("sagan", "lhcb-ecal", run["config"], run["stats"])
    trained.compile()
    trained.load_weights(str(tmp_path / "two" / "model.weights.h5"))
    epoch1 = builder.build("sagan", "lhcb-ecal", run["config"], run["stats"])
    epoch1.compile()
    epoch1.load_weights(str(tmp_path / "two" / "checkpoints" / "epoch-0001.weights.h5"))

    def head(gan, part):
        return np.concatenate([v.numpy().ravel() for v in getattr(gan.discriminator, part).weights
                               if "sn_u" not in v.path])  # u: spectral-norm state, not a weight

    assert np.abs(head(trained, "regressor_head") - head(fresh, "regressor_head")).max() > 1e-4
    np.testing.assert_array_equal(head(trained, "regressor_head"), head(epoch1, "regressor_head"))
    assert np.abs(head(trained, "adv_head") - head(epoch1, "adv_head")).max() > 0


def test_model_selection_keeps_the_best_epoch(dataset, tmp_path):
    """select_every=1: every epoch is scored on the validation subset (with the run's
    tolerances); generator.weights.h5 is the best epoch's, the last one's is kept beside it,
    and run.json says which. A bad tolerance is a config error that leaves no run behind."""
    run = train_run(dataset, "sagan", tmp_path / "sel", config=TINY["sagan"], epochs=3, seed=2,
                    batch_size=8, steps_per_epoch=2, tensorboard=False, select_every=1,
                    select_tolerances={"auc": 0.5})
    out = tmp_path / "sel"
    assert json.loads((out / "selection.json").read_text())["tolerances"]["auc"] == 0.5
    scores = {h["epoch"]: h["sel_score"] for h in run["history"]}
    assert set(scores) == {1, 2, 3} and all(np.isfinite(v) for v in scores.values())
    best = min(scores, key=scores.get)
    assert run["selection"]["best_epoch"] == best
    assert run["selection"]["best_score"] == pytest.approx(scores[best])
    assert json.loads((out / "run.json").read_text())["selection"]["best_epoch"] == best
    assert (out / "last.generator.weights.h5").is_file()
    kept, last = _h5_arrays(out / "generator.weights.h5"), _h5_arrays(out / "last.generator.weights.h5")
    epoch_best = _h5_arrays(out / "best.generator.weights.h5")
    for key in kept:
        np.testing.assert_array_equal(kept[key], epoch_best[key])
    assert (best == 3) == all(np.array_equal(kept[k], last[k]) for k in kept)
    with pytest.raises(ConfigError, match="tolerance 'shap' is unknown"):
        train_run(dataset, "sagan", tmp_path / "bad", config=TINY["sagan"], epochs=1,
                  batch_size=8, steps_per_epoch=1, tensorboard=False, select_every=1,
                  select_tolerances={"shap": 0.1})
    assert not (tmp_path / "bad").exists()
