import jax
import numpy as np
import pytest

import jaxrl
from jaxrl import normalize
from jaxrl.advantages import gae
from jaxrl.training import build


def reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Plain-Python GAE over [T] arrays: bootstrap on truncation, not on termination."""
    T = len(rewards)
    advantages = np.zeros(T)
    next_advantage = 0.0
    for t in reversed(range(T)):
        bootstrap = 0.0 if terminated[t] else next_values[t]
        delta = rewards[t] + gamma * bootstrap - values[t]
        if terminated[t] or truncated[t]:
            next_advantage = 0.0
        advantages[t] = delta + gamma * lam * next_advantage
        next_advantage = advantages[t]
    return advantages


def test_gae_matches_reference_with_terminations_and_truncations():
    rng = np.random.default_rng(0)
    T, N = 12, 3
    rewards, values, next_values = (rng.normal(size=(T, N)).astype(np.float32) for _ in range(3))
    terminated = np.zeros((T, N), np.float32)
    truncated = np.zeros((T, N), np.float32)
    terminated[3, 0] = terminated[7, 1] = 1
    truncated[5, 0] = truncated[10, 2] = truncated[11, 1] = 1
    advantages, targets = gae(rewards, values, next_values, terminated, truncated, 0.99, 0.9)
    for n in range(N):
        expected = reference_gae(
            rewards[:, n], values[:, n], next_values[:, n], terminated[:, n], truncated[:, n], 0.99, 0.9
        )
        np.testing.assert_allclose(advantages[:, n], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, advantages + values, rtol=1e-6)


def test_truncation_bootstraps_and_termination_does_not():
    one = np.ones((1, 1), np.float32)
    zero = np.zeros((1, 1), np.float32)
    truncated_adv, _ = gae(zero, zero, 5 * one, zero, one, 0.9, 0.95)
    terminated_adv, _ = gae(zero, zero, 5 * one, one, zero, 0.9, 0.95)
    np.testing.assert_allclose(truncated_adv, 4.5)
    np.testing.assert_allclose(terminated_adv, 0.0)


@pytest.mark.parametrize("episode_length", [11, 3])  # one cut per 8-step segment; several
def test_loop_advantages_equal_those_from_the_value_of_every_true_next_observation(episode_length):
    config = jaxrl.make_config(
        "ppo",
        env="toy/pointmass",
        episode_length=episode_length,
        num_envs=4,
        unroll_length=8,
        num_unrolls=3,
        num_minibatches=2,
    )
    _, learner, loop = build(config)
    state = loop.init(jax.random.PRNGKey(0), config)
    _, trajectories = jax.jit(loop.rollout)(
        state.params, state.aux, state.obs_stats, state.env_state, jax.random.PRNGKey(1), config
    )
    stats = normalize.update(state.obs_stats, trajectories.obs)
    # Episodes cut off inside segments, not only at their last step.
    assert np.asarray(trajectories.truncated[:-1]).any()

    def value_of(obs):
        return learner.value(state.params, normalize.normalize(stats, obs), config.learner)

    expected = gae(
        trajectories.reward * config.reward_scaling,
        value_of(trajectories.obs),
        value_of(trajectories.next_obs),
        trajectories.terminated,
        trajectories.truncated,
        config.gamma,
        config.gae_lambda,
    )
    advantage, target, _ = jax.jit(loop.advantages)(state.params, stats, trajectories, config)
    np.testing.assert_allclose(advantage, expected[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target, expected[1], rtol=1e-5, atol=1e-5)
