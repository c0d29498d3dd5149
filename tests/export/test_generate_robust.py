"""`tfcalo generate` under hostile input and faults (issue 10, sections 3, 4, 5 and 7).

- conditions that are not finite in float32 are refused; out-of-range ones warn (one line);
- seeds outside 0 <= seed < 2**63 are refused with one sentence;
- generation is chunked: memory flat in n, chunked output == one-shot output for a seed, and
  a killed generate leaves no temporary file;
- a model card that contradicts its SavedModel is refused with one sentence;
- exports record a content hash; a changed file (tampered variables) is refused, and
  pretrained models are always verified.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_helpers import assert_one_sentence_error, invoke
from tiny_generators import TinyGenerator

from tfcalo.errors import ArtifactError, ConfigError
from tfcalo.export import pretrained, sampling
from tfcalo.export.integrity import export_content_hash, verify_export_hash
from tfcalo.export.sampling import Sampler, generate_to_file, load_sampler
from tfcalo.export.savedmodel import build_card, export_generator, write_saved_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A verified lhcb-ecal export of a tiny generator (records its content hash)."""
    out = tmp_path_factory.mktemp("exp") / "model"
    export_generator(TinyGenerator("lhcb-ecal", latent_dim=4, seed=3), "lhcb-ecal", out,
                     force=True, condition_ranges=[[-1, 1], [-1, 1], [0, 0], [-1, 1],
                                                   [-1, 1], [1, 100]])
    return out


def copy_export(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------- conditions


@pytest.mark.parametrize("energy", ["inf", "1e39", "nan", "-inf"])
def test_non_finite_energy_is_refused(exported, tmp_path, energy):
    out = tmp_path / "o.h5"
    result = invoke("generate", exported, "--energy", energy, "-o", out)
    assert_one_sentence_error(result, "--energy")
    assert list(tmp_path.iterdir()) == []


def test_overflowing_momentum_is_refused(exported, tmp_path):
    result = invoke("generate", exported, "--energy", 10, "--px", "1e39", "-o",
                    tmp_path / "o.h5")
    assert_one_sentence_error(result, "--px", "float32")


def test_energy_outside_the_training_range_warns_once(exported, tmp_path):
    result = invoke("generate", exported, "--energy", "1e30", "-n", 3, "-o", tmp_path / "a.h5")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("Warning: "), result.stderr
    assert "pz 1e+30 (range 1 to 100 GeV)" in warnings[0]
    inside = invoke("generate", exported, "--energy", 50, "-o", tmp_path / "b.h5")
    assert inside.exit_code == 0 and inside.stderr.strip() == "", inside.stderr


def test_conditions_file_outside_the_range_counts_rows(exported, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("x,y,z,px,py,pz\n0,0,0,0,0,10\n0,0,0,0,0,500\n5,0,0,0,0,20\n")
    result = invoke("generate", exported, "--conditions", csv, "-o", tmp_path / "o.h5")
    assert result.exit_code == 0, result.output
    [warning] = result.stderr.strip().splitlines()
    assert "x 1 of 3 rows, e.g. 5 (range -1 to 1 cm)" in warning
    assert "pz 1 of 3 rows, e.g. 500" in warning


def nan_sampler(detector: str = "cern-ecal") -> Sampler:
    """A numpy sampler whose showers are NaN above Ep = 1000 GeV (and depend on the noise)."""
    det = sampling.get_detector(detector)

    def from_noise(noise, cond):
        e = cond[:, :1]
        out = np.where(e > 1000, np.nan, e * (1 + 0.1 * noise[:, :1]))
        return np.broadcast_to(out.reshape(-1, *([1] * len(det.shower_shape))),
                               (len(cond), *det.shower_shape)).astype(np.float32)

    return Sampler(det, {"detector": det.name}, 2, from_noise)


def test_non_finite_showers_are_refused_and_nothing_is_written(tmp_path):
    rows = np.array([[10.0], [20.0], [1e30]], np.float32)
    with pytest.raises(ConfigError, match=r"NaN or infinite energies for shower 3 \(Ep = 1e\+30\)"):
        generate_to_file(nan_sampler(), rows, tmp_path / "o.h5", batch_size=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [str(2**63), "-1", "1e3"])
def test_seed_out_of_range_is_one_sentence(exported, tmp_path, seed):
    result = invoke("generate", exported, "--energy", 50, "--seed", seed, "-o",
                    tmp_path / "o.h5")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "--seed" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_largest_seed_works_and_library_refuses_bigger(exported, tmp_path):
    result = invoke("generate", exported, "--energy", 50, "--seed", 2**63 - 1, "-o",
                    tmp_path / "o.h5")
    assert result.exit_code == 0, result.output
    with pytest.raises(ConfigError, match=r"0 <= seed < 2\*\*63; got 9223372036854775808"):
        nan_sampler().sample(np.array([[5.0]]), seed=2**63)


# --------------------------------------------------------------------------- chunks


def test_chunked_output_equals_one_shot_output(tmp_path):
    s = nan_sampler()
    rows = np.array([[3.0], [7.0], [50.0], [400.0], [2.5]], np.float32)
    n = 300  # more than two noise chunks of 128 rows; batches of 64 split them
    seen = []
    generate_to_file(s, rows, tmp_path / "chunked.h5", seed=11, n=n, batch_size=64,
                     progress=seen.append)
    generate_to_file(s, rows, tmp_path / "one.h5", seed=11, n=n, batch_size=n)
    with h5py.File(tmp_path / "chunked.h5") as a, h5py.File(tmp_path / "one.h5") as b:
        chunked, one = a["ECAL"][:], b["ECAL"][:]
        energies = a["energy"][:]
    np.testing.assert_array_equal(chunked, one)
    cycled = rows[np.arange(n) % len(rows)]
    np.testing.assert_array_equal(energies, cycled[:, 0])
    np.testing.assert_array_equal(one, s.sample(cycled, seed=11))
    assert seen == [64, 64, 64, 64, 44]


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_n(tmp_path):
    """Peak Python memory of 200,000 showers is that of 20,000: one batch of 10,000 (the
    cycled conditions alone would be 2.4 MB, the indices 1.6 MB; a batch is ~0.8 MB)."""
    s = nan_sampler("rich-pid")
    rows = np.array([[10.0, 3.0, 100.0], [20.0, 4.0, 200.0], [5.0, 2.5, 50.0]], np.float32)

    def run(n: int, name: str):
        return lambda: generate_to_file(s, rows, tmp_path / name, seed=1, n=n,
                                        batch_size=10_000)

    run(400, "warm.h5")()
    small = peak_bytes(run(20_000, "small.h5"))
    large = peak_bytes(run(200_000, "large.h5"))
    assert large <= 1.5 * small, (small, large)
    with h5py.File(tmp_path / "large.h5") as f:
        assert f["p"].shape == (200_000,)
        np.testing.assert_array_equal(f["nTracks"][-3:], [50, 100, 200])  # row i % 3


def test_stale_temporary_file_of_a_killed_generate_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".o.h5.tmp-{sampling._HOST}-{dead}-0123abcd"
    live = tmp_path / f".o.h5.tmp-{sampling._HOST}-{os.getpid()}-0123abcd"
    stale.write_bytes(b"half")
    live.write_bytes(b"busy")
    generate_to_file(nan_sampler(), np.array([[5.0]]), tmp_path / "o.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "o.h5"]


def test_terminated_generate_leaves_no_temporary_file(tmp_path):
    gen = TinyGenerator("cern-ecal", latent_dim=3, seed=2)
    model = tmp_path / "model"
    write_saved_model(gen, gen.detector, model)
    card = build_card(gen.detector, 3, training_data_hash=None, metrics={}, blessing=None)
    (model / "model_card.json").write_text(json.dumps(card))
    outdir = tmp_path / "out"
    outdir.mkdir()
    cmd = [sys.executable, "-m", "tfcalo.cli", "generate", str(model), "--energy", "50",
           "-n", str(10**9), "--batch-size", "16", "-o", str(outdir / "s.h5")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while (not list(outdir.glob(".s.h5.tmp-*")) and proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert list(outdir.iterdir()) == [], output


# --------------------------------------------------------------------------- model cards


@pytest.mark.parametrize("change, fragments", [
    ({"latent_dim": "abc"}, ["latent_dim 'abc', not a positive integer"]),
    ({"latent_dim": 0}, ["latent_dim 0"]),
    ({"detector": "cern-ecal"}, ["does not describe the SavedModel", "cern-ecal"]),
    ({"detector": "nope"}, ["names detector 'nope'"]),
    ({"detector": ["lhcb-ecal"]}, ["names detector ['lhcb-ecal']"]),
    ({"latent_dim": 5}, ["does not describe", "noise of length 4"]),
])
def test_card_that_contradicts_the_model_is_one_sentence(exported, tmp_path, change, fragments):
    model = copy_export(exported, tmp_path / "m")
    card = json.loads((model / "model_card.json").read_text())
    (model / "model_card.json").write_text(json.dumps({**card, **change}))
    result = invoke("generate", model, "--energy", 50, "-o", tmp_path / "o.h5")
    assert_one_sentence_error(result, *fragments)
    assert not (tmp_path / "o.h5").exists()


# --------------------------------------------------------------------------- trust


def test_export_records_its_content_hash(exported):
    card = json.loads((exported / "model_card.json").read_text())
    record = card["content_hash"]
    assert record == export_content_hash(exported) == verify_export_hash(exported)
    assert "saved_model.pb" in record["files"] and "model_card.json" not in record["files"]
    assert any(f.startswith("variables/variables.data") for f in record["files"])


def test_tampered_variables_are_refused(exported, tmp_path):
    model = copy_export(exported, tmp_path / "m")
    (model / "metrics.json").write_text("{}")  # files beside the model are not covered
    verify_export_hash(model)
    [data] = (model / "variables").glob("variables.data-*")
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="does not match the content hash"):
        verify_export_hash(model)
    result = invoke("generate", model, "--energy", 50, "-o", tmp_path / "o.h5")
    assert_one_sentence_error(result, "does not match the content hash")
    (model / "variables" / "extra.bin").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="added variables/extra.bin"):
        verify_export_hash(model)


def test_pretrained_models_are_found_by_name_and_verified(exported, tmp_path, monkeypatch):
    shipped = tmp_path / "pretrained"
    copy_export(exported, shipped / "tiny")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", shipped)
    monkeypatch.chdir(tmp_path)
    assert pretrained.pretrained_names() == ["tiny"]
    result = invoke("generate", "tiny", "--energy", 50, "-o", "a.h5")
    assert result.exit_code == 0, result.output
    assert_one_sentence_error(invoke("generate", "tiyn", "--energy", 50, "-o", "b.h5"),
                              "does not exist nor a pretrained model (tiny)")
    # a pretrained model must carry a hash, and match it
    card = json.loads((shipped / "tiny" / "model_card.json").read_text())
    (shipped / "tiny" / "model_card.json").write_text(
        json.dumps({k: v for k, v in card.items() if k != "content_hash"}))
    with pytest.raises(ArtifactError, match="records no content hash"):
        load_sampler("tiny")
    (shipped / "tiny" / "model_card.json").write_text(json.dumps(card))
    (shipped / "tiny" / "saved_model.pb").write_bytes(
        (shipped / "tiny" / "saved_model.pb").read_bytes() + b"\0")
    assert_one_sentence_error(invoke("generate", "tiny", "--energy", 50, "-o", "c.h5"),
                              "does not match the content hash")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "pretrained"]


def test_help_and_readme_say_a_saved_model_is_a_program():
    text = invoke("generate", "--help").output
    assert "A SavedModel is a program" in text and "trust" in text
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "A SavedModel is a program" in readme
