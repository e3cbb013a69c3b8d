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
- Fine-tuning: ``--preset finetune`` (with ``--init-from`` a run that ``experiments.pretrain``
  cloned by rectified flow, ``clone_loss``) is the reference's Gym fine-tuning: clip 0.01, the
  actor at 4.5e-5 and the critic at 6.5e-4 on optimisers of their own, chunks of 4 actions (a
  chunk's elements are the chain's d, as the reference's horizon is part of its normalisation),
  and sigma's ceiling lowered over training (``learn_decay``: held for ``noise_hold`` = 35% of
  the iterations, then cosine-annealed to 0.3 s_min + 0.7 s_max; :func:`noise_ceiling`, kept in
  the learner's state; the schedule runs over the run's total steps, so a resume that extends
  them re-times it, as it does the linear learning rate). From scratch the ceiling stays fixed
  (``noise_hold`` 1), since the schedule is tuned for a pre-trained flow. The reference's cosine
  learning-rate schedules (100 iterations a cycle, 10 of warm-up) and the critic's weight decay
  1e-5 are not reproduced: the rates are constant.

What was measured: ``docs/learners/reinflow.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import MappingProxyType

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.actors import chain, flow, gaussian
from jaxrl.config import hyper, non_negative, override, positive, pytree_config, static, unit_interval
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
    noise_hold: float = static(
        1.0,
        "share of training with the noise ceiling at --max-noise; then it is cosine-annealed to"
        " --noise-decay of the way from --min-noise to it (1: a fixed ceiling)",
        unit_interval,
    )
    noise_decay: float = hyper(
        0.7, "where the annealed ceiling ends, from --min-noise (0) to --max-noise (1)", unit_interval
    )
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


def clone_loss_of(field):
    """ReinFlow's ``clone_loss`` given its velocity network ``field(config)``."""

    def clone_loss(params, obs, action, key, config: ReinFlowConfig):
        """Behaviour cloning of the velocity field by rectified flow, the reference's pre-training
        (x_t = t x1 + (1 - t) x0, target x1 - x0, t ~ U[0, 1], x0 noise, x1 the action), in this
        suite's time (t = 1 noise, t = 0 the action): the velocity-form CFM loss

            L = mean |v_theta(x_t, t, s) - (eps - u)|^2,  x_t = t eps + (1 - t) u,  t ~ U[0, 1]

        on u = atanh(clip(a, -1 + 1e-6, 1 - 1e-6)) (the environment gets tanh(x_K)), averaged over
        action dimensions. The noise network is not trained by it."""
        time_key, noise_key = jax.random.split(key)
        u = gaussian.tanh_preimage(action)
        t = jax.random.uniform(time_key, u.shape[:-1])
        noise = jax.random.normal(noise_key, u.shape)
        predicted = field(config).apply(params["policy"], obs, flow.interpolate(u, noise, t), t)
        loss = jnp.mean(flow.cfm_loss(predicted, u, noise, t, "velocity"))
        return loss, {"cfm_loss": loss}

    return clone_loss


def noise_ceiling(progress: jax.Array, config: ReinFlowConfig) -> jax.Array:
    """The largest noise std at ``progress`` (the share of training done), the reference's
    ``learn_decay``: max_noise until ``noise_hold``, then a cosine down to
    min_noise + noise_decay (max_noise - min_noise) at the end."""
    low = config.min_noise + config.noise_decay * (config.max_noise - config.min_noise)
    annealed = jnp.clip((progress - config.noise_hold) / jnp.maximum(1.0 - config.noise_hold, 1e-8), 0.0, 1.0)
    return low + (config.max_noise - low) * 0.5 * (1.0 + jnp.cos(jnp.pi * annealed))


def init_aux(key: jax.Array, config: ReinFlowConfig):
    """The noise ceiling in force, which :func:`schedule` steps, when it is scheduled (a fixed
    ceiling is the config's ``max_noise``, and the state holds nothing)."""
    return {"max_noise": jnp.asarray(config.max_noise, jnp.float32)} if config.noise_hold < 1.0 else {}


def schedule(aux, progress: jax.Array, config: ReinFlowConfig):
    if "max_noise" not in aux:
        return aux
    return {**aux, "max_noise": noise_ceiling(progress, config).astype(aux["max_noise"].dtype)}


def ceiling_of(aux, config: ReinFlowConfig) -> jax.Array:
    """The noise ceiling in force: the scheduled one, or the config's fixed ``max_noise``."""
    return aux.get("max_noise", config.max_noise)


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

    def step_of(params, aux, obs, config: ReinFlowConfig, noisy: bool = True) -> chain.Step:
        field, noise = networks(config)
        times = flow.time_grid(config.flow_steps)

        def step(x, k):
            mean = x - field.apply(params["policy"], obs, x, times[k]) / config.flow_steps
            if not noisy:
                return mean, jnp.zeros(())
            return mean, noise.apply(
                params["noise"], obs, times[k], config.min_noise, ceiling_of(aux, config)
            )

        return step

    def act(params, aux, obs, key, config: ReinFlowConfig):
        shape = (*obs.shape[:-1], action_size)
        path, log_densities = chain.act(step_of(params, aux, obs, config), key, shape, config.flow_steps)
        log_prob = clamped(chain_log_prob(path, log_densities), config)
        return jnp.tanh(path[..., -1, :]), {"chain": path, "log_prob": log_prob}

    def act_deterministic(params, aux, obs, config: ReinFlowConfig):
        shape = (*obs.shape[:-1], action_size)
        return jnp.tanh(chain.mode(step_of(params, aux, obs, config, noisy=False), shape, config.flow_steps))

    def loss(params, old_params, aux, batch: Batch, key, config: ReinFlowConfig):
        stored = batch.extras["chain"]
        # The entropy takes the stds the rescoring computed: the noise network runs once.
        log_densities, stds = chain.rescore_with_stds(step_of(params, aux, batch.obs, config), stored)
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

    return Learner(
        init,
        act,
        act_deterministic,
        critic.value,
        loss,
        init_aux=init_aux,
        clone_loss=clone_loss_of(lambda config: networks(config)[0]),
        schedule=schedule,
    )


# Its addition to the loop's finetune preset: the reference's Gym fine-tuning
# (cfg/gym/finetune/hopper-v2/ft_ppo_reflow_mlp.yaml): 4 steps, noise std in [0.10, 0.24] with
# the ceiling held for 35% of training then annealed (learn_decay), clip 0.01, entropy 0.03,
# actor 4.5e-5 and critic 6.5e-4, value weight 0.5.
FINETUNE = MappingProxyType(
    {
        "flow_steps": 4,
        "min_noise": 0.10,
        "max_noise": 0.24,
        "noise_hold": 0.35,
        "noise_decay": 0.7,
        "clip_eps": 0.01,
        "entropy_cost": 0.03,
        "learning_rate": 4.5e-5,
        "critic_learning_rate": 6.5e-4,
        "value_cost": 0.5,
    }
)
FACTORY = LearnerFactory("reinflow", ReinFlowConfig, make, presets=MappingProxyType({"finetune": FINETUNE}))
