"""Running observation statistics (Welford/Chan parallel update) and normalisation. The
statistics are a pytree updated once per training iteration with the whole rollout; they are part
of the checkpoint so that a resumed run and a loaded policy normalise identically. Rewards are not
normalised here: the loop multiplies them by the constant ``reward_scaling``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class RunningStats(NamedTuple):
    count: jax.Array
    mean: jax.Array
    sum_sq: jax.Array  # sum of squared deviations from the mean

    @classmethod
    def zeros(cls, size: int) -> RunningStats:
        return cls(jnp.zeros((), jnp.float32), jnp.zeros(size), jnp.zeros(size))


def update(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Merge a batch of observations (any leading axes) into the statistics."""
    batch = batch.reshape(-1, batch.shape[-1])
    n = jnp.float32(batch.shape[0])
    batch_mean = batch.mean(axis=0)
    batch_sum_sq = jnp.sum((batch - batch_mean) ** 2, axis=0)
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * n / total
    sum_sq = stats.sum_sq + batch_sum_sq + delta**2 * stats.count * n / total
    return RunningStats(total, mean, sum_sq)


def normalize(stats: RunningStats, obs: jax.Array, clip: float = 5.0) -> jax.Array:
    """Standardise ``obs``; identity until the first update."""
    variance = stats.sum_sq / jnp.maximum(stats.count, 1.0)
    std = jnp.sqrt(jnp.maximum(variance, 1e-6))
    standardized = jnp.clip((obs - stats.mean) / std, -clip, clip)
    return jnp.where(stats.count > 0, standardized, obs)
