"""Restructurings for speed that change floating-point order only, against the computation they
replaced, with the bound each is held to. (Those that change no number at all are checked by
``python -m benchmarks.fingerprint --against``.)

ReinFlow's loss took its entropy from a second pass of the noise network over the K step times;
it now takes the stds that rescoring the chain computed. The forward values are the same
operations on the same inputs; the gradient sums the two uses' cotangents before the noise
network's backward pass instead of after two, a change of summation order: per-parameter
gradients agree to 1e-5 relative (1e-7 absolute).

PolicyFlow's velocity field ran its time embedding (Fourier features, then a 64-wide two-layer
MLP: most of the field's multiply-adds at these widths) on every row, though it depends on t
alone. Sampling now runs it once per step for the whole batch (the same values to the bit:
acting is unchanged), and the loss once per point of the 21-time grid, gathered per row. The
forward values are the same; the embedding's gradient is summed over the grid's rows instead
of the minibatch's, a change of summation order: gradients agree to 1e-5 of each leaf's
largest element. How far the two drift apart over a whole tiny run is in
``benchmarks/results/fingerprint.md``.
"""

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl
from jaxrl.actors import chain, flow, gaussian
from jaxrl.learners import common, policyflow, reinflow
from jaxrl.learners.base import Batch
from jaxrl.registry import make_learner

OBS, ACT, BATCH = 3, 2, 64


def separate_entropy_loss(learner, action_size: int):
    """ReinFlow's loss as it was: rescoring, then the noise network again for the entropy."""

    def loss(params, old_params, aux, batch: Batch, key, config):
        field = flow.ConditionedField(config.policy_hidden, action_size)
        noise = reinflow.NoiseScale(config.policy_hidden, action_size)
        times = flow.time_grid(config.flow_steps)

        def step(x, k):
            mean = x - field.apply(params["policy"], batch.obs, x, times[k]) / config.flow_steps
            return mean, noise.apply(params["noise"], batch.obs, times[k], config.min_noise, config.max_noise)

        stored = batch.extras["chain"]
        unclamped = reinflow.chain_log_prob(stored, chain.rescore(step, stored))
        log_ratio = reinflow.clamped(unclamped, config) - batch.extras["log_prob"]
        advantage = common.advantages(batch, config.normalize_advantage)
        total, metrics = common.clipped_ppo(
            log_ratio, advantage, batch, learner.value(params, batch.obs, config), config
        )
        stds = jax.vmap(
            lambda t: noise.apply(params["noise"], batch.obs, t, config.min_noise, config.max_noise)
        )(times)
        chain_entropy = jnp.mean(reinflow.entropy_rate(jnp.moveaxis(stds, 0, -2)))
        return total - config.entropy_cost * chain_entropy, metrics

    return learner._replace(loss=loss)


def a_batch(learner, params, config):
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    obs = jax.random.normal(keys[0], (BATCH, OBS))
    action, extras = learner.act(params, {}, obs, keys[1], config)
    extras = {**extras, "log_prob": extras["log_prob"] - 0.05 * jax.random.normal(keys[2], (BATCH,))}
    advantage = jax.random.normal(keys[3], (BATCH,))
    return Batch(obs, action, extras, advantage, advantage + 1.0, jnp.zeros(BATCH))


def test_reinflow_loss_with_the_rescored_stds_matches_the_separate_entropy_pass():
    config = reinflow.ReinFlowConfig(flow_steps=4, policy_hidden=(16, 16), value_hidden=(16,))
    learner = make_learner("reinflow", OBS, ACT)
    before = separate_entropy_loss(learner, ACT)
    params = learner.init(jax.random.PRNGKey(0), config)
    batch = a_batch(learner, params, config)
    key = jax.random.PRNGKey(2)
    (new, new_metrics), new_grads = jax.value_and_grad(learner.loss, has_aux=True)(
        params, params, {}, batch, key, config
    )
    (old, _), old_grads = jax.value_and_grad(before.loss, has_aux=True)(
        params, params, {}, batch, key, config
    )
    np.testing.assert_allclose(new, old, rtol=1e-6)
    assert float(new_metrics["entropy"]) != 0.0
    for a, b in zip(jax.tree.leaves(new_grads), jax.tree.leaves(old_grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def per_row_embedding_loss(learner, action_size: int):
    """PolicyFlow's loss as it was: the time embedding evaluated on every row's t."""

    def loss(params, old_params, aux, batch: Batch, key, config):
        field = policyflow.VelocityField(config.policy_hidden, action_size, config.embedding_size)
        extras = batch.extras
        t = policyflow.time_grid()[
            jax.random.randint(key, batch.advantage.shape, 0, 2 * policyflow.FLOW_STEPS + 1)
        ]
        x_t = (1.0 - t[..., None]) * extras["z"] + t[..., None] * extras["flowed"]
        new = field.apply(params["policy"], batch.obs, x_t, t)
        old = jax.lax.stop_gradient(field.apply(old_params["policy"], batch.obs, x_t, t))
        std, old_std = policyflow.noise_std(params), policyflow.noise_std(old_params)
        log_ratio = policyflow.velocity_log_ratio(extras["noise"], new - old, std, extras["log_prob"])
        advantage = common.advantages(batch, config.normalize_advantage)
        policy_loss = common.clipped_surrogate(log_ratio, advantage, config.clip_eps)
        entropy = jnp.sum(jnp.log(std) + 0.5 * gaussian.LOG_2PI + 0.5)
        brownian = policyflow.brownian_penalty(new, old, x_t, t)
        values = learner.value(params, batch.obs, config)
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
            "approx_kl": jnp.mean(policyflow.gaussian_kl(new - old, std, old_std)),
        }
        return total, metrics

    return learner._replace(loss=loss)


def test_policyflow_loss_with_the_grid_embedding_matches_the_per_row_embedding():
    config = jaxrl.make_config("policyflow", env="CartpoleBalance", policy_hidden=(32, 32)).learner
    learner = make_learner("policyflow", OBS, ACT)
    before = per_row_embedding_loss(learner, ACT)
    params = learner.init(jax.random.PRNGKey(0), config)
    moved = jax.tree.map(lambda x: 1.01 * x, params)
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    obs = jax.random.normal(keys[0], (BATCH, OBS))
    action, extras = learner.act(params, {}, obs, keys[1], config)
    advantage = jax.random.normal(keys[2], (BATCH,))
    batch = Batch(obs, action, extras, advantage, advantage + 1.0, jnp.zeros(BATCH))

    def value_and_grad(loss):
        return jax.value_and_grad(loss, has_aux=True)(moved, params, {}, batch, jax.random.PRNGKey(2), config)

    (new, new_metrics), new_grads = value_and_grad(learner.loss)
    (old, old_metrics), old_grads = value_and_grad(before.loss)
    assert float(new) == float(old) and float(new_metrics["approx_kl"]) == float(old_metrics["approx_kl"])
    for a, b in zip(jax.tree.leaves(new_grads), jax.tree.leaves(old_grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(jnp.max(jnp.abs(b))))
