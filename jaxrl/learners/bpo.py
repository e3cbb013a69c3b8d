"""Bounded Policy Optimization with a tanh-normal actor ("Bounded Ratio Reinforcement Learning",
2026).

BPO maximises E[(pi/pi_old) A] under 1 - eps <= pi/pi_old <= 1 + eps with a log-barrier of
weight lambda; the analytic optimum is a bounded target ratio that the policy regresses onto:

    rho*(s, a) = 1 - eps + 2 eps sigmoid(clip((R - m(s)) / lambda, -10, 10))
    J_P = mean(|(rho*(s, a) - rho(s, a)) (R - sg(V(s)))|)       advantage-weighted total variation
    J_M = mean(softplus(-|R - m(s)|) + 0.5 |R - m(s)|)           smooth pinball loss at 0.5
    J_V = mean((R - V(s))^2)
    L   = J_P + c_v J_V + c_m J_M - c_ent H[pi]

with rho = pi_theta / pi_old, R = A + V the GAE return and m(s) a learned median of R under
pi_old. J_M equals log(2 cosh((R - m) / 2)): linear in |R - m| beyond a width of about 2, so
m is the median of R when returns spread over more than a few units (as they do after reward
scaling), and between median and mean for returns tighter than that. PPO's clipped loss is a
one-sided version of J_P that pushes rho towards 1 + eps sign(A), splitting at the mean (V)
instead of the median. Defaults are the paper's MuJoCo settings: eps 0.3, lambda 1e-3, c_v 0.5,
c_m 0.5, no entropy bonus, global gradient-norm clip 1.0, and values and returns re-evaluated
before every epoch ("online advantages", as the public code does); the last two are loop
settings that this learner sets as its defaults (``LOOP_DEFAULTS``).

Choices the paper leaves open, and what this module does:
- The median head is a second output of the critic MLP (shared trunk with V).
- m(s) and V(s) in rho* and in J_P's weight are the current critic's, under stop-gradient, so
  only J_M trains m and only J_V trains V; with online advantages they differ from the values
  R was computed with by at most one epoch of updates.
- The weight R - sg(V) is used as is, not standardised per minibatch (the loss as published).
- The actor is the tanh-normal of PPO and the ratio is taken on the squashed density.
- The learning rate is the loop's (1e-3, Playground's), since the MuJoCo runs' is not given.

Known behaviour with these defaults (``benchmarks/results/learning_cpu.md``): on CartpoleBalance
with the CPU preset the policy's entropy collapses within about 1M steps and BPO stays near a
random policy's return, where PPO (entropy bonus on standardised advantages) solves the task.
An entropy bonus large enough for the unstandardised weights (``--entropy-cost 1``) keeps it
exploring and it improves, more slowly than PPO.
"""

from __future__ import annotations

from types import MappingProxyType

import jax
import jax.numpy as jnp

from jaxrl.actors import gaussian
from jaxrl.config import hyper, non_negative, positive, positive_sizes, pytree_config, static
from jaxrl.learners.base import Batch, Learner, LearnerFactory
from jaxrl.learners.common import ratio_metrics, ratio_of

GAP_CLIP = 10.0  # bound on (R - m) / lambda inside the sigmoid
LOOP_DEFAULTS = MappingProxyType({"advantages_per_epoch": True, "max_grad_norm": 1.0})


@pytree_config
class BPOConfig:
    clip_eps: float = hyper(0.3, "bound epsilon: target ratios lie in [1-eps, 1+eps]", positive)
    barrier_lambda: float = hyper(1e-3, "log-barrier weight lambda: the target's temperature", positive)
    value_cost: float = hyper(0.5, "weight c_v of the value loss", positive)
    median_cost: float = hyper(0.5, "weight c_m of the median head's smooth pinball loss", positive)
    entropy_cost: float = hyper(0.0, "weight of the entropy bonus", non_negative)
    min_std: float = hyper(1e-3, "floor added to the policy's softplus scale", positive)
    policy_hidden: tuple[int, ...] = static((32, 32, 32, 32), "policy MLP widths", positive_sizes)
    value_hidden: tuple[int, ...] = static(
        (256,) * 5, "critic MLP widths (value and median heads)", positive_sizes
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
    model = gaussian.actor_critic(observation_size, action_size, critic_outputs=2)

    def value(params, obs, config):
        return model.critic(params, obs, config)[..., 0]

    def loss(params, old_params, aux, batch: Batch, key, config: BPOConfig):
        log_ratio, mean, std = gaussian.log_ratio(params, model, batch.obs, batch.extras, config)
        ratio = ratio_of(log_ratio)
        heads = model.critic(params, batch.obs, config)
        values, medians = heads[..., 0], heads[..., 1]
        returns = batch.target
        target = target_ratio(
            returns - jax.lax.stop_gradient(medians), config.clip_eps, config.barrier_lambda
        )
        policy_loss = total_variation_loss(ratio, target, returns - jax.lax.stop_gradient(values))
        value_loss = jnp.mean((returns - values) ** 2)
        median_loss = jnp.mean(smooth_pinball(returns - medians))
        entropy = jnp.mean(gaussian.entropy(key, mean, std))
        total = (
            policy_loss
            + config.value_cost * value_loss
            + config.median_cost * median_loss
            - config.entropy_cost * entropy
        )
        metrics = {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "median_loss": median_loss,
            "entropy": entropy,
            "above_median_fraction": jnp.mean(returns > medians),
            **ratio_metrics(log_ratio, config.clip_eps),
        }
        return total, metrics

    return Learner(model.init, model.act, model.act_deterministic, value, loss)


FACTORY = LearnerFactory("bpo", BPOConfig, make, LOOP_DEFAULTS)
