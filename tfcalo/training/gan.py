"""ConditionalGAN: one keras.Model that owns a generator, a critic, their optimizers and the
objective, and trains with ``fit`` under any tf.distribute strategy.

Data: a ``tf.data.Dataset`` of batches ``(showers, conditions, weights)`` or
``(showers, conditions, weights, targets)``: showers (B, *shower_shape) and conditions
(B, n_conditions) PHYSICAL, weights (B,) (may be negative), targets (B, k) the auxiliary
regressor's observables (``tfcalo.physics.regression_targets`` of the real showers, in the
order of the config's ``aux_targets``). Without targets, a model with a regressor computes
them in the train step with ``tf.numpy_function``; precompute them once with
:func:`with_regression_targets` for speed. Either way the regressor learns STANDARDISED
targets, ``clip((t - median) / (IQR / 1.349), -5, 5)`` with the training split's robust
statistics (``aux["centres"]``, ``aux["scales"]``), so every target weighs about 1 in the MSE
whatever its unit and however its tails behave.

One ``train_step`` = ``critic_steps`` critic updates on the batch (fresh noise each) and one
generator update. Losses are global weighted means (see :mod:`tfcalo.training.objectives`);
the logged values are global (all replicas) and averaged over the epoch.

Noise: stateless normal draws keyed by (seed, replica id, generator step, draw tag), so runs are
reproducible for a seed and replicas draw different noise. ``noise_hook(kind, conditions, dim)``
replaces it (tests use a deterministic function of the conditions).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfcalo.models.moments import energy_basis, moment_feature_weights, moment_features
from tfcalo.training.objectives import (
    Objective,
    global_weight_sum,
    moment_matching_share,
    weighted_share,
)

#: Noise draw kinds and the integer tag folded into their stateless seed: every kind gets its
#: own stream, so the Cramér objective's two generated samples ("latent", "latent2") are
#: independent (one shared tag would make them identical and collapse the generator).
NOISE_TAGS = {"latent": 1, "latent2": 2, "uniform": 3}


def noise_tag(kind: str) -> int:
    """The seed tag of noise draw ``kind`` (a key of :data:`NOISE_TAGS`); unknown kinds raise."""
    try:
        return NOISE_TAGS[kind]
    except KeyError:
        raise ValueError(f"unknown noise kind {kind!r} (valid: {', '.join(NOISE_TAGS)})") from None


#: Standardised regression targets are clipped to +-AUX_CLIP (robust scale units) by default.
AUX_CLIP = 5.0


def regression_targets_tf(showers, conditions, detector, names: Sequence[str]) -> tf.Tensor:
    """PHYSICAL regression targets ``(B, k)`` float32 of a batch, in graph or eager mode.

    ``tfcalo.physics.regression_targets`` (numpy) wrapped in ``tf.numpy_function``: the
    observables ``names`` of showers ``(B, *shower_shape)`` with conditions ``(B, n_cond)``.
    """
    from tfcalo.physics import regression_targets

    names = list(names)
    det = getattr(detector, "name", detector)

    def _np(s, c):
        return regression_targets(det, s, c, names).astype("float32")

    t = tf.numpy_function(_np, [showers, conditions], tf.float32)
    t.set_shape((showers.shape[0], len(names)))
    return t


def with_regression_targets(dataset: tf.data.Dataset, detector, names: Sequence[str]):
    """Map a dataset of (showers, conditions, weights) batches to add the PHYSICAL
    ``targets`` (B, k); the train step standardises them (see ``ConditionalGAN``)."""

    def _map(showers, conditions, weights, *rest):
        return showers, conditions, weights, regression_targets_tf(showers, conditions,
                                                                   detector, names)

    return dataset.map(_map)


class KeepsAverage:
    """Optimizer mixin: the weight average (``use_ema``) stays in the optimizer. Keras' ``fit``
    ends by writing the average into the model's first weights (``finalize_variable_values``),
    which would make the next ``fit`` (a resume, the next boosting round) start from the
    average; :meth:`ConditionalGAN.averaged_generator` puts it in only where it is wanted."""

    def finalize_variable_values(self, var_list):
        pass


class AveragingAdam(KeepsAverage, keras.optimizers.Adam):
    """The generator's Adam (:class:`KeepsAverage`)."""


@keras.saving.register_keras_serializable(package="tfcalo")
class ConditionalGAN(keras.Model):
    """Conditional GAN trained by ``fit`` with a pluggable objective.

    Args:
        generator: a tfcalo generator (``generator([noise, conditions])``, ``latent_dim``).
        discriminator: a tfcalo critic (``critic([showers, conditions]) -> dict``).
        objective: a :class:`tfcalo.training.objectives.Objective`.
        critic_steps: critic updates per generator update.
        optimizer: dict with generator_lr, discriminator_lr, beta_1, beta_2, pretrain_lr.
        aux: dict with targets (observable names), centres and scales (one per target, the
            physical target t enters the MSE as ``clip((t - centre) / scale, +-clip)``; the
            builder takes them from the training data's robust statistics), clip (default
            AUX_CLIP), mode (multi-task | two-step), weight; or None.
        seed: noise seed.
        model_name, config: recorded for get_config / run.json.

    Example:
        >>> gan = tfcalo.training.build.build("sagan", "lhcb-ecal", {}, stats)
        >>> gan.compile()
        >>> gan.fit(ds, epochs=1)
        >>> showers = gan.generate(conditions, seed=1)
    """

    def __init__(self, generator, discriminator, objective: Objective, critic_steps: int = 1,
                 optimizer: dict | None = None, aux: dict | None = None, seed: int = 0,
                 model_name: str = "", config: dict | None = None, **kwargs):
        super().__init__(name=kwargs.pop("name", "conditional_gan"))
        self.generator = generator
        self.discriminator = discriminator
        self.objective = objective
        self.critic_steps = int(critic_steps)
        self.optimizer_config = dict(optimizer or {})
        self.aux = dict(aux) if aux and aux.get("targets") else None
        self.seed = int(seed)
        self.model_name = model_name
        self.config = config or {}
        self.detector = generator.detector
        self.latent_dim = int(generator.latent_dim)
        self.noise_hook: Callable | None = None
        self.regressor_frozen = False
        self._build_networks()
        self.built = True
        self._trackers: dict[str, keras.metrics.Mean] = {}
        self._gen_fn = None

    # ------------------------------------------------------------------ setup
    def _build_networks(self) -> None:
        z = tf.zeros((2, self.latent_dim))
        c = tf.constant(np.tile(np.mean(self.detector.condition_ranges, axis=1), (2, 1)),
                        tf.float32)
        x = self.generator([z, c], training=False)
        self.discriminator([x, c], training=False)

    def compile(self, g_optimizer=None, d_optimizer=None, jit_compile: bool = False,
                steps_per_execution: int = 1, **kwargs) -> None:
        """Create (unless given) and build both Adam optimizers from the config.

        Call inside the strategy scope the model was built in.
        """
        oc = self.optimizer_config
        beta_1, beta_2 = oc.get("beta_1", 0.5), oc.get("beta_2", 0.9)
        ema = float(oc.get("generator_ema", 0.0))
        self.g_optimizer = g_optimizer or AveragingAdam(
            oc.get("generator_lr", 1e-4), beta_1=beta_1, beta_2=beta_2,
            use_ema=ema > 0, ema_momentum=ema if ema > 0 else 0.99)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(
            oc.get("discriminator_lr", 1e-4), beta_1=beta_1, beta_2=beta_2)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        super().compile(optimizer=self.g_optimizer, jit_compile=jit_compile,
                        steps_per_execution=steps_per_execution, **kwargs)
        self._create_trackers()
        if self.aux is not None and self.aux.get("unstandardised"):
            import logging

            logging.getLogger("tfcalo").warning(
                "no training statistics (median, IQR) of the regression targets %s: they are "
                "regressed unstandardised (build with a stats.json written by tfcalo ingest, or "
                "complete it with tfcalo.training.run.with_target_stats)",
                ", ".join(self.aux["unstandardised"]))

    def _create_trackers(self) -> None:
        """Create the epoch-mean trackers now (variables must not be born inside fit's
        replica context): the log keys come from one inference-mode evaluation of the
        objective on a dummy batch of 2."""
        c = tf.constant(np.tile(np.mean(self.detector.condition_ranges, axis=1), (2, 1)),
                        tf.float32)
        w = tf.ones((2,))
        x = self.generator([tf.zeros((2, self.latent_dim)), c], training=False)
        rand = lambda kind, cond, dim: tf.fill((2, dim), 0.5)  # noqa: E731
        keys = set(self.objective.critic_loss(self.discriminator, x, x, c, w, 2.0, rand, x,
                                              training=False)[1])
        keys |= set(self.objective.generator_loss(self.discriminator, x, x, c, w, 2.0, x,
                                                  training=False)[1])
        if self.aux is not None and self.aux.get("mode") == "multi-task":
            keys.add("d_aux")
        if self.objective.moment_weight > 0:
            keys.add("g_moments")
        self._trackers = {k: keras.metrics.Mean(name=k) for k in sorted(keys)}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """No-op: networks are built in ``__init__``, optimizers and trackers in ``compile``.

        Keras' generic version reduces a PerReplica batch eagerly ("MEAN"), which fails under
        MultiWorkerMirroredStrategy (Keras 3.15 TF trainer, private hook).
        """
        if not getattr(self.optimizer, "built", False):
            raise RuntimeError("call ConditionalGAN.compile() before fit")

    @property
    def metrics(self):
        return list(self._trackers.values())

    def _track(self, logs: dict) -> dict:
        out = {}
        strategy = self.distribute_strategy
        multi_worker = (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                        and strategy.extended._in_multi_worker_mode())
        for key, value in logs.items():
            self._trackers[key].update_state(value)
            out[key] = self._trackers[key].result()
            if multi_worker:  # Keras reduces multi-worker logs with MEAN over axis 0
                out[key] = tf.reshape(out[key], (1,))
        return out

    # ------------------------------------------------------------------ randomness
    def draw(self, kind: str, conditions: tf.Tensor, dim: int, index: int = 0) -> tf.Tensor:
        """Noise (B, dim) for this replica: ``latent*`` standard normal, ``uniform`` U(0,1).

        Keyed by (seed, replica id, generator step, kind, index): reproducible, and different
        on every replica and every draw. ``noise_hook`` replaces it when set.
        """
        if self.noise_hook is not None:
            return tf.cast(self.noise_hook(kind, conditions, dim), tf.float32)
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        step = tf.cast(self.g_optimizer.iterations, tf.int32) if hasattr(self, "g_optimizer") else 0
        key = tf.constant([self.seed, 0], tf.int32)
        for data in (replica, step, noise_tag(kind) * 1000 + index):
            key = tf.random.experimental.stateless_fold_in(key, tf.cast(data, tf.int32))
        shape = tf.stack([tf.shape(conditions)[0], dim])
        if kind == "uniform":
            return tf.random.stateless_uniform(shape, key)
        return tf.random.stateless_normal(shape, key)

    # ------------------------------------------------------------------ training
    def _unpack(self, data):
        if not isinstance(data, tuple | list) or len(data) not in (3, 4):
            raise ValueError("ConditionalGAN expects batches (showers, conditions, weights[, targets])")
        showers, conditions, weights = (tf.cast(d, tf.float32) for d in data[:3])
        targets = tf.cast(data[3], tf.float32) if len(data) == 4 else None
        return showers, conditions, weights, targets

    def _targets(self, showers, conditions, targets):
        """Standardised regression targets (B, k): computed from the real showers unless
        given (PHYSICAL, from :func:`with_regression_targets`), then centred, scaled, clipped."""
        if targets is None:
            targets = regression_targets_tf(showers, conditions, self.detector,
                                            self.aux["targets"])
        return self.standardise_targets(targets)

    def standardise_targets(self, targets):
        """``clip((targets - centres) / scales, -clip, clip)`` for PHYSICAL targets (B, k)."""
        k = len(self.aux["targets"])
        centres = tf.constant(self.aux.get("centres") or [0.0] * k, tf.float32)
        scales = tf.constant(self.aux.get("scales") or [1.0] * k, tf.float32)
        clip = float(self.aux.get("clip", AUX_CLIP))
        z = (tf.cast(targets, tf.float32) - centres) / scales
        return tf.clip_by_value(z, -clip, clip)

    def _aux_loss(self, predictions, targets, weights, den):
        per_example = tf.reduce_mean(tf.square(predictions - targets), axis=-1)
        return weighted_share(per_example, weights, den)

    def fakes(self, conditions, index: int = 0, training: bool = True):
        """``(fake, fake2)``: generated samples for ``conditions`` from the ``latent`` and (when
        the objective needs a second sample) the independent ``latent2`` draw of ``index``;
        ``fake2`` is None otherwise."""
        z = self.draw("latent", conditions, self.latent_dim, index)
        fake = self.generator([z, conditions], training=training)
        fake2 = None
        if self.objective.needs_second_fake:
            z2 = self.draw("latent2", conditions, self.latent_dim, index)
            fake2 = self.generator([z2, conditions], training=training)
        return fake, fake2

    def train_step(self, data):
        real, conditions, weights, targets = self._unpack(data)
        den = global_weight_sum(weights)
        multitask = (self.aux is not None and self.aux.get("mode") == "multi-task"
                     and not self.regressor_frozen)
        if multitask:
            targets = self._targets(real, conditions, targets)
        d_vars = self.discriminator.trainable_variables
        logs: dict = {}
        for k in range(self.critic_steps):
            fake, fake2 = self.fakes(conditions, k)
            with tf.GradientTape() as tape:
                d_loss, d_logs, out_r = self.objective.critic_loss(
                    self.discriminator, real, fake, conditions, weights, den,
                    lambda kind, c, dim, _k=k: self.draw(kind, c, dim, _k), fake2)
                if multitask:
                    aux = self.aux["weight"] * self._aux_loss(out_r["aux"], targets, weights, den)
                    d_logs["d_aux"] = aux
                    d_loss = d_loss + aux
                    d_logs["d_loss"] = d_loss
            grads = tape.gradient(d_loss, d_vars)
            self.d_optimizer.apply(grads, d_vars)
        logs.update(d_logs)
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            fake, fake2 = self.fakes(conditions, self.critic_steps)
            g_loss, g_logs = self.objective.generator_loss(
                self.discriminator, real, fake, conditions, weights, den, fake2)
            if self.objective.moment_weight > 0:
                g_loss = g_loss + self._moment_loss(real, fake, conditions, weights, den, g_logs)
        grads = tape.gradient(g_loss, g_vars)
        self.g_optimizer.apply(grads, g_vars)
        logs.update(g_logs)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            keys = sorted(logs)
            reduced = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [logs[k] for k in keys])
            logs = dict(zip(keys, reduced, strict=False))
        return self._track(logs)

    def _moment_loss(self, real, fake, conditions, weights, den, logs: dict):
        """``moment_weight`` x this replica's share of the moment-matching loss; logs its value
        as ``g_moments`` (divided by the replica count: the logs are summed over replicas)."""
        share, value = moment_matching_share(
            moment_features(self.generator, real, conditions),
            moment_features(self.generator, fake, conditions),
            energy_basis(self.detector, conditions), weights, den,
            moment_feature_weights(self.generator, self.objective.moment_balance))
        ctx = tf.distribute.get_replica_context()
        replicas = float(ctx.num_replicas_in_sync) if ctx is not None else 1.0
        logs["g_moments"] = self.objective.moment_weight * value / replicas
        logs["g_loss"] = logs["g_loss"] + self.objective.moment_weight * share
        return self.objective.moment_weight * share

    # ------------------------------------------------------------------ regressor (SAGAN)
    def freeze_regressor(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) the critic's shared trunk and regressor (two-step training)."""
        if not hasattr(self.discriminator, "set_regressor_trainable"):
            raise ValueError(f"the {self.model_name} critic has no auxiliary regressor")
        self.discriminator.set_regressor_trainable(not frozen)
        self.regressor_frozen = bool(frozen)
        self.train_function = None  # retrace with the new trainable set

    def pretrain_regressor(self, dataset: tf.data.Dataset, steps: int, freeze: bool = True) -> float:
        """Train trunk + regressor on the weighted MSE of the scaled targets for ``steps``
        batches of ``dataset`` (same element format as fit), then freeze them if ``freeze``.

        Returns the global loss of the last step.
        """
        if self.aux is None:
            raise ValueError(f"the {self.model_name} model has no auxiliary regressor targets")
        disc = self.discriminator
        strategy = self.distribute_strategy
        with strategy.scope():
            opt = keras.optimizers.Adam(self.optimizer_config.get("pretrain_lr", 1e-3))
            variables = (disc.trunk.trainable_variables + disc.regressor.trainable_variables
                         + disc.regressor_head.trainable_variables)
            opt.build(variables)

        def step(data):
            real, conditions, weights, targets = self._unpack(data)
            targets = self._targets(real, conditions, targets)
            den = global_weight_sum(weights)
            with tf.GradientTape() as tape:
                pred = disc.regress(disc.transform(real), conditions, training=True)
                loss = self._aux_loss(pred, targets, weights, den)
            opt.apply(tape.gradient(loss, variables), variables)
            return loss

        @tf.function
        def dist_step(data):
            losses = strategy.run(step, args=(data,))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

        loss = float("nan")
        for data in strategy.experimental_distribute_dataset(dataset.take(int(steps))):
            loss = float(dist_step(data))
        if freeze:
            self.freeze_regressor(True)
        return loss

    # ------------------------------------------------------------------ sampling
    @contextlib.contextmanager
    def averaged_generator(self):
        """Within the block the generator holds the moving average of its weights (with
        ``optimizer.generator_ema`` > 0; otherwise nothing changes); its own weights, the
        ones training continues from, are put back on exit.

        A GAN's generator oscillates around the equilibrium from step to step; the average
        over the last ~1 / (1 - momentum) steps is closer to it (Yazici et al. 2019), so
        model selection judges and the run saves the averaged weights.
        """
        opt = getattr(self, "g_optimizer", None)
        if opt is None or not opt.use_ema:
            yield self.generator
            return
        variables = self.generator.trainable_variables
        own = [v.numpy() for v in variables]
        for v, average in zip(variables, opt._model_variables_moving_average, strict=True):
            v.assign(average)
        try:
            yield self.generator
        finally:
            for v, value in zip(variables, own, strict=True):
                v.assign(value)

    def generate(self, conditions, seed: int | None = None, batch_size: int = 1024) -> np.ndarray:
        """PHYSICAL showers (N, *shower_shape) float32 for PHYSICAL conditions (N, n_cond).

        Shower i gets row i of :func:`tfcalo.models.noise.latent_noise` for ``seed`` (the
        noise of :class:`tfcalo.sampling.Sampler` and of the exported ``generate`` signature,
        so all three give the same showers), whatever ``batch_size`` is; ``seed=None`` picks
        a fresh random seed.
        """
        from tfcalo.models.noise import noise_batches

        conditions = np.asarray(conditions, dtype="float32").reshape(-1, self.detector.n_conditions)
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
        if self._gen_fn is None:
            gen = self.generator
            self._gen_fn = tf.function(lambda z, c: gen([z, c], training=False), reduce_retracing=True)
        out = [self._gen_fn(noise, conditions[start:start + len(noise)]).numpy()
               for start, noise in noise_batches(len(conditions), seed, self.latent_dim, batch_size)]
        if not out:
            return np.zeros((0, *self.detector.shower_shape), "float32")
        return np.concatenate(out).astype("float32")

    def get_config(self):
        return {"model_name": self.model_name, "detector": self.detector.name,
                "config": self.config, "seed": self.seed}
