"""Flow-matching actor: a velocity field, its K-step Euler sampler and the conditional
flow-matching (CFM) losses.

Time runs from t = 1 (noise) to t = 0 (action), on the straight path
x_t = t eps + (1 - t) a, whose velocity is dx_t/dt = eps - a. The velocity network
v_theta(x_t, t, s) is an MLP on [s, x_t, sinusoidal embedding of t] (which embedding is the
learner's choice). Sampling starts at x_1 = eps ~ N(0, I) and takes K Euler steps
x <- x - v / K at t = 1, 1 - 1/K, ..., 1/K (a ``lax.scan``: cost linear in K); the result is
the pre-squash action (the environment gets its tanh). The CFM loss of one draw (t, eps) is, in
the velocity form,
    l = |v_theta(x_t, t, s) - (eps - a)|^2
and in the noise-prediction form, with eps_hat = x_t + (1 - t) v_theta,
    l = |eps_hat - eps|^2 = (1 - t)^2 |v_theta - (eps - a)|^2,
both averaged over action dimensions (so their scale does not grow with the action size).
Learners decide what to do with these pieces (FPO's ratio, ReinFlow's noisy chain, GoRL's
decoder); this module holds no loss weighting or optimisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.actors import chain
from jaxrl.networks import MLP, time_embedding

LOSS_FORMS = ("velocity", "noise")


def default_time_embedding(t: jax.Array) -> jax.Array:
    """16 sinusoidal features of t, frequencies log-spaced from 1 to 1000 rad."""
    return time_embedding(t, 16)


class ConditionedField(nn.Module):
    """An MLP on [observation, x, embed(t)] with ``out`` outputs (velocity or denoiser)."""

    hidden: Sequence[int]
    out: int
    embed: Callable[[jax.Array], jax.Array] = default_time_embedding

    @nn.compact
    def __call__(self, obs: jax.Array, x: jax.Array, t: jax.Array) -> jax.Array:
        t = jnp.broadcast_to(t, x.shape[:-1])
        features = jnp.concatenate([obs, x, self.embed(t)], axis=-1)
        return MLP(self.hidden, self.out)(features)


def init_field(field: ConditionedField, key: jax.Array, observation_size: int, action_size: int):
    """Parameters of ``field`` for these observation and action sizes."""
    return field.init(key, jnp.zeros((1, observation_size)), jnp.zeros((1, action_size)), jnp.zeros(1))


def time_grid(num_steps: int) -> jax.Array:
    """The Euler steps' times 1, 1 - 1/K, ..., 1/K (step k starts at t_k = 1 - k/K)."""
    return 1.0 - jnp.arange(num_steps) / num_steps


def euler_sample(velocity, noise: jax.Array, num_steps: int) -> jax.Array:
    """x_0 from x_1 = ``noise`` by K Euler steps; ``velocity(x, t)`` is the field."""
    times = time_grid(num_steps)

    def step(x, k):
        return x - velocity(x, times[k]) / num_steps, jnp.zeros(())

    return chain.sample(step, noise, jnp.zeros((num_steps, *noise.shape)))[-1]


def interpolate(action: jax.Array, noise: jax.Array, t: jax.Array) -> jax.Array:
    """x_t = t eps + (1 - t) a, with ``t`` broadcast over action dimensions."""
    return t[..., None] * noise + (1.0 - t[..., None]) * action


def cfm_loss(velocity: jax.Array, action: jax.Array, noise: jax.Array, t: jax.Array, form: str) -> jax.Array:
    """Per-draw CFM loss, averaged over action dimensions, given the predicted ``velocity`` at
    x_t; ``form`` is "velocity" or "noise" (eps-prediction)."""
    squared = jnp.mean((velocity - (noise - action)) ** 2, axis=-1)
    if form == "noise":
        return (1.0 - t) ** 2 * squared
    return squared
