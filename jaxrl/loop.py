"""The one rollout-and-update loop that every learner shares, as pure functions.

One iteration (:func:`iteration`): ``num_unrolls`` x ``unroll_length`` steps of all
environments under ``learner.act`` (:func:`jaxrl.rollout.rollout`), truncation-aware GAE on
scaled rewards (:func:`advantages`), then ``update_epochs`` epochs (:func:`epoch`) of
``num_minibatches`` optimiser steps on ``learner.loss`` (:func:`update`), the loss seeing the
observations normalised as ``act`` saw them and a frozen copy of the parameters that acted; then
the observation statistics take in the rollout, for the next one. :func:`run_iterations` runs any
number of iterations in one compiled call (``fori_loop`` with a traced trip count, so chunks of
any length share one compilation). A learner's phases (:class:`~jaxrl.learners.base.Phase`) are
functions of the state too (:func:`run_phase`). :func:`make_loop` binds these pieces to one
environment and learner. Everything here is a function of (state, config): ``jax.vmap`` over
both trains several seeds and hyperparameters in one program. Logging, checkpoints and devices
live in :mod:`jaxrl.training`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from envs import BatchedEnv, EpisodeWrapper
from jaxrl import normalize, optim
from jaxrl.advantages import gae, next_values
from jaxrl.config import TrainConfig
from jaxrl.learners.base import Batch, Learner, Metrics, Phase, PhaseContext, PhaseResult
from jaxrl.rollout import Transition, evaluate, observe, rollout


class TrainState(NamedTuple):
    """Everything needed to continue training exactly; one seed (a leading axis when vmapped)."""

    params: Any
    opt_state: Any
    aux: Any
    obs_stats: normalize.RunningStats
    env_state: Any
    key: jax.Array
    iteration: jax.Array


Rollout = Callable[..., tuple[Any, Transition]]  # rollout with its learner and environments bound
Advantages = Callable[..., tuple[jax.Array, jax.Array, jax.Array]]
Update = Callable[..., tuple[Any, Any, Metrics]]


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
    rollout: Rollout
    advantages: Advantages
    update: Update


def init_state(
    learner: Learner, env: EpisodeWrapper, train_env: BatchedEnv, key: jax.Array, config: TrainConfig
) -> TrainState:
    """A fresh state: the learner's parameters, the optimiser's state, empty observation
    statistics and freshly reset training environments."""
    params_key, env_key, key = jax.random.split(key, 3)
    params = learner.init(params_key, config.learner)
    aux = learner.init_aux(jax.random.fold_in(params_key, 1), config.learner)
    return TrainState(
        params=params,
        opt_state=optim.make_optimizer(config, critic_keys=learner.critic_keys).init(params),
        aux=aux if learner.freeze is None else learner.freeze(params, aux),
        obs_stats=normalize.RunningStats.zeros(env.observation_size),
        env_state=train_env.reset(env_key),
        key=key,
        iteration=jnp.zeros((), jnp.int32),
    )


def advantages(
    learner: Learner,
    one_cut_per_segment: bool,
    params: Any,
    stats: normalize.RunningStats,
    trajectories: Transition,
    config: TrainConfig,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """GAE advantages, value targets and values [T, segments] of a rollout on rewards scaled by
    ``reward_scaling``. With ``one_cut_per_segment`` (episodes at least a segment long), the next
    observations' values come from the observations' own: one value pass over the batch, not two.
    """

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


def epoch(
    learner: Learner,
    advantages: Advantages,
    optimizer: optax.GradientTransformation,
    old_params: Any,
    aux: Any,
    stats: normalize.RunningStats,
    trajectories: Transition,
    fixed: tuple[jax.Array, jax.Array, jax.Array] | None,
    config: TrainConfig,
    carry: tuple[Any, Any],
    key: jax.Array,
) -> tuple[tuple[Any, Any], Metrics]:
    """One pass over the rollout in ``num_minibatches`` optimiser steps (a ``lax.scan`` body over
    (params, opt_state)). Advantages are ``fixed`` for the update, or recomputed under the current
    parameters when ``fixed`` is None (``advantages_per_epoch``)."""
    params, opt_state = carry
    permute_key, loss_key = jax.random.split(key)
    advantage, target, values = advantages(params, stats, trajectories, config) if fixed is None else fixed
    batch = Batch(trajectories.obs, trajectories.action, trajectories.extras, advantage, target, values)
    batch = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)

    def loss(params, minibatch: Batch, key):
        # Normalised one minibatch at a time: no normalised copy of the whole batch is held.
        minibatch = minibatch._replace(obs=observe(config, stats, minibatch.obs))
        total, metrics = learner.loss(params, old_params, aux, minibatch, key, config.learner)
        if config.kl_estimate != "exact":  # unread, so XLA drops the old policy's pass
            metrics = {k: v for k, v in metrics.items() if k != "exact_kl"}
        return total, metrics

    kl_adaptive = config.lr_schedule == "kl_adaptive"
    kl_name = "exact_kl" if config.kl_estimate == "exact" else "approx_kl"

    def adapt(opt_state, metrics):
        return optim.adapt_learning_rate(opt_state, jnp.mean(metrics[kl_name]), config)

    per_minibatch = adapt if kl_adaptive and config.kl_step == "minibatch" else None
    indices = optim.minibatch_indices(permute_key, config)
    params, opt_state, metrics = optim.minibatch_sgd(
        loss, optimizer, params, opt_state, batch, indices, loss_key, per_minibatch
    )
    if kl_adaptive and config.kl_step == "epoch":  # on the epoch's mean KL
        opt_state = adapt(opt_state, metrics)
    return (params, opt_state), metrics


def update(
    learner: Learner,
    advantages: Advantages,
    params: Any,
    opt_state: Any,
    aux: Any,
    stats: normalize.RunningStats,
    trajectories: Transition,
    key: jax.Array,
    config: TrainConfig,
) -> tuple[Any, Any, Metrics]:
    """``update_epochs`` x ``num_minibatches`` optimiser steps on one rollout; returns the
    parameters, the optimiser state and the per-step metrics [epochs, minibatches].

    ``stats`` must be the statistics the rollout acted under, so that the loss sees the
    observations ``act`` saw and every ratio is exactly 1 before the first step. The loss
    also gets ``old_params``, a frozen copy of the parameters that collected the batch.
    """
    clip = config.max_grad_norm
    if learner.max_grad_norm is not None:
        clip = jnp.minimum(clip, learner.max_grad_norm(aux, config.learner))
    fixed = None if config.advantages_per_epoch else advantages(params, stats, trajectories, config)
    optimizer = optim.make_optimizer(config, clip, learner.critic_keys)
    one_epoch = functools.partial(
        epoch, learner, advantages, optimizer, params, aux, stats, trajectories, fixed, config
    )
    epoch_keys = jax.random.split(key, config.update_epochs)
    (params, opt_state), metrics = jax.lax.scan(one_epoch, (params, opt_state), epoch_keys)
    return params, opt_state, metrics


def iteration(
    learner: Learner, rollout: Rollout, update: Update, state: TrainState, config: TrainConfig
) -> tuple[TrainState, Metrics]:
    """Step the learner's schedule, collect, update, then take the rollout's observations into
    the statistics; the metrics are the update's means plus the learning rate and the episodes
    that ended."""
    # Four keys, one unused: the split fixes the random streams that saved runs continue with.
    key, rollout_key, update_key, _ = jax.random.split(state.key, 4)
    aux = state.aux
    if learner.schedule is not None:
        aux = learner.schedule(aux, state.iteration / config.num_iterations, config.learner)
    env_state, trajectories = rollout(
        state.params, aux, state.obs_stats, state.env_state, rollout_key, config
    )
    # During critic warm-up the actor's optimiser is closed: only the critic trains.
    opt_state = optim.open_actor(state.opt_state, state.iteration >= config.critic_warmup_iterations)
    params, opt_state, metrics = update(
        state.params, opt_state, aux, state.obs_stats, trajectories, update_key, config
    )
    # The next rollout acts under statistics that include this one's observations.
    take_in = config.normalize_obs and config.update_obs_stats
    stats = normalize.update(state.obs_stats, trajectories.obs) if take_in else state.obs_stats
    ended = jnp.maximum(trajectories.terminated, trajectories.truncated)
    metrics = {
        **jax.tree.map(jnp.mean, metrics),
        "learning_rate": optim.learning_rate_of(opt_state),
        "episodes": jnp.sum(ended),
        "episode_return_sum": jnp.sum(trajectories.episode_return),
    }
    new_state = TrainState(params, opt_state, aux, stats, env_state, key, state.iteration + 1)
    return new_state, metrics


def run_iterations(
    iteration: Callable[[TrainState, TrainConfig], tuple[TrainState, Metrics]],
    state: TrainState,
    config: TrainConfig,
    num_iterations: jax.Array,
) -> tuple[TrainState, Metrics]:
    """``num_iterations`` iterations; returns the state and the metrics summed over them."""
    shapes = jax.eval_shape(lambda s: iteration(s, config)[1], state)
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def body(_, carry):
        state, sums = carry
        state, metrics = iteration(state, config)
        return state, jax.tree.map(jnp.add, sums, metrics)

    return jax.lax.fori_loop(0, num_iterations, body, (state, zeros))


def run_phase(
    learner: Learner, rollout: Rollout, phase: Phase, state: TrainState, config: TrainConfig
) -> TrainState:
    """The state after ``phase``, which is handed the state and the loop's own routines (the
    rollout, observation, minibatch SGD and fresh initialisation) under ``config``."""
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
        observe=functools.partial(observe, config),
        sgd=optim.minibatch_sgd,
        init_params=lambda key: learner.init(key, config.learner),
        init_opt_state=optim.make_optimizer(config, critic_keys=learner.critic_keys).init,
    )
    result: PhaseResult = phase.run(context)
    return state._replace(**result._asdict(), key=key)


def make_loop(env: EpisodeWrapper, learner: Learner, config: TrainConfig) -> Loop:
    """Bind the loop's pieces to ``env`` and ``learner``; ``config``'s static fields fix shapes,
    its leaves are read from the config passed at call time."""
    train_env = BatchedEnv(env, config.num_envs)
    # Truncations of one environment are a whole episode apart: with episodes at least one
    # segment long, a segment holds at most one.
    one_cut_per_segment = env.policy_steps >= config.unroll_length
    collect = functools.partial(rollout, learner, train_env)
    estimate = functools.partial(advantages, learner, one_cut_per_segment)
    optimise = functools.partial(update, learner, estimate)
    # Through one jit, run_iterations' reading of the metrics' shapes and its loop body share a
    # single trace of the iteration (tracing the physics is seconds of every compilation).
    step = jax.jit(functools.partial(iteration, learner, collect, optimise))
    return Loop(
        init=functools.partial(init_state, learner, env, train_env),
        iteration=step,
        run_iterations=functools.partial(run_iterations, step),
        evaluate=functools.partial(evaluate, learner, env),
        phases=tuple(functools.partial(run_phase, learner, collect, phase) for phase in learner.phases),
        rollout=collect,
        advantages=estimate,
        update=optimise,
    )
