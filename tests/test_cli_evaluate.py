"""`tfcalo evaluate` end to end (a short-trained run directory and a SavedModel) and its
error paths (one sentence on stderr, exit 2, no output left behind)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from tiny_generators import TinyGenerator
from train_helpers import TINY, _toy_chunks, make_dataset

from tfcalo.cli import main

FAST_TOML = """
[evaluate]
threads = 1
prd_runs = 1
energy_bins = 2
min_bin_count = 5
tensorboard = false
[evaluate.speed]
batch_sizes = [1, 10]
repeats = [2, 1]
"""


def _dataset_with_test_split(path, detector="lhcb-ecal", n=120):
    from tfcalo.data.artifact import write_artifact
    from tfcalo.detectors import get_detector

    path.mkdir(parents=True)
    write_artifact(path, _toy_chunks(detector, n, 0), get_detector(detector),
                   split=(0.5, 0.0, 0.5), seed=0,
                   provenance={"source": "toy", "source_sha256": "toy"})
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return _dataset_with_test_split(tmp_path_factory.mktemp("data") / "ds")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "eval.toml"
    path.write_text(FAST_TOML)
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, dataset):
    """A tiny SAGAN trained for one step: a real run directory."""
    from tfcalo.training.run import train_run

    out = tmp_path_factory.mktemp("run") / "sagan"
    train_run(dataset, "sagan", out, config=TINY["sagan"], epochs=1, seed=1, strategy="default",
              batch_size=8, steps_per_epoch=1, verbose=0, tensorboard=False)
    return out


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from tfcalo.export.savedmodel import build_card, write_saved_model

    gen = TinyGenerator("lhcb-ecal", latent_dim=3, seed=2)
    out = tmp_path_factory.mktemp("sm") / "model"
    out.mkdir()
    write_saved_model(gen, gen.detector, out)
    card = build_card(gen.detector, 3, training_data_hash="h", metrics={}, blessing=None)
    (out / "model_card.json").write_text(json.dumps(card))
    return out


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_error_line(result, pattern):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.output


def test_evaluate_run_dir(run_dir, dataset, config_file, tmp_path):
    out = tmp_path / "eval"
    res = _run("evaluate", "--model", run_dir, "--data", dataset, "--out", out,
               "--config", config_file, "--seed", 4, "--limit", 25)
    assert res.exit_code == 0, res.output
    assert "PRD-AUC" in res.stdout and "report.html" in res.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_real"] == m["n_generated"] == 25 and m["seed"] == 4
    assert m["provenance"]["model_kind"] == "run" and m["provenance"]["detector"] == "lhcb-ecal"
    assert set(m["speed"]["batch"]) == {"1", "10"} and m["speed"]["geant4_ms_per_shower"] == 150.0
    assert m["config"]["speed"]["repeats"] == [2, 1]
    b = json.loads((out / "blessing.json").read_text())
    assert isinstance(b["blessed"], bool) and b["checks"]
    assert m["blessed"] == b["blessed"]
    # the verdict line says which, and names every failed check ("BLESSED" alone would also
    # match "NOT BLESSED")
    verdicts = [ln for ln in res.stdout.splitlines() if re.match(r"(NOT )?BLESSED\b", ln)]
    assert len(verdicts) == 1, res.stdout
    failed = [c["metric"] for c in b["checks"] if not c["passed"]]
    expected = "BLESSED;" if b["blessed"] else f"NOT BLESSED (failed: {', '.join(failed)});"
    assert verdicts[0].startswith(expected), (verdicts[0], expected)
    # every metric beside its real-vs-real value: two disjoint halves of the 25 test showers
    base = m["baseline"]
    assert base["n_real"] == base["n_generated"] == 12
    assert {c["metric"]: c["baseline"] for c in b["checks"]} == {
        c["metric"]: base[c["metric"]] for c in b["checks"]}
    assert "real vs real (12 vs 12 test showers): " in res.stdout
    html = (out / "report.html").read_text()
    for link in re.findall(r"<img src='([^']+)'", html):
        assert (out / link).is_file()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp dirs left


def test_evaluate_saved_model_blessing_feeds_export(saved_model, dataset, config_file,
                                                   tmp_path):
    out = tmp_path / "a"
    res = _run("evaluate", "--model", saved_model, "--data", dataset, "--out", out,
               "--config", config_file, "--set", "speed.enabled=false",
               "--set", "thresholds.fpd=1e9")
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert "speed" not in m and m["provenance"]["model"] == str(saved_model.resolve())
    checks = {c["metric"]: c for c in json.loads((out / "blessing.json").read_text())["checks"]}
    assert checks["fpd"]["threshold"] == 1e9 and checks["fpd"]["passed"]
    # an untrained tiny generator is nowhere near the showers: not blessed, export refuses
    assert m["blessed"] is False and "NOT BLESSED (failed: " in res.stdout
    from tfcalo.errors import NotBlessedError
    from tfcalo.export.savedmodel import check_blessing

    with pytest.raises(NotBlessedError):
        check_blessing(out, force=False)


def test_empty_test_split(saved_model, tmp_path):
    ds = make_dataset(tmp_path / "ds", "lhcb-ecal", n=16)  # split 0.75/0.25/0: no test
    res = _run("evaluate", "--model", saved_model, "--data", ds, "--out", tmp_path / "o")
    _one_error_line(res, r"fewer than 2 showers in its test split")


def test_missing_model(dataset, tmp_path):
    res = _run("evaluate", "--model", tmp_path / "nope", "--data", dataset, "--out", tmp_path / "o")
    _one_error_line(res, r"model path .*nope does not exist")
    assert not (tmp_path / "o").exists()


def test_missing_data_artifact(saved_model, tmp_path):
    res = _run("evaluate", "--model", saved_model, "--data", tmp_path / "nodata", "--out",
               tmp_path / "o")
    _one_error_line(res, r"dataset artifact .*nodata does not exist")
    assert not (tmp_path / "o").exists()


def test_not_a_dataset_or_model(saved_model, dataset, tmp_path):
    (tmp_path / "empty").mkdir()
    res = _run("evaluate", "--model", saved_model, "--data", tmp_path / "empty", "--out",
               tmp_path / "o")
    _one_error_line(res, r"empty")
    res = _run("evaluate", "--model", tmp_path / "empty", "--data", dataset, "--out",
               tmp_path / "o")
    _one_error_line(res, r"neither a tfcalo SavedModel")
    assert not (tmp_path / "o").exists()


def test_detector_mismatch(tmp_path):
    from tfcalo.export.savedmodel import build_card, write_saved_model

    gen = TinyGenerator("cern-ecal", latent_dim=2)
    sm = tmp_path / "cern"
    sm.mkdir()
    write_saved_model(gen, gen.detector, sm)
    (sm / "model_card.json").write_text(json.dumps(
        build_card(gen.detector, 2, training_data_hash="h", metrics={}, blessing=None)))
    ds = make_dataset(tmp_path / "ds", "rich-pid", n=40)
    res = _run("evaluate", "--model", sm, "--data", ds, "--out", tmp_path / "o")
    _one_error_line(res, r"simulates cern-ecal but dataset .* holds rich-pid")


def test_config_errors(saved_model, dataset, tmp_path, config_file):
    base = ("evaluate", "--model", saved_model, "--data", dataset, "--out", tmp_path / "o")
    _one_error_line(_run(*base, "--set", "prd_run=3"),
                    r"unknown config key 'prd_run'; did you mean 'prd_runs'")
    _one_error_line(_run(*base, "--set", "thresholds.prd_acu=3"),
                    r"'thresholds.prd_acu'; did you mean 'thresholds.prd_auc'")
    _one_error_line(_run(*base, "--config", tmp_path / "none.toml"),
                    r"config file .*none.toml does not exist")
    bad = tmp_path / "bad.toml"
    bad.write_text("[evaluate\n")
    _one_error_line(_run(*base, "--config", bad), r"bad.toml is not valid TOML")
    _one_error_line(_run(*base, "--limit", 1), r"'limit' must be at least 2")
    assert not (tmp_path / "o").exists()


def test_output_not_empty_refused(saved_model, dataset, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    res = _run("evaluate", "--model", saved_model, "--data", dataset, "--out", out)
    _one_error_line(res, r"not empty; pass --overwrite")
    assert (out / "keep.txt").read_text() == "x"


def test_pipeline_verdict_names_failed_checks(tmp_path):
    from tfcalo.cli import blessing_verdict

    path = tmp_path / "blessing.json"
    path.write_text(json.dumps({"blessed": False, "checks": [
        {"metric": "ks_max", "passed": False}, {"metric": "prd_auc", "passed": True},
        {"metric": "sf_ratio_max_deviation", "passed": False}]}))
    assert blessing_verdict(False, path) == (
        "NOT BLESSED (failed: ks_max, sf_ratio_max_deviation); exported anyway because "
        "export.force = true")
    assert blessing_verdict(True, path) == "BLESSED"
    assert blessing_verdict(False, tmp_path / "missing.json").startswith(
        "NOT BLESSED (failed: see blessing.json)")


def test_evaluate_takes_a_pretrained_name(saved_model, dataset, config_file, tmp_path,
                                          monkeypatch):
    """A pretrained model's name works as --model (hash-checked like generate)."""
    import shutil

    from tfcalo.export import pretrained
    from tfcalo.export.integrity import CARD_KEY, export_content_hash

    shipped = tmp_path / "pretrained" / "tiny-g4"
    shutil.copytree(saved_model, shipped)
    card = json.loads((shipped / "model_card.json").read_text())
    card[CARD_KEY] = export_content_hash(shipped)
    (shipped / "model_card.json").write_text(json.dumps(card))
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "pretrained")
    monkeypatch.chdir(tmp_path)
    res = _run("evaluate", "--model", "tiny-g4", "--data", dataset, "--out", "e",
               "--config", config_file, "--set", "speed.enabled=false")
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["provenance"]["model"] == str(shipped.resolve())
    _one_error_line(_run("evaluate", "--model", "tiny-g5", "--data", dataset, "--out", "f"),
                    r"model path tiny-g5 does not exist nor a pretrained model \(tiny-g4\)")
