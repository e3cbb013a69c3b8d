"""The one state/step interface every environment of the suite speaks.

A single (unbatched) environment is an object with ``observation_size``, ``action_size``,
``episode_length`` (in environment control steps) and two pure functions, ``reset(key)`` and
``step(state, action)``, over a :class:`State`. Batching, time limits, action repeat and
auto-reset live in :mod:`envs.wrappers`; backends (MuJoCo Playground, Brax, pure-JAX toys) live
in their own modules. This module deliberately holds no physics and no registry.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax


class State(NamedTuple):
    """One environment's state. ``terminated`` ends an episode for good (no bootstrap);
    ``truncated`` ends it at a time limit (bootstrap from the value of ``obs``)."""

    physics: Any
    obs: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    info: dict[str, Any]


class Env(Protocol):
    observation_size: int
    action_size: int
    episode_length: int

    def reset(self, key: jax.Array) -> State: ...

    def step(self, state: State, action: jax.Array) -> State: ...
