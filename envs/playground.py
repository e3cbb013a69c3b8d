"""MuJoCo Playground's DM Control Suite tasks behind the suite's :class:`~envs.core.State`.

Physics runs with MJX's pure-JAX implementation (``impl="jax"``) by default so that it compiles
into the same XLA program as the learner; ``impl="warp"`` selects MuJoCo Warp where installed.
Playground's own training wrappers are not used (their auto-reset discards the final
observation); :mod:`envs.wrappers` provides ours. The package is imported only when a task of
it is made, because importing it costs seconds.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from envs.core import State

DM_CONTROL_TASKS = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
    "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
    "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop", "HopperStand",
    "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup", "PointMass",
    "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
)  # fmt: skip


class PlaygroundEnv:
    """One Playground task; ``overrides`` go to the task's config (e.g. ``ctrl_dt``)."""

    def __init__(self, name: str, impl: str = "jax", **overrides: Any):
        from mujoco_playground import registry

        self.name = name
        self._env = registry.load(name, config_overrides={"impl": impl, **overrides})
        config = registry.get_default_config(name)
        self.episode_length = int(overrides.get("episode_length", config.episode_length))
        self.default_action_repeat = int(config.get("action_repeat", 1))
        self.observation_size = int(self._env.observation_size)
        self.action_size = int(self._env.action_size)

    def reset(self, key: jax.Array) -> State:
        inner = self._env.reset(key)
        zero = jnp.zeros((), jnp.float32)
        return State(inner, inner.obs, zero, jnp.asarray(inner.done, jnp.float32), zero, {})

    def step(self, state: State, action: jax.Array) -> State:
        inner = self._env.step(state.physics, action)
        return state._replace(
            physics=inner,
            obs=inner.obs,
            reward=jnp.asarray(inner.reward, jnp.float32),
            terminated=jnp.asarray(inner.done, jnp.float32),
        )
