"""The Gaussian actor's options, shared by PPO, BPO and GoRL's latent policy: a global std
that ignores the state, and the two squashes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.actors import gaussian
from jaxrl.learners import bpo, gorl, ppo


@pytest.mark.parametrize("config_type", [ppo.PPOConfig, bpo.BPOConfig, gorl.GoRLConfig])
def test_every_gaussian_actor_offers_a_state_independent_std(config_type):
    config = config_type(std_param="global", initial_std=0.5, policy_hidden=(8,), value_hidden=(8,))
    model = gaussian.actor_critic(3, 2)
    params = model.init(jax.random.PRNGKey(0), config)
    obs = 5.0 * jax.random.normal(jax.random.PRNGKey(1), (16, 3))
    mean, std = model.distribution(params, obs, config)
    np.testing.assert_allclose(std, np.full((16, 2), 0.5 + config.min_std), rtol=1e-6)
    # The state-dependent default gives a different std for different states.
    state = config_type(std_param="state", policy_hidden=(8,), value_hidden=(8,))
    _, state_std = model.distribution(model.init(jax.random.PRNGKey(0), state), obs, state)
    assert float(jnp.max(jnp.abs(state_std - state_std[0]))) > 1e-3


def test_ratio_is_one_at_the_acting_parameters_under_both_squashes():
    for squash in gaussian.SQUASHES:
        config = ppo.PPOConfig(squash=squash, std_param="global", policy_hidden=(8,), value_hidden=(8,))
        model = gaussian.actor_critic(3, 2)
        params = model.init(jax.random.PRNGKey(0), config)
        obs = jax.random.normal(jax.random.PRNGKey(1), (32, 3))
        action, extras = model.act(params, {}, obs, jax.random.PRNGKey(2), config)
        assert float(jnp.max(jnp.abs(action))) <= 1.0
        log_ratio, _, _ = gaussian.log_ratio(params, model, obs, extras, config)
        np.testing.assert_allclose(log_ratio, np.zeros(32), atol=1e-5)


def test_metrics_report_the_gaussians_entropy_and_the_saturation_apart():
    std = jnp.full((4, 2), 2.0)
    raw = jnp.array([[0.0, 3.0], [0.5, -0.2], [-4.0, -3.0], [1.5, 0.1]])
    tanh_metrics = gaussian.policy_metrics(std, raw, "tanh")
    np.testing.assert_allclose(
        tanh_metrics["entropy"], 2 * (np.log(2.0) + 0.5 * (1 + np.log(2 * np.pi))), rtol=1e-6
    )
    assert float(tanh_metrics["action_saturation"]) == 3 / 8  # |tanh(u)| > 0.99: 3.0, -4.0, -3.0
    assert (
        float(gaussian.policy_metrics(std, raw, "clip")["action_saturation"]) == 4 / 8
    )  # |u| >= 1: 3.0, -4.0, -3.0, 1.5


def test_the_exact_kl_is_the_closed_form_and_stays_positive_for_tiny_steps():
    zero, one = jnp.zeros((1, 1)), jnp.ones((1, 1))
    assert float(gaussian.gaussian_kl(zero, one, zero, one)[0]) == 0.0
    assert float(gaussian.gaussian_kl(zero, one, one, one)[0]) == pytest.approx(0.5)
    expected = np.log(2.0) + 1.0 / 8.0 - 0.5  # KL(N(0, 1) || N(0, 2))
    assert float(gaussian.gaussian_kl(zero, one, zero, 2.0 * one)[0]) == pytest.approx(expected, rel=1e-6)
    # A step of 1e-5 in log std: KL = d^2 to first order, positive, in float32.
    tiny = float(gaussian.gaussian_kl(zero, one, zero, jnp.exp(1e-5) * one)[0])
    assert tiny == pytest.approx(1e-10, rel=1e-2)


def test_the_configs_activation_runs_the_actor_the_critic_and_bpos_median():
    import flax.linen as nn

    import jaxrl
    from jaxrl.learners import common
    from jaxrl.networks import MLP

    config = jaxrl.make_config("bpo", policy_hidden=(8,), value_hidden=(8,), activation="elu").learner
    learner = jaxrl.make_learner("bpo", 3, 2)
    params = learner.init(jax.random.PRNGKey(0), config)
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
    mean = MLP((8,), 2, nn.elu).apply(params["policy"], obs)
    np.testing.assert_allclose(learner.act_deterministic(params, {}, obs, config), jnp.clip(mean, -1, 1))
    for name, network in (
        ("value", learner.value),
        ("median", common.value_network(3, None, "median").value),
    ):
        expected = MLP((8,), 1, nn.elu).apply(params[name], obs)[..., 0]
        np.testing.assert_allclose(network(params, obs, config), expected, rtol=1e-6)
    swish = jaxrl.make_config("bpo", policy_hidden=(8,), value_hidden=(8,)).learner
    assert not np.allclose(learner.value(params, obs, swish), learner.value(params, obs, config))
