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
