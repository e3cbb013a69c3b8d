"""Diffusion Policy Policy Optimization, from scratch (Ren et al., "Diffusion Policy Policy
Optimization", 2024), with the log-probabilities of its public code (irom-princeton/dppo,
model/diffusion/diffusion_ppo.py).

The actor is a K-step diffusion chain (:mod:`jaxrl.actors.diffusion`); the denoising chain is
an inner MDP whose every step is a Gaussian with an exact density, so each (sample, step) pair
is one PPO batch element with its own ratio. With d action dimensions:

    lp_k    = mean_dims clip(log N(x_{k+1,d}; mu_theta(x_k, k, s)_d, std_k^2), lp_min, lp_max)
    rho_k   = exp(lp_k,theta - lp_k,old)          (old: the same, stored at collection)
    L       = -mean_{samples, k}(min(rho_k A_k, clip(rho_k, 1 - eps, 1 + eps) A_k)) + c_v mean((R - V)^2)
    A_k     = gamma_denoise^(K - k - 1) A         (the step that yields the action is k = K - 1)

As the reference does, each element's log-density is clamped to [lp_min, lp_max] = [-5, 2]
before the average over action dimensions (and over the action chunk's steps, the reference's
horizon; here every step is one action), for the new and the old log-probabilities alike; the K
steps are flattened into the batch, each with its own ratio. An element whose new log-density
lies outside the bounds gives no gradient. On the default DDPM schedule (K 10) only the last
step's std is at the 0.05 floor: its largest log-density is -log(0.05) - 0.5 log(2 pi) = 2.08,
so the upper bound binds for its elements within 0.4 std of the mean (about 31% of those
sampled); the other steps' stds (0.14 to 0.99) keep below it, and the lower bound binds only
beyond 2.9 std (the first, widest step) to 3.8 std (the last), rarely within the 3-std noise
clip.

Averaging over dimensions changes what eps bounds: the geometric mean over dimensions of a
step's density ratio, so eps 0.2 lets the step's joint ratio move by up to 1.2^d, wider than in
the from-scratch setting below, whose code (FPO's and GoRL's) sums over dimensions. On
toy/pointmass's 2-D actions that is too wide to learn from scratch and eps 0.1 learns, so the
pointmass preset gives it 0.1.

Defaults follow the from-scratch DM Control setting that FPO and GoRL ran where this actor
allows: K 10 steps, every step's std floored at 0.05, sampling noise clipped at +-3 std, eps 0.2,
gamma_denoise 0.99, on the DDPM schedule (posterior stds, floored). ``--schedule ddim`` (std 0,
so exactly 0.05 at every step, that setting's fixed std) is unstable from scratch here: its
first steps scale eps_hat by up to 1/sqrt(alpha_bar_K), so a small parameter change moves their
means by many stds, hence the DDPM default. Choices left open, and what this module does:
advantages are standardised per minibatch before the denoising discount (as the reference does);
the critic and its cost are PPO's; there is no entropy bonus and, during RL, no behaviour-cloning
term (as the reference); the evaluation action runs the chain with zero noise from x^K = 0.

Differences from the reference that remain, with reasons:
- Clip range: the reference's grows with the step, exponentially from ``clip_ploss_coef_base``
  (1e-3) at the noisiest step to ``clip_ploss_coef`` at the last (rate 3); here every step has
  the same range, the from-scratch setting's single eps 0.2.
- Log-probability std: the reference floors the std used for log-probabilities separately
  (``min_logprob_denoising_std``, 0.1 in its configs) from the sampling floor; here the chain's
  one std (floor 0.05) is used for both, so the ratio is the sampler's exact density ratio
  (with a 0.1 floor no log-density exceeds 1.38 and the upper clamp never binds).
- Fine-tuning: ``--preset finetune`` (with ``--init-from`` a run that ``experiments.pretrain``
  cloned by DDPM's epsilon prediction, ``clone_loss``) is the reference's Gym fine-tuning: the
  last 10 of 20 steps train (``finetune_steps``; the earlier ones run a frozen copy of the actor
  the run started from, as the reference's ``actor``/``actor_ft`` pair), clip 0.01, the actor at
  1e-4 and the critic at 1e-3 on optimisers of their own, chunks of 4 actions. The reference's
  cosine schedules with 10 warm-up iterations (constant after them at these rates) are not
  reproduced: the rates are constant from the start.
- Advantage quantile clipping (off by default in the reference) and the value-loss clip are
  not implemented.

What was measured: ``docs/learners/dppo.md``.
"""

from __future__ import annotations

from types import MappingProxyType

import jax
import jax.numpy as jnp

from jaxrl.actors import chain, diffusion, flow, gaussian
from jaxrl.config import (
    hyper,
    non_negative,
    one_of,
    override,
    positive,
    pytree_config,
    static,
    unit_interval,
)
from jaxrl.learners import common
from jaxrl.learners.base import Batch, Learner, LearnerFactory


@pytree_config
class DPPOConfig(common.PPOFields):
    clip_eps: float = override(
        common.PPOFields, "clip_eps", 0.2, "PPO clip range of every denoising step's ratio"
    )
    min_std: float = hyper(0.05, "floor of every denoising step's std (exploration)", positive)
    noise_clip: float = hyper(3.0, "sampling noise clipped to +- this many stds", positive)
    x0_clip: float = hyper(3.0, "denoised action estimate clipped to +- this (pre-squash)", positive)
    denoise_discount: float = hyper(
        0.99, "advantage discount per denoising step from the action", unit_interval
    )
    log_prob_min: float = hyper(-5.0, "lower clamp of every element's log-density")
    log_prob_max: float = hyper(2.0, "upper clamp of every element's log-density")
    denoising_steps: int = static(10, "denoising steps K", positive)
    finetune_steps: int = static(
        0,
        "the last denoising steps that train (0: all); the earlier ones run the actor the run"
        " started from, frozen (fine-tuning a pre-trained policy: --init-from)",
        non_negative,
    )
    schedule: str = static("ddpm", "step schedule", one_of(*diffusion.SCHEDULES))
    policy_hidden: tuple[int, ...] = override(
        common.PPOFields, "policy_hidden", help="noise-predictor MLP widths"
    )


def step_weights(num_steps: int, discount: jax.Array) -> jax.Array:
    """gamma_denoise^(K - k - 1) for chain index k = 0..K-1."""
    return discount ** jnp.arange(num_steps - 1, -1, -1)


def step_log_probs(log_densities: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """Per-step log-probabilities [..., K] from per-element log-densities [..., K, d]: each
    clamped to [low, high], then averaged over action dimensions."""
    return jnp.mean(jnp.clip(log_densities, low, high), axis=-1)


def init_frozen(key: jax.Array, config: DPPOConfig, observation_size: int, action_size: int):
    """The aux state: a slot for the frozen copy of the actor with ``finetune_steps``, else none."""
    if not config.finetune_steps:
        return {}
    denoiser = flow.ConditionedField(config.policy_hidden, action_size)
    return {"frozen_policy": flow.init_field(denoiser, key, observation_size, action_size)}


def freeze(params, aux):
    """The early steps' frozen copy (with ``finetune_steps``): the actor the run starts from, in
    buffers of its own (training donates the state, and one buffer cannot be donated twice)."""
    if "frozen_policy" not in aux:
        return aux
    return {**aux, "frozen_policy": jax.tree.map(jnp.copy, params["policy"])}


def step_weights_at(t: jax.Array, policy, aux, config: DPPOConfig):
    """The denoiser's parameters at denoising time t = j / K: with ``finetune_steps`` F, steps
    j > F run the frozen copy of the actor the run started from, the last F the trained one."""
    if not config.finetune_steps:
        return policy
    frozen = t > config.finetune_steps / config.denoising_steps
    return jax.tree.map(lambda f, p: jnp.where(frozen, f, p), aux["frozen_policy"], policy)


def trained_steps(per_step: jax.Array, config: DPPOConfig) -> jax.Array:
    """The entries [batch, K] of the steps that train: the last ``finetune_steps`` (or all)."""
    return per_step[:, -config.finetune_steps :] if config.finetune_steps else per_step


def make(observation_size: int, action_size: int) -> Learner:
    critic = common.value_network(observation_size)

    def init(key: jax.Array, config: DPPOConfig):
        policy_key, value_key = jax.random.split(key)
        denoiser = flow.ConditionedField(config.policy_hidden, action_size)
        return {
            "policy": flow.init_field(denoiser, policy_key, observation_size, action_size),
            "value": critic.init(value_key, config),
        }

    def init_aux(key: jax.Array, config: DPPOConfig):
        return init_frozen(key, config, observation_size, action_size)

    def step_of(params, aux, obs, config: DPPOConfig) -> chain.Step:
        denoiser = flow.ConditionedField(config.policy_hidden, action_size)
        policy = params["policy"]

        def predict_noise(x, t):
            return denoiser.apply(step_weights_at(t, policy, aux, config), obs, x, t)

        return diffusion.denoising_step(
            predict_noise, config.denoising_steps, config.schedule, config.min_std, config.x0_clip
        )

    def log_probs(log_densities: jax.Array, config: DPPOConfig) -> jax.Array:
        return step_log_probs(log_densities, config.log_prob_min, config.log_prob_max)

    def act(params, aux, obs, key, config: DPPOConfig):
        shape = (*obs.shape[:-1], action_size)
        path, log_densities = chain.act(
            step_of(params, aux, obs, config), key, shape, config.denoising_steps, config.noise_clip
        )
        return jnp.tanh(path[..., -1, :]), {"chain": path, "log_probs": log_probs(log_densities, config)}

    def act_deterministic(params, aux, obs, config: DPPOConfig):
        shape = (*obs.shape[:-1], action_size)
        return jnp.tanh(chain.mode(step_of(params, aux, obs, config), shape, config.denoising_steps))

    def loss(params, old_params, aux, batch: Batch, key, config: DPPOConfig):
        log_densities = chain.rescore(step_of(params, aux, batch.obs, config), batch.extras["chain"])
        log_ratio = log_probs(log_densities, config) - batch.extras["log_probs"]  # [batch, K]
        advantage = common.advantages(batch, config.normalize_advantage)
        step_advantage = advantage[:, None] * step_weights(config.denoising_steps, config.denoise_discount)
        log_ratio, step_advantage = trained_steps(log_ratio, config), trained_steps(step_advantage, config)
        total, metrics = common.clipped_ppo(
            log_ratio, step_advantage, batch, critic.value(params, batch.obs, config), config
        )
        clamped = common.fraction_outside(log_densities, config.log_prob_min, config.log_prob_max)
        return total, {**metrics, "log_prob_clamped_fraction": clamped}

    def clone_loss(params, obs, action, key, config: DPPOConfig):
        """Behaviour cloning by DDPM's epsilon prediction over the K denoising steps (the
        reference's pre-training), on the pre-squash action x^0 = atanh(clip(a, -1 + 1e-6,
        1 - 1e-6)) (the environment gets tanh(x^0)), with the chain's cosine alpha_bar:

            L = mean |eps_theta(sqrt(ab_j) x^0 + sqrt(1 - ab_j) eps, j / K, s) - eps|^2,
                j ~ U{1..K}, eps ~ N(0, I)

        averaged over action dimensions; the network sees t = j / K, as when it denoises."""
        step_key, noise_key = jax.random.split(key)
        x0 = gaussian.tanh_preimage(action)
        j = jax.random.randint(step_key, x0.shape[:-1], 1, config.denoising_steps + 1)
        alpha_bar = jnp.asarray(diffusion.cosine_alpha_bar(config.denoising_steps), jnp.float32)[j][..., None]
        noise = jax.random.normal(noise_key, x0.shape)
        x_j = jnp.sqrt(alpha_bar) * x0 + jnp.sqrt(1.0 - alpha_bar) * noise
        denoiser = flow.ConditionedField(config.policy_hidden, action_size)
        predicted = denoiser.apply(params["policy"], obs, x_j, j / config.denoising_steps)
        loss = jnp.mean((predicted - noise) ** 2)
        return loss, {"denoising_loss": loss}

    return Learner(
        init,
        act,
        act_deterministic,
        critic.value,
        loss,
        init_aux=init_aux,
        clone_loss=clone_loss,
        freeze=freeze,
    )


# Its addition to the loop's finetune preset: the reference's Gym fine-tuning
# (cfg/gym/finetune/hopper-v2/ft_ppo_diffusion_mlp.yaml): 20 DDPM steps of which the last 10
# train, clip 0.01, exploration std floor 0.1, actor 1e-4 and critic 1e-3, value weight 0.5.
FINETUNE = MappingProxyType(
    {
        "denoising_steps": 20,
        "finetune_steps": 10,
        "clip_eps": 0.01,
        "min_std": 0.1,
        "learning_rate": 1e-4,
        "critic_learning_rate": 1e-3,
        "value_cost": 0.5,
    }
)
# Its addition to the loop's pointmass preset: on per-dimension averaged log-probabilities (the
# reference's) clip 0.2 is too wide to learn toy/pointmass's 2-D actions from scratch; 0.1 learns.
PRESETS = MappingProxyType({"pointmass": MappingProxyType({"clip_eps": 0.1}), "finetune": FINETUNE})
FACTORY = LearnerFactory("dppo", DPPOConfig, make, presets=PRESETS)
