"""Tanh-squashed diagonal Gaussian: sampling, log-density and an entropy estimate.

The pre-squash action ``u ~ N(mean, std)`` is what is stored and scored; the environment gets
``tanh(u)``. log pi(a) = log N(u; mean, std) - sum log(1 - tanh(u)^2), with the log-Jacobian
computed stably as 2 (log 2 - u - softplus(-2u)). The squashed distribution has no closed-form
entropy; :func:`entropy` uses the Gaussian's entropy plus the log-Jacobian at one sample, as
Brax does. The scale is ``softplus(raw) + min_std`` (MuJoCo Playground's parameterisation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LOG_2PI = jnp.log(2.0 * jnp.pi)


def split_params(logits: jax.Array, min_std: float | jax.Array) -> tuple[jax.Array, jax.Array]:
    mean, raw_scale = jnp.split(logits, 2, axis=-1)
    return mean, jax.nn.softplus(raw_scale) + min_std


def log_abs_det_jacobian(u: jax.Array) -> jax.Array:
    """sum log |d tanh(u) / du| = sum log(1 - tanh(u)^2), stably."""
    return jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def gaussian_log_prob(u: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    return jnp.sum(-0.5 * ((u - mean) / std) ** 2 - jnp.log(std) - 0.5 * LOG_2PI, axis=-1)


def log_prob(u: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """Log-density of the squashed action tanh(u), scored through its pre-image u."""
    return gaussian_log_prob(u, mean, std) - log_abs_det_jacobian(u)


def sample(key: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """A pre-squash sample u."""
    return mean + std * jax.random.normal(key, mean.shape)


def entropy(key: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """One-sample estimate of the squashed distribution's entropy."""
    gaussian = jnp.sum(jnp.log(std) + 0.5 * (1.0 + LOG_2PI), axis=-1)
    return gaussian + log_abs_det_jacobian(sample(key, mean, std))
