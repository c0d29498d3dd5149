"""GAN objectives as strategy objects, usable with any tfcalo generator/critic pair.

Every objective works on per-example losses ``l_i`` and per-example weights ``w_i`` (1, sWeights
that may be negative, or boosting weights) and reduces them as ``sum(w * l) / sum(w)`` over the
GLOBAL batch: each replica returns its share ``sum_replica(w * l) / den`` where ``den`` is the
all-reduced sum of weights (:func:`global_weight_sum`, floored at a tenth of sum(|w|) so a
batch whose sWeights cancel or sum negative never blows up or reverses the update); the
optimizer sums gradients over replicas, so N replicas give exactly the single-device gradient
of the global batch. Gradient penalties are per-example terms inside the same mean, weighted
by |w| (a penalty must never turn into a reward).

Critic outputs are dicts (see :class:`tfcalo.models.layers.CriticBase`): ``score`` (B, d),
optional ``ep`` (B,) GeV, ``etot`` (B,), ``aux`` (B, k).

Objectives (``make_objective(name, ...)``):

- ``bce``: non-saturating GAN with the 2DGAN auxiliary heads; critic
  ``adv * [softplus(-s_r) + softplus(s_f)] + ep * (|ep_r - Ep|/Ep + |ep_f - Ep|/Ep)``,
  generator ``adv * softplus(-s_f) + ep * |ep_f - Ep|/Ep + etot * |etot_f - sf*Ep|/(sf*Ep)``.
- ``hinge``: critic ``relu(1 - s_r) + relu(1 + s_f)``, generator ``-s_f``.
- ``wgan-gp``: critic ``s_f - s_r + gp * GP``, generator ``-s_f``; GP = (|grad| - 1)^2
  (two-sided) or relu(|grad| - 1)^2 (one-sided) at x^ = e*x_r + (1-e)*x_f, e ~ U(0, 1).
- every objective: with ``moment_weight`` > 0 the generator also pays ``moment_weight *``
  :func:`moment_matching_share` (the conditional means of the showers' profiles and deposit
  against the real batch's; the train step computes it).
- ``cramer``: f(x) = |h(x) - h(x_g')| - |h(x)| with a second independent generated sample
  x_g'; generator loss (surrogate) f(x_r) - f(x_g); critic loss its negative + gp * GP of f.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from tfcalo.errors import ConfigError

OBJECTIVE_NAMES = ("bce", "hinge", "wgan-gp", "cramer")
_EPS = 1e-12

# rand(kind, conditions, dim) -> (B, dim) tensor; kind "uniform" draws U(0, 1).
RandFn = Callable[[str, tf.Tensor, int], tf.Tensor]


# A global batch whose net weight sum(w) is below this fraction of sum(|w|) (a signal-poor
# batch of sWeights, where positive and negative weights cancel) is normalised by
# MIN_NET_WEIGHT_FRACTION * sum(|w|) instead: dividing by a net weight near 0 multiplies the
# update by up to 1e12, and by a negative one reverses every gradient. With a positive
# denominator the update is always a positive multiple of the weighted sum's gradient.
MIN_NET_WEIGHT_FRACTION = 0.1


def global_weight_sum(weights: tf.Tensor) -> tf.Tensor:
    """Denominator of the global weighted mean: ``max(sum(w), 0.1 * sum(|w|))`` over the
    GLOBAL batch (all replicas); always positive (see :data:`MIN_NET_WEIGHT_FRACTION`).

    For non-negative weights it is exactly ``sum(w)``.
    """
    w = tf.cast(weights, tf.float32)
    local = tf.stack([tf.reduce_sum(w), tf.reduce_sum(tf.abs(w))])
    ctx = tf.distribute.get_replica_context()
    total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, local) if ctx is not None else local
    return tf.maximum(total[0], tf.maximum(MIN_NET_WEIGHT_FRACTION * total[1], _EPS))


def weighted_share(values: tf.Tensor, weights: tf.Tensor, den: tf.Tensor) -> tf.Tensor:
    """This replica's share ``sum(w * l) / den`` of the global weighted mean (values (B,))."""
    return tf.reduce_sum(tf.cast(weights, tf.float32) * values) / den


#: Relative deviations of moment features are taken against max(|real mean|, this): profile
#: fractions below 2 % of the shower (the profiles' tails) count as if they were 2 %.
MOMENT_SCALE_FLOOR = 0.02


def _all_reduce_sum(value: tf.Tensor) -> tf.Tensor:
    ctx = tf.distribute.get_replica_context()
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value) if ctx is not None else value


def moment_matching_share(real_features, fake_features, basis, weights, den,
                          feature_weights=None):
    """This replica's share of the moment-matching loss ``mean_{k,f} m_kf^2`` (tf), or with
    ``feature_weights`` v the weighted mean ``sum_{k,f} v_f m_kf^2 / (K sum_f v_f)``.

    ``m_kf = sum_i w_i phi_k(i) (f_fake_if - f_real_if) / den / s_f`` over the GLOBAL batch:
    the weighted difference between the generated and the real batch (same conditions) of
    the conditional mean of each feature f along each basis function phi_k, relative to
    ``s_f = max(|real mean of f|, MOMENT_SCALE_FLOOR)``.

    Args:
        real_features, fake_features: (B, F) from :func:`tfcalo.models.moments.moment_features`.
        basis: (B, K) from :func:`tfcalo.models.moments.energy_basis`.
        weights: (B,) per-example weights; den: :func:`global_weight_sum`.
        feature_weights: (F,) non-negative weights of the features (None: all 1), e.g.
            :func:`tfcalo.models.moments.moment_feature_weights`.
    Returns:
        (share, value): ``share`` sums over replicas to the loss and its gradient is exactly the
        single-device gradient of the global batch's loss (the global m enters as a constant,
        ``2 <m, m_replica> - |m|^2 / R``, so no gradient passes through the all-reduce);
        ``value`` is the loss itself (the same on every replica).
    """
    w = tf.cast(weights, tf.float32)
    abs_w = tf.abs(w)
    v = (tf.ones(tf.shape(real_features)[1:]) if feature_weights is None
         else tf.cast(feature_weights, tf.float32))
    size = tf.cast(tf.shape(basis)[1], tf.float32) * tf.reduce_sum(v)
    scale_sums = _all_reduce_sum(tf.concat([
        tf.reduce_sum(abs_w[:, None] * tf.abs(real_features), axis=0),
        tf.reduce_sum(abs_w)[None]], axis=0))
    scale = tf.stop_gradient(tf.maximum(scale_sums[:-1] / tf.maximum(scale_sums[-1], _EPS),
                                        MOMENT_SCALE_FLOOR))
    local = tf.einsum("i,ik,if->kf", w, basis, fake_features - real_features) / den / scale
    total = tf.stop_gradient(_all_reduce_sum(local))
    replicas = tf.distribute.get_replica_context()
    n = float(replicas.num_replicas_in_sync) if replicas is not None else 1.0
    value = tf.reduce_sum(v * tf.square(total)) / size
    share = 2.0 * tf.reduce_sum(v * total * local) / size - value / n
    return share, value


def _norm(x: tf.Tensor) -> tf.Tensor:
    return tf.sqrt(tf.reduce_sum(tf.square(x), axis=-1) + _EPS)


class Objective:
    """Base class. Subclasses fill :meth:`critic_terms` and :meth:`generator_terms`.

    Attributes:
        critic_out_dim: required size of the critic's ``score`` output.
        needs_second_fake: the objective uses two independent generated samples.
    """

    name = "base"
    needs_second_fake = False
    uses_penalty = False

    def __init__(self, gp_weight: float = 10.0, one_sided: bool = False, adv_weight: float = 1.0,
                 ep_weight: float = 0.0, etot_weight: float = 0.0, sf_slope: float = 1.0,
                 critic_dim: int = 1, profile_weight: float = 0.0, moment_weight: float = 0.0,
                 moment_balance: str = "features"):
        self.gp_weight = float(gp_weight)
        self.one_sided = bool(one_sided)
        self.adv_weight = float(adv_weight)
        self.ep_weight = float(ep_weight)
        self.etot_weight = float(etot_weight)
        self.profile_weight = float(profile_weight) or self.adv_weight
        self.moment_weight = float(moment_weight)
        self.moment_balance = str(moment_balance)
        self.sf_slope = float(sf_slope)
        self.critic_out_dim = 1

    # ---------------------------------------------------------------- public API
    def critic_loss(self, critic, real, fake, conditions, weights, den, rand: RandFn,
                    fake2=None, training: bool = True):
        """Critic loss share, per-term log shares and the critic outputs on ``real``."""
        out_r = critic([real, conditions], training=training)
        out_f = critic([fake, conditions], training=training)
        terms = self.critic_terms(critic, out_r, out_f, real, fake, conditions, rand, fake2,
                                  training)
        loss, logs = self._reduce(terms, weights, den, "d")
        return loss, logs, out_r

    def generator_loss(self, critic, real, fake, conditions, weights, den, fake2=None,
                       training: bool = True):
        """Generator loss share and per-term log shares."""
        out_f = critic([fake, conditions], training=training)
        terms = self.generator_terms(critic, out_f, real, fake, conditions, fake2, training)
        return self._reduce(terms, weights, den, "g")

    # ---------------------------------------------------------------- helpers
    # Penalty terms are weighted by |w|: with a negative sWeight, w * penalty would REWARD a
    # steep critic at that example instead of penalising it.
    _ABS_WEIGHTED_TERMS = ("gp",)

    @classmethod
    def _reduce(cls, terms: dict, weights, den, prefix: str):
        abs_w = tf.abs(tf.cast(weights, tf.float32))
        logs = {f"{prefix}_{k}": weighted_share(v, abs_w if k in cls._ABS_WEIGHTED_TERMS else weights,
                                                den)
                for k, v in terms.items()}
        loss = tf.add_n(list(logs.values()))
        logs[f"{prefix}_loss"] = loss
        return loss, logs

    def gradient_penalty(self, critic, real, fake, conditions, rand: RandFn, fn=None,
                         training: bool = True) -> tf.Tensor:
        """Per-example penalty (B,) at x^ = e*t_r + (1-e)*t_f in the critic's transformed space.

        ``fn(outputs_dict) -> (B,)`` is the scalar critic whose gradient is penalised
        (default: ``score[:, 0]``).
        """
        t_r = critic.transform(real)
        t_f = critic.transform(fake)
        eps = rand("uniform", conditions, 1)
        eps = tf.reshape(eps, (-1,) + (1,) * (len(t_r.shape) - 1))
        x_hat = eps * t_r + (1.0 - eps) * t_f
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            out = critic.score_transformed(x_hat, conditions, training=training)
            value = tf.reduce_sum(fn(out) if fn is not None else out["score"][:, 0])
        grad = tape.gradient(value, x_hat)
        norm = _norm(tf.reshape(grad, (tf.shape(grad)[0], -1)))
        gap = tf.nn.relu(norm - 1.0) if self.one_sided else norm - 1.0
        return self.gp_weight * tf.square(gap)

    def critic_terms(self, critic, out_r, out_f, real, fake, conditions, rand, fake2, training):
        raise NotImplementedError

    def generator_terms(self, critic, out_f, real, fake, conditions, fake2, training):
        raise NotImplementedError


def _side_critics(objective, out):
    """(term name, output key, weight) of the side critics present in a critic's output:
    ``score_energy`` (the deposit, weight 1: with a shape-only image critic it alone trains
    the deposit) and ``score_profile`` (the normalised profiles, weight ``profile_weight``,
    by default the image critic's: both train the shape)."""
    sides = []
    if "score_energy" in out:
        sides.append(("energy", "score_energy", 1.0))
    if "score_profile" in out:
        sides.append(("profile", "score_profile", objective.profile_weight))
    return sides


class BCE(Objective):
    """Non-saturating cross-entropy, with 2DGAN Ep and total-energy heads when present."""

    name = "bce"

    def _ep_terms(self, out, conditions):
        ep = conditions[:, 0]
        return tf.abs(out["ep"] - ep) / tf.maximum(tf.abs(ep), _EPS)

    def critic_terms(self, critic, out_r, out_f, real, fake, conditions, rand, fake2, training):
        terms = {"adv": self.adv_weight * (tf.nn.softplus(-out_r["score"][:, 0])
                                           + tf.nn.softplus(out_f["score"][:, 0]))}
        if self.ep_weight and "ep" in out_r:
            terms["ep"] = self.ep_weight * (self._ep_terms(out_r, conditions)
                                            + self._ep_terms(out_f, conditions))
        for name, key, weight in _side_critics(self, out_r):  # their own losses
            terms[name] = weight * (tf.nn.softplus(-out_r[key][:, 0])
                                    + tf.nn.softplus(out_f[key][:, 0]))
        return terms

    def generator_terms(self, critic, out_f, real, fake, conditions, fake2, training):
        terms = {"adv": self.adv_weight * tf.nn.softplus(-out_f["score"][:, 0])}
        if self.ep_weight and "ep" in out_f:
            terms["ep"] = self.ep_weight * self._ep_terms(out_f, conditions)
        for name, key, weight in _side_critics(self, out_f):
            terms[name] = weight * tf.nn.softplus(-out_f[key][:, 0])
        if self.etot_weight and "etot" in out_f:
            target = self.sf_slope * conditions[:, 0]
            terms["etot"] = self.etot_weight * tf.abs(out_f["etot"] - target) / tf.maximum(
                tf.abs(target), _EPS)
        return terms


class Hinge(Objective):
    name = "hinge"

    def critic_terms(self, critic, out_r, out_f, real, fake, conditions, rand, fake2, training):
        terms = {"adv": self.adv_weight * (tf.nn.relu(1.0 - out_r["score"][:, 0])
                                           + tf.nn.relu(1.0 + out_f["score"][:, 0]))}
        for name, key, weight in _side_critics(self, out_r):  # own hinges: they cannot
            terms[name] = weight * (tf.nn.relu(1.0 - out_r[key][:, 0])  # saturate the image's
                                    + tf.nn.relu(1.0 + out_f[key][:, 0]))
        return terms

    def generator_terms(self, critic, out_f, real, fake, conditions, fake2, training):
        terms = {"adv": -self.adv_weight * out_f["score"][:, 0]}
        for name, key, weight in _side_critics(self, out_f):
            terms[name] = -weight * out_f[key][:, 0]
        return terms


class WGANGP(Objective):
    name = "wgan-gp"
    uses_penalty = True

    def critic_terms(self, critic, out_r, out_f, real, fake, conditions, rand, fake2, training):
        return {"adv": self.adv_weight * (out_f["score"][:, 0] - out_r["score"][:, 0]),
                "gp": self.gradient_penalty(critic, real, fake, conditions, rand,
                                            training=training)}

    def generator_terms(self, critic, out_f, real, fake, conditions, fake2, training):
        return {"adv": -self.adv_weight * out_f["score"][:, 0]}


class Cramer(Objective):
    """Cramér GAN surrogate loss (Bellemare et al. 2017, Algorithm 1) with gradient penalty."""

    name = "cramer"
    needs_second_fake = True
    uses_penalty = True

    def __init__(self, *args, critic_dim: int = 32, **kwargs):
        super().__init__(*args, **kwargs)
        self.critic_out_dim = int(critic_dim)

    @staticmethod
    def _f(h, h2):
        return _norm(h - h2) - _norm(h)

    def _surrogate(self, critic, out_r, out_f, conditions, fake2, training):
        h2 = critic([fake2, conditions], training=training)["score"]
        return self._f(out_r["score"], h2) - self._f(out_f["score"], h2), h2

    def critic_terms(self, critic, out_r, out_f, real, fake, conditions, rand, fake2, training):
        surrogate, h2 = self._surrogate(critic, out_r, out_f, conditions, fake2, training)
        gp = self.gradient_penalty(critic, real, fake, conditions, rand,
                                   fn=lambda o: self._f(o["score"], h2), training=training)
        return {"adv": -self.adv_weight * surrogate, "gp": gp}

    def generator_terms(self, critic, out_f, real, fake, conditions, fake2, training):
        out_r = critic([real, conditions], training=training)
        surrogate, _ = self._surrogate(critic, out_r, out_f, conditions, fake2, training)
        return {"adv": self.adv_weight * surrogate}


_CLASSES = {"bce": BCE, "hinge": Hinge, "wgan-gp": WGANGP, "cramer": Cramer}


def make_objective(name: str, critic_dim: int = 32, **kwargs) -> Objective:
    """Objective called ``name`` (see :data:`OBJECTIVE_NAMES`); unknown names raise ConfigError."""
    if name not in _CLASSES:
        from tfcalo.errors import nearest

        raise ConfigError(f"unknown config key value 'objective.name' = {name!r}; did you mean "
                          f"'{nearest(name, OBJECTIVE_NAMES)}'? (valid: {', '.join(OBJECTIVE_NAMES)})")
    if name == "cramer":
        return Cramer(critic_dim=critic_dim, **kwargs)
    return _CLASSES[name](**kwargs)
