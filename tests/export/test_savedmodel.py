"""tfcalo.export.savedmodel (and .onnx): SavedModel signatures, model card, blessing, self-verification, ONNX."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tiny_generators import EagerOnlyShift, TinyGenerator, TinyModule

from tfcalo.errors import ArtifactError, NotBlessedError, OutputExistsError
from tfcalo.export.savedmodel import (
    VerificationError,
    check_blessing,
    export_generator,
    read_blessing,
    verification_inputs,
)


@pytest.fixture(scope="module")
def lhcb_gen():
    return TinyGenerator("lhcb-ecal", latent_dim=4)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    """A blessed evaluation artifact with metrics."""
    d = tmp_path_factory.mktemp("eval")
    (d / "blessing.json").write_text(json.dumps({"blessed": True, "checks": []}))
    (d / "metrics.json").write_text(json.dumps({"prd_auc": 0.81, "fpd": 0.02}))
    return d


@pytest.fixture(scope="module")
def exported(tmp_path_factory, lhcb_gen, evaluation):
    """One blessed export with ONNX (shared by most tests: exports take seconds)."""
    out = tmp_path_factory.mktemp("exp") / "model"
    card = export_generator(lhcb_gen, "lhcb-ecal", out, blessing=evaluation, onnx=True,
                            training_data_hash="abc123", metrics={"prd_auc": 0.81},
                            model="tiny")
    return out, card


def test_card_contents(exported):
    out, card = exported
    on_disk = json.loads((out / "model_card.json").read_text())
    assert on_disk == card
    assert card["detector"] == "lhcb-ecal"
    assert card["condition_names"] == ["x", "y", "z", "px", "py", "pz"]
    assert [c["unit"] for c in card["conditions"]] == ["cm"] * 3 + ["GeV"] * 3
    assert card["conditions"][5]["range"] == [0.0, 200.0]
    assert card["shower_shape"] == [30, 30] and card["energy_unit"] == "MeV"
    assert card["latent_dim"] == 4 and card["training_data_hash"] == "abc123"
    assert card["metrics"] == {"prd_auc": 0.81}
    assert card["blessing"]["blessed"] is True and card["blessing"]["forced"] is False
    assert set(card["versions"]) >= {"tfcalo", "tensorflow", "keras"}
    assert card["created"].endswith("+00:00")
    ver = card["verification"]
    assert ver["max_abs_diff"] <= ver["tolerance"] < 1e-3
    assert ver["seed_reproducible"] and ver["seeds_differ"]
    assert ver["fresh_process_imports_tfcalo"] is False
    assert {"generate", "generate_from_noise", "serving_default"} <= set(ver["signatures"])
    # no temporary siblings left behind
    assert [p.name for p in out.parent.iterdir()] == ["model"]


CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    m = tf.saved_model.load(sys.argv[1])
    noise = np.load(sys.argv[2] + "/noise.npy"); cond = np.load(sys.argv[2] + "/cond.npy")
    a = m.generate_from_noise(noise, cond)["showers"].numpy()
    b = m.signatures["generate_from_noise"](noise=tf.constant(noise),
                                            conditions=tf.constant(cond))["showers"].numpy()
    s1 = m.generate(cond, seed=5)["showers"].numpy()
    s2 = m.signatures["generate"](conditions=tf.constant(cond),
                                  seed=tf.constant(5, tf.int64))["showers"].numpy()
    s3 = m.generate(cond, seed=6)["showers"].numpy()
    r1 = m.generate(cond)["showers"].numpy(); r2 = m.generate(cond)["showers"].numpy()
    np.save(sys.argv[2] + "/a.npy", a)
    print(json.dumps({
        "tfcalo": [k for k in sys.modules if k.split(".")[0] == "tfcalo"],
        "attr_eq_sig": bool(np.array_equal(a, b)),
        "same_seed": bool(np.array_equal(s1, s2)),
        "diff_seed": float(np.max(np.abs(s1 - s3))),
        "unseeded_differ": float(np.max(np.abs(r1 - r2))),
        "shape": list(s1.shape),
    }))
""")


def test_loads_in_process_without_tfcalo(exported, lhcb_gen, tmp_path):
    out, _ = exported
    noise, cond = verification_inputs(lhcb_gen.detector, 4, n=5, seed=9)
    np.save(tmp_path / "noise.npy", noise)
    np.save(tmp_path / "cond.npy", cond)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out), str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["tfcalo"] == []
    assert res["attr_eq_sig"] and res["same_seed"]
    assert res["diff_seed"] > 1e-3 and res["unseeded_differ"] > 1e-3
    assert res["shape"] == [5, 30, 30]
    expected = np.asarray(lhcb_gen([noise, cond], training=False))
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), expected, rtol=1e-5, atol=1e-6)


def test_seeded_generate_uses_latent_noise(exported, lhcb_gen):
    import tensorflow as tf

    from tfcalo.models.noise import latent_noise

    out, _ = exported
    m = tf.saved_model.load(str(out))
    cond = np.tile(np.array([[1, -2, 0, 0, 0, 50]], np.float32), (3, 1))
    got = m.generate(cond, seed=11)["showers"].numpy()
    noise = latent_noise(11, 3, 4)
    np.testing.assert_allclose(got, lhcb_gen([noise, cond]), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got, m.generate(cond, seed=11)["showers"].numpy())
    assert not np.array_equal(got, m.generate(cond, seed=12)["showers"].numpy())


def test_onnx_agrees_with_tensorflow(exported, lhcb_gen):
    import onnxruntime as ort

    out, card = exported
    assert card["onnx"]["max_abs_diff"] <= card["onnx"]["tolerance"]
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    noise, cond = verification_inputs(lhcb_gen.detector, 4, n=6, seed=3)
    feeds = {i.name: (noise if "noise" in i.name else cond) for i in sess.get_inputs()}
    got = sess.run(None, feeds)[0]
    np.testing.assert_allclose(got, lhcb_gen([noise, cond]), rtol=1e-5, atol=1e-5)


def test_refuses_existing_output(exported, lhcb_gen):
    out, _ = exported
    with pytest.raises(OutputExistsError):
        export_generator(lhcb_gen, "lhcb-ecal", out, blessing=True)


@pytest.mark.parametrize("blessing", [None, False, {"blessed": False}])
def test_unblessed_refused_and_nothing_written(tmp_path, lhcb_gen, blessing):
    with pytest.raises(NotBlessedError, match="force"):
        export_generator(lhcb_gen, "lhcb-ecal", tmp_path / "m", blessing=blessing)
    assert list(tmp_path.iterdir()) == []


def test_unblessed_evaluation_names_failed_checks(tmp_path):
    (tmp_path / "blessing.json").write_text(json.dumps(
        {"blessed": False, "checks": [{"metric": "prd_auc", "passed": False},
                                      {"metric": "fpd", "passed": True}]}))
    with pytest.raises(NotBlessedError) as info:
        check_blessing(tmp_path, force=False, model="model runs/x")
    msg = str(info.value)
    assert "blessing.json" in msg and "prd_auc" in msg and "fpd" not in msg
    assert check_blessing(tmp_path, force=True)["forced"] is True


def test_bad_blessing_artifacts(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        read_blessing(tmp_path / "nope")
    with pytest.raises(ArtifactError, match="no blessing.json"):
        read_blessing(tmp_path)
    (tmp_path / "blessing.json").write_text("{\"blessed\": \"yes\"}")
    with pytest.raises(ArtifactError, match="boolean 'blessed'"):
        read_blessing(tmp_path)
    (tmp_path / "blessing.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not readable JSON"):
        read_blessing(tmp_path)


def test_force_exports_tf_module(tmp_path):
    """An unblessed tf.Module generator (ensemble-like) exports with force=True."""
    import tensorflow as tf

    gen = TinyModule("rich-pid", latent_dim=3)
    card = export_generator(gen, "rich-pid", tmp_path / "m", blessing=False, force=True)
    assert card["blessing"] == {"blessed": False, "source": "argument", "forced": True}
    m = tf.saved_model.load(str(tmp_path / "m"))
    noise, cond = verification_inputs(gen.detector, 3, n=4)
    np.testing.assert_allclose(m.generate_from_noise(noise, cond)["showers"].numpy(),
                               gen([noise, cond]).numpy(), rtol=1e-6, atol=1e-6)


def test_failed_verification_leaves_nothing(tmp_path):
    gen = EagerOnlyShift("rich-pid", latent_dim=2)
    with pytest.raises(VerificationError, match="differs from the generator by 1"):
        export_generator(gen, "rich-pid", tmp_path / "m", blessing=True)
    assert list(tmp_path.iterdir()) == []


def test_failed_reload_leaves_nothing(tmp_path, monkeypatch):
    import tfcalo.export.savedmodel as ex

    monkeypatch.setattr(ex, "_CHILD", "import sys; sys.exit('cannot load')")
    with pytest.raises(VerificationError, match="fresh process failed .*cannot load"):
        export_generator(TinyModule("rich-pid", 2), "rich-pid", tmp_path / "m", blessing=True)
    assert list(tmp_path.iterdir()) == []


def test_training_condition_ranges_come_from_run_stats():
    from tfcalo.detectors import get_detector
    from tfcalo.export.savedmodel import training_condition_ranges

    det = get_detector("cern-ecal")
    info = {"stats": {"conditions": {"Ep": {"min": 2.0, "max": 480.0, "mean": 90.0}}}}
    assert training_condition_ranges(info, det) == [[2.0, 480.0]]
    assert training_condition_ranges({}, det) is None
    noise, cond = verification_inputs(det, 3, n=50, ranges=[[10.0, 20.0]])
    assert cond.min() >= 10.0 and cond.max() <= 20.0
