"""Truncation-aware generalised advantage estimation (GAE, Schulman et al. 2016).

    delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   done = terminated or truncated

where s'_t is the true next observation: the final observation of an episode that just ended,
not the first observation of the next one. A truncated step therefore bootstraps from the value
of where the episode was cut off; a terminated one does not. Time is the leading axis.

V(s'_t) is V(s_{t+1}) wherever the episode went on, so :func:`next_values` needs the value
network only on the segment's last next observation and on the one observation where an
episode was cut off, not on every next observation. This module computes no values itself.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets (``A + V``) for arrays of shape [T, ...]."""
    not_terminated = 1.0 - terminated
    not_done = (1.0 - terminated) * (1.0 - truncated)
    deltas = rewards + gamma * not_terminated * next_values - values

    def backward(next_advantage, step):
        delta, continues = step
        advantage = delta + gamma * gae_lambda * continues * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True)
    return advantages, advantages + values


def next_values(
    values: jax.Array,
    next_obs: jax.Array,
    truncated: jax.Array,
    value_of: Callable[[jax.Array], jax.Array],
) -> jax.Array:
    """V(s'_t) for [T, N] ``values`` = V(s_t), from two value passes over N observations instead
    of one over all T x N true next observations (``next_obs``, [T, N, ...]).

    Valid when each of the N segments has at most one truncated step, which holds whenever
    episodes last at least T steps. Where an episode went on, s'_t = s_{t+1}; at the last step,
    s'_{T-1} is ``next_obs[-1]``; at the truncated step, the final observation there. Terminated
    steps get V(s_{t+1}) too, which :func:`gae` multiplies by zero.
    """
    last = value_of(next_obs[-1])
    following = jnp.concatenate([values[1:], last[None]])
    cut = jnp.argmax(truncated, axis=0)  # first truncated step of each segment; 0 where none
    cut_obs = jnp.take_along_axis(next_obs, cut.reshape(1, -1, *([1] * (next_obs.ndim - 2))), axis=0)[0]
    return jnp.where(truncated > 0, value_of(cut_obs)[None], following)
