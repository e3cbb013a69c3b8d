"""Acting: the one path from a raw observation to an action, rollouts of the training
environments, and evaluation episodes.

:func:`policy_action` is the only place an observation is normalised and handed to a learner's
``act``: rollouts, evaluation and loaded policies all go through it, so they act alike.
:func:`rollout` collects segments of every environment as :class:`Transition` s, keeping the
true next observation of an episode that ended; :func:`evaluate` runs one episode per
evaluation environment. Nothing here updates parameters or computes advantages.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from envs import BatchedEnv, EpisodeWrapper
from envs.wrappers import vmap_envs
from jaxrl import normalize
from jaxrl.config import TrainConfig
from jaxrl.learners.base import Learner


class Transition(NamedTuple):
    obs: jax.Array
    next_obs: jax.Array  # the true next observation: the final one when an episode ended
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    extras: Any
    episode_return: jax.Array  # return of an episode that ended at this step, else 0


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
    raw = (obs,) if learner.raw_obs else ()
    if deterministic:
        return learner.act_deterministic(params, aux, seen, config.learner, *raw), None
    return learner.act(params, aux, seen, key, config.learner, *raw)


def _empty_buffer(
    learner: Learner, params: Any, aux: Any, env_state: Any, key: jax.Array, config: TrainConfig, unrolls: int
) -> Transition:
    """Zeros [T, unrolls, envs, ...] for every field of a transition. The shapes are read without
    tracing the environment step a second time: the carried state has the observation's,
    reward's and flags', and the learner gives the action's and extras'."""
    raw = (env_state.obs,) if learner.raw_obs else ()
    action, extras = jax.eval_shape(learner.act, params, aux, env_state.obs, key, config.learner, *raw)
    obs, reward, final_return = env_state.obs, env_state.reward, env_state.info["done_return"]
    shapes = Transition(
        obs, obs, action, reward, env_state.terminated, env_state.truncated, extras, final_return
    )
    return jax.tree.map(lambda s: jnp.zeros((config.unroll_length, unrolls, *s.shape), s.dtype), shapes)


def rollout(
    learner: Learner,
    train_env: BatchedEnv,
    params: Any,
    aux: Any,
    stats: normalize.RunningStats,
    env_state: Any,
    key: jax.Array,
    config: TrainConfig,
    num_unrolls: int | None = None,
) -> tuple[Any, Transition]:
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
    buffer = _empty_buffer(learner, params, aux, env_state, keys[0, 0], config, num_unrolls)
    unrolls = jnp.arange(num_unrolls)
    (env_state, buffer), _ = jax.lax.scan(unroll, (env_state, buffer), (unrolls, keys))
    # [T, unrolls, envs, ...] -> [T, unrolls * envs, ...]: each segment is one trajectory.
    trajectories = jax.tree.map(lambda x: x.reshape(x.shape[0], -1, *x.shape[3:]), buffer)
    return env_state, trajectories


def evaluate(
    learner: Learner,
    env: EpisodeWrapper,
    params: Any,
    aux: Any,
    stats: normalize.RunningStats,
    key: jax.Array,
    config: TrainConfig,
    deterministic: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """Returns and lengths of ``eval_envs`` episodes, one from each environment."""
    reset_all, step_all = vmap_envs(env.reset), vmap_envs(env.step)
    reset_key, act_key = jax.random.split(key)
    env_state = reset_all(jax.random.split(reset_key, config.eval_envs))
    steps = env.policy_steps

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
