"""Diffusion Policy Policy Optimization, from scratch (Ren et al., "Diffusion Policy Policy
Optimization", 2024).

The actor is a K-step diffusion chain (:mod:`jaxrl.actors.diffusion`); the denoising chain is
an inner MDP whose every step is a Gaussian with an exact density, so each (sample, step) pair
is one PPO batch element with its own ratio:

    rho_k = N(x_{k+1}; mu_theta(x_k, k, s), std_k^2) / N(x_{k+1}; mu_old(x_k, k, s), std_k^2)
    L     = -mean_{samples, k}(min(rho_k A_k, clip(rho_k, 1 - eps, 1 + eps) A_k)) + c_v mean((R - V)^2)
    A_k   = gamma_denoise^(K - k - 1) A          (the step that yields the action is k = K - 1)

Defaults follow the from-scratch DM Control setting that FPO and GoRL ran where this actor
allows: K 10 steps, every step's std floored at 0.05, sampling noise clipped at +-3 std, eps 0.2,
gamma_denoise 0.99, on the DDPM schedule (posterior stds, floored). ``--schedule ddim`` (std 0,
so exactly 0.05 at every step, that setting's fixed std) is unstable from scratch here: its
first steps scale eps_hat by up to 1/sqrt(alpha_bar_K), so a small parameter change moves their
means by many stds (approximate KL above 1 per iteration on toy/pointmass, against 0.03 with
DDPM, which learns it). Choices left open, and what this module does: the clip range is
the same at every step (DPPO may widen it with k); advantages are standardised per minibatch
before the denoising discount; the critic and its cost are PPO's; there is no entropy bonus
and no behaviour-cloning term (nothing is pre-trained); the evaluation action runs the chain
with zero noise from x^K = 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrl.actors import chain, diffusion, flow
from jaxrl.config import hyper, one_of, positive, positive_sizes, pytree_config, static, unit_interval
from jaxrl.learners import common
from jaxrl.learners.base import Batch, Learner, LearnerFactory


@pytree_config
class DPPOConfig:
    clip_eps: float = hyper(0.2, "PPO clip range of every denoising step's ratio", positive)
    value_cost: float = hyper(0.25, "weight of the value loss", positive)
    min_std: float = hyper(0.05, "floor of every denoising step's std (exploration)", positive)
    noise_clip: float = hyper(3.0, "sampling noise clipped to +- this many stds", positive)
    x0_clip: float = hyper(3.0, "denoised action estimate clipped to +- this (pre-squash)", positive)
    denoise_discount: float = hyper(
        0.99, "advantage discount per denoising step from the action", unit_interval
    )
    denoising_steps: int = static(10, "denoising steps K", positive)
    schedule: str = static("ddpm", "step schedule", one_of(*diffusion.SCHEDULES))
    normalize_advantage: bool = static(True, "standardise advantages per minibatch")
    policy_hidden: tuple[int, ...] = static((32, 32, 32, 32), "noise-predictor MLP widths", positive_sizes)
    value_hidden: tuple[int, ...] = static((256,) * 5, "value MLP widths", positive_sizes)


def step_weights(num_steps: int, discount: jax.Array) -> jax.Array:
    """gamma_denoise^(K - k - 1) for chain index k = 0..K-1."""
    return discount ** jnp.arange(num_steps - 1, -1, -1)


def make(observation_size: int, action_size: int) -> Learner:
    critic = common.value_network(observation_size)

    def init(key: jax.Array, config: DPPOConfig):
        policy_key, value_key = jax.random.split(key)
        denoiser = flow.ConditionedField(config.policy_hidden, action_size)
        return {
            "policy": flow.init_field(denoiser, policy_key, observation_size, action_size),
            "value": critic.init(value_key, config),
        }

    def step_of(params, obs, config: DPPOConfig) -> chain.Step:
        denoiser = flow.ConditionedField(config.policy_hidden, action_size)
        predict_noise = lambda x, t: denoiser.apply(params["policy"], obs, x, t)  # noqa: E731
        return diffusion.denoising_step(
            predict_noise, config.denoising_steps, config.schedule, config.min_std, config.x0_clip
        )

    def act(params, aux, obs, key, config: DPPOConfig):
        shape = (*obs.shape[:-1], action_size)
        path, log_probs = chain.act(
            step_of(params, obs, config), key, shape, config.denoising_steps, config.noise_clip
        )
        return jnp.tanh(path[..., -1, :]), {"chain": path, "log_probs": log_probs}

    def act_deterministic(params, aux, obs, config: DPPOConfig):
        shape = (*obs.shape[:-1], action_size)
        return jnp.tanh(chain.mode(step_of(params, obs, config), shape, config.denoising_steps))

    def loss(params, old_params, aux, batch: Batch, key, config: DPPOConfig):
        new_log_probs = chain.rescore(step_of(params, batch.obs, config), batch.extras["chain"])
        log_ratio = new_log_probs - batch.extras["log_probs"]  # [batch, K]
        advantage = common.advantages(batch, config.normalize_advantage)
        step_advantage = advantage[:, None] * step_weights(config.denoising_steps, config.denoise_discount)
        return common.clipped_ppo(
            log_ratio, step_advantage, batch, critic.value(params, batch.obs, config), config
        )

    return Learner(init, act, act_deterministic, critic.value, loss)


FACTORY = LearnerFactory("dppo", DPPOConfig, make)
