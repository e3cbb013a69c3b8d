"""ReinFlow (Zhang et al., "ReinFlow: Fine-tuning Flow Matching Policy with Online Reinforcement
Learning", 2025), trained from scratch.

A flow actor (:mod:`jaxrl.actors.flow`) made stochastic by a learned noise network on every
Euler step, which turns the flow into a Gaussian chain with an exact likelihood
(:mod:`jaxrl.actors.chain`). With t_k = 1 - k/K (t = 1 is noise):

    x_0 ~ N(0, I),   x_{k+1} ~ N(x_k - v_theta(x_k, t_k, s) / K, sigma_phi(s, t_k)^2)
    sigma_phi = exp(log s_min + (log s_max - log s_min) (tanh(h_phi(s, t_k)) + 1) / 2)
    log pi(chain) = log N(x_0; 0, I) + sum_k log N(x_{k+1}; mu_k, sigma_k^2)
    rho = exp(log pi_theta(chain) - log pi_old(chain))   (the x_0 term cancels)
    L   = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v mean((R - V)^2) - c_ent H
    H   = sum_k sum_dims (log sigma_k + 0.5 log(2 pi e))     (the per-step Gaussians' entropies)

The action is x_K (pre-squash; the environment gets its tanh). Defaults: sigma in [0.10, 0.24]
and K 4 as in the paper. Choices left open, and what this module does: the paper's clip of
0.01 is for fine-tuning a pre-trained flow; from scratch this module uses 0.05 (chosen on
toy/pointmass); the entropy weight is 0.01; the noise network is an MLP on
[s, time embedding of t_k] (not on x_k) with the velocity network's widths; advantages are
standardised per minibatch; the critic is PPO's; the evaluation action runs the chain from
x_0 = 0 with zero noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.actors import chain, flow
from jaxrl.config import hyper, non_negative, positive, positive_sizes, pytree_config, static
from jaxrl.learners import common
from jaxrl.learners.base import Batch, Learner, LearnerFactory
from jaxrl.networks import MLP, time_embedding

HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)


@pytree_config
class ReinFlowConfig:
    clip_eps: float = hyper(0.05, "PPO clip range on the chain-likelihood ratio", positive)
    entropy_cost: float = hyper(1e-2, "weight of the per-step Gaussians' entropy", non_negative)
    value_cost: float = hyper(0.25, "weight of the value loss", positive)
    min_noise: float = hyper(0.10, "smallest std of a step's injected noise", positive)
    max_noise: float = hyper(0.24, "largest std of a step's injected noise", positive)
    flow_steps: int = static(4, "Euler steps K", positive)
    normalize_advantage: bool = static(True, "standardise advantages per minibatch")
    policy_hidden: tuple[int, ...] = static((32, 32, 32, 32), "velocity and noise MLP widths", positive_sizes)
    value_hidden: tuple[int, ...] = static((256,) * 5, "value MLP widths", positive_sizes)


class NoiseScale(nn.Module):
    """sigma_phi(s, t) in [min_noise, max_noise] per action dimension."""

    hidden: Sequence[int]
    out: int
    time_features: int = 16

    @nn.compact
    def __call__(self, obs: jax.Array, t: jax.Array, min_noise: jax.Array, max_noise: jax.Array) -> jax.Array:
        t = jnp.broadcast_to(t, obs.shape[:-1])
        h = MLP(self.hidden, self.out)(jnp.concatenate([obs, time_embedding(t, self.time_features)], axis=-1))
        low, high = jnp.log(min_noise), jnp.log(max_noise)
        return jnp.exp(low + (high - low) * (jnp.tanh(h) + 1.0) / 2.0)


def make(observation_size: int, action_size: int) -> Learner:
    critic = common.value_network(observation_size)

    def networks(config: ReinFlowConfig) -> tuple[flow.ConditionedField, NoiseScale]:
        return flow.ConditionedField(config.policy_hidden, action_size), NoiseScale(
            config.policy_hidden, action_size
        )

    def init(key: jax.Array, config: ReinFlowConfig):
        field, noise = networks(config)
        keys = jax.random.split(key, 3)
        obs, t = jnp.zeros((1, observation_size)), jnp.zeros(1)
        return {
            "policy": flow.init_field(field, keys[0], observation_size, action_size),
            "noise": noise.init(keys[1], obs, t, config.min_noise, config.max_noise),
            "value": critic.init(keys[2], config),
        }

    def step_of(params, obs, config: ReinFlowConfig, noisy: bool = True) -> chain.Step:
        field, noise = networks(config)
        times = flow.time_grid(config.flow_steps)

        def step(x, k):
            mean = x - field.apply(params["policy"], obs, x, times[k]) / config.flow_steps
            if not noisy:
                return mean, jnp.zeros(())
            return mean, noise.apply(params["noise"], obs, times[k], config.min_noise, config.max_noise)

        return step

    def act(params, aux, obs, key, config: ReinFlowConfig):
        shape = (*obs.shape[:-1], action_size)
        path, log_probs = chain.act(step_of(params, obs, config), key, shape, config.flow_steps)
        return jnp.tanh(path[..., -1, :]), {"chain": path, "log_prob": jnp.sum(log_probs, axis=-1)}

    def act_deterministic(params, aux, obs, config: ReinFlowConfig):
        shape = (*obs.shape[:-1], action_size)
        return jnp.tanh(chain.mode(step_of(params, obs, config, noisy=False), shape, config.flow_steps))

    def entropy(params, obs, config: ReinFlowConfig) -> jax.Array:
        noise = networks(config)[1]
        times = flow.time_grid(config.flow_steps)
        stds = jax.vmap(lambda t: noise.apply(params["noise"], obs, t, config.min_noise, config.max_noise))(
            times
        )
        return jnp.sum(jnp.log(stds) + HALF_LOG_2PI_E, axis=(0, -1))

    def loss(params, old_params, aux, batch: Batch, key, config: ReinFlowConfig):
        new_log_prob = jnp.sum(
            chain.rescore(step_of(params, batch.obs, config), batch.extras["chain"]), axis=-1
        )
        log_ratio = new_log_prob - batch.extras["log_prob"]
        advantage = common.advantages(batch, config.normalize_advantage)
        total, metrics = common.clipped_ppo(
            log_ratio, advantage, batch, critic.value(params, batch.obs, config), config
        )
        chain_entropy = jnp.mean(entropy(params, batch.obs, config))
        return total - config.entropy_cost * chain_entropy, {**metrics, "entropy": chain_entropy}

    return Learner(init, act, act_deterministic, critic.value, loss)


FACTORY = LearnerFactory("reinflow", ReinFlowConfig, make)
