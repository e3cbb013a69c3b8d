"""Environments of the suite behind one interface: ``envs.make(name)`` and ``envs.names()``.

Names: the 25 MuJoCo Playground DM Control Suite tasks under their own names
(``CartpoleBalance``, ``WalkerWalk``, ...), Brax's environments as ``brax/<name>``, and pure-JAX
tasks as ``toy/<name>``. ``make`` returns a single environment with action repeat and a time
limit applied; :class:`envs.wrappers.BatchedEnv` vectorises it with auto-reset. Heavy backends
are imported only when one of their environments is made.
"""

from __future__ import annotations

import difflib
from typing import Any

from envs.brax_suite import BRAX_ENVS, BraxEnv
from envs.core import Env, State
from envs.playground import DM_CONTROL_TASKS, PlaygroundEnv
from envs.toy import TOY_ENVS
from envs.wrappers import BatchedEnv, EpisodeWrapper, postpone_time_limit

__all__ = [
    "BatchedEnv",
    "Env",
    "EpisodeWrapper",
    "State",
    "make",
    "names",
    "check_name",
    "postpone_time_limit",
]


def names() -> list[str]:
    """Every name ``make`` accepts."""
    return [*DM_CONTROL_TASKS, *(f"brax/{n}" for n in BRAX_ENVS), *TOY_ENVS]


def check_name(name: str) -> None:
    """Raise ``ValueError`` naming the closest valid names if ``name`` is not an environment."""
    valid = names()
    if name in valid:
        return
    lowered = {n.lower(): n for n in valid}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)
    hint = ", ".join(lowered[c] for c in close) if close else "see envs.names()"
    raise ValueError(f"unknown environment {name!r}; closest valid names: {hint}")


def make(
    name: str,
    episode_length: int | None = None,
    action_repeat: int | None = None,
    action_chunk: int = 1,
    **overrides: Any,
) -> EpisodeWrapper:
    """Make environment ``name`` with a time limit (in environment steps), action repeat and
    action chunks (:class:`~envs.wrappers.EpisodeWrapper`).

    Defaults come from the task (1000 steps for DM Control and Brax). Other keyword arguments go
    to the backend: Playground's config (``impl="warp"``, ``ctrl_dt``...), Brax's
    ``get_environment`` (``backend="mjx"``...) or the toy task's constructor.
    """
    check_name(name)
    if name in TOY_ENVS:
        env = TOY_ENVS[name](**overrides)
    elif name.startswith("brax/"):
        env = BraxEnv(name.removeprefix("brax/"), **overrides)
    else:
        env = PlaygroundEnv(name, **overrides)
    episode_length = env.episode_length if episode_length is None else episode_length
    if action_repeat is None:
        action_repeat = getattr(env, "default_action_repeat", 1)
    return EpisodeWrapper(env, episode_length, action_repeat, action_chunk)
