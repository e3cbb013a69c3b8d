"""GoRL's decoder: a deterministic generative map a = g_phi(s, z) from a latent z to a pre-squash
action, decoded as a flow or a DDIM diffusion model from x = z, and its supervised refit.

The network is an MLP (SiLU) on [s, x, cos(t 2^k), sin(t 2^k) for k = 0..3] (a
:class:`flow.ConditionedField`). As a flow it takes K Euler steps x <- x - v_phi(x, t, s) / K
from t = 1 to 0 (:func:`flow.euler_sample`) and is trained by CFM's velocity regression
(:func:`flow.cfm_loss`); as a diffusion model it predicts the noise on the first K entries of
the cosine schedule alpha_bar_j (alpha_bar_0 = 1, :func:`diffusion.cosine_alpha_bar`), is
trained on x_j = sqrt(ab_j) a + sqrt(1 - ab_j) eps, j uniform, with target eps, and decodes by
K - 1 deterministic DDIM updates j = K-1 -> 0. :func:`fit` trains a freshly initialised decoder
on (s, a) pairs by minibatch Adam with a held-out split and early stopping. Decoding injects no
noise and has no likelihood, unlike :mod:`jaxrl.actors.diffusion`'s chains: exploration and
the PPO ratio belong to the latent policy, and this module deliberately knows nothing of it, of
stages, of collecting the pairs or of any RL loss (those are :mod:`jaxrl.learners.gorl`'s).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import optax

from jaxrl.actors import flow
from jaxrl.actors.diffusion import cosine_alpha_bar
from jaxrl.config import hyper, one_of, positive, positive_sizes, static, unit_interval
from jaxrl.networks import octave_time_embedding

if TYPE_CHECKING:
    from jaxrl.learners.base import MinibatchSGD

DECODERS = ("flow", "diffusion")
TIME_FREQUENCIES = 4  # time embedding cos(t 2^k), sin(t 2^k), k = 0..3

Params = Any
Pairs = tuple[jax.Array, jax.Array]  # (observations [N, obs], pre-squash actions [N, act])
Network = Callable[[jax.Array, jax.Array], jax.Array]  # (x, t) -> velocity or noise


@dataclasses.dataclass(frozen=True)
class DecoderFields:
    """The config fields of the decoder and its refit; a learner's config inherits them."""

    decoder: str = static("flow", "decoder: a flow or a DDIM diffusion model", one_of(*DECODERS))
    decoder_hidden: tuple[int, ...] = static((64, 64, 64, 64), "decoder MLP widths", positive_sizes)
    decoder_steps: int = static(10, "flow Euler steps / diffusion schedule length", positive)
    refit_samples: int = static(10_000_000, "pairs (at most) a decoder refit uses", positive)
    refit_validation: float = static(0.1, "share of the refit pairs held out", unit_interval)
    refit_epochs: int = static(50, "decoder refit epochs", positive)
    refit_batch: int = static(8192, "decoder refit minibatch size", positive)
    refit_patience: int = static(20, "epochs without held-out improvement before updates stop", positive)
    refit_draws: int = static(8, "(noise, time) draws per pair in the decoder's loss", positive)
    refit_learning_rate: float = hyper(3e-4, "decoder refit Adam learning rate", positive)


def time_features(t: jax.Array) -> jax.Array:
    """The reference's 8 features of t: cos(t 2^k), sin(t 2^k) for k = 0..3."""
    return octave_time_embedding(t, TIME_FREQUENCIES)


def field(config: DecoderFields, action_size: int) -> flow.ConditionedField:
    """g_phi's network: an MLP (SiLU) on [observation, x, time features]."""
    return flow.ConditionedField(config.decoder_hidden, action_size, embed=time_features)


def init(key: jax.Array, observation_size: int, action_size: int, config: DecoderFields) -> Params:
    """A freshly initialised decoder's parameters."""
    return flow.init_field(field(config, action_size), key, observation_size, action_size)


def network(params: Params, obs: jax.Array, config: DecoderFields, action_size: int) -> Network:
    """The decoder's field at observations ``obs`` as a function of (x, t)."""
    return lambda x, t: field(config, action_size).apply(params, obs, x, t)


def alpha_bars(num_steps: int) -> jax.Array:
    """ab_j for j = 0..K-1 (ab_0 = 1), the cosine schedule's first K entries."""
    return jnp.asarray(cosine_alpha_bar(num_steps)[:num_steps], jnp.float32)


def ddim_decode(predict_noise: Network, z: jax.Array, num_steps: int) -> jax.Array:
    """K - 1 deterministic DDIM updates j = K-1 -> 0 from x = z; ``predict_noise(x, t)``."""
    ab = alpha_bars(num_steps)

    def step(x, j):
        eps = predict_noise(x, j / num_steps)
        x0 = (x - jnp.sqrt(1.0 - ab[j]) * eps) / jnp.sqrt(ab[j])
        return jnp.sqrt(ab[j - 1]) * x0 + jnp.sqrt(1.0 - ab[j - 1]) * eps, None

    return jax.lax.scan(step, z, jnp.arange(num_steps - 1, 0, -1))[0]


def decode(params: Params, obs: jax.Array, z: jax.Array, config: DecoderFields) -> jax.Array:
    """g_phi(s, z), the pre-squash action: the flow or the DDIM chain run from x = z."""
    predict = network(params, obs, config, z.shape[-1])
    if config.decoder == "flow":
        return flow.euler_sample(predict, z, config.decoder_steps)
    return ddim_decode(predict, z, config.decoder_steps)


def velocity_loss(predict: Network, action: jax.Array, noise: jax.Array, t: jax.Array) -> jax.Array:
    """CFM's mean velocity regression at x_t = t eps + (1 - t) a, target eps - a."""
    velocity = predict(flow.interpolate(action, noise, t), t)
    return jnp.mean(flow.cfm_loss(velocity, action, noise, t, "velocity"))


def noise_loss(
    predict: Network, action: jax.Array, noise: jax.Array, j: jax.Array, num_steps: int
) -> jax.Array:
    """The mean noise regression at x_j = sqrt(ab_j) a + sqrt(1 - ab_j) eps, target eps."""
    ab = alpha_bars(num_steps)[j][..., None]
    x = jnp.sqrt(ab) * action + jnp.sqrt(1.0 - ab) * noise
    return jnp.mean((predict(x, j / num_steps) - noise) ** 2)


def loss(params: Params, pairs: Pairs, key: jax.Array, config: DecoderFields) -> jax.Array:
    """The decoder's mean loss over ``refit_draws`` (noise, time) draws per (s, a) pair: CFM's
    velocity regression (flow) or the noise regression (diffusion)."""
    obs, target = pairs
    action_size = target.shape[-1]
    time_key, noise_key = jax.random.split(key)
    draws = (target.shape[0], config.refit_draws)
    noise = jax.random.normal(noise_key, (*draws, action_size))
    obs = jnp.broadcast_to(obs[:, None], (*draws, obs.shape[-1]))
    predict = network(params, obs, config, action_size)
    if config.decoder == "flow":
        return velocity_loss(predict, target[:, None], noise, jax.random.uniform(time_key, draws))
    j = jax.random.randint(time_key, draws, 0, config.decoder_steps)
    return noise_loss(predict, target[:, None], noise, j, config.decoder_steps)


def select(condition: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``condition`` holds, else ``old``, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


def refit_rows(key: jax.Array, total: int, config: DecoderFields) -> tuple[jax.Array, jax.Array]:
    """A random subset of ``refit_samples`` of ``total`` pairs split into training rows [T] and
    held-out rows [M, B] (whole minibatches of at most ``refit_batch``; at least one row held out)."""
    samples = min(config.refit_samples, total)
    held_out = max(1, int(samples * config.refit_validation))
    held_batch = min(config.refit_batch, samples - held_out, held_out)
    chosen = jax.random.permutation(key, total)[:samples]
    return chosen[held_out:], chosen[: held_out // held_batch * held_batch].reshape(-1, held_batch)


def fit(
    sgd: MinibatchSGD, key: jax.Array, pairs: Pairs, config: DecoderFields
) -> tuple[Params, jax.Array, jax.Array]:
    """A fresh decoder fitted by ``sgd`` on a random subset of ``pairs`` (normalised s,
    pre-tanh a), with a held-out split and early stopping; returns the best held-out decoder and
    the held-out losses of the fresh decoder and of the best one."""
    subset_key, init_key, epochs_key, held_key = jax.random.split(key, 4)
    train_rows, held_rows = refit_rows(subset_key, pairs[0].shape[0], config)
    train = train_rows.shape[0]
    batch = min(config.refit_batch, train)
    optimizer = optax.adam(config.refit_learning_rate)

    def objective(params, minibatch, key):
        value = loss(params, minibatch, key, config)
        return value, {"decoder_loss": value}

    def held_out_loss(params):  # the same draws every epoch: losses compare
        keys = jax.random.split(held_key, held_rows.shape[0])
        rows_loss = lambda inputs: loss(  # noqa: E731
            params, jax.tree.map(lambda x: x[inputs[0]], pairs), inputs[1], config
        )
        return jnp.mean(jax.lax.map(rows_loss, (held_rows, keys)))

    def epoch(carry, key):
        params, opt_state, best, best_loss, waited = carry
        order_key, step_key = jax.random.split(key)
        order = jax.random.permutation(order_key, train)[: train // batch * batch]
        rows = train_rows[order].reshape(-1, batch)
        updated, updated_state, _ = sgd(objective, optimizer, params, opt_state, pairs, rows, step_key)
        active = waited < config.refit_patience
        params, opt_state = select(active, (updated, updated_state), (params, opt_state))
        held = held_out_loss(params)
        better = held < best_loss
        best = select(better, params, best)
        waited = jnp.where(better, 0, waited + 1)
        return (params, opt_state, best, jnp.minimum(held, best_loss), waited), held

    params = init(init_key, pairs[0].shape[-1], pairs[1].shape[-1], config)
    initial_loss = held_out_loss(params)
    start = (params, optimizer.init(params), params, initial_loss, jnp.zeros((), jnp.int32))
    epoch_keys = jax.random.split(epochs_key, config.refit_epochs)
    (_, _, best, best_loss, _), _ = jax.lax.scan(epoch, start, epoch_keys)
    return best, initial_loss, best_loss
