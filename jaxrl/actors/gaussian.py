"""Diagonal Gaussian actors: sampling, log-density, entropy and the fields that configure them.

The pre-squash action ``u ~ N(mean, std)`` is what is stored and scored. Two ways make it an
action in [-1, 1] (``squash``): ``tanh`` (Brax and Playground) gives the environment ``tanh(u)``
and scores log pi(a) = log N(u; mean, std) - sum log(1 - tanh(u)^2), the log-Jacobian computed
stably as 2 (log 2 - u - softplus(-2u)); ``clip`` (Stable-Baselines3, rsl_rl) gives it
``clip(u, -1, 1)`` and scores the Gaussian's log N(u; mean, std). Two ways give the std
(``std_param``): ``state``, ``softplus(raw) + min_std`` from the policy MLP's second half of
outputs (Playground's parameterisation), or ``global``, a per-dimension parameter
``exp(log_std) + min_std`` independent of the state, starting at ``initial_std`` (most PPO
references'). The tanh-squashed distribution has no closed-form entropy: the entropy bonus
(:func:`entropy_bonus`) is the Gaussian's entropy plus the log-Jacobian at one sample, as Brax's;
the logged metrics keep the two apart (:func:`policy_metrics`: the Gaussian's entropy, and the
share of actions at their bounds). :func:`actor_critic` pairs the actor with an MLP critic for
the Gaussian learners (PPO, BPO, GoRL's latent policy); what the critic's outputs mean and every
loss belong to the learner. :func:`clone_loss` is the actor's behaviour cloning by maximum
likelihood; :func:`tanh_preimage` is the pre-squash image of a dataset action, which every
tanh-squashing actor of the suite is cloned on.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import hyper, one_of, override, positive, static
from jaxrl.networks import ACTIVATIONS, MLP

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


def gaussian_kl(old_mean: jax.Array, old_std: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """KL(N(old_mean, old_std) || N(mean, std)) of diagonal Gaussians, summed over action
    dimensions: sum log(std / old_std) + (old_std^2 + (old_mean - mean)^2) / (2 std^2) - 1/2.
    A squash is a bijection, so it is also the KL of the squashed policies. With d = log(std /
    old_std) the std's part is d + expm1(-2 d) / 2, which keeps the small KL of one minibatch step
    positive in float32 where the textbook form's terms of size 1/2 cancel it to 0 or below."""
    log_ratio = jnp.log(std) - jnp.log(old_std)
    terms = log_ratio + 0.5 * jnp.expm1(-2.0 * log_ratio) + (old_mean - mean) ** 2 / (2.0 * std**2)
    return jnp.sum(terms, axis=-1)


def gaussian_entropy(std: jax.Array) -> jax.Array:
    """The diagonal Gaussian's entropy, summed over action dimensions."""
    return jnp.sum(jnp.log(std) + 0.5 * (1.0 + LOG_2PI), axis=-1)


def entropy(key: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """One-sample estimate of the tanh-squashed distribution's entropy."""
    return gaussian_entropy(std) + log_abs_det_jacobian(sample(key, mean, std))


STD_PARAMS = ("state", "global")
SQUASHES = ("tanh", "clip")
# |tanh(u)| above this counts as an action at its bound in the saturation metric (|u| > 2.65).
SATURATED = 0.99


@dataclasses.dataclass(frozen=True)
class GaussianStdFields:
    """The config fields of a Gaussian policy's std; a learner's config inherits them."""

    min_std: float = hyper(1e-3, "floor added to the policy's std", positive)
    std_param: str = static(
        "state",
        "the policy's std: a softplus output of the policy MLP (per state) or a global"
        " per-dimension parameter (state-independent)",
        one_of(*STD_PARAMS),
    )
    initial_std: float = hyper(1.0, "the global std's initial value (--std-param global)", positive)
    activation: str = static("swish", "the policy's and critic's hidden activation", one_of(*ACTIVATIONS))


@dataclasses.dataclass(frozen=True)
class GaussianActorFields(GaussianStdFields):
    """:class:`GaussianStdFields` and how a sample becomes an action."""

    squash: str = static(
        "tanh",
        "how a Gaussian sample u becomes an action in [-1, 1]: tanh(u), scored with its"
        " Jacobian, or clip(u, -1, 1), scored as the Gaussian's u",
        one_of(*SQUASHES),
    )


def field_with_default(name: str, default: Any) -> Any:
    """The actor field ``name`` with another default, for a learner whose reference differs."""
    return override(GaussianActorFields, name, default)


# Dataset actions at the bounds are pulled inside by this much before atanh (atanh(+-1) = +-inf).
ACTION_BOUND_MARGIN = 1e-6


def tanh_preimage(action: jax.Array) -> jax.Array:
    """u = atanh(clip(a, -1 + 1e-6, 1 - 1e-6)): the pre-squash action whose tanh is a dataset
    action in [-1, 1] (|u| <= 7.25), what a tanh-squashing actor is cloned on."""
    return jnp.arctanh(jnp.clip(action, -1.0 + ACTION_BOUND_MARGIN, 1.0 - ACTION_BOUND_MARGIN))


def squashed(u: jax.Array, squash: str) -> jax.Array:
    return jnp.tanh(u) if squash == "tanh" else jnp.clip(u, -1.0, 1.0)


def action_log_prob(u: jax.Array, mean: jax.Array, std: jax.Array, squash: str) -> jax.Array:
    """log pi of the action ``u`` gives under ``squash`` (tanh: with the Jacobian)."""
    return log_prob(u, mean, std) if squash == "tanh" else gaussian_log_prob(u, mean, std)


def entropy_bonus(key: jax.Array, mean: jax.Array, std: jax.Array, squash: str) -> jax.Array:
    """The entropy the bonus rewards, per state: the squashed distribution's (a one-sample
    estimate, Brax's) under tanh; the Gaussian's under clip (as SB3 and rsl_rl)."""
    return entropy(key, mean, std) if squash == "tanh" else gaussian_entropy(std)


def policy_metrics(std: jax.Array, raw_action: jax.Array, squash: str) -> dict[str, jax.Array]:
    """Two separate diagnostics: the Gaussian's entropy (mean over states) and the share of
    action elements at their bounds (|tanh(u)| > 0.99, or |u| >= 1 under clip)."""
    bound = jnp.abs(jnp.tanh(raw_action)) > SATURATED if squash == "tanh" else jnp.abs(raw_action) >= 1.0
    return {"entropy": jnp.mean(gaussian_entropy(std)), "action_saturation": jnp.mean(bound)}


class ActorCritic(NamedTuple):
    """Functions of ``(params, ..., config)``; params = {"policy": ..., "value": ...} and, with
    a global std, "log_std"."""

    init: Callable[..., Any]  # (key, config) -> params
    distribution: Callable[..., tuple[jax.Array, jax.Array]]  # (params, obs, config) -> mean, std
    act: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]  # (params, aux, obs, key, config)
    act_deterministic: Callable[..., jax.Array]  # (params, aux, obs, config) -> squashed mean
    critic: Callable[..., jax.Array]  # (params, obs, config) -> [..., critic_outputs]


def actor_critic(observation_size: int, action_size: int, critic_outputs: int = 1) -> ActorCritic:
    """A Gaussian policy MLP and a separate critic MLP with ``critic_outputs`` heads; the config
    carries :class:`GaussianActorFields` (``act`` and ``act_deterministic`` read its squash;
    a learner that squashes its own way, GoRL, needs only :class:`GaussianStdFields`).

    ``act`` returns the squashed action and extras ``raw_action`` (the pre-image u) and
    ``log_prob`` (log pi_old of the action), which the ratio-based losses need.
    """

    def networks(config: GaussianStdFields) -> tuple[MLP, MLP]:
        outputs = 2 * action_size if config.std_param == "state" else action_size
        activation = ACTIVATIONS[config.activation]
        return (
            MLP(config.policy_hidden, outputs, activation),
            MLP(config.value_hidden, critic_outputs, activation),
        )

    def init(key: jax.Array, config: GaussianStdFields):
        policy, critic = networks(config)
        policy_key, critic_key = jax.random.split(key)
        dummy = jnp.zeros((1, observation_size))
        params = {"policy": policy.init(policy_key, dummy), "value": critic.init(critic_key, dummy)}
        if config.std_param == "global":
            params["log_std"] = jnp.full((action_size,), jnp.log(config.initial_std))
        return params

    def distribution(params, obs, config: GaussianStdFields):
        outputs = networks(config)[0].apply(params["policy"], obs)
        if config.std_param == "state":
            return split_params(outputs, config.min_std)
        return outputs, jnp.broadcast_to(jnp.exp(params["log_std"]) + config.min_std, outputs.shape)

    def act(params, aux, obs, key, config: GaussianActorFields):
        mean, std = distribution(params, obs, config)
        u = sample(key, mean, std)
        extras = {"raw_action": u, "log_prob": action_log_prob(u, mean, std, config.squash)}
        return squashed(u, config.squash), extras

    def act_deterministic(params, aux, obs, config: GaussianActorFields):
        return squashed(distribution(params, obs, config)[0], config.squash)

    def critic(params, obs, config: GaussianStdFields):
        return networks(config)[1].apply(params["value"], obs)

    return ActorCritic(init, distribution, act, act_deterministic, critic)


def clone_loss(model: ActorCritic) -> Callable[..., tuple[jax.Array, dict[str, jax.Array]]]:
    """Behaviour cloning by maximum likelihood: ``(params, obs, action, key, config) -> (loss,
    metrics)`` with

        L = -mean_samples log N(u; mean_theta(s), std_theta(s)^2)   (summed over dimensions)

    where u = atanh(clip(a, -1 + 1e-6, 1 - 1e-6)) under the tanh squash (the pre-squash action;
    the Jacobian term does not depend on the parameters and is left out) and u = a under clip.
    """

    def loss(params, obs, action, key, config: GaussianActorFields):
        mean, std = model.distribution(params, obs, config)
        u = tanh_preimage(action) if config.squash == "tanh" else action
        nll = -jnp.mean(gaussian_log_prob(u, mean, std))
        return nll, {"clone_nll": nll, "std": jnp.mean(std)}

    return loss


def exact_kl(model: ActorCritic, old_params, obs, mean: jax.Array, std: jax.Array, config) -> jax.Array:
    """The batch's mean KL(pi_old || pi_theta) (:func:`gaussian_kl`), pi_old recomputed from the
    parameters that acted; the loop drops it, and XLA the pass, unless its KL rule reads it."""
    old_mean, old_std = model.distribution(old_params, obs, config)
    return jnp.mean(gaussian_kl(old_mean, old_std, mean, std))


def log_ratio(params, model: ActorCritic, obs, extras, config) -> tuple[jax.Array, jax.Array, jax.Array]:
    """log pi_theta(a|s) - log pi_old(a|s) for stored actions, with the new mean and std."""
    mean, std = model.distribution(params, obs, config)
    new = action_log_prob(extras["raw_action"], mean, std, config.squash)
    return new - extras["log_prob"], mean, std
