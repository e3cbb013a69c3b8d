"""The one rollout-and-update loop that every learner shares, as pure functions.

One iteration: ``num_unrolls`` x ``unroll_length`` steps of all environments under
``learner.act`` (nested ``lax.scan``), truncation-aware GAE on scaled rewards, then
``update_epochs`` x ``num_minibatches`` optimiser steps (``lax.scan``) on ``learner.loss`` with
global-norm clipping and AdamW under a learning-rate schedule (constant, linear, or adapted to
each epoch's KL), the loss seeing the observations normalised as ``act`` saw them and a frozen
copy of the parameters that acted; then the observation statistics take in the rollout (for
the next one). :func:`run_iterations` runs any number of iterations in one compiled call
(``fori_loop`` with a traced trip count, so chunks of any length share one compilation).
A learner's phases (:class:`~jaxrl.learners.base.Phase`) are functions of the state too
(``Loop.phases``); the training driver runs them between chunks at the iterations they name.
Everything here is a function of (state, config): ``jax.vmap`` over both trains several seeds
and hyperparameters in one program. Logging, checkpoints and devices live elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from envs import BatchedEnv, EpisodeWrapper
from envs.wrappers import vmap_envs
from jaxrl import normalize
from jaxrl.advantages import gae, next_values
from jaxrl.config import TrainConfig
from jaxrl.learners.base import Batch, Learner, Metrics, PhaseContext, PhaseResult


class TrainState(NamedTuple):
    """Everything needed to continue training exactly; one seed (a leading axis when vmapped)."""

    params: Any
    opt_state: Any
    aux: Any
    obs_stats: normalize.RunningStats
    env_state: Any
    key: jax.Array
    iteration: jax.Array


class Transition(NamedTuple):
    obs: jax.Array
    next_obs: jax.Array  # the true next observation: the final one when an episode ended
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    extras: Any
    episode_return: jax.Array  # return of an episode that ended at this step, else 0


class Loop(NamedTuple):
    """The pure functions of training for one environment and learner."""

    init: Callable[[jax.Array, TrainConfig], TrainState]
    iteration: Callable[[TrainState, TrainConfig], tuple[TrainState, Metrics]]
    run_iterations: Callable[[TrainState, TrainConfig, jax.Array], tuple[TrainState, Metrics]]
    evaluate: Callable[..., tuple[jax.Array, jax.Array]]
    # The learner's phases, one ``(state, config) -> state`` per Phase, in its order.
    phases: tuple[Callable[[TrainState, TrainConfig], TrainState], ...]
    # An iteration's parts, for profiling and notebooks: ``iteration`` is rollout, the
    # observation statistics' update, then update (which calls advantages).
    rollout: Callable[..., tuple[Any, Transition]]
    advantages: Callable[..., tuple[jax.Array, jax.Array, jax.Array]]
    update: Callable[..., tuple[Any, Any, Metrics]]


def make_optimizer(
    config: TrainConfig, max_grad_norm: jax.Array | float | None = None
) -> optax.GradientTransformation:
    """Global-norm clipping (at ``max_grad_norm``, by default the config's), then AdamW (Adam
    when ``weight_decay`` is 0) whose learning rate lives in the optimiser state, where the
    schedule or the KL rule sets it. The clip has no state: any bound shares one state."""
    learning_rate: Any = config.learning_rate
    if config.lr_schedule == "linear":
        updates = config.num_iterations * config.update_epochs * config.num_minibatches
        learning_rate = optax.linear_schedule(config.learning_rate, 0.0, max(updates, 1))
    adamw = optax.inject_hyperparams(optax.adamw)(
        learning_rate=learning_rate, weight_decay=config.weight_decay
    )
    clip = config.max_grad_norm if max_grad_norm is None else max_grad_norm
    return optax.chain(optax.clip_by_global_norm(clip), adamw)


# The KL-adaptive rule of rsl_rl and skrl (KLAdaptiveLR): bounds of the learning rate and its factor.
KL_ADAPTIVE_BOUNDS = (1e-6, 1e-2)
KL_ADAPTIVE_FACTOR = 1.5


def learning_rate_of(opt_state: Any) -> jax.Array:
    """The learning rate the next optimiser step uses (state of :func:`make_optimizer`)."""
    return opt_state[1].hyperparams["learning_rate"]


def adapt_learning_rate(opt_state: Any, kl: jax.Array, kl_target: jax.Array) -> Any:
    """Divide the learning rate by 1.5 when ``kl`` exceeds twice ``kl_target``, multiply it by 1.5
    when ``kl`` is below half of it, within [1e-6, 1e-2]."""
    clip, adamw = opt_state
    rate = adamw.hyperparams["learning_rate"]
    factor = jnp.where(kl > 2.0 * kl_target, 1.0 / KL_ADAPTIVE_FACTOR, 1.0)
    factor = jnp.where(kl < 0.5 * kl_target, KL_ADAPTIVE_FACTOR, factor)
    adapted = jnp.clip(rate * factor, *KL_ADAPTIVE_BOUNDS).astype(rate.dtype)
    return (clip, adamw._replace(hyperparams={**adamw.hyperparams, "learning_rate": adapted}))


def observe(config: TrainConfig, stats: normalize.RunningStats, obs: jax.Array) -> jax.Array:
    """What the learner sees: the normalised observation when normalisation is on."""
    return normalize.normalize(stats, obs) if config.normalize_obs else obs


def policy_action(
    learner: Learner,
    config: TrainConfig,
    params: Any,
    aux: Any,
    stats: normalize.RunningStats,
    obs: jax.Array,
    key: jax.Array | None,
    deterministic: bool = False,
) -> tuple[jax.Array, Any]:
    """The one acting path (rollouts, evaluation, loaded policies): the learner's action for a raw
    observation and its extras (None when ``deterministic``, which ignores ``key``)."""
    seen = observe(config, stats, obs)
    if deterministic:
        return learner.act_deterministic(params, aux, seen, config.learner), None
    return learner.act(params, aux, seen, key, config.learner)


def minibatch_sgd(
    loss: Callable[[Any, Any, jax.Array], tuple[jax.Array, Metrics]],
    optimizer: optax.GradientTransformation,
    params: Any,
    opt_state: Any,
    data: Any,
    indices: jax.Array,
    key: jax.Array,
) -> tuple[Any, Any, Metrics]:
    """One optimiser step of ``loss(params, minibatch, key) -> (scalar, metrics)`` per row of
    ``indices`` [M, B] into the leading axis of ``data`` (a ``lax.scan``); returns the parameters,
    the optimiser state and the metrics [M] with ``grad_norm`` added. Each minibatch is gathered
    when its step runs: no shuffled copy of ``data`` is ever held."""

    def step(carry, inputs):
        params, opt_state = carry
        rows, key = inputs
        minibatch = jax.tree.map(lambda x: x[rows], data)
        grads, metrics = jax.grad(loss, has_aux=True)(params, minibatch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        metrics = {**metrics, "grad_norm": optax.global_norm(grads)}
        return (optax.apply_updates(params, updates), opt_state), metrics

    keys = jax.random.split(key, indices.shape[0])
    (params, opt_state), metrics = jax.lax.scan(step, (params, opt_state), (indices, keys))
    return params, opt_state, metrics


def minibatch_indices(key: jax.Array, config: TrainConfig) -> jax.Array:
    """One epoch's minibatches as int32 indices [num_minibatches, minibatch_size] into the
    iteration's batch flattened time-major ([unroll_length * segments], one segment being one
    environment's ``unroll_length`` consecutive steps).

    ``minibatch_unit="transition"`` draws a uniform permutation of all transitions.
    ``minibatch_unit="segment"`` (Brax's PPO) shuffles whole segments: each minibatch holds
    ``segments / num_minibatches`` segments with all their steps, and only the segments are
    sorted, which on CPU costs a fraction of sorting every transition.
    """
    segments = config.num_envs * config.num_unrolls
    if config.minibatch_unit == "transition":
        order = jax.random.permutation(key, config.unroll_length * segments)
        return order.reshape(config.num_minibatches, -1)
    per_minibatch = jax.random.permutation(key, segments).reshape(config.num_minibatches, 1, -1)
    steps = jnp.arange(config.unroll_length).reshape(1, -1, 1) * segments
    return (steps + per_minibatch).reshape(config.num_minibatches, -1)


def make_loop(env: EpisodeWrapper, learner: Learner, config: TrainConfig) -> Loop:
    """Build the loop's functions; ``config``'s static fields fix shapes, its leaves are read
    from the config passed at call time."""
    train_env = BatchedEnv(env, config.num_envs)
    reset_all, step_all = vmap_envs(env.reset), vmap_envs(env.step)  # evaluation's environments

    def init(key: jax.Array, config: TrainConfig) -> TrainState:
        params_key, env_key, key = jax.random.split(key, 3)
        params = learner.init(params_key, config.learner)
        return TrainState(
            params=params,
            opt_state=make_optimizer(config).init(params),
            aux=learner.init_aux(jax.random.fold_in(params_key, 1), config.learner),
            obs_stats=normalize.RunningStats.zeros(env.observation_size),
            env_state=train_env.reset(env_key),
            key=key,
            iteration=jnp.zeros((), jnp.int32),
        )

    def rollout(params, aux, stats, env_state, key, config: TrainConfig, num_unrolls: int | None = None):
        """``num_unrolls`` (by default the config's) segments of ``unroll_length`` steps of every
        environment under the learner's ``act``: the environments' state and the transitions
        [T, num_unrolls * num_envs, ...], one segment per column."""
        num_unrolls = config.num_unrolls if num_unrolls is None else num_unrolls

        def step(env_state, key):
            action, extras = policy_action(learner, config, params, aux, stats, env_state.obs, key)
            next_state = train_env.step(env_state, action)
            done = jnp.maximum(next_state.terminated, next_state.truncated)
            transition = Transition(
                obs=env_state.obs,
                next_obs=next_state.info["final_obs"],
                action=action,
                reward=next_state.reward,
                terminated=next_state.terminated,
                truncated=next_state.truncated,
                extras=extras,
                episode_return=done * next_state.info["done_return"],
            )
            return next_state, transition

        def unroll(carry, inputs):
            env_state, buffer = carry
            index, keys = inputs
            env_state, segment = jax.lax.scan(step, env_state, keys)
            # Written in place into [T, unrolls, envs, ...]: no second, transposed copy of the
            # whole rollout is ever made.
            buffer = jax.tree.map(
                lambda b, x: jax.lax.dynamic_update_index_in_dim(b, x, index, axis=1), buffer, segment
            )
            return (env_state, buffer), None

        keys = jax.random.split(key, num_unrolls * config.unroll_length)
        keys = keys.reshape(num_unrolls, config.unroll_length, *keys.shape[1:])
        # The buffer's shapes, read without tracing the environment step a second time: the
        # carried state has the observation's, reward's and flags'; the learner gives the action's.
        action, extras = jax.eval_shape(learner.act, params, aux, env_state.obs, keys[0, 0], config.learner)
        reward, final_return = env_state.reward, env_state.info["done_return"]
        obs, terminated, truncated = env_state.obs, env_state.terminated, env_state.truncated
        shapes = Transition(obs, obs, action, reward, terminated, truncated, extras, final_return)
        buffer = jax.tree.map(
            lambda s: jnp.zeros((config.unroll_length, num_unrolls, *s.shape), s.dtype), shapes
        )
        unrolls = jnp.arange(num_unrolls)
        (env_state, buffer), _ = jax.lax.scan(unroll, (env_state, buffer), (unrolls, keys))
        # [T, unrolls, envs, ...] -> [T, unrolls * envs, ...]: each segment is one trajectory.
        trajectories = jax.tree.map(lambda x: x.reshape(x.shape[0], -1, *x.shape[3:]), buffer)
        return env_state, trajectories

    # Truncations of one environment are a whole episode apart: with episodes at least one
    # segment long, a segment holds at most one, and the next observations' values come from the
    # observations' own (one value pass over the batch, not two).
    one_cut_per_segment = math.ceil(env.episode_length / env.action_repeat) >= config.unroll_length

    def advantages(params, stats, trajectories: Transition, config: TrainConfig):
        def value_of(obs):
            return learner.value(params, observe(config, stats, obs), config.learner)

        def values_of(obs):  # one time step at a time bounds the activations' memory
            return jax.lax.map(value_of, obs)

        values = values_of(trajectories.obs)
        if one_cut_per_segment:
            next_obs_values = next_values(values, trajectories.next_obs, trajectories.truncated, value_of)
        else:
            next_obs_values = values_of(trajectories.next_obs)
        advantage, target = gae(
            trajectories.reward * config.reward_scaling,
            values,
            next_obs_values,
            trajectories.terminated,
            trajectories.truncated,
            config.gamma,
            config.gae_lambda,
        )
        return advantage, target, values

    def update(params, opt_state, aux, stats, trajectories: Transition, key, config: TrainConfig):
        """``update_epochs`` x ``num_minibatches`` optimiser steps on one rollout; returns the
        parameters, the optimiser state and the per-step metrics [epochs, minibatches].

        ``stats`` must be the statistics the rollout acted under, so that the loss sees the
        observations ``act`` saw and every ratio is exactly 1 before the first step. The loss
        also gets ``old_params``, a frozen copy of the parameters that collected the batch.
        """
        clip = config.max_grad_norm
        if learner.max_grad_norm is not None:
            clip = jnp.minimum(clip, learner.max_grad_norm(aux, config.learner))
        optimizer = make_optimizer(config, clip)
        old_params = params
        fixed = None if config.advantages_per_epoch else advantages(params, stats, trajectories, config)

        def loss(params, minibatch: Batch, key):
            # Normalised one minibatch at a time: no normalised copy of the whole batch is held.
            minibatch = minibatch._replace(obs=observe(config, stats, minibatch.obs))
            return learner.loss(params, old_params, aux, minibatch, key, config.learner)

        def epoch(carry, key):
            params, opt_state = carry
            permute_key, loss_key = jax.random.split(key)
            advantage, target, values = (
                advantages(params, stats, trajectories, config) if config.advantages_per_epoch else fixed
            )
            batch = Batch(
                trajectories.obs, trajectories.action, trajectories.extras, advantage, target, values
            )
            batch = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)
            indices = minibatch_indices(permute_key, config)
            params, opt_state, metrics = minibatch_sgd(
                loss, optimizer, params, opt_state, batch, indices, loss_key
            )
            if config.lr_schedule == "kl_adaptive":  # stepped once per epoch, on its mean KL
                opt_state = adapt_learning_rate(opt_state, jnp.mean(metrics["approx_kl"]), config.kl_target)
            return (params, opt_state), metrics

        epoch_keys = jax.random.split(key, config.update_epochs)
        (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), epoch_keys)
        return params, opt_state, metrics

    def iteration(state: TrainState, config: TrainConfig) -> tuple[TrainState, Metrics]:
        # Four keys, one unused: every learner's random streams stay those of earlier versions.
        key, rollout_key, update_key, _ = jax.random.split(state.key, 4)
        env_state, trajectories = rollout(
            state.params, state.aux, state.obs_stats, state.env_state, rollout_key, config
        )
        params, opt_state, metrics = update(
            state.params, state.opt_state, state.aux, state.obs_stats, trajectories, update_key, config
        )
        # The next rollout acts under statistics that include this one's observations.
        stats = (
            normalize.update(state.obs_stats, trajectories.obs) if config.normalize_obs else state.obs_stats
        )
        ended = jnp.maximum(trajectories.terminated, trajectories.truncated)
        metrics = {
            **jax.tree.map(jnp.mean, metrics),
            "learning_rate": learning_rate_of(opt_state),
            "episodes": jnp.sum(ended),
            "episode_return_sum": jnp.sum(trajectories.episode_return),
        }
        new_state = TrainState(params, opt_state, state.aux, stats, env_state, key, state.iteration + 1)
        return new_state, metrics

    def phase_runner(phase) -> Callable[[TrainState, TrainConfig], TrainState]:
        def run(state: TrainState, config: TrainConfig) -> TrainState:
            key, phase_key = jax.random.split(state.key)
            context = PhaseContext(
                params=state.params,
                opt_state=state.opt_state,
                aux=state.aux,
                obs_stats=state.obs_stats,
                env_state=state.env_state,
                key=phase_key,
                iteration=state.iteration,
                config=config,
                collect=lambda params, aux, stats, env_state, key, num_unrolls: rollout(
                    params, aux, stats, env_state, key, config, num_unrolls
                ),
                observe=lambda stats, obs: observe(config, stats, obs),
                sgd=minibatch_sgd,
                init_params=lambda key: learner.init(key, config.learner),
                init_opt_state=make_optimizer(config).init,
            )
            result: PhaseResult = phase.run(context)
            return state._replace(**result._asdict(), key=key)

        return run

    # Through one jit, run_iterations' reading of the metrics' shapes and its loop body share a
    # single trace of the iteration (tracing the physics is seconds of every compilation).
    iteration = jax.jit(iteration)

    def run_iterations(state: TrainState, config: TrainConfig, num_iterations: jax.Array):
        """``num_iterations`` iterations; returns the state and the metrics summed over them."""
        shapes = jax.eval_shape(lambda s: iteration(s, config)[1], state)
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

        def body(_, carry):
            state, sums = carry
            state, metrics = iteration(state, config)
            return state, jax.tree.map(jnp.add, sums, metrics)

        return jax.lax.fori_loop(0, num_iterations, body, (state, zeros))

    def evaluate(params, aux, stats, key, config: TrainConfig, deterministic: bool = True):
        """Returns and lengths of ``eval_envs`` episodes, one from each environment."""
        reset_key, act_key = jax.random.split(key)
        env_state = reset_all(jax.random.split(reset_key, config.eval_envs))
        steps = math.ceil(env.episode_length / env.action_repeat)

        def step(carry, key):
            env_state, total, length, alive = carry
            action, _ = policy_action(learner, config, params, aux, stats, env_state.obs, key, deterministic)
            env_state = step_all(env_state, action)
            total = total + jnp.where(alive, env_state.reward, 0.0)
            length = length + alive
            alive = alive & (env_state.terminated == 0) & (env_state.truncated == 0)
            return (env_state, total, length, alive), None

        zeros = jnp.zeros(config.eval_envs)
        carry = (env_state, zeros, zeros, jnp.ones(config.eval_envs, bool))
        (_, total, length, _), _ = jax.lax.scan(step, carry, jax.random.split(act_key, steps))
        return total, length

    phases = tuple(phase_runner(phase) for phase in learner.phases)
    return Loop(init, iteration, run_iterations, evaluate, phases, rollout, advantages, update)
