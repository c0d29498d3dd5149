"""Objectives: known answers, weighted reductions (ones == unweighted, duplicate == weight 2,
negative sWeights), gradient penalties (two/one-sided, uniform factor), Cramér surrogate."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfcalo.errors import ConfigError  # noqa: E402
from tfcalo.models.layers import CriticBase  # noqa: E402
from tfcalo.training.objectives import OBJECTIVE_NAMES, global_weight_sum, make_objective  # noqa: E402

COND = dict(mean=[0.0], std=[1.0])
IDENT = dict(mode="linear", scale=1.0, offset=0.0)


class LinearCritic(CriticBase):
    """score = t @ A (+ Ep head = 10 * sum(t)); gradient norm of score[:,0] is |A[:,0]|."""

    def __init__(self, a, ep_head=False):
        super().__init__("rich-pid", np.shape(a)[1], dict(mean=[0.0] * 3, std=[1.0] * 3), IDENT)
        self.a = tf.constant(a, tf.float32)
        self.ep_head = ep_head

    def score_transformed(self, t, conditions, training=None, showers=None):
        out = {"score": tf.matmul(t, self.a)}
        if self.ep_head:
            out["ep"] = 10.0 * tf.reduce_sum(t, axis=-1)
            out["etot"] = tf.reduce_sum(t, axis=-1)
        return out


def _batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n, 5)).astype("float32")
    fake = rng.normal(size=(n, 5)).astype("float32")
    fake2 = rng.normal(size=(n, 5)).astype("float32")
    cond = (1.0 + rng.random((n, 3))).astype("float32")
    return real, fake, fake2, cond


def rand(kind, conditions, dim):  # deterministic per example (a function of its conditions)
    return tf.sigmoid(tf.reduce_sum(conditions, axis=-1, keepdims=True) * 3.0 - 6.0) * tf.ones((1, dim))


def _losses(obj, critic, real, fake, fake2, cond, w):
    w = tf.constant(w, tf.float32)
    den = global_weight_sum(w)
    d, _, _ = obj.critic_loss(critic, real, fake, cond, w, den, rand, fake2)
    g, _ = obj.generator_loss(critic, real, fake, cond, w, den, fake2)
    return float(d), float(g)


def _critic(name):
    a = np.random.default_rng(1).normal(size=(5, 3 if name == "cramer" else 1))
    return LinearCritic(a, ep_head=(name == "bce"))


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_weights_of_ones_equal_unweighted(name):
    obj = make_objective(name, critic_dim=3, ep_weight=0.2, etot_weight=0.1, sf_slope=0.5)
    critic = _critic(name)
    real, fake, fake2, cond = _batch()
    d, g = _losses(obj, critic, real, fake, fake2, cond, np.ones(4))
    # unweighted reference: the plain mean of the per-example terms
    out_r, out_f = critic([real, cond]), critic([fake, cond])
    d_terms = obj.critic_terms(critic, out_r, out_f, real, fake, cond, rand, fake2, True)
    g_terms = obj.generator_terms(critic, out_f, real, fake, cond, fake2, True)
    assert d == pytest.approx(float(tf.reduce_mean(tf.add_n(list(d_terms.values())))), rel=1e-6)
    assert g == pytest.approx(float(tf.reduce_mean(tf.add_n(list(g_terms.values())))), rel=1e-6)


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_duplicate_example_equals_weight_two(name):
    obj = make_objective(name, critic_dim=3, ep_weight=0.2, etot_weight=0.1)
    critic = _critic(name)
    real, fake, fake2, cond = _batch()
    weighted = _losses(obj, critic, real, fake, fake2, cond, [2.0, 1.0, 1.0, 1.0])
    dup = [np.concatenate([x[:1], x]) for x in (real, fake, fake2, cond)]
    duplicated = _losses(obj, critic, *dup, np.ones(5))
    np.testing.assert_allclose(weighted, duplicated, rtol=1e-6)


def test_negative_sweights_known_answer():
    """hinge with scores s_r = [2, 0], s_f = [0, -2] and w = [1.5, -0.5]."""
    obj = make_objective("hinge")
    critic = LinearCritic(np.array([[1.0], [0], [0], [0], [0]]))
    real = np.array([[2.0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], "float32")
    fake = np.array([[0.0, 0, 0, 0, 0], [-2, 0, 0, 0, 0]], "float32")
    cond = np.ones((2, 3), "float32")
    d, g = _losses(obj, critic, real, fake, None, cond, [1.5, -0.5])
    # per-example critic: relu(1-s_r)+relu(1+s_f) = [1, 1]; generator -s_f = [0, 2]
    assert d == pytest.approx((1.5 * 1 - 0.5 * 1) / 1.0)
    assert g == pytest.approx((1.5 * 0 - 0.5 * 2) / 1.0)


def test_cancelling_sweights_do_not_blow_up_the_loss():
    """w = [1, -1]: sum 0. The denominator is floored at 0.1 * sum|w| = 0.2, not 1e-12."""
    den = float(global_weight_sum(tf.constant([1.0, -1.0])))
    assert den == pytest.approx(0.2)
    obj = make_objective("hinge")
    critic = LinearCritic(np.array([[1.0], [0], [0], [0], [0]]))
    real = np.array([[2.0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], "float32")
    fake = np.array([[0.0, 0, 0, 0, 0], [-2, 0, 0, 0, 0]], "float32")
    d, g = _losses(obj, critic, real, fake, None, np.ones((2, 3), "float32"), [1.0, -1.0])
    # numerator: critic 1*1 - 1*1 = 0; generator 1*0 - 1*2 = -2 -> -2 / 0.2
    assert d == pytest.approx(0.0, abs=1e-6) and g == pytest.approx(-10.0)


def test_negative_net_weight_keeps_the_gradient_direction():
    """A batch with sum(w) < 0 must push the generator the same way as the weighted sum
    sum(w * l) (a negative denominator would reverse every gradient)."""
    obj = make_objective("hinge")
    critic = LinearCritic(np.array([[1.0], [0], [0], [0], [0]]))
    fake = tf.Variable(np.array([[0.5, 0, 0, 0, 0], [-1, 0, 0, 0, 0]], "float32"))
    w = tf.constant([0.2, -1.0])
    cond = tf.ones((2, 3))
    with tf.GradientTape(persistent=True) as tape:
        loss, _ = obj.generator_loss(critic, fake, fake, cond, w, global_weight_sum(w))
        numerator = tf.reduce_sum(w * -fake[:, 0])
    g_loss, g_num = tape.gradient(loss, fake).numpy(), tape.gradient(numerator, fake).numpy()
    assert float(global_weight_sum(w)) > 0
    assert np.all(np.sign(g_loss) == np.sign(g_num))
    np.testing.assert_allclose(g_loss, g_num / (0.1 * 1.2), rtol=1e-5)


def test_gradient_penalty_is_weighted_by_absolute_weights():
    """A negative sWeight must not turn the penalty into a reward for steep critics."""
    obj = make_objective("wgan-gp", gp_weight=1.0)
    critic = LinearCritic(np.array([[3.0], [0], [0], [0], [0]]))  # penalty 4 per example
    real, fake, _, cond = _batch(n=2)
    w = tf.constant([1.5, -0.5])
    _, logs, _ = obj.critic_loss(critic, real, fake, cond, w, global_weight_sum(w), rand)
    assert float(logs["d_gp"]) == pytest.approx((1.5 * 4 + 0.5 * 4) / 1.0, rel=1e-5)


class QuadraticCritic(CriticBase):
    """score = sum(t^2): gradient 2 t, so the penalty depends on WHERE x^ is."""

    def __init__(self):
        super().__init__("rich-pid", 1, dict(mean=[0.0] * 3, std=[1.0] * 3), IDENT)

    def score_transformed(self, t, conditions, training=None, showers=None):
        return {"score": tf.reduce_sum(tf.square(t), axis=-1, keepdims=True)}


@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_at_the_interpolate(one_sided):
    """x^ = e*x_r + (1-e)*x_f with e = rand('uniform'); penalty (|2 x^| - 1)^2."""
    obj = make_objective("wgan-gp", gp_weight=1.0, one_sided=one_sided)
    real, fake, _, cond = _batch(n=6, seed=3)
    def spread(kind, conditions, dim):  # factors spread over (0.05, 0.95)
        return tf.sigmoid(tf.reduce_sum(conditions, axis=-1, keepdims=True) * 2.0 - 9.0) * tf.ones((1, dim))

    gp = obj.gradient_penalty(QuadraticCritic(), real, fake, cond, spread).numpy()
    e = spread("uniform", tf.constant(cond), 1).numpy()
    x_hat = e * real + (1 - e) * fake
    gap = 2 * np.linalg.norm(x_hat, axis=1) - 1
    expected = np.maximum(gap, 0) ** 2 if one_sided else gap**2
    np.testing.assert_allclose(gp, expected, rtol=1e-5)
    assert np.ptp(e) > 0.1  # the factor really varies per example


@pytest.mark.parametrize("one_sided,scale,expected", [(False, 0.5, 0.25), (True, 0.5, 0.0),
                                                      (False, 3.0, 4.0), (True, 3.0, 4.0)])
def test_gradient_penalty_known_answer(one_sided, scale, expected):
    obj = make_objective("wgan-gp", gp_weight=1.0, one_sided=one_sided)
    critic = LinearCritic(np.array([[scale], [0], [0], [0], [0]]))
    real, fake, _, cond = _batch()
    gp = obj.gradient_penalty(critic, real, fake, cond, rand).numpy()
    np.testing.assert_allclose(gp, expected, rtol=1e-5, atol=1e-6)


def test_cramer_surrogate_known_answer():
    obj = make_objective("cramer", critic_dim=2, gp_weight=0.0)
    critic = LinearCritic(np.eye(5)[:, :2])
    real = np.array([[3.0, 4, 0, 0, 0]], "float32")
    fake = np.array([[0.0, 1, 0, 0, 0]], "float32")
    fake2 = np.array([[0.0, 0, 0, 0, 0]], "float32")
    cond = np.ones((1, 3), "float32")
    d, g = _losses(obj, critic, real, fake, fake2, cond, [1.0])
    # f(x) = |h(x) - h(x2)| - |h(x)| = 0 for h(x2) = 0: surrogate f(x_r) - f(x_g) = 0
    assert g == pytest.approx(0.0, abs=1e-5) and d == pytest.approx(0.0, abs=1e-5)
    fake2 = np.array([[1.0, 0, 0, 0, 0]], "float32")
    d, g = _losses(obj, critic, real, fake, fake2, cond, [1.0])
    f_r = np.hypot(2, 4) - 5.0
    f_g = np.hypot(1, 1) - 1.0
    assert g == pytest.approx(f_r - f_g, rel=1e-5) and d == pytest.approx(-(f_r - f_g), rel=1e-5)


def test_bce_auxiliary_heads_known_answer():
    obj = make_objective("bce", adv_weight=0.0, ep_weight=1.0, etot_weight=1.0, sf_slope=0.5)
    critic = LinearCritic(np.zeros((5, 1)), ep_head=True)
    fake = np.array([[1.0, 1, 0, 0, 0]], "float32")  # sum 2 -> ep 20, etot 2
    cond = np.array([[10.0, 1, 1]], "float32")
    d, g = _losses(obj, critic, fake, fake, None, cond, [1.0])
    # ep: |20 - 10| / 10 = 1 ; etot: |2 - 0.5*10| / 5 = 0.6
    assert g == pytest.approx(1.0 + 0.6, rel=1e-6)
    assert d == pytest.approx(2.0, rel=1e-6)  # ep term on real and fake


def test_unknown_objective_names_nearest():
    with pytest.raises(ConfigError, match="did you mean 'wgan-gp'"):
        make_objective("wgangp")
