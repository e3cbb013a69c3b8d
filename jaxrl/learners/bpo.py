"""Bounded Policy Optimization ("Bounded Ratio Reinforcement Learning", 2026) with its reference
code's Gaussian actor.

BPO maximises E[(pi/pi_old) A] under 1 - eps <= pi/pi_old <= 1 + eps with a log-barrier of
weight lambda; the analytic optimum is a bounded target ratio that the policy regresses onto:

    rho*(s, a) = 1 - eps + 2 eps sigmoid(clip((R - m(s)) / lambda, -10, 10))
    J_P = mean(|(rho*(s, a) - rho(s, a)) (R - sg(V(s)))|)       advantage-weighted total variation
    J_M = mean(softplus(-|R - m(s)|) + 0.5 |R - m(s)|)           smooth pinball loss at 0.5
    J_V = mean((R - V(s))^2)
    L   = J_P + c_v J_V + c_m J_M - c_ent H[pi]

with rho = pi_theta / pi_old, R = A + V the GAE return and m(s) a learned median of R under
pi_old. J_M equals log(2 cosh((R - m) / 2)): linear in |R - m| beyond a width of about 2, so
m is the median of R when returns spread over more than a few units, and between median and
mean for returns tighter than that. PPO's clipped loss is a one-sided version of J_P that pushes
rho towards 1 + eps sign(A), splitting at the mean (V) instead of the median.

Settings follow the reference code (bounded-ratio-rl: src/sb3/BPO.py, src/sb3/policy.py,
cfgs/algo/bpo/mujoco.yaml): eps 0.3, lambda 1e-3, c_v 0.5, c_m 0.5, no entropy bonus, global
gradient-norm clip 1.0, learning rate 3e-4; the actor is a Gaussian with a state-independent
per-dimension log-std starting at std 1, no tanh, actions clipped to [-1, 1] and the ratio
taken on the unclipped Gaussian sample (``--std-param state --squash tanh`` gives PPO's
Playground actor instead); the median m(s) is its own MLP. The loop settings among these are
this learner's defaults (``LOOP_DEFAULTS``). The reference trains on returns in the task's own
units (no observation normalisation, no reward scaling, gamma 0.99, 10 epochs): that is the
``bpo`` preset (``--preset cpu,bpo`` on the CPU sizes), since lambda and the weight R - V are in
return units and the suite's x10 reward scaling changes what lambda means.

Differences from the reference that remain, and why:
- Values and returns are re-evaluated before every epoch ("online advantages",
  ``advantages_per_epoch``), as rsl_rl's BPO does; the SB3 path computes them once per rollout.
  Per epoch keeps m(s) and V(s) in rho* and the weight consistent with R as the critic moves.
- m(s) is an MLP on the observation with the value network's widths (rsl_rl: a separate
  critic); the SB3 policy puts a 2x256 head on the critic's features. Separate, it shares no
  trunk gradient with V, which is what "its own MLP" buys; the widths follow the preset.
- Networks are the suite's (LeCun-uniform init, swish, the preset's widths); the reference uses
  orthogonal init (gain 0.01 on the action layer) and ReLU 2x256, and SB3's minibatch of 64
  samples is replaced by the loop's minibatching over many parallel environments.
- m(s) and V(s) in rho* and in J_P's weight are the current critic's, under stop-gradient, so
  only J_M trains m and only J_V trains V; the weight R - sg(V) is used as is, not standardised
  per minibatch (the loss as published).

The reference has a second path, for thousands of parallel environments: rsl_rl on IsaacLab
(src/rsl_rl/rsl_bpo.py, cfgs/algo/bpo/isaaclab/*), ``--preset rsl_rl`` (``rsl_rl_cpu``: the
CPU preset's 512 environments and widths instead of 4096 and 512-256-128). There c_v = c_m = 1,
lambda 0.01, eps 0.2 (G1, H1; 0.25 Anymal-C, 0.3 Go1), no entropy bonus, ELU networks, no
observation or reward normalisation, 4096 environments x 24 steps, 5 epochs of 4 minibatches,
and the learning rate starts at 1e-3 and is set before every minibatch step from that
minibatch's exact Gaussian KL to the rollout's policy (/1.5 above 0.02, x1.5 below 0.005 when
positive, within [1e-5, 1e-2]): the loop's ``kl_step="minibatch"``, ``kl_estimate="exact"``.
Returns are refreshed once per epoch there (rsl_rl's ``online_adv``, its refresh after each
epoch's last-but-one minibatch; here before each epoch), while the SB3 path keeps its returns
fixed for the whole update (``advantages_per_epoch`` off).

The reference's learning rate is tuned for SB3's many gradient steps per sample (10 epochs of
64-sample minibatches: 0.16 a sample) and is small for the few of massively parallel training
(the CPU preset takes 128 per 61,440 transitions, 0.002 a sample). The default stays the
reference's; ``--learning-rate 1e-3``, PPO's rate, is the setting to compare with PPO at its own.
What was measured: ``docs/learners/bpo.md``.
"""

from __future__ import annotations

from types import MappingProxyType

import jax
import jax.numpy as jnp

from jaxrl.actors import gaussian
from jaxrl.config import hyper, non_negative, override, positive, pytree_config
from jaxrl.learners import common
from jaxrl.learners.base import Batch, Learner, LearnerFactory
from jaxrl.learners.common import ratio_metrics, ratio_of

GAP_CLIP = 10.0  # bound on (R - m) / lambda inside the sigmoid
LOOP_DEFAULTS = MappingProxyType({"advantages_per_epoch": True, "max_grad_norm": 1.0, "learning_rate": 3e-4})


@pytree_config
class BPOConfig(common.RatioFields, gaussian.GaussianActorFields):
    clip_eps: float = override(
        common.RatioFields, "clip_eps", help="bound epsilon: target ratios lie in [1-eps, 1+eps]"
    )
    barrier_lambda: float = hyper(1e-3, "log-barrier weight lambda: the target's temperature", positive)
    value_cost: float = override(common.RatioFields, "value_cost", 0.5, "weight c_v of the value loss")
    median_cost: float = hyper(0.5, "weight c_m of the median head's smooth pinball loss", positive)
    entropy_cost: float = hyper(0.0, "weight of the entropy bonus", non_negative)
    std_param: str = gaussian.field_with_default("std_param", "global")
    squash: str = gaussian.field_with_default("squash", "clip")
    value_hidden: tuple[int, ...] = override(
        common.RatioFields, "value_hidden", help="value and median MLP widths (each its own network)"
    )


def target_ratio(gap: jax.Array, clip_eps: jax.Array, barrier_lambda: jax.Array) -> jax.Array:
    """rho* = 1 - eps + 2 eps sigmoid(clip(gap / lambda, -10, 10)), gap = R - m(s)."""
    return (
        1.0 - clip_eps + 2.0 * clip_eps * jax.nn.sigmoid(jnp.clip(gap / barrier_lambda, -GAP_CLIP, GAP_CLIP))
    )


def smooth_pinball(residual: jax.Array) -> jax.Array:
    """softplus(-|x|) + 0.5 |x| = log(2 cosh(x / 2)), the smoothed 0.5-quantile loss."""
    magnitude = jnp.abs(residual)
    return jax.nn.softplus(-magnitude) + 0.5 * magnitude


def total_variation_loss(ratio: jax.Array, target: jax.Array, weight: jax.Array) -> jax.Array:
    """J_P = mean(|(rho* - rho) w|)."""
    return jnp.mean(jnp.abs((target - ratio) * weight))


def make(observation_size: int, action_size: int) -> Learner:
    model = gaussian.actor_critic(observation_size, action_size)
    median_network = common.value_network(observation_size, name="median", activation=None)

    def init(key, config: BPOConfig):
        model_key, median_key = jax.random.split(key)
        return {**model.init(model_key, config), "median": median_network.init(median_key, config)}

    def value(params, obs, config):
        return model.critic(params, obs, config)[..., 0]

    def loss(params, old_params, aux, batch: Batch, key, config: BPOConfig):
        log_ratio, mean, std = gaussian.log_ratio(params, model, batch.obs, batch.extras, config)
        ratio = ratio_of(log_ratio)
        values = value(params, batch.obs, config)
        medians = median_network.value(params, batch.obs, config)
        returns = batch.target
        target = target_ratio(
            returns - jax.lax.stop_gradient(medians), config.clip_eps, config.barrier_lambda
        )
        policy_loss = total_variation_loss(ratio, target, returns - jax.lax.stop_gradient(values))
        value_loss = jnp.mean((returns - values) ** 2)
        median_loss = jnp.mean(smooth_pinball(returns - medians))
        bonus = jnp.mean(gaussian.entropy_bonus(key, mean, std, config.squash))
        total = (
            policy_loss
            + config.value_cost * value_loss
            + config.median_cost * median_loss
            - config.entropy_cost * bonus
        )
        metrics = {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "median_loss": median_loss,
            "above_median_fraction": jnp.mean(returns > medians),
            **gaussian.policy_metrics(std, batch.extras["raw_action"], config.squash),
            "exact_kl": gaussian.exact_kl(model, old_params, batch.obs, mean, std, config),
            **ratio_metrics(log_ratio, config.clip_eps),
        }
        return total, metrics

    return Learner(
        init,
        model.act,
        model.act_deterministic,
        value,
        loss,
        critic_keys=("value", "median"),
        clone_loss=gaussian.clone_loss(model),
    )


# The rsl_rl path's BPO settings (cfgs/algo/bpo/isaaclab/*, src/rsl_rl/rsl_rl_cfg.py): c_v 1,
# c_m 1, lambda 0.01 (reg_w), eps 0.2 (G1 and H1; 0.25 Anymal-C, 0.3 Go1), no entropy bonus, ELU.
RSL_RL = MappingProxyType(
    {
        "value_cost": 1.0,
        "median_cost": 1.0,
        "barrier_lambda": 0.01,
        "clip_eps": 0.2,
        "entropy_cost": 0.0,
        "activation": "elu",
    }
)
# Its addition to the loop's pointmass preset: the reference's learning rate 3e-4 is too small
# for that preset's few gradient steps per sample; the loop's 1e-3 learns toy/pointmass.
PRESETS = MappingProxyType(
    {"pointmass": MappingProxyType({"learning_rate": 1e-3}), "rsl_rl": RSL_RL, "rsl_rl_cpu": RSL_RL}
)
FACTORY = LearnerFactory("bpo", BPOConfig, make, LOOP_DEFAULTS, PRESETS, exact_kl=True)
