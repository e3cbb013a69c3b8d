"""GoRL (ICML 2026, arXiv 2512.02581): a Gaussian latent policy trained by PPO, decoded into
actions by a generative model that is refitted between stages.

    pi(a|s) = integral pi_theta(z|s) delta(a - tanh(g_phi(s, z))) dz,   z in R^{action size}

Encoder pi_theta(z|s) = N(mu(s), sigma(s)), sigma = clip(softplus(raw) + 1e-3, 1e-3, 10), mean
unbounded. The rollout stores z; PPO runs on the latent's ratio with the decoder frozen:

    rho = pi_theta(z|s) / pi_old(z|s)      (a Gaussian density: no tanh correction)
    L   = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v mean((R - V)^2)
          - c_ent mean(H[pi_theta(.|s)]) + z_reg (mean mu^2 + mean sigma^2)

with eps 0.15, z_reg 5e-4 and a gradient-norm clip of 0.5 in stage 0, and eps 0.3, z_reg 1e-3,
clip 1.0 after; entropy 0.01, value cost 0.25. Decoder g_phi(s, z) (an MLP 4x64 SiLU on
[normalised s, x, cos(t 2^k), sin(t 2^k) for k = 0..3]) runs deterministically from x = z:

    flow:      10 Euler steps x <- x - v_phi(x, t, s) / 10 from t = 1 to 0, trained by CFM,
               x_t = t eps + (1 - t) a, target eps - a, t ~ U(0, 1);
    diffusion: cosine alpha_bar_j, j = 0..9 (alpha_bar_0 = 1), eps-prediction, 9 DDIM (eta 0)
               updates j = 9 -> 0: x0 = (x - sqrt(1 - ab_j) eps_phi) / sqrt(ab_j),
               x <- sqrt(ab_{j-1}) x0 + sqrt(1 - ab_{j-1}) eps_phi, trained on
               x_j = sqrt(ab_j) a + sqrt(1 - ab_j) eps, j uniform, target eps.

The environment gets tanh(g_phi(s, z)); in stage 0 the decoder is the identity. Stages last
``stage_steps`` environment steps each (whole iterations; the last runs to the end of the
budget); by default the budget is split as the reference's 60M, 60M, 30M, 30M of its 180M (a
third, a third, a sixth, a sixth), so a smaller ``--total-steps`` keeps the reference's schedule
in proportion. At each boundary (a loop phase):
(1) fresh rollouts of ``refit_unrolls`` segments of every environment under the current encoder
and decoder, keeping (normalised s, pre-tanh decoder output); (2) a freshly initialised decoder
fitted on a random subset of ``refit_samples`` pairs (10% held out) by minibatch Adam, 8 (eps, t)
draws per pair, ``refit_epochs`` epochs, keeping the best held-out decoder and updating no more
after ``refit_patience`` epochs without improvement; (3) a freshly initialised encoder (actor,
critic, optimiser state). Evaluation decodes the mean latent.

Where this module differs from the reference code (bennidict23/GoRL), and why:
- Fresh rollouts use the current encoder, not the stage's best evaluated checkpoint: keeping a
  best copy would need evaluations inside the training program; at the end of a stage the two
  are usually close.
- The observation statistics run on through the stages (the reference rebuilds them with the
  encoder and gives the decoder the statistics of its fit data): the decoder here conditions on
  the loop's normalised observations, so both see one normalisation.
- The fresh encoder's parameters are drawn from the phase's key (the reference rebuilds it from
  its initial seed).
- The decoder's held-out split is over transitions, not episodes, and one minibatch epoch is a
  permutation of the training pairs.
Known behaviour with the CPU preset (``benchmarks/results/learning_cpu_gorl.md``,
``learning_cpu.md``; 3 seeds, flow decoder): on toy/pointmass at 1.47M steps, 58.0 +- 15.7
(flow) and 59.2 +- 15.9 (diffusion) against PPO's 86.1, at 1.81x and 1.85x PPO's wall time; on
CartpoleBalance (3M steps) 309 +- 38, CartpoleSwingup (6M) 200 +- 11 and PendulumSwingup (6M)
42.5 +- 4.6 against PPO's 732, 664 and 49.5. With the CPU preset's 61,440 steps an iteration a
stage lasts 4 to 32 iterations (the reference's 30 to 61), and each starts a fresh encoder that
must learn again through the new decoder; the budgets here are 1/60 to 1/30 of the 180M its
claim is made at. Run with the 1.5M schedule's last stage stretched to the whole remaining
budget (rows ``gorl@681625d``), it reached 320, 274 and 34.
Reference quirks deliberately not copied: its observation normaliser (from the FPO code) drops
the old variance sum, so its std shrinks like 1/sqrt(iterations); its GAE is recomputed per
minibatch over 30-step windows with truncations masked (here the loop's truncation-aware GAE).
GoRL has no ``clone_loss`` (no behaviour cloning, :mod:`jaxrl.pretrain`): its actor is a latent
policy whose actions come through a decoder refitted between stages (its aux state, not its
parameters), so dataset actions give the latent policy no target to regress onto.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import MappingProxyType

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl.actors import flow, gaussian
from jaxrl.actors.diffusion import cosine_alpha_bar
from jaxrl.config import (
    TrainConfig,
    hyper,
    non_negative,
    one_of,
    positive,
    positive_sizes,
    pytree_config,
    static,
    unit_interval,
)
from jaxrl.learners import common
from jaxrl.learners.base import (
    Batch,
    Learner,
    LearnerFactory,
    MinibatchSGD,
    Phase,
    PhaseContext,
    PhaseResult,
)
from jaxrl.networks import MLP, octave_time_embedding

DECODERS = ("flow", "diffusion")
STD_BOUNDS = (1e-3, 10.0)
TIME_FREQUENCIES = 4  # time embedding cos(t 2^k), sin(t 2^k), k = 0..3
STAGE_SHARES = (2, 2, 1, 1)  # the reference's stages of 60M, 60M, 30M and 30M steps
LOOP_DEFAULTS = MappingProxyType({"total_steps": 180_000_000})
# The CPU preset: the 1.5M steps toy/pointmass learns in (stages of 0.5M, 0.5M, 0.25M, 0.25M);
# each refit collects 8 segments of every environment (about 2 iterations' worth) and fits on
# 50k of those pairs.
CPU_PRESET = MappingProxyType(
    {
        "total_steps": 1_500_000,
        "refit_unrolls": 8,
        "refit_samples": 50_000,
        "refit_epochs": 10,
        "refit_batch": 1024,
        "refit_patience": 5,
    }
)


def stage_sizes(value: Sequence[int]) -> str | None:
    if value == () or positive_sizes(value) is None:
        return None
    return "empty (the budget in the reference's shares) or a list of positive integers, e.g. 500000,500000"


@pytree_config
class GoRLConfig(gaussian.GaussianStdFields):
    decoder: str = static("flow", "decoder: a flow or a DDIM diffusion model", one_of(*DECODERS))
    clip_eps_first: float = hyper(0.15, "PPO clip range on the latent's ratio in stage 0", positive)
    clip_eps: float = hyper(0.3, "PPO clip range on the latent's ratio after stage 0", positive)
    z_reg_first: float = hyper(5e-4, "latent regulariser weight in stage 0", non_negative)
    z_reg: float = hyper(1e-3, "latent regulariser weight after stage 0", non_negative)
    grad_clip_first: float = hyper(0.5, "gradient-norm clip in stage 0 (with --max-grad-norm)", positive)
    grad_clip: float = hyper(1.0, "gradient-norm clip after stage 0 (with --max-grad-norm)", positive)
    entropy_cost: float = hyper(1e-2, "weight of the latent's entropy bonus", non_negative)
    value_cost: float = hyper(0.25, "weight of the value loss", positive)
    normalize_advantage: bool = static(True, "standardise advantages per minibatch")
    policy_hidden: tuple[int, ...] = static((32, 32, 32, 32), "encoder MLP widths", positive_sizes)
    value_hidden: tuple[int, ...] = static((256,) * 5, "value MLP widths", positive_sizes)
    decoder_hidden: tuple[int, ...] = static((64, 64, 64, 64), "decoder MLP widths", positive_sizes)
    decoder_steps: int = static(10, "flow Euler steps / diffusion schedule length", positive)
    stage_steps: tuple[int, ...] = static(
        (), "environment steps of each stage (none given: the budget in the reference's shares)", stage_sizes
    )
    refit_unrolls: int = static(320, "segments per environment collected for a decoder refit", positive)
    refit_samples: int = static(10_000_000, "pairs (at most) a decoder refit uses", positive)
    refit_validation: float = static(0.1, "share of the refit pairs held out", unit_interval)
    refit_epochs: int = static(50, "decoder refit epochs", positive)
    refit_batch: int = static(8192, "decoder refit minibatch size", positive)
    refit_patience: int = static(20, "epochs without held-out improvement before updates stop", positive)
    refit_draws: int = static(8, "(noise, time) draws per pair in the decoder's loss", positive)
    refit_learning_rate: float = hyper(3e-4, "decoder refit Adam learning rate", positive)


class DecoderField(nn.Module):
    """g_phi's network: an MLP (SiLU) on [observation, x, cos(t 2^k), sin(t 2^k)]."""

    hidden: Sequence[int]
    out: int

    @nn.compact
    def __call__(self, obs: jax.Array, x: jax.Array, t: jax.Array) -> jax.Array:
        embedding = octave_time_embedding(jnp.broadcast_to(t, x.shape[:-1]), TIME_FREQUENCIES)
        features = jnp.concatenate([obs, x, embedding], axis=-1)
        return MLP(self.hidden, self.out, activation=nn.silu)(features)


def alpha_bars(num_steps: int) -> jax.Array:
    """ab_j for j = 0..K-1 (ab_0 = 1), the cosine schedule's first K entries."""
    return jnp.asarray(cosine_alpha_bar(num_steps)[:num_steps], jnp.float32)


def ddim_decode(predict_noise, z: jax.Array, num_steps: int) -> jax.Array:
    """K - 1 deterministic DDIM updates j = K-1 -> 0 from x = z; ``predict_noise(x, t)``."""
    ab = alpha_bars(num_steps)

    def step(x, j):
        eps = predict_noise(x, j / num_steps)
        x0 = (x - jnp.sqrt(1.0 - ab[j]) * eps) / jnp.sqrt(ab[j])
        return jnp.sqrt(ab[j - 1]) * x0 + jnp.sqrt(1.0 - ab[j - 1]) * eps, None

    return jax.lax.scan(step, z, jnp.arange(num_steps - 1, 0, -1))[0]


def init_decoder(key: jax.Array, observation_size: int, action_size: int, config: GoRLConfig):
    dummy = (jnp.zeros((1, observation_size)), jnp.zeros((1, action_size)), jnp.zeros(1))
    return DecoderField(config.decoder_hidden, action_size).init(key, *dummy)


def decoder_loss(decoder, pairs, key: jax.Array, config: GoRLConfig) -> jax.Array:
    """The decoder's mean loss over ``refit_draws`` (noise, time) draws per (s, a) pair: CFM's
    velocity regression (flow) or the noise regression (diffusion)."""
    obs, target = pairs
    action_size = target.shape[-1]
    field = DecoderField(config.decoder_hidden, action_size)
    time_key, noise_key = jax.random.split(key)
    draws = (target.shape[0], config.refit_draws)
    noise = jax.random.normal(noise_key, (*draws, action_size))
    obs = jnp.broadcast_to(obs[:, None], (*draws, obs.shape[-1]))
    target = target[:, None]
    if config.decoder == "flow":
        t = jax.random.uniform(time_key, draws)
        velocity = field.apply(decoder, obs, flow.interpolate(target, noise, t), t)
        return jnp.mean(flow.cfm_loss(velocity, target, noise, t, "velocity"))
    j = jax.random.randint(time_key, draws, 0, config.decoder_steps)
    ab = alpha_bars(config.decoder_steps)[j][..., None]
    x = jnp.sqrt(ab) * target + jnp.sqrt(1.0 - ab) * noise
    predicted = field.apply(decoder, obs, x, j / config.decoder_steps)
    return jnp.mean((predicted - noise) ** 2)


def fit_decoder(sgd: MinibatchSGD, key: jax.Array, pairs, config: GoRLConfig):
    """A fresh decoder fitted by ``sgd`` on a random subset of ``pairs`` (normalised s,
    pre-tanh a), with a held-out split and early stopping; returns the best held-out decoder and
    the held-out losses of the fresh decoder and of the best one."""
    total = pairs[0].shape[0]
    samples = min(config.refit_samples, total)
    held_out = max(1, int(samples * config.refit_validation))
    train = samples - held_out
    batch = min(config.refit_batch, train)
    held_batch = min(batch, held_out)
    subset_key, init_key, epochs_key, held_key = jax.random.split(key, 4)
    chosen = jax.random.permutation(subset_key, total)[:samples]
    train_rows = chosen[held_out:]
    held_rows = chosen[: held_out // held_batch * held_batch].reshape(-1, held_batch)
    optimizer = optax.adam(config.refit_learning_rate)

    def objective(decoder, minibatch, key):
        loss = decoder_loss(decoder, minibatch, key, config)
        return loss, {"decoder_loss": loss}

    def held_out_loss(decoder):  # the same draws every epoch: losses compare
        keys = jax.random.split(held_key, held_rows.shape[0])
        rows_loss = lambda inputs: decoder_loss(  # noqa: E731
            decoder, jax.tree.map(lambda x: x[inputs[0]], pairs), inputs[1], config
        )
        return jnp.mean(jax.lax.map(rows_loss, (held_rows, keys)))

    def epoch(carry, key):
        decoder, opt_state, best, best_loss, waited = carry
        order_key, step_key = jax.random.split(key)
        order = jax.random.permutation(order_key, train)[: train // batch * batch]
        rows = train_rows[order].reshape(-1, batch)
        updated, updated_state, _ = sgd(objective, optimizer, decoder, opt_state, pairs, rows, step_key)
        active = waited < config.refit_patience
        decoder, opt_state = jax.tree.map(
            lambda new, old: jnp.where(active, new, old), (updated, updated_state), (decoder, opt_state)
        )
        loss = held_out_loss(decoder)
        better = loss < best_loss
        best = jax.tree.map(lambda new, old: jnp.where(better, new, old), decoder, best)
        waited = jnp.where(better, 0, waited + 1)
        return (decoder, opt_state, best, jnp.minimum(loss, best_loss), waited), loss

    decoder = init_decoder(init_key, pairs[0].shape[-1], pairs[1].shape[-1], config)
    initial_loss = held_out_loss(decoder)
    start = (decoder, optimizer.init(decoder), decoder, initial_loss, jnp.zeros((), jnp.int32))
    epoch_keys = jax.random.split(epochs_key, config.refit_epochs)
    (_, _, best, best_loss, _), _ = jax.lax.scan(epoch, start, epoch_keys)
    return best, initial_loss, best_loss


def stage_iterations(config: TrainConfig) -> tuple[int, ...]:
    """The iterations after which each stage ends and the next begins (whole iterations, one at
    least): ``stage_steps``, or the budget's iterations in :data:`STAGE_SHARES`."""
    if config.learner.stage_steps:
        lengths = [steps // config.steps_per_iteration for steps in config.learner.stage_steps]
    else:
        lengths = [config.num_iterations * share // sum(STAGE_SHARES) for share in STAGE_SHARES]
    return tuple(int(point) for point in np.cumsum([max(1, n) for n in lengths])[:-1])


def make(observation_size: int, action_size: int) -> Learner:
    model = gaussian.actor_critic(observation_size, action_size)

    def field(config: GoRLConfig) -> DecoderField:
        return DecoderField(config.decoder_hidden, action_size)

    def init_aux(key: jax.Array, config: GoRLConfig):
        decoder = init_decoder(key, observation_size, action_size, config)
        return {"stage": jnp.zeros((), jnp.int32), "decoder": decoder}

    def decode(aux, obs, z, config: GoRLConfig) -> jax.Array:
        """The pre-tanh action: z in stage 0, g_phi(s, z) after."""
        network = lambda x, t: field(config).apply(aux["decoder"], obs, x, t)  # noqa: E731
        if config.decoder == "flow":
            decoded = flow.euler_sample(network, z, config.decoder_steps)
        else:
            decoded = ddim_decode(network, z, config.decoder_steps)
        return jnp.where(aux["stage"] == 0, z, decoded)

    def distribution(params, obs, config: GoRLConfig):
        mean, std = model.distribution(params, obs, config)
        return mean, jnp.clip(std, *STD_BOUNDS)

    def value(params, obs, config: GoRLConfig):
        return model.critic(params, obs, config)[..., 0]

    def act(params, aux, obs, key, config: GoRLConfig):
        mean, std = distribution(params, obs, config)
        z = gaussian.sample(key, mean, std)
        raw = decode(aux, obs, z, config)
        extras = {"latent": z, "log_prob": gaussian.gaussian_log_prob(z, mean, std), "raw_action": raw}
        return jnp.tanh(raw), extras

    def act_deterministic(params, aux, obs, config: GoRLConfig):
        return jnp.tanh(decode(aux, obs, distribution(params, obs, config)[0], config))

    def loss(params, old_params, aux, batch: Batch, key, config: GoRLConfig):
        first = aux["stage"] == 0
        staged = dataclasses.replace(
            config, clip_eps=jnp.where(first, config.clip_eps_first, config.clip_eps)
        )
        mean, std = distribution(params, batch.obs, config)
        log_ratio = gaussian.gaussian_log_prob(batch.extras["latent"], mean, std) - batch.extras["log_prob"]
        advantage = common.advantages(batch, config.normalize_advantage)
        total, metrics = common.clipped_ppo(
            log_ratio, advantage, batch, value(params, batch.obs, config), staged
        )
        entropy = jnp.mean(gaussian.gaussian_entropy(std))
        latent_size = jnp.mean(mean**2) + jnp.mean(std**2)
        z_reg = jnp.where(first, config.z_reg_first, config.z_reg)
        total = total - config.entropy_cost * entropy + z_reg * latent_size
        return total, {**metrics, "entropy": entropy, "latent_size": latent_size}

    def max_grad_norm(aux, config: GoRLConfig):
        return jnp.where(aux["stage"] == 0, config.grad_clip_first, config.grad_clip)

    def next_stage(context: PhaseContext) -> PhaseResult:
        config = context.config.learner
        collect_key, fit_key, encoder_key = jax.random.split(context.key, 3)
        env_state, trajectories = context.collect(
            context.params,
            context.aux,
            context.obs_stats,
            context.env_state,
            collect_key,
            config.refit_unrolls,
        )
        obs = context.observe(context.obs_stats, trajectories.obs.reshape(-1, observation_size))
        pairs = (obs, trajectories.extras["raw_action"].reshape(-1, action_size))
        decoder, _, _ = fit_decoder(context.sgd, fit_key, pairs, config)
        params = context.init_params(encoder_key)
        aux = {"stage": context.aux["stage"] + 1, "decoder": decoder}
        return PhaseResult(params, context.init_opt_state(params), aux, context.obs_stats, env_state)

    phases = (Phase(stage_iterations, next_stage),)
    return Learner(model.init, act, act_deterministic, value, loss, init_aux, phases, max_grad_norm)


FACTORY = LearnerFactory("gorl", GoRLConfig, make, LOOP_DEFAULTS, MappingProxyType({"cpu": CPU_PRESET}))
