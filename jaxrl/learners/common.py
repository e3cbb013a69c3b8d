"""Pieces the ratio-based learners share: the config fields every one of them declares, PPO's
clipped objective with its value loss and diagnostics, the bound on log-ratios, and the separate
value network of the learners whose actor is not Gaussian. Each learner composes these inside its
own ``loss``; what the ratio is (a Gaussian's, a CFM-loss difference, a chain step's) and how
advantages are weighted stay in the learner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.config import hyper, positive, positive_sizes, static
from jaxrl.learners.base import Batch
from jaxrl.networks import ACTIVATIONS, MLP


@dataclasses.dataclass(frozen=True)
class RatioFields:
    """The config fields of every ratio-based learner: the ratio's bound, the value loss's weight
    and the two networks' widths (Playground's PPO defaults). A learner's config inherits them and
    redeclares (:func:`jaxrl.config.override`) those whose default or meaning is its own."""

    clip_eps: float = hyper(0.3, "PPO clip range epsilon", positive)
    value_cost: float = hyper(0.25, "weight of the value loss", positive)
    policy_hidden: tuple[int, ...] = static((32, 32, 32, 32), "policy MLP widths", positive_sizes)
    value_hidden: tuple[int, ...] = static((256,) * 5, "value MLP widths", positive_sizes)


@dataclasses.dataclass(frozen=True)
class PPOFields(RatioFields):
    """:class:`RatioFields` and the per-minibatch advantage standardisation (:func:`advantages`)
    of the PPO-style learners."""

    normalize_advantage: bool = static(True, "standardise advantages per minibatch")


def standardize(advantage: jax.Array) -> jax.Array:
    return (advantage - advantage.mean()) / (advantage.std() + 1e-8)


def advantages(batch: Batch, normalize: bool) -> jax.Array:
    """The minibatch's advantages, standardised when ``normalize``."""
    return standardize(batch.advantage) if normalize else batch.advantage


# Log-ratios are bounded to +-LOG_RATIO_BOUND before use: e^20 is far outside any clip range, so
# nothing PPO optimises changes, while a policy far from the one that acted (thousands of
# minibatches per iteration in the 1M-environment recipe) cannot overflow a ratio to inf or
# underflow it to 0, whose log makes the KL estimate infinite.
LOG_RATIO_BOUND = 20.0


def bounded(log_ratio: jax.Array) -> jax.Array:
    return jnp.clip(log_ratio, -LOG_RATIO_BOUND, LOG_RATIO_BOUND)


def ratio_of(log_ratio: jax.Array) -> jax.Array:
    """rho = exp(log_ratio), the exponent bounded first."""
    return jnp.exp(bounded(log_ratio))


def clipped_surrogate(log_ratio: jax.Array, advantage: jax.Array, clip_eps: jax.Array) -> jax.Array:
    """-mean(min(rho A, clip(rho, 1-eps, 1+eps) A)) with rho = exp(log_ratio)."""
    ratio = ratio_of(log_ratio)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return -jnp.mean(jnp.minimum(ratio * advantage, clipped * advantage))


def fraction_outside(values: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """The share of ``values`` that a clamp to [low, high] changes (and whose gradient it stops)."""
    return jnp.mean((values < low) | (values > high))


def ratio_metrics(log_ratio: jax.Array, clip_eps: jax.Array) -> dict[str, jax.Array]:
    """KL(old || new) estimate (Schulman's k3) and the fraction of ratios outside the clip range."""
    log_ratio = bounded(log_ratio)
    return {
        "approx_kl": jnp.mean(jnp.expm1(log_ratio) - log_ratio),
        "clip_fraction": jnp.mean(jnp.abs(jnp.expm1(log_ratio)) > clip_eps),
    }


def clipped_ppo(
    log_ratio: jax.Array, advantage: jax.Array, batch: Batch, values: jax.Array, config: Any
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO's clipped surrogate plus ``config.value_cost`` times the value regression on R, and
    their metrics; ``advantage`` broadcasts against ``log_ratio`` (DPPO: one per step)."""
    policy_loss = clipped_surrogate(log_ratio, advantage, config.clip_eps)
    value_loss = jnp.mean((batch.target - values) ** 2)
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        **ratio_metrics(log_ratio, config.clip_eps),
    }
    return policy_loss + config.value_cost * value_loss, metrics


class ValueNetwork(NamedTuple):
    """A scalar MLP of ``config.value_hidden`` widths; params live under ``params[name]``."""

    init: Any  # (key, config) -> the MLP's params
    value: Any  # (params, obs, config) -> its output per observation


def value_network(
    observation_size: int,
    activation: Callable[[jax.Array], jax.Array] | None = nn.swish,
    name: str = "value",
) -> ValueNetwork:
    """``activation`` None: the one the config names (its ``activation`` field)."""

    def mlp(config: Any) -> MLP:
        return MLP(config.value_hidden, 1, activation or ACTIVATIONS[config.activation])

    def init(key: jax.Array, config: Any):
        return mlp(config).init(key, jnp.zeros((1, observation_size)))

    def value(params, obs: jax.Array, config: Any) -> jax.Array:
        return mlp(config).apply(params[name], obs)[..., 0]

    return ValueNetwork(init, value)
