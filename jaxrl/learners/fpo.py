"""Flow Policy Optimization (McAllister et al., "Flow Matching Policy Gradients", 2025), as its
public code (akanazawa/fpo, playground/src/flow_policy/fpo.py) defines it.

The actor is a flow-matching model (:mod:`jaxrl.actors.flow`): actions come from K Euler steps
from x_1 ~ N(0, I), so exploration is the flow's own randomness. The velocity network is an MLP
on [s, x_t, emb(t)] with emb(t) = [cos(t 2^k), sin(t 2^k)], k = 0..3 (8 features), its output
scaled by 0.25. At rollout, N draws (t_i, eps_i) are stored with each action a together with
their CFM losses l_old,i; with x_t = t eps + (1 - t) a and eps_hat = x_t + (1 - t) v_theta,

    l_theta,i = mean_dims |eps_hat - eps|^2 = (1 - t)^2 mean_dims |v_theta(x_t, t, s) - (eps - a)|^2
    rho       = exp(mean_i l_old,i - mean_i l_theta,i)
    L         = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v mean((R - V)^2)

(the reference's default "u_but_supervise_as_eps" loss: the network predicts a velocity,
supervised through x1_pred = x_t + (1 - t) v, which is the (1-t)^2-weighted velocity loss above,
our ``loss_form="noise"``; the averaged losses are exponentiated, not the per-draw ratios
averaged; the averaged log-ratio is not clamped; no entropy term).

The reference's settings, which are the defaults here: eps 0.05, N 8, K 10, output scale 0.25,
value cost 0.25, advantages standardised per minibatch, Adam at a constant 3e-4 (a loop setting
this learner sets, ``LOOP_DEFAULTS``) with no gradient clipping, a policy MLP 4x32 and a value
MLP 5x256; Playground's DM Control loop settings otherwise (2048 envs, unroll 30, 32
minibatches, 16 epochs, gamma 0.995, reward scaling 10). The deterministic (evaluation) action
integrates the flow from x_1 = 0; the environment gets tanh of the action.

Differences from the reference that remain, with reasons:
- GAE: the reference recomputes it for every minibatch with the current critic, over the
  minibatch's 30-step segments; here it is computed once per iteration with the values of the
  collection (``--advantages-per-epoch`` recomputes it before every epoch), because advantages
  and minibatching belong to the shared loop, identical for every learner compared.
- Minibatching unit: the reference minibatches whole 30-step segments (a consequence of its
  per-minibatch GAE); the loop minibatches single transitions.
- Truncation: the reference leaves time-limit steps out of its value loss and cuts GAE there;
  the loop bootstraps them from the true final observation (see :mod:`jaxrl.advantages`), which
  does not bias values at time limits.
- Observation normaliser: the reference's drops the old variance sum when it merges a batch
  (its std shrinks about as 1/sqrt(iterations)); the loop's is Welford's.
- Draw times: the paper puts t on the K-step Euler grid, as this module does by default; the
  stored version of the public fpo.py has ``discretize_t_for_training=False`` (t uniform in
  [0, 1]), which ``--time-draws uniform`` gives.
- The clip-free averaged log-ratio still passes through :func:`common.ratio_of`'s +-20 bound
  (shared by every learner): e^20 is far outside the clip range, so nothing the objective
  optimises changes, but a ratio never overflows to inf. With no tighter clamp, a sample with a
  large log-ratio (up to 20) and a negative advantage contributes a gradient up to e^20 times
  its usual size, as in the reference; values stay finite.

The defaults are the reference's. ``--loss-form velocity --learning-rate 1e-3`` (the unweighted
velocity loss at PPO's learning rate) is this suite's better setting on its tasks and the one
the pointmass preset gives it: the reference's learning rate, as BPO's, is small for massively
parallel training's few gradient steps per sample. What was measured: ``docs/learners/fpo.md``.
"""

from __future__ import annotations

from types import MappingProxyType

import jax
import jax.numpy as jnp

from jaxrl.actors import flow, gaussian
from jaxrl.config import hyper, one_of, override, positive, pytree_config, static
from jaxrl.learners import common
from jaxrl.learners.base import Batch, Learner, LearnerFactory
from jaxrl.networks import octave_time_embedding

TIME_DRAWS = ("grid", "uniform")
TIME_FREQUENCIES = 4  # the reference's embedding: cos(t 2^k), sin(t 2^k), k = 0..3
LOOP_DEFAULTS = MappingProxyType({"learning_rate": 3e-4})


@pytree_config
class FPOConfig(common.PPOFields):
    clip_eps: float = override(common.PPOFields, "clip_eps", 0.05, "PPO clip range on the CFM-loss ratio")
    num_draws: int = static(8, "(t, eps) draws stored per action (N)", positive)
    flow_steps: int = static(10, "Euler steps of the sampler (K)", positive)
    loss_form: str = static(
        "noise", "CFM loss form ((1-t)^2-weighted: the reference's)", one_of(*flow.LOSS_FORMS)
    )
    time_draws: str = static(
        "grid", "where the draws' t lie: the Euler grid or uniform in [0, 1]", one_of(*TIME_DRAWS)
    )
    output_scale: float = hyper(0.25, "multiplier on the velocity network's output", positive)
    policy_hidden: tuple[int, ...] = override(common.PPOFields, "policy_hidden", help="velocity MLP widths")


def time_embedding(t: jax.Array) -> jax.Array:
    """The reference's 8 features of t: cos(t 2^k), sin(t 2^k) for k = 0..3."""
    return octave_time_embedding(t, TIME_FREQUENCIES)


def flow_log_ratio(old_losses: jax.Array, new_losses: jax.Array) -> jax.Array:
    """mean_i l_old,i - mean_i l_theta,i over the draws' axis (last): the log of FPO's ratio."""
    return jnp.mean(old_losses, axis=-1) - jnp.mean(new_losses, axis=-1)


def draw(
    time_key: jax.Array, noise_key: jax.Array, batch: tuple[int, ...], action_size: int, config: FPOConfig
) -> tuple[jax.Array, jax.Array]:
    """N draws (t, eps) per sample: times [*batch, N] (on the Euler grid or uniform) and noise
    [*batch, N, act]."""
    draws = (*batch, config.num_draws)
    if config.time_draws == "grid":
        times = flow.time_grid(config.flow_steps)[jax.random.randint(time_key, draws, 0, config.flow_steps)]
    else:
        times = jax.random.uniform(time_key, draws)
    return times, jax.random.normal(noise_key, (*draws, action_size))


def clone_loss_of(draw_losses, action_size: int):
    """FPO's ``clone_loss`` given its per-draw CFM losses ``draw_losses(params, obs, action,
    times, noise, config)``."""

    def clone_loss(params, obs, action, key, config: FPOConfig):
        """Behaviour cloning with the CFM loss FPO's ratio is made of, on the pre-squash action
        u = atanh(clip(a, -1 + 1e-6, 1 - 1e-6)) (the environment gets tanh of the flow's
        output): L = mean over samples and N draws (t, eps), drawn as at rollout, of
        l_theta(t, eps) (``loss_form``: (1 - t)^2-weighted in the default noise form)."""
        times, noise = draw(*jax.random.split(key), obs.shape[:-1], action_size, config)
        losses = draw_losses(params, obs, gaussian.tanh_preimage(action), times, noise, config)
        return jnp.mean(losses), {"cfm_loss": jnp.mean(losses)}

    return clone_loss


def make(observation_size: int, action_size: int) -> Learner:
    critic = common.value_network(observation_size)

    def field(config: FPOConfig) -> flow.ConditionedField:
        return flow.ConditionedField(config.policy_hidden, action_size, embed=time_embedding)

    def init(key: jax.Array, config: FPOConfig):
        policy_key, value_key = jax.random.split(key)
        return {
            "policy": flow.init_field(field(config), policy_key, observation_size, action_size),
            "value": critic.init(value_key, config),
        }

    def predict(params, obs, x, t, config):
        return config.output_scale * field(config).apply(params["policy"], obs, x, t)

    def velocity(params, obs, config):
        return lambda x, t: predict(params, obs, x, t, config)

    def draw_losses(params, obs, action, times, noise, config):
        """CFM losses [batch, N] of the draws (times [batch, N], noise [batch, N, act])."""
        x_t = flow.interpolate(action[..., None, :], noise, times)
        repeated = jnp.broadcast_to(obs[..., None, :], (*times.shape, obs.shape[-1]))
        predicted = predict(params, repeated, x_t, times, config)
        return flow.cfm_loss(predicted, action[..., None, :], noise, times, config.loss_form)

    def act(params, aux, obs, key, config: FPOConfig):
        start_key, time_key, noise_key = jax.random.split(key, 3)
        batch = obs.shape[:-1]
        x1 = jax.random.normal(start_key, (*batch, action_size))
        action = flow.euler_sample(velocity(params, obs, config), x1, config.flow_steps)
        times, noise = draw(time_key, noise_key, batch, action_size, config)
        losses = draw_losses(params, obs, action, times, noise, config)
        extras = {"raw_action": action, "times": times, "noise": noise, "cfm_loss": losses}
        return jnp.tanh(action), extras

    def act_deterministic(params, aux, obs, config: FPOConfig):
        x1 = jnp.zeros((*obs.shape[:-1], action_size))
        return jnp.tanh(flow.euler_sample(velocity(params, obs, config), x1, config.flow_steps))

    def loss(params, old_params, aux, batch: Batch, key, config: FPOConfig):
        extras = batch.extras
        new_losses = draw_losses(
            params, batch.obs, extras["raw_action"], extras["times"], extras["noise"], config
        )
        log_ratio = flow_log_ratio(extras["cfm_loss"], new_losses)
        advantage = common.advantages(batch, config.normalize_advantage)
        total, metrics = common.clipped_ppo(
            log_ratio, advantage, batch, critic.value(params, batch.obs, config), config
        )
        raw_size = jnp.mean(jnp.abs(extras["raw_action"]))
        return total, {**metrics, "cfm_loss": jnp.mean(new_losses), "raw_action_size": raw_size}

    return Learner(
        init, act, act_deterministic, critic.value, loss, clone_loss=clone_loss_of(draw_losses, action_size)
    )


# Its addition to the loop's pointmass preset: its reference's defaults ((1-t)^2-weighted loss,
# learning rate 3e-4) do not learn toy/pointmass at that preset's sizes; the velocity loss at 1e-3
# does.
PRESETS = MappingProxyType({"pointmass": MappingProxyType({"loss_form": "velocity", "learning_rate": 1e-3})})
FACTORY = LearnerFactory("fpo", FPOConfig, make, LOOP_DEFAULTS, PRESETS)
