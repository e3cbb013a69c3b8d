"""Pure-JAX tasks that compile in seconds and train on a laptop CPU.

``toy/multigoal`` is a 2-D point that starts at the origin and is rewarded for reaching any of
four goals at (+-1, 0) and (0, +-1): at the start every goal is equally good, so the best action
distribution has four modes, which a Gaussian policy cannot represent and an expressive one can.
``toy/multigoal6`` is the MultiGoal task of the PolicyFlow paper (6 goals on a circle of radius 5,
a point mass driven by its acceleration from a random start). Both expose the same goal interface
(``goals``, ``arrival_radius``, ``position(physics)``, ``start_obs``) for counting modes.
``toy/pointmass`` is a cheap control task: a 2-D double integrator that must reach and hold a
random target given in its observation, which Gaussian PPO solves in a short CPU run.
These tasks deliberately have no rendering and no physics engine.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs.core import State

GOALS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], np.float32)  # host: no device at import


class MultiGoal:
    """Point at the origin; reward = progress towards the nearest goal + 1 on arrival.

    The action (in [-1, 1]^2) moves the point by ``max_speed * action``; an episode terminates
    on arrival within ``goal_radius`` of a goal. Progress is the decrease of the distance to the
    nearest goal, so moving straight at any of the four goals is optimal at the start.
    """

    observation_size = 2
    action_size = 2
    goals = GOALS
    start_obs = np.zeros(2, np.float32)  # the origin, where every goal is equally good

    def __init__(self, episode_length: int = 25, max_speed: float = 0.15, goal_radius: float = 0.1):
        self.episode_length = episode_length
        self.max_speed = max_speed
        self.goal_radius = goal_radius
        self.arrival_radius = goal_radius

    def position(self, physics: jax.Array) -> jax.Array:
        return physics

    def _goal_distance(self, position: jax.Array) -> jax.Array:
        return jnp.min(jnp.linalg.norm(position - GOALS, axis=-1))

    def reset(self, key: jax.Array) -> State:
        position = 0.01 * jax.random.normal(key, (2,))
        return State(position, position, jnp.float32(0), jnp.float32(0), jnp.float32(0), {})

    def step(self, state: State, action: jax.Array) -> State:
        position = state.physics + self.max_speed * jnp.clip(action, -1.0, 1.0)
        progress = self._goal_distance(state.physics) - self._goal_distance(position)
        arrived = self._goal_distance(position) < self.goal_radius
        reward = progress + arrived - 0.01 * jnp.sum(action**2)
        return state._replace(
            physics=position, obs=position, reward=reward, terminated=arrived.astype(jnp.float32)
        )


class MultiGoal6:
    """The MultiGoal task of PolicyFlow (Yang et al., ICLR 2026), as its code defines it.

    Observation [x, y, vx, vy]; six goals on a circle of radius 5 around the origin at 0, 60,
    ..., 300 degrees. A reset places the point uniformly in [-7, 7]^2 at rest. A step moves it,
    then accelerates it: position += velocity dt, velocity += u dt, dt 0.1, with the
    acceleration u = 5 clip(action, -1, 1). Reward 0.1 (exp(-0.3 d^2) + exp(-0.1 d^2))
    - 0.001 |5 action|^2 (unclipped), d the distance to the nearest goal after the move; leaving
    [-8, 8]^2 terminates; episodes last 51 steps (the code truncates once its step count exceeds
    50); a goal does not end an episode.

    The reference's agent emits the acceleration itself, clipped to [-5, 5] by the task; here the
    action is in [-1, 1] and the task scales it, as every task of the suite takes its actions, so
    that a learner whose actions are squashed to [-1, 1] has the task's whole range. The physics
    and rewards are the reference's for u = 5 action.
    """

    observation_size = 4
    action_size = 2
    goals = (5.0 * np.stack([np.cos(np.arange(6) * np.pi / 3), np.sin(np.arange(6) * np.pi / 3)], -1)).astype(
        np.float32
    )
    start_obs = np.zeros(4, np.float32)  # the origin at rest, equally far from all six goals
    arrival_radius = 1.0  # within it the distance reward is above 1.5 of its 2 per step
    max_acceleration = 5.0  # the reference's bound on the acceleration, the action 1 here

    def __init__(self, episode_length: int = 51, dt: float = 0.1):
        self.episode_length = episode_length
        self.dt = dt

    def position(self, physics: jax.Array) -> jax.Array:
        return physics[:2]

    def reset(self, key: jax.Array) -> State:
        position = jax.random.uniform(key, (2,), minval=-7.0, maxval=7.0)
        physics = jnp.concatenate([position, jnp.zeros(2)])
        return State(physics, physics, jnp.float32(0), jnp.float32(0), jnp.float32(0), {})

    def step(self, state: State, action: jax.Array) -> State:
        position, velocity = state.physics[:2], state.physics[2:]
        position = position + velocity * self.dt
        acceleration = self.max_acceleration * action
        velocity = velocity + self.max_acceleration * jnp.clip(action, -1.0, 1.0) * self.dt
        squared = jnp.min(jnp.sum((position - self.goals) ** 2, axis=-1))
        reward = 0.1 * (jnp.exp(-0.3 * squared) + jnp.exp(-0.1 * squared)) - 0.001 * jnp.sum(acceleration**2)
        outside = jnp.any(jnp.abs(position) > 8.0)
        physics = jnp.concatenate([position, velocity])
        return state._replace(
            physics=physics, obs=physics, reward=reward, terminated=outside.astype(jnp.float32)
        )


def goal_shares(
    actions: jax.Array, goals: jax.Array = GOALS, min_norm: float = 0.5, max_angle: float | None = None
) -> jax.Array:
    """The share of ``actions`` [n, 2] heading for each goal direction of ``goals`` [g, 2].

    An action heads for a goal when it points within ``max_angle`` degrees of it and its norm is
    at least ``min_norm``. The default half-width, 90 / g degrees (22.5 for four goals, 15 for
    six), covers half of the circle, so a distribution with no preferred direction gives a goal
    at most 1 / (2 g); shares sum to at most one.
    """
    max_angle = 90.0 / len(goals) if max_angle is None else max_angle
    directions = goals / jnp.linalg.norm(goals, axis=-1, keepdims=True)
    norms = jnp.linalg.norm(actions, axis=-1, keepdims=True)
    cosines = (actions @ directions.T) / jnp.maximum(norms, 1e-12)
    heading = (cosines >= jnp.cos(jnp.deg2rad(max_angle))) & (norms >= min_norm)
    return jnp.mean(heading, axis=0)


class PointMassPhysics(NamedTuple):
    position: jax.Array
    velocity: jax.Array
    target: jax.Array


class PointMass:
    """A 2-D double integrator (force in [-1, 1]^2, damping) that must reach a random target.

    Reward per step is ``exp(-2 |position - target|)`` in (0, 1]; the observation is
    position, velocity and target. An episode lasts ``episode_length`` steps and never
    terminates, so the time limit is a truncation and exercises bootstrapping.
    """

    observation_size = 6
    action_size = 2

    def __init__(self, episode_length: int = 100, dt: float = 0.1):
        self.episode_length = episode_length
        self.dt = dt

    def _observe(self, physics: PointMassPhysics) -> jax.Array:
        return jnp.concatenate([physics.position, physics.velocity, physics.target])

    def reset(self, key: jax.Array) -> State:
        position_key, target_key = jax.random.split(key)
        physics = PointMassPhysics(
            position=jax.random.uniform(position_key, (2,), minval=-1.0, maxval=1.0),
            velocity=jnp.zeros(2),
            target=jax.random.uniform(target_key, (2,), minval=-1.0, maxval=1.0),
        )
        zero = jnp.float32(0)
        return State(physics, self._observe(physics), zero, zero, zero, {})

    def step(self, state: State, action: jax.Array) -> State:
        physics = state.physics
        velocity = 0.95 * physics.velocity + self.dt * 2.0 * jnp.clip(action, -1.0, 1.0)
        position = jnp.clip(physics.position + self.dt * velocity, -2.0, 2.0)
        physics = physics._replace(position=position, velocity=velocity)
        reward = jnp.exp(-2.0 * jnp.linalg.norm(position - physics.target))
        return state._replace(physics=physics, obs=self._observe(physics), reward=reward)


TOY_ENVS = {"toy/multigoal": MultiGoal, "toy/multigoal6": MultiGoal6, "toy/pointmass": PointMass}
