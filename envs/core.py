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
import jax.numpy as jnp


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


class DoneFlagAdapter:
    """Adapts a backend environment whose state has ``obs``, ``reward`` and a ``done`` flag that
    means termination (MuJoCo Playground, Brax); the backend state is kept as ``physics``.
    Subclasses set ``self.backend`` and ``episode_length``."""

    backend: Any

    @property
    def observation_size(self) -> int:
        return int(self.backend.observation_size)

    @property
    def action_size(self) -> int:
        return int(self.backend.action_size)

    def reset(self, key: jax.Array) -> State:
        inner = self.backend.reset(key)
        zero = jnp.zeros((), jnp.float32)
        return State(inner, inner.obs, zero, jnp.asarray(inner.done, jnp.float32), zero, {})

    def step(self, state: State, action: jax.Array) -> State:
        inner = self.backend.step(state.physics, action)
        return state._replace(
            physics=inner,
            obs=inner.obs,
            reward=jnp.asarray(inner.reward, jnp.float32),
            terminated=jnp.asarray(inner.done, jnp.float32),
        )
