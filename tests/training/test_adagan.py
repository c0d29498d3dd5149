"""AdaGAN boosting weights and the mixture generator (tfcalo.training.adagan)."""

from __future__ import annotations

import numpy as np
import pytest

from tfcalo.errors import ConfigError
from tfcalo.training import adagan


def test_weights_closed_form_two_groups():
    # 90 examples the ensemble covers (D = 1/2), 10 it misses (D = 1). With beta = 0.05,
    # h = (1-beta)(1-D)/D is 0.95 and 0; lambda* = N*beta/n_missed = 0.5 < 0.95, so all
    # the weight goes to the 10 missed examples, 1/10 each.
    d = np.r_[np.full(90, 0.5), np.ones(10)]
    w, lam = adagan.boosting_weights(d, beta=0.05)
    assert lam == pytest.approx(0.5, abs=1e-9)
    np.testing.assert_allclose(w[90:], 0.1, atol=1e-9)
    np.testing.assert_allclose(w[:90], 0.0, atol=1e-12)


def test_weights_constant_d_are_uniform():
    d = np.full(50, 0.7)
    beta = 0.2
    w, lam = adagan.boosting_weights(d, beta=beta)
    h = (1 - beta) * (1 - 0.7) / 0.7
    assert lam == pytest.approx(beta + h, abs=1e-9)
    np.testing.assert_allclose(w, 1 / 50, atol=1e-12)


def test_weights_formula_against_direct_evaluation():
    rng = np.random.default_rng(3)
    d = rng.uniform(0.3, 0.999, 1000)
    beta = 0.1
    w, lam = adagan.boosting_weights(d, beta=beta)
    direct = (1 / 1000) / beta * np.maximum(lam - (1 - beta) * (1 - d) / d, 0)
    assert direct.sum() == pytest.approx(1.0, abs=1e-9)  # lambda* normalises exactly
    np.testing.assert_allclose(w, direct / direct.sum(), rtol=1e-9)
    # Monotone: a more confident D never gets a smaller weight.
    order = np.argsort(d)
    assert np.all(np.diff(w[order]) >= -1e-15)


def test_weights_reject_bad_beta():
    with pytest.raises(ConfigError, match="beta"):
        adagan.boosting_weights(np.full(3, 0.5), beta=0.0)


def test_beta_rules_and_mixture_update():
    assert adagan.next_beta(1, "1/(t+1)") == pytest.approx(0.5)
    assert adagan.next_beta(4, 0.1) == pytest.approx(0.1)
    with pytest.raises(ConfigError):
        adagan.next_beta(1, "sqrt")
    b = adagan.updated_mixture([], 1.0)
    b = adagan.updated_mixture(b, 0.5)
    b = adagan.updated_mixture(b, 1 / 3)
    np.testing.assert_allclose(b, [1 / 3, 1 / 3, 1 / 3])


def test_two_mode_toy_weights_concentrate_on_missed_mode():
    # Real data: two well separated modes; GAN_0 only learned mode A.
    rng = np.random.default_rng(0)
    real = np.r_[rng.normal(-4, 1, (2000, 2)), rng.normal(4, 1, (2000, 2))]
    fake = rng.normal(-4, 1, (4000, 2))
    d, auc = adagan.mixdisc_probabilities(real, fake, seed=1, max_iter=50)
    assert auc > 0.7
    w, _ = adagan.boosting_weights(d, beta=0.5)
    share_b = w[2000:].sum()
    assert share_b > 0.9, share_b


def test_mixdisc_fitted_on_a_subsample_still_weights_every_example():
    rng = np.random.default_rng(0)
    real = np.r_[rng.normal(-4, 1, (3000, 2)), rng.normal(4, 1, (3000, 2))]
    fake = rng.normal(-4, 1, (6000, 2))
    d, auc = adagan.mixdisc_probabilities(real, fake, seed=1, max_iter=50, max_fit=1500)
    assert d.shape == (6000,) and auc > 0.7
    # the missed mode gets a high D everywhere, fitted or not (1500 of 6000 were fitted)
    assert np.median(d[3000:]) > 0.9 and np.median(d[:3000]) < 0.6
    w, _ = adagan.boosting_weights(d, beta=0.5)
    assert w[3000:].sum() > 0.9


def _constant_generator(value: float, latent_dim: int):
    import keras
    import tensorflow as tf

    class Const(keras.Model):
        def __init__(self):
            super().__init__()
            self.latent_dim = latent_dim
            self.built = True

        def call(self, inputs, training=False):
            noise, cond = inputs
            return tf.fill([tf.shape(noise)[0], 2], value) + 0.0 * cond[:, :1]

    return Const()


def test_mixture_frequencies_follow_beta():
    from scipy.stats import chisquare

    betas = [0.5, 0.3, 0.2]
    mix = adagan.MixtureGenerator(
        [_constant_generator(float(i), 4 + i) for i in range(3)], betas
    )
    assert mix.latent_dim == 7
    rng = np.random.default_rng(5)
    n = 20000
    noise = rng.standard_normal((n, mix.latent_dim)).astype("float32")
    out = np.asarray(mix([noise, np.ones((n, 1), "float32")]))
    counts = np.bincount(out[:, 0].astype(int), minlength=3)
    assert chisquare(counts, np.array(betas) * n).pvalue > 1e-3
    # Deterministic in the noise: the same noise picks the same members.
    again = np.asarray(mix([noise, np.ones((n, 1), "float32")]))
    np.testing.assert_array_equal(out, again)


def test_mixture_rejects_bad_betas():
    with pytest.raises(ConfigError):
        adagan.MixtureGenerator([_constant_generator(0.0, 2)], [0.5])


def test_ensemble_record_roundtrip(tmp_path):
    adagan.write_ensemble(tmp_path, [tmp_path / "a", tmp_path / "b"], [0.5, 0.5], {"t": 1})
    rec = adagan.read_ensemble(tmp_path)
    assert rec["betas"] == [0.5, 0.5] and rec["t"] == 1
    with pytest.raises(Exception, match="not an ensemble"):
        adagan.read_ensemble(tmp_path / "nowhere")
