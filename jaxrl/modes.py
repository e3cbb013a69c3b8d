"""Counting the goals a trained policy covers on the multi-goal toy tasks (``toy/multigoal``,
four goals, and ``toy/multigoal6``, six), where every goal is equally good from the start state,
so a policy that represents the whole optimal action distribution spreads over several goals and
a Gaussian one can cover one.

Two measures, per seed of a (possibly seed-vmapped) trained run: the goal directions that the
policy's stochastic actions at the start state point to (:func:`start_actions`, then
:func:`modes`, which shares them out with :func:`envs.toy.goal_shares`), and the goals that its
stochastic episodes from the start state arrive at first (:func:`goals_reached`). A goal counts
(:func:`covered`) when at least ``min_share`` of the actions or episodes go to it; the default,
15%, is above what a distribution with no preferred direction gives a goal (isotropic: at most
12.5% of four goals' directions, 8.3% of six; uniform over the action square 8%).

It counts; it does not train, choose settings or write results (the ``multigoal`` preset of
:data:`jaxrl.config.PRESETS` holds the small settings these counts are usually measured with),
and it knows only the toy goal tasks: their ``goals``, ``start_obs``, ``arrival_radius`` and
``position``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs.toy import GOALS, goal_shares
from jaxrl.config import TrainConfig
from jaxrl.training import TrainResult, build, policy_of

MIN_SHARE = 0.15


def covered(shares: Any, min_share: float = MIN_SHARE) -> int:
    """The number of goals whose share is at least ``min_share``."""
    return int(np.sum(np.asarray(shares) >= min_share))


def modes(actions: Any, min_share: float = MIN_SHARE, goals: Any = None) -> tuple[int, np.ndarray]:
    """The number of goals (default: toy/multigoal's) with at least ``min_share`` of
    ``actions`` [n, 2], and all the goals' shares."""
    shares = np.asarray(goal_shares(actions, GOALS if goals is None else goals))
    return covered(shares, min_share), shares


def task_of(config: TrainConfig) -> Any:
    """The goal task a config trains on (``goals``, ``start_obs``, ``arrival_radius``...)."""
    return envs.make(config.env).env


def start_actions(result: TrainResult, samples: int, seed: int = 0) -> np.ndarray:
    """``samples`` stochastic actions of every seed's policy at the start: [seeds, samples, 2]."""
    obs = jnp.tile(task_of(result.config).start_obs, (samples, 1))
    keys = jax.random.split(jax.random.PRNGKey(seed), samples)
    actions = []
    for index in range(result.config.num_seeds):
        policy = policy_of(result.config, result.state, index)
        actions.append(jax.vmap(policy)(obs, keys))
    return np.asarray(jnp.stack(actions))


def start_episodes(result: TrainResult, episodes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``episodes`` stochastic episodes of every seed's policy from the start state: their
    positions [seeds, episodes, steps + 1, 2] (the start first) and the goal each arrives at first
    (within the task's ``arrival_radius``; -1 for none) [seeds, episodes]."""
    config = result.config
    env = build(config)[0]  # the task as the run trained on it (time limit, action repeat)
    task = env.env

    def episode(policy, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        reset_key, run_key = jax.random.split(key)

        def step(carry, step_key):
            state, goal = carry
            state = env.step(state, policy(state.obs, step_key))
            position = task.position(state.physics)
            distances = jnp.linalg.norm(position - task.goals, axis=-1)
            arrived = (goal < 0) & (jnp.min(distances) < task.arrival_radius)
            return (state, jnp.where(arrived, jnp.argmin(distances), goal)), position

        # The toy goal tasks' physics is their observation: the start state is the start_obs.
        start = env.reset(reset_key)._replace(physics=task.start_obs, obs=task.start_obs)
        steps = env.policy_steps
        (_, goal), path = jax.lax.scan(step, (start, jnp.int32(-1)), jax.random.split(run_key, steps))
        return jnp.concatenate([task.position(start.physics)[None], path]), goal

    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    paths, goals = [], []
    for index in range(config.num_seeds):
        policy = policy_of(config, result.state, index)
        path, goal = jax.jit(jax.vmap(lambda key, policy=policy: episode(policy, key)))(keys)
        paths.append(path)
        goals.append(goal)
    return np.asarray(jnp.stack(paths)), np.asarray(jnp.stack(goals))


def goals_reached(result: TrainResult, episodes: int, seed: int = 0) -> np.ndarray:
    """The share of ``episodes`` stochastic episodes from the start state that arrive first at
    each goal (:func:`start_episodes`), per seed: [seeds, goals]; episodes that arrive nowhere
    count for no goal."""
    return arrival_shares(start_episodes(result, episodes, seed)[1], len(task_of(result.config).goals))


def arrival_shares(first: np.ndarray, count: int) -> np.ndarray:
    """The share of episodes arriving first at each of ``count`` goals, from
    :func:`start_episodes`' first goals [..., episodes] (-1, none, counts for no goal)."""
    return np.mean(first[..., None] == np.arange(count), axis=-2)
