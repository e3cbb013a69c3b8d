"""Tanh-squashed diagonal Gaussian: sampling, log-density and an entropy estimate.

The pre-squash action ``u ~ N(mean, std)`` is what is stored and scored; the environment gets
``tanh(u)``. log pi(a) = log N(u; mean, std) - sum log(1 - tanh(u)^2), with the log-Jacobian
computed stably as 2 (log 2 - u - softplus(-2u)). The squashed distribution has no closed-form
entropy; :func:`entropy` uses the Gaussian's entropy plus the log-Jacobian at one sample, as
Brax does. The scale is ``softplus(raw) + min_std`` (MuJoCo Playground's parameterisation).
:func:`actor_critic` pairs this actor with an MLP critic for the Gaussian learners (PPO, BPO);
what the critic's outputs mean and every loss belong to the learner.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.networks import MLP

LOG_2PI = np.float32(math.log(2.0 * math.pi))  # a host constant: importing touches no device


def split_params(logits: jax.Array, min_std: float | jax.Array) -> tuple[jax.Array, jax.Array]:
    mean, raw_scale = jnp.split(logits, 2, axis=-1)
    return mean, jax.nn.softplus(raw_scale) + min_std


def log_abs_det_jacobian(u: jax.Array) -> jax.Array:
    """sum log |d tanh(u) / du| = sum log(1 - tanh(u)^2), stably."""
    return jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def gaussian_log_density(u: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """log N(u; mean, std^2) of every element (no sum)."""
    return -0.5 * ((u - mean) / std) ** 2 - jnp.log(std) - 0.5 * LOG_2PI


def gaussian_log_prob(u: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    return jnp.sum(gaussian_log_density(u, mean, std), axis=-1)


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


class ActorCriticConfig(Protocol):
    """The fields of a learner config that :func:`actor_critic` reads."""

    min_std: Any
    policy_hidden: tuple[int, ...]
    value_hidden: tuple[int, ...]


class ActorCritic(NamedTuple):
    """Functions of ``(params, ..., config)``; params = {"policy": ..., "value": ...}."""

    init: Callable[..., Any]  # (key, config) -> params
    distribution: Callable[..., tuple[jax.Array, jax.Array]]  # (params, obs, config) -> mean, std
    act: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]  # (params, aux, obs, key, config)
    act_deterministic: Callable[..., jax.Array]  # (params, aux, obs, config) -> tanh(mean)
    critic: Callable[..., jax.Array]  # (params, obs, config) -> [..., critic_outputs]


def actor_critic(observation_size: int, action_size: int, critic_outputs: int = 1) -> ActorCritic:
    """A tanh-Gaussian policy MLP and a separate critic MLP with ``critic_outputs`` heads.

    ``act`` returns the squashed action and extras ``raw_action`` (the pre-image u) and
    ``log_prob`` (log pi_old of the squashed action), which the ratio-based losses need.
    """

    def networks(config: ActorCriticConfig) -> tuple[MLP, MLP]:
        return MLP(config.policy_hidden, 2 * action_size), MLP(config.value_hidden, critic_outputs)

    def init(key: jax.Array, config: ActorCriticConfig):
        policy, critic = networks(config)
        policy_key, critic_key = jax.random.split(key)
        dummy = jnp.zeros((1, observation_size))
        return {"policy": policy.init(policy_key, dummy), "value": critic.init(critic_key, dummy)}

    def distribution(params, obs, config: ActorCriticConfig):
        return split_params(networks(config)[0].apply(params["policy"], obs), config.min_std)

    def act(params, aux, obs, key, config: ActorCriticConfig):
        mean, std = distribution(params, obs, config)
        u = sample(key, mean, std)
        return jnp.tanh(u), {"raw_action": u, "log_prob": log_prob(u, mean, std)}

    def act_deterministic(params, aux, obs, config: ActorCriticConfig):
        return jnp.tanh(distribution(params, obs, config)[0])

    def critic(params, obs, config: ActorCriticConfig):
        return networks(config)[1].apply(params["value"], obs)

    return ActorCritic(init, distribution, act, act_deterministic, critic)


def log_ratio(params, model: ActorCritic, obs, extras, config) -> tuple[jax.Array, jax.Array, jax.Array]:
    """log pi_theta(a|s) - log pi_old(a|s) for stored actions, with the new mean and std."""
    mean, std = model.distribution(params, obs, config)
    return log_prob(extras["raw_action"], mean, std) - extras["log_prob"], mean, std
