"""ConditionalGAN: seeded reproducibility, noise, regressor pretraining/freezing, targets."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfcalo.training.build as builder  # noqa: E402
from tfcalo.detectors import get_detector  # noqa: E402
from tfcalo.errors import ConfigError  # noqa: E402
from tfcalo.training.gan import with_regression_targets  # noqa: E402
from tfcalo.training.strategy import get_strategy  # noqa: E402

RICH = {"latent_dim": 3, "critic_steps": 2, "generator": {"hidden": [8]},
        "discriminator": {"hidden": [8], "critic_dim": 3}}
SAGAN = {"latent_dim": 3, "generator": {"filters": 2}, "discriminator": {"filters": 2, "hidden": 4}}


def _data(detector, n=8, seed=0):
    det = get_detector(detector)
    rng = np.random.default_rng(seed)
    lo = np.array([r[0] for r in det.condition_ranges])
    hi = np.array([r[1] for r in det.condition_ranges])
    c = (lo + (hi - lo) * rng.random((n, det.n_conditions))).astype("float32")
    s = np.abs(rng.normal(size=(n, *det.shower_shape))).astype("float32") * 100
    return s, c, np.ones(n, "float32")


def _weights(gan):
    return [w.copy() for w in gan.generator.get_weights() + gan.discriminator.get_weights()]


def _train(seed, steps=3):
    gan = builder.build("cramer", "rich-pid", {**RICH, "seed": seed}, {})
    gan.compile()
    ds = tf.data.Dataset.from_tensor_slices(_data("rich-pid")).repeat(steps).batch(8)
    hist = gan.fit(ds, epochs=1, verbose=0, shuffle=False)
    return gan, hist


def test_same_seed_same_weights():
    a, hist = _train(7)
    b, _ = _train(7)
    c, _ = _train(8)
    for x, y in zip(_weights(a), _weights(b), strict=False):
        np.testing.assert_array_equal(x, y)
    assert any(np.abs(x - y).max() > 0 for x, y in zip(_weights(a), _weights(c), strict=False))
    assert set(hist.history) == {"d_adv", "d_gp", "d_loss", "g_adv", "g_loss"}
    assert all(np.isfinite(v[-1]) for v in hist.history.values())


def test_default_noise_distributions_and_fresh_draws():
    gan = builder.build("cramer", "rich-pid", RICH, {})
    gan.compile()
    cond = tf.ones((20000, 3))
    u = gan.draw("uniform", cond, 1).numpy()
    z = gan.draw("latent", cond, 1).numpy()
    assert u.min() >= 0 and u.max() <= 1 and abs(u.mean() - 0.5) < 0.01
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
    assert np.abs(gan.draw("latent", cond[:4], 3, 0) - gan.draw("latent", cond[:4], 3, 1)).min() > 0
    np.testing.assert_array_equal(gan.draw("latent", cond[:4], 3), gan.draw("latent", cond[:4], 3))


def test_latent_and_latent2_are_independent_draws():
    # The Cramér objective needs two INDEPENDENT generated samples per condition: identical
    # noise makes the energy distance's repulsive term vanish and the generator collapses.
    gan = builder.build("cramer", "rich-pid", RICH, {})
    gan.compile()
    cond = tf.ones((20000, 3))
    for index in (0, 1):
        z = gan.draw("latent", cond, 2, index).numpy().ravel()
        z2 = gan.draw("latent2", cond, 2, index).numpy().ravel()
        assert np.abs(z - z2).min() > 0
        assert abs(np.corrcoef(z, z2)[0, 1]) < 0.03  # 4 sigma at N = 40000
        assert abs(z2.mean()) < 0.03 and abs(z2.std() - 1) < 0.03
    # ... and the generated pair train_step uses differs in every example.
    fake, fake2 = gan.fakes(cond[:64], 0, training=False)
    assert np.abs(fake.numpy() - fake2.numpy()).max(axis=1).min() > 0
    with pytest.raises(ValueError, match="unknown noise kind 'latent3'"):
        gan.draw("latent3", cond, 2)


def test_gradient_norms_use_the_independent_second_sample(monkeypatch):
    # The gradient-norm callback must use the same (latent, latent2) pair as train_step:
    # forcing latent2 = latent changes the Cramér generator's gradient.
    from tfcalo.training.callbacks import gradient_norms

    gan = builder.build("cramer", "rich-pid", RICH, {})
    gan.compile()
    s, c, w = _data("rich-pid", n=32)
    norms = gradient_norms(gan, s, c, w)
    draw = gan.draw
    monkeypatch.setattr(gan, "draw", lambda kind, cond, dim, index=0: draw(
        "latent" if kind == "latent2" else kind, cond, dim, index))
    same = gradient_norms(gan, s, c, w)
    assert np.isfinite(norms["g_grad_norm"]) and np.isfinite(same["g_grad_norm"])
    assert abs(norms["g_grad_norm"] - same["g_grad_norm"]) > 1e-3 * norms["g_grad_norm"], (
        norms, same)


def test_critic_steps_update_counts():
    gan, _ = _train(0, steps=3)
    assert int(gan.d_optimizer.iterations) == 6 and int(gan.g_optimizer.iterations) == 3


def test_targets_element_equals_on_the_fly():
    s, c, w = _data("lhcb-ecal")
    results = []
    for precompute in (False, True):
        gan = builder.build("sagan", "lhcb-ecal", SAGAN, {})
        gan.compile()
        ds = tf.data.Dataset.from_tensor_slices((s, c, w)).batch(4)
        if precompute:
            ds = with_regression_targets(ds, "lhcb-ecal", gan.aux["targets"])
            assert ds.element_spec[3].shape.as_list() == [None, len(gan.aux["targets"])]
        hist = gan.fit(ds, epochs=1, verbose=0, shuffle=False)
        results.append((hist.history["d_aux"][-1], _weights(gan)))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    for x, y in zip(results[0][1], results[1][1], strict=False):
        np.testing.assert_allclose(x, y, atol=1e-6)


def test_two_step_pretrain_then_freeze():
    s, c, w = _data("lhcb-ecal")
    cfg = {**SAGAN, "discriminator": {**SAGAN["discriminator"], "aux_mode": "two-step"}}
    gan = builder.build("sagan", "lhcb-ecal", cfg, {})
    gan.compile()
    ds = tf.data.Dataset.from_tensor_slices((s, c, w)).batch(4).repeat()
    trunk0 = [v.numpy().copy() for v in gan.discriminator.trunk.weights]
    losses = [gan.pretrain_regressor(ds, steps=1, freeze=False) for _ in range(2)]
    assert all(np.isfinite(losses))
    trunk1 = [v.numpy().copy() for v in gan.discriminator.trunk.trainable_weights]
    assert any(np.abs(a - b).max() > 0 for a, b in zip(trunk0, trunk1, strict=False))
    gan.freeze_regressor(True)
    assert not gan.discriminator.trunk.trainable_weights
    head0 = [v.numpy().copy() for v in gan.discriminator.adv_head.trainable_weights]
    reg_vars = [v for v in gan.discriminator.regressor_head.weights if "sn_u" not in v.path]
    reg0 = [v.numpy().copy() for v in reg_vars]
    hist = gan.fit(ds.take(2), epochs=1, verbose=0, shuffle=False)
    assert "d_aux" not in hist.history and "d_adv" in hist.history  # hinge only
    for a, v in zip(reg0, reg_vars, strict=True):
        np.testing.assert_array_equal(a, v.numpy())  # frozen regressor unchanged
    for a, v in zip(trunk1, [v.numpy() for v in gan.discriminator.trunk.weights
                             if "sn_u" not in v.path], strict=False):
        np.testing.assert_array_equal(a, v)  # frozen trunk unchanged
    head1 = [v.numpy() for v in gan.discriminator.adv_head.trainable_weights]
    assert any(np.abs(a - b).max() > 0 for a, b in zip(head0, head1, strict=False))


def test_freeze_without_regressor_is_an_error():
    gan = builder.build("cramer", "rich-pid", RICH, {})
    with pytest.raises(ValueError, match="no auxiliary regressor"):
        gan.freeze_regressor(True)


def test_get_strategy_kinds(monkeypatch):
    assert get_strategy("default").num_replicas_in_sync == 1
    assert get_strategy("auto").num_replicas_in_sync == 1
    with pytest.raises(ConfigError, match="did you mean 'mirrored'"):
        get_strategy("mirored")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        get_strategy("multi-worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG is not valid JSON"):
        get_strategy("auto")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {}}))
    assert get_strategy("auto").num_replicas_in_sync == 1
    assert os.environ["TF_CONFIG"]
