"""One seeded generation path (issue 9, section 5): the same seed and conditions give the same
showers through ConditionalGAN.generate, a Sampler (over a generator, a run directory or a
SavedModel) and the reloaded SavedModel's ``generate`` signature; the noise is
tfcalo.models.noise.latent_noise, whose rows do not depend on how showers are batched."""

from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfcalo.training.build as builder  # noqa: E402
from tfcalo.detectors import get_detector  # noqa: E402
from tfcalo.export.sampling import Sampler, load_sampler  # noqa: E402
from tfcalo.export.savedmodel import build_card, verification_inputs, write_saved_model  # noqa: E402
from tfcalo.models.noise import NOISE_CHUNK, latent_noise, noise_batches  # noqa: E402

SEED = 11
DET = get_detector("lhcb-ecal")
CONFIG = {"latent_dim": 4, "generator": {"filters": 2},
          "discriminator": {"filters": 2, "hidden": 4}}


# --------------------------------------------------------------------------- the noise


def test_noise_follows_the_documented_rule():
    """Row i is row i % NOISE_CHUNK of stateless_normal((NOISE_CHUNK, d), [seed, i // C])."""
    d = 3
    rows = latent_noise(SEED, 2 * NOISE_CHUNK + 5, d).numpy()
    for i in (0, 1, NOISE_CHUNK - 1, NOISE_CHUNK, 2 * NOISE_CHUNK + 4):
        chunk = tf.random.stateless_normal((NOISE_CHUNK, d), seed=[SEED, i // NOISE_CHUNK])
        np.testing.assert_array_equal(rows[i], chunk[i % NOISE_CHUNK].numpy())
    assert rows.dtype == np.float32 and abs(rows.mean()) < 0.1 and abs(rows.std() - 1) < 0.1


@pytest.mark.parametrize("start,n", [(0, 0), (0, 1), (5, 3), (NOISE_CHUNK - 2, 5),
                                     (NOISE_CHUNK, NOISE_CHUNK), (7, 2 * NOISE_CHUNK + 1)])
def test_noise_slices_agree_eagerly_and_in_a_graph(start, n):
    whole = latent_noise(SEED, 3 * NOISE_CHUNK + 20, 4).numpy()
    eager = latent_noise(SEED, n, 4, start=start).numpy()
    graph = tf.function(lambda s, k, st: latent_noise(s, k, 4, start=st))(
        tf.constant(SEED, tf.int64), tf.constant(n), tf.constant(start))
    assert eager.shape == (n, 4)
    np.testing.assert_array_equal(eager, whole[start:start + n])
    np.testing.assert_array_equal(graph.numpy(), eager)


@pytest.mark.parametrize("batch_size", [1, 3, NOISE_CHUNK, NOISE_CHUNK + 1, 1000])
def test_noise_batches_do_not_depend_on_the_batch_size(batch_size):
    n = 2 * NOISE_CHUNK + 9
    parts = list(noise_batches(n, SEED, 4, batch_size))
    assert [start for start, _ in parts] == list(range(0, n, batch_size))
    np.testing.assert_array_equal(np.concatenate([z for _, z in parts]),
                                  latent_noise(SEED, n, 4).numpy())
    assert not np.array_equal(latent_noise(SEED + 1, n, 4).numpy(), latent_noise(SEED, n, 4))


# --------------------------------------------------------------------------- three paths


@pytest.fixture(scope="module")
def gan():
    return builder.build("sagan", DET, CONFIG, {})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, gan):
    """A real run directory: run.json + generator.weights.h5 (load_generator rebuilds it)."""
    path = tmp_path_factory.mktemp("run")
    gan.generator.save_weights(str(path / "generator.weights.h5"))
    (path / "run.json").write_text(json.dumps(
        {"model": "sagan", "detector": DET.name, "config": CONFIG}))
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory, gan):
    """The generator's SavedModel with its card (as load_sampler expects it)."""
    path = tmp_path_factory.mktemp("saved")
    write_saved_model(gan.generator, DET, path)
    card = build_card(DET, gan.generator.latent_dim, training_data_hash=None, metrics={},
                      blessing=None)
    (path / "model_card.json").write_text(json.dumps(card))
    return path


def _conditions(n: int) -> np.ndarray:
    return verification_inputs(DET, 1, n)[1]


@pytest.mark.parametrize("n", [1, 5, NOISE_CHUNK + 44])
def test_same_seed_same_showers_on_every_path(gan, run_dir, saved, n):
    cond = _conditions(n)
    expected = gan.generate(cond, seed=SEED, batch_size=7)
    assert expected.shape == (n, *DET.shower_shape) and expected.max() > 0
    loaded = tf.saved_model.load(str(saved))
    paths = {
        "ConditionalGAN.generate, one batch": gan.generate(cond, seed=SEED),
        "Sampler over the generator": Sampler.from_generator(gan.generator, DET).sample(
            cond, seed=SEED, batch_size=2),
        "Sampler over the run directory": load_sampler(run_dir).sample(cond, seed=SEED,
                                                                       batch_size=64),
        "Sampler over the SavedModel": load_sampler(saved).sample(cond, seed=SEED,
                                                                  batch_size=NOISE_CHUNK),
        "SavedModel generate signature": loaded.signatures["generate"](
            conditions=tf.constant(cond), seed=tf.constant(SEED, tf.int64))["showers"].numpy(),
        "SavedModel generate, Python call": loaded.generate(
            tf.constant(cond), tf.constant(SEED, tf.int64))["showers"].numpy(),
    }
    tol = 1e-5 * max(1.0, float(np.abs(expected).max()))
    for name, got in paths.items():
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=tol, err_msg=name)
    other = gan.generate(cond, seed=SEED + 1)
    assert np.abs(other - expected).max() > 100 * tol
