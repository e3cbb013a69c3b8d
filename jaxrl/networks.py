"""Small Flax networks shared by the learners: MLPs and sinusoidal time embeddings. Only building
blocks live here; what a network's outputs mean (a Gaussian's mean and scale, a velocity field, a
value) is decided by the actor or learner that uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# The hidden activations a config may name (``activation``): swish is Brax's and Playground's,
# elu rsl_rl's.
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "swish": nn.swish,
    "elu": nn.elu,
    "relu": nn.relu,
    "tanh": nn.tanh,
}


class MLP(nn.Module):
    """MLP (swish by default) with LeCun-uniform initialisation (as Brax's PPO networks)."""

    hidden: Sequence[int]
    out: int
    activation: Callable[[jax.Array], jax.Array] = nn.swish

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = self.activation(nn.Dense(width, kernel_init=nn.initializers.lecun_uniform())(x))
        return nn.Dense(self.out, kernel_init=nn.initializers.lecun_uniform())(x)


def time_embedding(t: jax.Array, dim: int) -> jax.Array:
    """Sinusoidal embedding of ``t`` in [0, 1]: ``dim`` features (sin and cos pairs)."""
    frequencies = jnp.exp(jnp.linspace(0.0, jnp.log(1000.0), dim // 2))
    angles = t[..., None] * frequencies
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


def octave_time_embedding(t: jax.Array, num_frequencies: int) -> jax.Array:
    """[cos(t 2^k), sin(t 2^k)] for k = 0..num_frequencies-1: ``2 num_frequencies`` features
    (the FPO and GoRL reference code's embedding; 4 frequencies there)."""
    angles = t[..., None] * 2.0 ** jnp.arange(num_frequencies)
    return jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)
