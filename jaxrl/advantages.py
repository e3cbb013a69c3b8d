"""Truncation-aware generalised advantage estimation (GAE, Schulman et al. 2016).

    delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   done = terminated or truncated

where s'_t is the true next observation: the final observation of an episode that just ended,
not the first observation of the next one. A truncated step therefore bootstraps from the value
of where the episode was cut off; a terminated one does not. Time is the leading axis.
"""

from __future__ import annotations

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
