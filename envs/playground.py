"""MuJoCo Playground's DM Control Suite tasks behind the suite's :class:`~envs.core.State`.

Physics runs with MJX's pure-JAX implementation (``impl="jax"``) by default so that it compiles
into the same XLA program as the learner; ``impl="warp"`` selects MuJoCo Warp where installed.
Playground's own training wrappers are not used (their auto-reset discards the final
observation); :mod:`envs.wrappers` provides ours. The package is imported only when a task of
it is made, because importing it costs seconds.
"""

from __future__ import annotations

from typing import Any

from envs.core import DoneFlagAdapter

DM_CONTROL_TASKS = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
    "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
    "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop", "HopperStand",
    "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup", "PointMass",
    "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
)  # fmt: skip


class PlaygroundEnv(DoneFlagAdapter):
    """One Playground task; ``overrides`` go to the task's config (e.g. ``ctrl_dt``)."""

    def __init__(self, name: str, impl: str = "jax", **overrides: Any):
        from mujoco_playground import registry

        self.name = name
        self.backend = registry.load(name, config_overrides={"impl": impl, **overrides})
        config = registry.get_default_config(name)
        self.episode_length = int(overrides.get("episode_length", config.episode_length))
        self.default_action_repeat = int(config.get("action_repeat", 1))
