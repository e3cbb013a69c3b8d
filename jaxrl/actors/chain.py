"""Chains of Gaussian transitions x_0 -> x_1 -> ... -> x_K, the machinery shared by the
diffusion actor (DPPO) and the noisy flow actor (ReinFlow).

A chain is given by ``step(x, k) -> (mean, std)``, the Gaussian of x_{k+1} given x_k at chain
index k = 0..K-1 (index 0 is the noise end). Sampling runs the K steps in a ``lax.scan`` (cost
linear in K) with standard-normal noise clipped to ``+-noise_clip``; scoring a stored chain
needs no scan at all, since every x_k is known: the K transitions are evaluated in parallel.
Log-densities are returned per element, log N(x_{k+1,d}; mean_k,d, std_k,d^2), [..., K, act]:
how they are reduced (summed, averaged, clamped) is the learner's. Clipping the sampling noise
(as DPPO does) makes the sampler's density differ from the Gaussian's in the far tails only;
like DPPO, the likelihood used for ratios is the Gaussian's. What ``step`` computes (a
denoiser, a velocity field, a noise network) belongs to the actor.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxrl.actors.gaussian import gaussian_log_density

Step = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]  # (x_k, k) -> (mean, std)


def sample(step: Step, start: jax.Array, noise: jax.Array, noise_clip: float = jnp.inf) -> jax.Array:
    """The chain [K + 1, ...] from ``start`` = x_0, with ``noise`` [K, ...] standard normal."""

    def transition(x, inputs):
        k, z = inputs
        mean, std = step(x, k)
        following = mean + std * jnp.clip(z, -noise_clip, noise_clip)
        return following, following

    indices = jnp.arange(noise.shape[0])
    _, rest = jax.lax.scan(transition, start, (indices, noise))
    return jnp.concatenate([start[None], rest], axis=0)


def transitions(step: Step, chain: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Means and stds [K, ...] of every transition of a stored chain [K + 1, ...], in parallel."""
    indices = jnp.arange(chain.shape[0] - 1)
    mean, std = jax.vmap(step)(chain[:-1], indices)
    return mean, jnp.broadcast_to(std.reshape(std.shape + (1,) * (mean.ndim - std.ndim)), mean.shape)


def log_densities(step: Step, chain: jax.Array) -> jax.Array:
    """log N(x_{k+1}; mean_k, std_k^2) of every element: shape [K, ...batch, act]."""
    mean, std = transitions(step, chain)
    return gaussian_log_density(chain[1:], mean, std)


def start_log_densities(stored: jax.Array) -> jax.Array:
    """log N(x_0; 0, 1) of every element of stored chains [..., K + 1, act]: shape [..., act]."""
    start = stored[..., 0, :]
    return gaussian_log_density(start, jnp.zeros_like(start), jnp.ones_like(start))


def act(
    step: Step, key: jax.Array, shape: tuple[int, ...], num_steps: int, noise_clip: float = jnp.inf
) -> tuple[jax.Array, jax.Array]:
    """A sampled chain from x_0 ~ N(0, I) of ``shape`` and its transitions' log-densities, both
    with the batch axes first: chain [..., K + 1, act], log-densities [..., K, act]."""
    start_key, noise_key = jax.random.split(key)
    start = jax.random.normal(start_key, shape)
    path = sample(step, start, jax.random.normal(noise_key, (num_steps, *shape)), noise_clip)
    return jnp.moveaxis(path, 0, -2), jnp.moveaxis(log_densities(step, path), 0, -2)


def mode(step: Step, shape: tuple[int, ...], num_steps: int) -> jax.Array:
    """The chain's end with zero noise everywhere (x_0 = 0): the deterministic action."""
    start = jnp.zeros(shape)
    return sample(step, start, jnp.zeros((num_steps, *shape)))[-1]


def rescore(step: Step, stored: jax.Array) -> jax.Array:
    """Transitions' log-densities [..., K, act] of stored chains [..., K + 1, act] under ``step``."""
    return jnp.moveaxis(log_densities(step, jnp.moveaxis(stored, -2, 0)), 0, -2)


def rescore_with_stds(step: Step, stored: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:func:`rescore`'s log-densities and the stds they were taken with, both [..., K, act]:
    for a learner whose loss needs the steps' stds as well (an entropy), without a second pass."""
    path = jnp.moveaxis(stored, -2, 0)
    mean, std = transitions(step, path)
    densities = gaussian_log_density(path[1:], mean, std)
    return jnp.moveaxis(densities, 0, -2), jnp.moveaxis(std, 0, -2)
