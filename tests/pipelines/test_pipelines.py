"""Pipelines end to end (tiny settings) and their configuration errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tfcalo.pipelines import build, names, presets_of, run
from tfcalo.pipelines.config import resolve_config

from tfcalo.cli import main
from tfcalo.errors import ConfigError, UnknownNameError

FAST_EVAL = ["evaluate.speed.batch_sizes=[1,100]", "evaluate.speed.repeats=[2,1]",
             "evaluate.prd_runs=2"]
TINY_RICH = ["data.simulate_n=1500", "train.epochs=1", "train.steps_per_epoch=3",
             "train.batch_size=128", *FAST_EVAL]


def test_every_pipeline_and_preset_resolves_and_builds():
    for name in names():
        for preset in presets_of(name):
            cfg = resolve_config(name, preset)
            pipe = build(name, cfg)
            ids = [n.id for n in pipe.nodes]
            assert ids[0] == "ingest" and "export" in ids
    ens = build("ensemble", resolve_config("ensemble", "full"))
    assert sum(n.id.startswith("train-") for n in ens.nodes) == 10


def test_config_layers_preset_file_overrides_and_data(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[train]\nepochs = 7\nbatch_size = 8\n")
    src = tmp_path / "showers.h5"
    cfg = resolve_config("rich", "quick", f, ["train.epochs=9"], src)
    assert cfg.train.epochs == 9 and cfg.train.batch_size == 8
    assert cfg.data.source == str(src.resolve())
    assert cfg.train.model == "cramer"


def test_unknown_names_and_keys_are_one_sentence_errors():
    with pytest.raises(UnknownNameError, match="did you mean 'ensemble'"):
        run("ensembel")
    with pytest.raises(UnknownNameError, match="preset"):
        resolve_config("rich", "fast")
    with pytest.raises(ConfigError, match="did you mean 'train.epochs'"):
        resolve_config("rich", "quick", overrides=["train.epoch=3"])
    with pytest.raises(ConfigError, match="must be an integer"):
        resolve_config("rich", "quick", overrides=["train.epochs='many'"])


@pytest.mark.parametrize("args,needle", [
    (["pipeline", "run", "ensembel"], "unknown pipeline 'ensembel'; did you mean 'ensemble'?"),
    (["pipeline", "run", "rich", "--preset", "huge"], "unknown preset 'huge'"),
    (["pipeline", "run", "rich", "--set", "trian.epochs=1"], "did you mean 'train'?"),
    (["pipeline", "run", "rich", "--config", "/nonexistent/c.toml"], "does not exist"),
])
def test_cli_bad_pipeline_input_exits_2_with_one_sentence(tmp_path, args, needle):
    res = CliRunner().invoke(main, [*args, "--root", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output
    assert not any(tmp_path.iterdir())  # nothing created


def test_pipeline_list_names_all_pipelines():
    res = CliRunner().invoke(main, ["pipeline", "list"])
    assert res.exit_code == 0
    for name in ("ensemble", "aux-regressor", "rich"):
        assert name in res.output


def test_rich_pipeline_end_to_end_then_cached_then_resume_after_failure(tmp_path):
    root = tmp_path / "runs"
    s = run("rich", overrides=TINY_RICH, root=root)
    assert s.report.is_file() and (s.evaluation / "metrics.json").is_file()
    assert (s.saved_model / "saved_model.pb").is_file()
    card = json.loads((s.saved_model / "model_card.json").read_text())
    assert card["detector"] == "rich-pid"
    assert s.tensorboard and any(p.rglob("events.out.tfevents*") for p in s.tensorboard)
    # The exported model loads with TensorFlow alone and samples in physical units.
    code = ("import sys, tensorflow as tf; m = tf.saved_model.load(sys.argv[1]); "
            "out = m.signatures['generate'](conditions=tf.constant([[10., 3., 200.]]*4), "
            "seed=tf.constant(1, tf.int64))['showers']; "
            "assert 'tfcalo' not in sys.modules; print(out.shape)")
    res = subprocess.run([sys.executable, "-c", code, str(s.saved_model)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "(4, 5)" in res.stdout

    again = run("rich", overrides=TINY_RICH, root=root)
    assert set(again.cached) == {"ingest", "train", "evaluate", "export"}
    assert again.saved_model == s.saved_model

    # A failing component keeps the upstream artifacts; the rerun resumes after them.
    bad = run_cli(["pipeline", "run", "rich", "--root", str(root), "--set", "train.epochs=2",
                   *sum((["--set", o] for o in TINY_RICH if not o.startswith("train.epochs")), []),
                   "--set", "evaluate.speed.batch_sizes=[1]"])
    assert bad.exit_code == 2 and "component 'evaluate' failed" in bad.output, bad.output
    good = run("rich", overrides=[*TINY_RICH, "train.epochs=2"], root=root)
    assert "ingest" in good.cached and "train" in good.cached

    listing = run_cli(["pipeline", "runs", "--root", str(root)])
    assert listing.exit_code == 0 and listing.output.count("rich") >= 4
    assert "failed" in listing.output and "succeeded" in listing.output


def run_cli(args):
    return CliRunner().invoke(main, args)


def test_ensemble_pipeline_end_to_end_tiny(tmp_path):
    s = run("ensemble", root=tmp_path, overrides=[
        "data.simulate_n=240", "train.epochs=1", "train.steps_per_epoch=2",
        "train.batch_size=16", "ensemble.members=2", "ensemble.mixdisc_max_iter=10",
        *FAST_EVAL])
    ens = json.loads((s.model / "ensemble.json").read_text())
    assert len(ens["members"]) == 2 and ens["betas"] == pytest.approx([0.5, 0.5])
    card = json.loads((s.saved_model / "model_card.json").read_text())
    assert card["detector"] == "cern-ecal"
    assert s.report.is_file()
    assert s.extra_reports and s.extra_reports[0].name == "ensemble_report.html"
    assert s.extra_reports[0].is_file()
    # G_1 trained on the boosting weights MIXDISC computed against G_0, one per training
    # example: w_i = (lambda* - (1 - beta)(1 - D_i)/D_i)_+ / beta at mean 1, so none exceeds
    # lambda*/beta (reached where D ~ 1: examples the ensemble misses); the two-mode toy in
    # tests/test_ensemble.py shows them concentrate on a missed mode.
    from tfcalo.data.dataset import Dataset, read_weights
    from tfcalo.training.adagan import read_ensemble

    g1 = json.loads((Path(read_ensemble(s.model)["members"][1]) / "run.json").read_text())
    assert g1["weights"] and g1["weighting"] == "loss"
    meta = json.loads((Path(g1["weights"]) / "meta.json").read_text())
    index, w = read_weights(g1["weights"])
    train_index = Dataset.open(g1["data"]["path"]).load("train")["index"]
    assert sorted(index.tolist()) == sorted(train_index.tolist())
    assert np.isfinite(w).all() and w.min() >= 0 and w.mean() == pytest.approx(1.0, rel=1e-5)
    assert w.max() <= meta["lambda_star"] / meta["beta"] * (1 + 1e-4), (w.max(), meta)
    # the pipeline root can be moved: ensemble members are recorded relative to the ensemble
    assert not any(Path(m).is_absolute() for m in ens["members"])
    from tfcalo.export.sampling import load_sampler

    conditions = np.array([[10.0], [50.0], [100.0]], "float32")
    before = load_sampler(s.model).sample(conditions, seed=4)
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    shutil.move(str(tmp_path), moved)
    try:
        model = moved / s.model.relative_to(tmp_path)
        np.testing.assert_allclose(load_sampler(model).sample(conditions, seed=4), before, rtol=1e-5)
    finally:
        shutil.move(str(moved), tmp_path)
