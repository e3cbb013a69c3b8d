"""Brax's own environments (``brax/ant``, ``brax/hopper``, ...) behind :class:`~envs.core.State`.

Only Brax's environments are used, never its trainers. Brax's ``done`` is a termination (a
fallen hopper); time limits come from :class:`envs.wrappers.EpisodeWrapper`. The package is
imported only when one of its environments is made.
"""

from __future__ import annotations

from typing import Any

from envs.core import DoneFlagAdapter

BRAX_ENVS = (
    "ant", "fast", "halfcheetah", "hopper", "humanoid", "humanoidstandup",
    "inverted_double_pendulum", "inverted_pendulum", "pusher", "reacher", "swimmer", "walker2d",
)  # fmt: skip


class BraxEnv(DoneFlagAdapter):
    """One Brax environment; ``overrides`` go to ``brax.envs.get_environment`` (``backend``...)."""

    episode_length = 1000
    default_action_repeat = 1

    def __init__(self, name: str, **overrides: Any):
        from brax import envs as brax_envs

        self.name = name
        self.backend = brax_envs.get_environment(name, **overrides)
