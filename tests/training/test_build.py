"""tfcalo.training.build: config -> GAN (build API, config validation, reload) and the run
record reader (tfcalo.training.run_record)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from train_helpers import TINY_NETS, mid_range_conditions

tf = pytest.importorskip("tensorflow")

import tfcalo.training.build as B  # noqa: E402
from tfcalo.detectors import get_detector  # noqa: E402
from tfcalo.errors import ArtifactError, ConfigError, UnknownNameError  # noqa: E402
from tfcalo.training.run_record import data_hash, read_run  # noqa: E402

PAIRS = [("2dgan", "cern-ecal"), ("sagan", "lhcb-ecal"), ("cramer", "rich-pid"),
         ("cramer", "lhcb-ecal")]


@pytest.mark.parametrize("name,detector", PAIRS)
def test_build_contract(name, detector):
    det = get_detector(detector)
    gan = B.build(name, detector, TINY_NETS[name], {})
    g, d = gan.generator, gan.discriminator
    c = mid_range_conditions(det)
    z = np.zeros((3, g.latent_dim), "float32")
    x = g([z, c], training=False).numpy()
    assert x.shape == (3, *det.shower_shape)
    if det.nonnegative:
        assert (x >= 0).all()
    out = d([x, c], training=False)
    assert out["score"].shape == (3, gan.objective.critic_out_dim)
    if name == "2dgan":  # the total-energy head is the image sum
        np.testing.assert_allclose(out["etot"].numpy(), x.reshape(3, -1).sum(1), rtol=1e-5)
        assert out["ep"].shape == (3,)
    if name == "sagan":
        assert out["aux"].shape == (3, len(gan.aux["targets"]))
    assert gan.generate(c, seed=3).shape == x.shape
    np.testing.assert_array_equal(gan.generate(c, seed=3), gan.generate(c, seed=3))


def test_default_config_is_complete_and_builds():
    for name, detector in PAIRS:
        cfg = B.default_config(name, detector)
        assert {"latent_dim", "seed", "critic_steps", "objective", "optimizer", "generator",
                "discriminator", "transform"} <= set(cfg)
        assert B.resolve_config(name, detector, cfg).latent_dim == cfg["latent_dim"]
    assert B.default_config("2dgan", "cern-ecal")["objective"] == {
        "name": "bce", "gp_weight": 10.0, "one_sided": False, "adv_weight": 6.0,
        "ep_weight": 0.2, "etot_weight": 0.1, "profile_weight": 0.0, "moment_weight": 0.0,
        "moment_balance": "features"}
    assert B.MODEL_NAMES == ("2dgan", "sagan", "cramer")


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="did you mean 'generator.filters'"):
        B.resolve_config("sagan", "lhcb-ecal", {"generator": {"filter": 3}})
    with pytest.raises(ConfigError, match="did you mean 'latent_dim'"):
        B.resolve_config("sagan", "lhcb-ecal", {"latent_dims": 3})
    with pytest.raises(ConfigError, match="objective.name"):
        B.resolve_config("sagan", "lhcb-ecal", {"objective": {"name": "hing"}})
    with pytest.raises(ConfigError, match="discriminator.aux_mode"):
        B.resolve_config("sagan", "lhcb-ecal", {"discriminator": {"aux_mode": "twostep"}})
    with pytest.raises(ConfigError, match="does not support detector 'lhcb-ecal'"):
        B.default_config("2dgan", "lhcb-ecal")
    with pytest.raises(UnknownNameError, match="did you mean 'sagan'"):
        B.build("sagn", "lhcb-ecal", {}, {})
    with pytest.raises(ConfigError, match="aux_targets"):
        B.build("sagan", "lhcb-ecal", {"discriminator": {"aux_targets": ["asymetry_long"]}}, {})
    with pytest.raises(ConfigError, match="aux_scales"):
        B.build("sagan", "lhcb-ecal", {"discriminator": {"aux_scales": [1.0, 2.0]}}, {})


def test_load_generator_round_trip(tmp_path):
    stats = {"cell_max": 3000.0}
    gan = B.build("sagan", "lhcb-ecal", TINY_NETS["sagan"], stats)
    gan.generator.save_weights(str(tmp_path / "generator.weights.h5"))
    (tmp_path / "run.json").write_text(json.dumps(
        {"model": "sagan", "detector": "lhcb-ecal", "config": TINY_NETS["sagan"]}))
    g = B.load_generator(tmp_path)  # no stats in run.json: transforms come from the weights
    c = mid_range_conditions(get_detector("lhcb-ecal"))
    z = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    np.testing.assert_allclose(g([z, c]).numpy(), gan.generator([z, c]).numpy(), rtol=1e-5)
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(ArtifactError, match="run.json"):
        B.load_generator(tmp_path)
    with pytest.raises(ArtifactError, match="no run.json"):
        B.load_generator(tmp_path / "missing")


def test_build_is_reproducible_and_leaves_the_global_random_state_alone():
    import random

    random.seed(5)
    np.random.seed(5)
    tf.random.set_seed(5)
    expected = (random.random(), np.random.random(), float(tf.random.uniform(())))
    random.seed(5)
    np.random.seed(5)
    tf.random.set_seed(5)
    first = B.build("sagan", "lhcb-ecal", {**TINY_NETS["sagan"], "seed": 3})
    second = B.build("sagan", "lhcb-ecal", {**TINY_NETS["sagan"], "seed": 3})
    assert (random.random(), np.random.random(), float(tf.random.uniform(()))) == expected
    for x, y in zip(first.generator.get_weights(), second.generator.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    other = B.build("sagan", "lhcb-ecal", {**TINY_NETS["sagan"], "seed": 4})
    assert not all(np.array_equal(x, y) for x, y in
                   zip(first.generator.get_weights(), other.generator.get_weights(), strict=True))


def test_read_run_names_what_is_wrong(tmp_path):
    with pytest.raises(ArtifactError, match="no run.json"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text("[1]")
    with pytest.raises(ArtifactError, match="JSON object"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"model": "sagan", "data": {"content_hash": "h"}}))
    assert read_run(tmp_path)["model"] == "sagan"
    with pytest.raises(ArtifactError, match="needs model, detector.*detector"):
        read_run(tmp_path, required=("model", "detector"))
    assert data_hash(read_run(tmp_path)) == "h" and data_hash({}) is None
