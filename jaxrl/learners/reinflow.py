"""ReinFlow (Zhang et al., "ReinFlow: Fine-tuning Flow Matching Policy with Online Reinforcement
Learning", 2025), trained from scratch, with the likelihood and entropy of its public code
(ReinFlow/ReinFlow, model/flow/ft_ppo/ppoflow.py and agent/finetune/reinflow/
train_ppo_flow_agent.py).

A flow actor (:mod:`jaxrl.actors.flow`) made stochastic by a learned noise network on every
Euler step, which turns the flow into a Gaussian chain with an exact likelihood
(:mod:`jaxrl.actors.chain`). With t_k = 1 - k/K (t = 1 is noise), d action dimensions:

    x_0 ~ N(0, I),   x_{k+1} ~ N(mu_k, sigma_k^2),   mu_k = x_k - v_theta(x_k, t_k, s) / K
    sigma_k = sigma_phi(s, t_k) = exp(log s_min + (log s_max - log s_min) (tanh(h_phi(s, t_k)) + 1) / 2)
    l(chain) = (log N(x_0; 0, I) + sum_k log N(x_{k+1}; mu_k, sigma_k^2)) / ((K + 1) d)
    lp       = clip(l, lp_min, lp_max)            for the new and the stored (old) chain alike
    rho      = exp(lp_theta - lp_old)
    H        = (H(x_0) + sum_k H(N(mu_k, sigma_k^2))) / ((K + 1) d)
             = 0.5 log(2 pi e) + sum_k sum_dims log sigma_k / ((K + 1) d)
    L        = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v mean((R - V)^2) - c_ent H

The log-probability is the whole chain's (the x_0 term included, as the reference's
``account_for_initial_stochasticity``), normalised per element (its ``normalize_denoising_horizon``
and ``normalize_act_space_dimension``, both on) and clamped to [lp_min, lp_max] = [-1, 1] (its
``logprob_min``/``logprob_max`` in the Gym configs). The x_0 term does not cancel: it moves the
average against the clamp bounds. A sample whose new log-probability lies outside the bounds
gives no policy gradient (and a ratio of 1 if the old one lies beyond the same bound), as in the
reference. With sigma in [0.10, 0.24] and K 4 the average is about -0.3 to 0.4 (x_0's
elements average -1.42, a step's -log sigma - 1.42), so the bounds bind for outlying chains only.
The entropy is the per-element entropy rate, weight 0.03 (its ``ent_coef``). The action is x_K
(pre-squash; the environment gets its tanh); sigma in [0.10, 0.24] and K 4 as in the paper's Gym
settings.

Choices left open by a from-scratch setting, and what this module does: the paper's clip of
0.01 is for fine-tuning a pre-trained flow; from scratch this module uses 0.05 (chosen on
toy/pointmass); the noise network is an MLP on [s, time embedding of t_k] (not on x_k) with the
velocity network's widths; advantages are standardised per minibatch (as the reference does);
the critic is PPO's; the evaluation action runs the chain from x_0 = 0 with zero noise.

Differences from the reference that remain, with reasons:
- Action bounds: the reference clamps every intermediate mean to +-1 (``denoised_clip_value``)
  and the final action to [-1, 1], and clips the sampling noise at 3 sigma; here the chain is
  unclamped and the environment gets tanh(x_K), the convention every flow learner of this suite
  shares (a clamp zeroes the flow's gradient wherever it binds).
- Learning rates: the reference trains the actor at 4.5e-5 and the critic at 6.5e-4, each on a
  cosine schedule with warm-up, for fine-tuning; here one optimiser at the loop's learning rate
  trains both from scratch (the loop has a single optimiser for every learner).
- Noise ceiling: the reference lowers sigma's upper bound over training (``learn_decay``:
  held for 35% of the iterations, then cosine-annealed to 0.3 s_min + 0.7 s_max); here the
  bounds are fixed, since the schedule is tuned for a pre-trained flow's fine-tuning.
- Action chunks: the reference acts with chunks of 4 actions (its horizon, part of the
  normalisation); here every step is one action (horizon 1).

What was measured: ``docs/learners/reinflow.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.actors import chain, flow
from jaxrl.config import hyper, non_negative, override, positive, pytree_config, static
from jaxrl.learners import common
from jaxrl.learners.base import Batch, Learner, LearnerFactory
from jaxrl.networks import MLP, time_embedding

HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)


@pytree_config
class ReinFlowConfig(common.PPOFields):
    clip_eps: float = override(
        common.PPOFields, "clip_eps", 0.05, "PPO clip range on the chain-likelihood ratio"
    )
    entropy_cost: float = hyper(0.03, "weight of the chain's per-element entropy", non_negative)
    min_noise: float = hyper(0.10, "smallest std of a step's injected noise", positive)
    max_noise: float = hyper(0.24, "largest std of a step's injected noise", positive)
    log_prob_min: float = hyper(-1.0, "lower clamp of the per-element chain log-probability")
    log_prob_max: float = hyper(1.0, "upper clamp of the per-element chain log-probability")
    flow_steps: int = static(4, "Euler steps K", positive)
    policy_hidden: tuple[int, ...] = override(
        common.PPOFields, "policy_hidden", help="velocity and noise MLP widths"
    )


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


def chain_log_prob(stored: jax.Array, log_densities: jax.Array) -> jax.Array:
    """(log N(x_0; 0, I) + sum_k log N(x_{k+1}; mu_k, sigma_k^2)) / ((K + 1) d): the chain's
    log-probability per element, from stored chains [..., K + 1, d] and their transitions'
    log-densities [..., K, d]."""
    total = jnp.sum(chain.start_log_densities(stored), axis=-1) + jnp.sum(log_densities, axis=(-2, -1))
    return total / (stored.shape[-2] * stored.shape[-1])


def clamped(log_prob: jax.Array, config: ReinFlowConfig) -> jax.Array:
    return jnp.clip(log_prob, config.log_prob_min, config.log_prob_max)


def entropy_rate(stds: jax.Array) -> jax.Array:
    """(H(x_0) + sum_k H(N(mu_k, sigma_k^2))) / ((K + 1) d) from the steps' stds [..., K, d]:
    the per-element entropy of the chain (x_0 ~ N(0, I) has log sigma = 0)."""
    num_steps, dims = stds.shape[-2:]
    return HALF_LOG_2PI_E + jnp.sum(jnp.log(stds), axis=(-2, -1)) / ((num_steps + 1) * dims)


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
        path, log_densities = chain.act(step_of(params, obs, config), key, shape, config.flow_steps)
        log_prob = clamped(chain_log_prob(path, log_densities), config)
        return jnp.tanh(path[..., -1, :]), {"chain": path, "log_prob": log_prob}

    def act_deterministic(params, aux, obs, config: ReinFlowConfig):
        shape = (*obs.shape[:-1], action_size)
        return jnp.tanh(chain.mode(step_of(params, obs, config, noisy=False), shape, config.flow_steps))

    def loss(params, old_params, aux, batch: Batch, key, config: ReinFlowConfig):
        stored = batch.extras["chain"]
        # The entropy takes the stds the rescoring computed: the noise network runs once.
        log_densities, stds = chain.rescore_with_stds(step_of(params, batch.obs, config), stored)
        unclamped = chain_log_prob(stored, log_densities)
        log_ratio = clamped(unclamped, config) - batch.extras["log_prob"]
        advantage = common.advantages(batch, config.normalize_advantage)
        total, metrics = common.clipped_ppo(
            log_ratio, advantage, batch, critic.value(params, batch.obs, config), config
        )
        chain_entropy = jnp.mean(entropy_rate(stds))
        return total - config.entropy_cost * chain_entropy, {
            **metrics,
            "entropy": chain_entropy,
            "log_prob": jnp.mean(unclamped),
            "log_prob_clamped_fraction": common.fraction_outside(
                unclamped, config.log_prob_min, config.log_prob_max
            ),
        }

    return Learner(init, act, act_deterministic, critic.value, loss)


FACTORY = LearnerFactory("reinflow", ReinFlowConfig, make)
