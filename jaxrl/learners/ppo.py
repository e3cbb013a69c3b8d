"""Proximal Policy Optimization with a tanh-normal Gaussian actor (Schulman et al. 2017).

    rho = pi_theta(a|s) / pi_old(a|s)
    L   = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A))
          + c_v mean((R - V_theta(s))^2) - c_ent mean(H[pi_theta(.|s)])

with A the GAE advantage (normalised per minibatch by default), R = A + V_old the return and H
the squashed policy's entropy (under tanh a one-sample estimate, Brax's). Defaults equal MuJoCo
Playground's DM Control PPO settings as Brax's PPO computes them: clip 0.3, entropy cost 1e-2,
value cost 0.25 (Brax's 0.5 * 0.5), policy MLP 4x32, value MLP 5x256, swish, std =
softplus(x) + 0.001 per state, tanh squash; ``--std-param global --squash clip`` gives the
state-independent std and clipped actions of most other PPO references. Unlike Brax, advantages
are computed once per iteration (or per epoch, with ``advantages_per_epoch``) rather than inside
every minibatch's loss, and minibatches are drawn over single transitions unless
``minibatch_unit="segment"`` (Brax's way). Logged: ``entropy`` is the Gaussian's, and
``action_saturation`` the share of action elements at their bounds; the loss also reports
``exact_kl``, the closed-form KL(pi_old || pi_theta) that ``--kl-estimate exact`` reads.

``--preset rsl_rl`` (``rsl_rl_cpu`` at the CPU sizes) is rsl_rl's runner as BPO's rsl_rl path
runs its PPO control (bounded-ratio-rl cfgs/algo/ppo/isaaclab/*): clip 0.2, value weight 1,
entropy 0.005, ELU, and BPO's actor there (a global std from 1; actions clipped to their bounds,
where rsl_rl hands the environment the unclipped sample). Left as this learner has them: rsl_rl
normalises advantages over the whole batch, not per minibatch, and clips its value loss at 0.2.
"""

from __future__ import annotations

from types import MappingProxyType

import jax.numpy as jnp

from jaxrl.actors import gaussian
from jaxrl.config import hyper, non_negative, pytree_config
from jaxrl.learners import common
from jaxrl.learners.base import Batch, Learner, LearnerFactory


@pytree_config
class PPOConfig(common.PPOFields, gaussian.GaussianActorFields):
    entropy_cost: float = hyper(1e-2, "weight of the entropy bonus", non_negative)


def make(observation_size: int, action_size: int) -> Learner:
    model = gaussian.actor_critic(observation_size, action_size)

    def value(params, obs, config):
        return model.critic(params, obs, config)[..., 0]

    def loss(params, old_params, aux, batch: Batch, key, config: PPOConfig):
        log_ratio, mean, std = gaussian.log_ratio(params, model, batch.obs, batch.extras, config)
        advantage = common.advantages(batch, config.normalize_advantage)
        total, metrics = common.clipped_ppo(
            log_ratio, advantage, batch, value(params, batch.obs, config), config
        )
        bonus = jnp.mean(gaussian.entropy_bonus(key, mean, std, config.squash))
        diagnostics = gaussian.policy_metrics(std, batch.extras["raw_action"], config.squash)
        diagnostics["exact_kl"] = gaussian.exact_kl(model, old_params, batch.obs, mean, std, config)
        return total - config.entropy_cost * bonus, {**metrics, **diagnostics}

    return Learner(
        model.init, model.act, model.act_deterministic, value, loss, clone_loss=gaussian.clone_loss(model)
    )


# The PPO control of BPO's rsl_rl path (bounded-ratio-rl cfgs/algo/ppo/isaaclab/*): clip 0.2,
# value weight 1, entropy 0.005 (Anymal-C), ELU, and BPO's actor there (rsl_rl's Gaussian with a
# global std from 1, clipped to the action bounds here), so that the two differ in the loss alone.
RSL_RL = MappingProxyType(
    {
        "clip_eps": 0.2,
        "value_cost": 1.0,
        "entropy_cost": 0.005,
        "activation": "elu",
        "std_param": "global",
        "squash": "clip",
    }
)
FACTORY = LearnerFactory(
    "ppo", PPOConfig, make, presets=MappingProxyType({"rsl_rl": RSL_RL, "rsl_rl_cpu": RSL_RL}), exact_kl=True
)
