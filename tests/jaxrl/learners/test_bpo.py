"""BPO's loss against hand computation, its median head, its loop defaults, and that it learns."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxrl
from jaxrl.learners import bpo
from jaxrl.learners.base import Batch
from jaxrl.networks import MLP
from jaxrl.registry import make_learner
from tests import hand_computed


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_target_ratio_by_hand_including_the_clamp():
    gap = jnp.array([-100.0, -1.0, 0.0, 0.5, 100.0])
    # gap / lambda = [-200, -2, 0, 1, 200]; the clamp turns +-200 into +-10.
    expected = 1 - 0.2 + 0.4 * sigmoid(np.array([-10.0, -2.0, 0.0, 1.0, 10.0]))
    np.testing.assert_allclose(bpo.target_ratio(gap, 0.2, 0.5), expected, rtol=1e-6)
    # Without the clamp the extremes would be 0.8 and 1.2 to float precision; with it they are not.
    assert float(bpo.target_ratio(gap, 0.2, 0.5)[-1]) < 1.2 - 1e-5


def test_smooth_pinball_by_hand():
    x = np.array([-3.0, -0.5, 0.0, 2.0, 40.0])
    expected = np.log1p(np.exp(-np.abs(x))) + 0.5 * np.abs(x)
    np.testing.assert_allclose(bpo.smooth_pinball(jnp.asarray(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(expected, np.log(2 * np.cosh(x / 2)), rtol=1e-6)


def test_bpo_loss_equals_hand_computed_value():
    config = bpo.BPOConfig(
        clip_eps=0.25,
        barrier_lambda=0.5,
        value_cost=0.5,
        median_cost=0.7,
        entropy_cost=0.01,
        policy_hidden=(8,),
        value_hidden=(8,),
        std_param="state",  # the tanh-normal option, whose density hand_computed writes out
        squash="tanh",
    )
    learner = make_learner("bpo", 3, 2)
    params = learner.init(jax.random.PRNGKey(0), config)
    old_log_prob = jnp.array([-2.0, -1.0, -3.0, -2.5, -0.5, -1.5])
    # Returns far above and below the median head exercise both sides of the +-10 clamp.
    target = jnp.array([0.5, 30.0, -1.0, 2.0, -40.0, 0.1])
    obs, raw_action, batch = hand_computed.gaussian_batch(old_log_prob, target, target)
    key = jax.random.PRNGKey(3)
    total, metrics = learner.loss(params, params, {}, batch, key, config)

    log_prob, entropy, _ = hand_computed.tanh_normal(params["policy"], (8,), obs, raw_action, key)
    ratio = np.exp(log_prob - np.asarray(old_log_prob))
    value = np.asarray(MLP((8,), 1).apply(params["value"], obs))[:, 0]
    median = np.asarray(MLP((8,), 1).apply(params["median"], obs))[:, 0]
    returns = np.asarray(target)
    scaled_gap = np.clip((returns - median) / 0.5, -10, 10)
    assert scaled_gap.min() == -10 and scaled_gap.max() == 10
    target_ratio = 1 - 0.25 + 0.5 * sigmoid(scaled_gap)
    policy_loss = np.mean(np.abs((target_ratio - ratio) * (returns - value)))
    value_loss = np.mean((returns - value) ** 2)
    residual = np.abs(returns - median)
    median_loss = np.mean(np.log1p(np.exp(-residual)) + 0.5 * residual)
    expected = policy_loss + 0.5 * value_loss + 0.7 * median_loss - 0.01 * entropy
    np.testing.assert_allclose(metrics["policy_loss"], policy_loss, rtol=1e-4)
    np.testing.assert_allclose(metrics["value_loss"], value_loss, rtol=1e-4)
    np.testing.assert_allclose(metrics["median_loss"], median_loss, rtol=1e-4)
    np.testing.assert_allclose(total, expected, rtol=1e-4)


def test_policy_gradient_does_not_move_the_critic():
    config = bpo.BPOConfig(policy_hidden=(8,), value_hidden=(8,), value_cost=1e-9, median_cost=1e-9)
    learner = make_learner("bpo", 3, 2)
    params = learner.init(jax.random.PRNGKey(0), config)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 3))
    raw_action = jax.random.normal(jax.random.PRNGKey(2), (4, 2))
    returns = jnp.array([3.0, -2.0, 5.0, 0.0])
    extras = {"raw_action": raw_action, "log_prob": jnp.full(4, -2.0)}
    batch = Batch(obs, jnp.tanh(raw_action), extras, returns, returns, returns)
    grads = jax.grad(lambda p: learner.loss(p, p, {}, batch, jax.random.PRNGKey(3), config)[0])(params)
    critic_norm = optax.global_norm((grads["value"], grads["median"]))
    assert float(optax.global_norm((grads["policy"], grads["log_std"]))) > 1e-3
    assert float(critic_norm) < 1e-6, "J_P must not train V or m (both enter under stop-gradient)"


def test_median_head_converges_to_the_sample_median_not_the_mean():
    config = bpo.BPOConfig(policy_hidden=(8,), value_hidden=(16,))
    learner = make_learner("bpo", 3, 1)
    params = learner.init(jax.random.PRNGKey(0), config)
    # One state, skewed returns (log-normal, scale 20): median ~20, mean ~33.
    returns = 20.0 * jnp.exp(jax.random.normal(jax.random.PRNGKey(1), (512,)))
    obs = jnp.zeros((512, 3))
    extras = {"raw_action": jnp.zeros((512, 1)), "log_prob": jnp.zeros(512)}
    batch = Batch(obs, jnp.zeros((512, 1)), extras, returns, returns, returns)
    optimizer = optax.adam(3e-2)

    @jax.jit
    def step(params, opt_state, key):
        grads, _ = jax.grad(learner.loss, has_aux=True)(params, params, {}, batch, key, config)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    opt_state = optimizer.init(params)
    for key in jax.random.split(jax.random.PRNGKey(2), 3000):
        params, opt_state = step(params, opt_state, key)
    value = float(MLP((16,), 1).apply(params["value"], obs[:1])[0, 0])
    median = float(MLP((16,), 1).apply(params["median"], obs[:1])[0, 0])
    sample_median, sample_mean = float(jnp.median(returns)), float(jnp.mean(returns))
    assert sample_mean - sample_median > 8.0  # the test distinguishes the two
    assert abs(median - sample_median) < 1.0, (median, sample_median, sample_mean)
    assert abs(value - sample_mean) < 1.0, (value, sample_mean)


def test_default_actor_is_the_references_global_std_gaussian_with_clipped_actions():
    config = bpo.BPOConfig(policy_hidden=(8,), value_hidden=(8,))
    assert (config.std_param, config.squash, config.initial_std) == ("global", "clip", 1.0)
    learner = make_learner("bpo", 3, 2)
    params = learner.init(jax.random.PRNGKey(0), config)
    np.testing.assert_allclose(params["log_std"], np.zeros(2))  # std 1 at the start
    model = bpo.gaussian.actor_critic(3, 2)
    obs = 10.0 * jax.random.normal(jax.random.PRNGKey(1), (64, 3))
    params = {**params, "log_std": jnp.array([-1.0, 0.5])}
    mean, std = model.distribution(params, obs, config)
    # The std depends on the parameter only, never on the state.
    np.testing.assert_allclose(std, np.broadcast_to(np.exp([-1.0, 0.5]) + config.min_std, (64, 2)), rtol=1e-6)
    assert float(jnp.max(jnp.abs(mean - mean[0]))) > 0.1  # while the mean does
    action, extras = learner.act(params, {}, obs, jax.random.PRNGKey(2), config)
    np.testing.assert_array_equal(action, jnp.clip(extras["raw_action"], -1.0, 1.0))
    direct = jax.scipy.stats.norm.logpdf(extras["raw_action"], mean, std).sum(-1)
    np.testing.assert_allclose(extras["log_prob"], direct, rtol=1e-5)
    np.testing.assert_array_equal(learner.act_deterministic(params, {}, obs, config), jnp.clip(mean, -1, 1))


def test_loop_defaults_are_the_papers_and_explicit_values_win():
    config = jaxrl.make_config("bpo", preset="cpu")
    assert config.advantages_per_epoch and config.max_grad_norm == 1.0
    assert config.learning_rate == 3e-4
    reference = jaxrl.make_config("bpo", preset="cpu,bpo")
    assert (reference.normalize_obs, reference.reward_scaling, reference.gamma) == (False, 1.0, 0.99)
    assert reference.num_envs == config.num_envs  # the bpo preset sets no sizes
    assert (config.learner.clip_eps, config.learner.barrier_lambda) == (0.3, 1e-3)
    assert (config.learner.value_cost, config.learner.median_cost, config.learner.entropy_cost) == (
        0.5,
        0.5,
        0,
    )
    overridden = jaxrl.make_config("bpo", advantages_per_epoch=False, max_grad_norm=5.0)
    assert not overridden.advantages_per_epoch and overridden.max_grad_norm == 5.0
    assert not jaxrl.make_config("ppo").advantages_per_epoch  # PPO keeps the loop's own defaults
