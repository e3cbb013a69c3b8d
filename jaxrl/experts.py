"""Demonstrations from acting: :func:`collect` records whole episodes of any actor in one
environment, and scripted experts act in the toy tasks.

:func:`collect` runs ``episodes`` episodes as one jitted ``lax.scan`` over control steps,
vmapped over episodes, with optional Gaussian action noise (the noisy action clipped to the
action range [-1, 1] is what the environment gets and what is recorded). Every episode runs for
the time limit of the environment (its ``episode_length`` over its action repeat); only the steps
before each episode ended are kept, and a step that terminated its episode gets the terminal
flag. The result is a :class:`jaxrl.data.Demonstrations`. An :class:`Actor` may keep a memory
drawn at the start of each episode: the ``toy/multigoal`` expert (:func:`multigoal`) draws the
goal it heads straight for, so its data have four modes at the start; the ``toy/pointmass``
expert (:func:`pointmass`) is a PD controller towards the target in its observation. This module
deliberately neither reads nor writes files (:mod:`jaxrl.data` does) nor knows about runs
(:func:`from_policy` adapts any ``(obs, key) -> action``, such as :func:`jaxrl.load_policy`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs.toy import MultiGoal, PointMass
from jaxrl.config import ConfigError
from jaxrl.data import Demonstrations


class Actor(NamedTuple):
    """What :func:`collect` runs: ``start(key) -> memory`` once per episode, then
    ``act(memory, obs, key) -> action`` at every control step."""

    start: Callable[[jax.Array], Any]
    act: Callable[[Any, jax.Array, jax.Array], jax.Array]


def from_policy(policy: Callable[[jax.Array, jax.Array], jax.Array]) -> Actor:
    """An :class:`Actor` without memory from a ``(obs, key) -> action`` policy."""
    return Actor(start=lambda key: jnp.zeros(()), act=lambda memory, obs, key: policy(obs, key))


def episode_recorder(env: envs.EpisodeWrapper, actor: Actor) -> Callable[[jax.Array, jax.Array], Any]:
    """A jitted ``(keys [E, 2], action_noise) -> (obs, actions, rewards, terminated, running)``,
    each [E, env.policy_steps, ...]: one episode per key; ``running`` marks the steps taken before
    the episode ended (a prefix of each row)."""

    def episode(key: jax.Array, action_noise: jax.Array):
        reset_key, start_key, step_key = jax.random.split(key, 3)
        memory = actor.start(start_key)

        def step(carry, key):
            state, running = carry
            act_key, noise_key = jax.random.split(key)
            action = actor.act(memory, state.obs, act_key)
            noise = action_noise * jax.random.normal(noise_key, action.shape)
            action = jnp.clip(action + noise, -1.0, 1.0)
            stepped = env.step(state, action)
            terminated = stepped.terminated > 0
            ended = terminated | (stepped.truncated > 0)
            return (stepped, running & ~ended), (state.obs, action, stepped.reward, terminated, running)

        carry = (env.reset(reset_key), jnp.bool_(True))
        _, records = jax.lax.scan(step, carry, jax.random.split(step_key, env.policy_steps))
        return records

    return jax.jit(jax.vmap(episode, in_axes=(0, None)))


def collect(
    env: envs.EpisodeWrapper,
    actor: Actor,
    episodes: int,
    key: jax.Array,
    action_noise: float = 0.0,
) -> Demonstrations:
    """``episodes`` episodes of ``actor`` in ``env`` with Gaussian action noise of std
    ``action_noise``, as demonstrations (episode i drawn from ``fold_in(key, i)``)."""
    if episodes < 1:
        raise ConfigError(f"episodes={episodes} is invalid: expected a positive integer")
    if not action_noise >= 0.0 or not math.isfinite(action_noise):
        raise ConfigError(f"action_noise={action_noise} is invalid: expected a non-negative number")
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(episodes))
    records = episode_recorder(env, actor)(keys, jnp.float32(action_noise))
    obs, actions, rewards, terminated, running = (np.asarray(x) for x in jax.device_get(records))
    return Demonstrations(
        states=obs[running].astype(np.float32),
        actions=actions[running].astype(np.float32),
        rewards=rewards[running].astype(np.float32),
        terminals=terminated[running],
        traj_lengths=running.sum(axis=1).astype(np.int64),
    )


def _task(env: Any) -> Any:
    """The task under an :class:`envs.EpisodeWrapper` (or ``env`` itself)."""
    return env.env if isinstance(env, envs.EpisodeWrapper) else env


def multigoal(env: envs.EpisodeWrapper) -> Actor:
    """The ``toy/multigoal`` expert: at the start of each episode it picks one of the four goals
    uniformly at random, then moves straight at it at full speed (slower on the last step, so as
    not to overshoot)."""
    task = _task(env)
    goals = jnp.asarray(task.goals)
    reach = task.max_speed * getattr(env, "action_repeat", 1)

    def start(key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (), 0, len(task.goals))

    def act(goal: jax.Array, obs: jax.Array, key: jax.Array) -> jax.Array:
        offset = goals[goal] - obs[:2]
        distance = jnp.linalg.norm(offset)
        return offset / jnp.maximum(distance, 1e-6) * jnp.minimum(1.0, distance / reach)

    return Actor(start, act)


def pointmass(env: envs.EpisodeWrapper, kp: float = 6.0, kd: float = 2.0) -> Actor:
    """The ``toy/pointmass`` expert: the PD controller ``clip(kp (target - position) - kd velocity)``
    on the observation [position, velocity, target] (kp 6, kd 2 earn about 93 of the 100 a
    100-step episode could)."""

    def act(memory: jax.Array, obs: jax.Array, key: jax.Array) -> jax.Array:
        position, velocity, target = obs[:2], obs[2:4], obs[4:6]
        return jnp.clip(kp * (target - position) - kd * velocity, -1.0, 1.0)

    return Actor(start=lambda key: jnp.zeros(()), act=act)


# Each expert: the environment it drives, its task's class and its factory.
EXPERTS: dict[str, tuple[str, type, Callable[[envs.EpisodeWrapper], Actor]]] = {
    "multigoal": ("toy/multigoal", MultiGoal, multigoal),
    "pointmass": ("toy/pointmass", PointMass, pointmass),
}


def expert(name: str, env: envs.EpisodeWrapper) -> Actor:
    """The scripted expert ``name`` for ``env``; ConfigError, one line, for an unknown name or an
    environment it does not drive."""
    if name not in EXPERTS:
        raise ConfigError(f"expert {name!r} is unknown: expected one of {', '.join(EXPERTS)}")
    env_name, task_type, make = EXPERTS[name]
    if not isinstance(_task(env), task_type):
        raise ConfigError(f"expert {name!r} drives {env_name}, not {type(_task(env)).__name__}")
    return make(env)
