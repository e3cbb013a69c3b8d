"""PolicyFlow (Yang et al., "PolicyFlow", ICLR 2026): a flow policy with a Gaussian ratio on the
velocity change and a Brownian regulariser against mode collapse.

The action is a deterministic flow of a latent plus learned Gaussian noise:

    z ~ N(0, I),   a = (phi_1(z; s) + n) / action_scale,   n ~ N(0, diag(sigma^2))

(``action_scale``, 1 by default, lets the flow work in a task's own units where they differ from
its actions'; see the differences below.)

phi_1 integrates the velocity field v_theta(x, t, s) from x = z at t = 0 to t = 1 with 10
midpoint steps (x_mid = x + v dt / 2, x += dt v(x_mid, t + dt / 2)); sigma is a learned,
state-independent, per-dimension scale with log sigma clamped to [-5, 2] (the bounds of the
published ``LearnableVariance``), initially 1. The rollout stores z, phi_1(z; s), n and
log N(n; 0, sigma_old). The loss draws one t per sample from the 21-point grid
{0, 0.05, ..., 1} (the steps' starts, midpoints and end), takes x_t = (1 - t) z + t phi_1 and
the velocity change dv = v_theta(x_t, t, s) - v_old(x_t, t, s) against the frozen parameters
that collected the batch, and treats a new policy as the old flow shifted by dv:

    log rho = sum_d log N(n_d; dv_d, sigma_d) - log N(n; 0, sigma_old)
    L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A))                   PPO, eps 0.2
        - w_g mean(sum_d H[N(dv_d, sigma_d)])                                Gaussian entropy
        + w_b mean(((1 - t) v_theta(x_t) - (x_t - t sg(v_old(x_t))))^2)      Brownian regulariser
        + c_v mean((R - (V_old + clip(V - V_old, -c, c)))^2)                clipped value loss
    KL(old || new) = sum_d [log(sigma_d / sigma_old,d) + (sigma_old,d^2 + dv_d^2) / (2 sigma_d^2) - 1/2]

The Brownian term vanishes where (1 - t) v_theta = x_t - t v_old; with v_theta = v_old that is
the field v(x, t) = x, whose flow x_t = z e^t spreads the latent outwards instead of letting it
contract onto one action, which is how it holds several modes. The analytic KL is this learner's
``approx_kl``; the loop's ``kl_adaptive`` schedule steps the learning rate on it after every
epoch (x1.5 / 1.5 around the target 0.01, within [1e-6, 1e-2]), with AdamW (weight decay 1e-5,
which also decays log sigma) and a global gradient clip of 1.0: these loop settings are this
learner's defaults (``LOOP_DEFAULTS``), as are the reference's gamma 0.99, lambda 0.95,
learning rate 1e-4, 4 minibatches x 5 epochs, no observation normalisation and no reward
scaling. Networks: v = MLP([x, TimeEmb(t) + Linear(s)]) with mish; TimeEmb is random Fourier
features [cos 2 pi f t, sin 2 pi f t], f ~ N(0, 16^2), then Linear-Mish-Linear; the critic is
a separate mish MLP. Widths (256, 128, 64) and embedding 64 are the reference's MultiGoal ones.

Read from the code published with the paper (HarriWxy/PolicyFlow_srb, first commit). Where this
module differs, and why:
- The Fourier frequencies are drawn once from a fixed key (the same for every seed) rather than
  per run: they are constants either way, and keeping them out of the parameters keeps AdamW's
  weight decay off them.
- The KL that steers the learning rate is the mean of the current epoch; the reference averages
  over every minibatch of the update so far (a list it never resets within an update).
- Advantages are standardised per minibatch, not once over the rollout (with 4 minibatches the
  two statistics nearly agree); values and returns come from the loop's truncation-aware GAE
  (a truncated episode is bootstrapped from its final observation; the reference adds
  gamma V(s_t) of the pre-step observation to the reward).
- Evaluation takes the deterministic action phi_1(0; s) without noise, as for every learner
  here; the reference evaluates with sampled actions.
- No tanh and no clipping in the agent, as in the reference: the environment clips. Every task
  here takes its actions in [-1, 1] (``toy/multigoal6`` scales them by 5 to accelerations, so
  that the squashed learners have its whole range), while the reference's MultiGoal agent emits
  the acceleration itself. ``action_scale`` (task units per action) lets the flow, its noise
  and its regularisers act in the task's own units, the action being their sum divided by it;
  the ``multigoal6`` preset sets it to 5, which is the reference's agent exactly (z ~ N(0, I)
  and sigma = 1 in accelerations). At the default 1 on that task, z and sigma are 5 times
  wider in accelerations than the reference's and most first actions are clipped.

What was measured: ``docs/learners/policyflow.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.actors import gaussian
from jaxrl.config import hyper, non_negative, override, positive, pytree_config, static
from jaxrl.learners import common
from jaxrl.learners.base import Batch, Learner, LearnerFactory
from jaxrl.networks import MLP

LOG_STD_BOUNDS = (-5.0, 2.0)
FLOW_STEPS = 10
FOURIER_SCALE = 16.0
LOOP_DEFAULTS = MappingProxyType(
    {
        "learning_rate": 1e-4,
        "lr_schedule": "kl_adaptive",
        "kl_target": 0.01,
        "weight_decay": 1e-5,
        "max_grad_norm": 1.0,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "num_minibatches": 4,
        "update_epochs": 5,
        "normalize_obs": False,
        "reward_scaling": 1.0,
    }
)


@pytree_config
class PolicyFlowConfig(common.PPOFields):
    clip_eps: float = override(
        common.PPOFields, "clip_eps", 0.2, "PPO clip range on the velocity-change ratio"
    )
    entropy_weight: float = hyper(0.01, "weight w_g of the Gaussian entropy bonus", non_negative)
    brownian_weight: float = hyper(0.01, "weight w_b of the Brownian regulariser", non_negative)
    value_cost: float = override(common.PPOFields, "value_cost", 1.0, "weight of the clipped value loss")
    value_clip: float = hyper(0.2, "bound on V - V_old in the value loss", positive)
    initial_std: float = hyper(1.0, "the action noise's initial scale sigma", positive)
    action_scale: float = hyper(
        1.0,
        "task units per action: the flow and its noise act in task units, the action is their / this",
        positive,
    )
    embedding_size: int = static(64, "width of the time and observation embedding", positive)
    policy_hidden: tuple[int, ...] = override(
        common.PPOFields, "policy_hidden", (256, 128, 64), "velocity MLP widths"
    )
    value_hidden: tuple[int, ...] = override(common.PPOFields, "value_hidden", (256, 128, 64))


class VelocityField(nn.Module):
    """v_theta(x, t, s) = MLP([x, TimeEmb(t) + Linear(s)]), mish.

    TimeEmb depends on t alone, so it runs on the distinct times only and is broadcast over the
    rows: ``t`` is one time for every row (a sampling step's) or a time per row; with ``grid``,
    ``t`` holds integer indices into ``grid`` and TimeEmb runs once per grid point.
    """

    hidden: Sequence[int]
    out: int
    embedding_size: int

    @nn.compact
    def __call__(
        self, obs: jax.Array, x: jax.Array, t: jax.Array, grid: jax.Array | None = None
    ) -> jax.Array:
        frequencies = FOURIER_SCALE * jax.random.normal(jax.random.PRNGKey(0), (self.embedding_size // 2,))
        angles = 2.0 * jnp.pi * (t if grid is None else grid)[..., None] * frequencies
        time = jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)
        time = nn.Dense(self.embedding_size)(jax.nn.mish(nn.Dense(self.embedding_size)(time)))
        if grid is not None:
            time = time[t]
        time = jnp.broadcast_to(time, (*x.shape[:-1], self.embedding_size))
        condition = time + nn.Dense(self.embedding_size)(obs)
        return MLP(self.hidden, self.out, activation=jax.nn.mish)(jnp.concatenate([x, condition], axis=-1))


def noise_std(params) -> jax.Array:
    """sigma = exp(clip(log sigma, -5, 2)), per action dimension."""
    return jnp.exp(jnp.clip(params["log_std"], *LOG_STD_BOUNDS))


def velocity_log_ratio(noise, velocity_change, std, old_log_prob) -> jax.Array:
    """log rho = sum_d log N(n_d; dv_d, sigma_d) - log N(n; 0, sigma_old)."""
    return gaussian.gaussian_log_prob(noise, velocity_change, std) - old_log_prob


def gaussian_kl(velocity_change, std, old_std) -> jax.Array:
    """KL(N(0, sigma_old) || N(dv, sigma)), summed over action dimensions."""
    terms = jnp.log(std / old_std) + (old_std**2 + velocity_change**2) / (2.0 * std**2) - 0.5
    return jnp.sum(terms, axis=-1)


def brownian_penalty(velocity, old_velocity, x_t, t) -> jax.Array:
    """mean(((1 - t) v_theta(x_t) - (x_t - t sg(v_old(x_t))))^2) over samples and dimensions."""
    t = t[..., None]
    target = x_t - t * jax.lax.stop_gradient(old_velocity)
    return jnp.mean(((1.0 - t) * velocity - target) ** 2)


def time_grid() -> jax.Array:
    """The 21 times the ratio is evaluated at: every midpoint step's start, middle and end."""
    return jnp.linspace(0.0, 1.0, 2 * FLOW_STEPS + 1)


def integrate(velocity, z: jax.Array) -> jax.Array:
    """phi_1(z): ``FLOW_STEPS`` midpoint steps of ``velocity(x, t)`` from t = 0 to 1."""
    dt = 1.0 / FLOW_STEPS

    def step(x, t):
        middle = x + 0.5 * dt * velocity(x, t)
        return x + dt * velocity(middle, t + 0.5 * dt), None

    return jax.lax.scan(step, z, jnp.arange(FLOW_STEPS) * dt)[0]


def make(observation_size: int, action_size: int) -> Learner:
    critic = common.value_network(observation_size, activation=jax.nn.mish)

    def field(config: PolicyFlowConfig) -> VelocityField:
        return VelocityField(config.policy_hidden, action_size, config.embedding_size)

    def init(key: jax.Array, config: PolicyFlowConfig):
        policy_key, value_key = jax.random.split(key)
        dummy = (jnp.zeros((1, observation_size)), jnp.zeros((1, action_size)), jnp.zeros(1))
        return {
            "policy": field(config).init(policy_key, *dummy),
            "log_std": jnp.full(action_size, jnp.log(config.initial_std)),
            "value": critic.init(value_key, config),
        }

    def velocity(params, obs, config):
        return lambda x, t: field(config).apply(params["policy"], obs, x, t)

    def act(params, aux, obs, key, config: PolicyFlowConfig):
        latent_key, noise_key = jax.random.split(key)
        z = jax.random.normal(latent_key, (*obs.shape[:-1], action_size))
        flowed = integrate(velocity(params, obs, config), z)
        std = noise_std(params)
        noise = std * jax.random.normal(noise_key, flowed.shape)
        log_prob = gaussian.gaussian_log_prob(noise, jnp.zeros_like(noise), std)
        extras = {"z": z, "flowed": flowed, "noise": noise, "log_prob": log_prob}
        return (flowed + noise) / config.action_scale, extras

    def act_deterministic(params, aux, obs, config: PolicyFlowConfig):
        flowed = integrate(velocity(params, obs, config), jnp.zeros((*obs.shape[:-1], action_size)))
        return flowed / config.action_scale

    def loss(params, old_params, aux, batch: Batch, key, config: PolicyFlowConfig):
        extras = batch.extras
        grid = time_grid()
        index = jax.random.randint(key, batch.advantage.shape, 0, 2 * FLOW_STEPS + 1)
        t = grid[index]
        x_t = (1.0 - t[..., None]) * extras["z"] + t[..., None] * extras["flowed"]
        new = field(config).apply(params["policy"], batch.obs, x_t, index, grid)
        old = jax.lax.stop_gradient(field(config).apply(old_params["policy"], batch.obs, x_t, index, grid))
        std, old_std = noise_std(params), noise_std(old_params)
        log_ratio = velocity_log_ratio(extras["noise"], new - old, std, extras["log_prob"])
        advantage = common.advantages(batch, config.normalize_advantage)
        policy_loss = common.clipped_surrogate(log_ratio, advantage, config.clip_eps)
        entropy = jnp.sum(jnp.log(std) + 0.5 * gaussian.LOG_2PI + 0.5)
        brownian = brownian_penalty(new, old, x_t, t)
        values = critic.value(params, batch.obs, config)
        clipped = batch.value + jnp.clip(values - batch.value, -config.value_clip, config.value_clip)
        value_loss = jnp.mean((batch.target - clipped) ** 2)
        total = (
            policy_loss
            - config.entropy_weight * entropy
            + config.brownian_weight * brownian
            + config.value_cost * value_loss
        )
        metrics = {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "brownian": brownian,
            "noise_std": jnp.mean(std),
            **common.ratio_metrics(log_ratio, config.clip_eps),
            "approx_kl": jnp.mean(gaussian_kl(new - old, std, old_std)),
        }
        return total, metrics

    def clone_loss(params, obs, action, key, config: PolicyFlowConfig):
        """Behaviour cloning of the flow from the latent z (t = 0) to the action (t = 1) by flow
        matching; the action is taken as it is (PolicyFlow does not squash; the environment
        clips), in the flow's units (times ``action_scale``), and the learned noise std is left
        as it is:

            L = mean |v_theta(x_t, t, s) - (a - z)|^2,  x_t = (1 - t) z + t a,  t ~ U[0, 1], z ~ N(0, I)

        averaged over action dimensions."""
        time_key, latent_key = jax.random.split(key)
        t = jax.random.uniform(time_key, action.shape[:-1])
        z = jax.random.normal(latent_key, action.shape)
        action = action * config.action_scale
        x_t = (1.0 - t[..., None]) * z + t[..., None] * action
        loss = jnp.mean((velocity(params, obs, config)(x_t, t) - (action - z)) ** 2)
        return loss, {"flow_matching_loss": loss}

    return Learner(init, act, act_deterministic, critic.value, loss, clone_loss=clone_loss)


# The reference's MultiGoal run (scripts/multigoal): lr 2e-4, w_g 0.001, w_b 0.25, and its
# agent emitting accelerations, 5 per unit action of toy/multigoal6.
PRESETS = MappingProxyType(
    {
        "multigoal6": {
            "learning_rate": 2e-4,
            "entropy_weight": 0.001,
            "brownian_weight": 0.25,
            "action_scale": 5.0,
        }
    }
)
FACTORY = LearnerFactory("policyflow", PolicyFlowConfig, make, LOOP_DEFAULTS, presets=PRESETS)
