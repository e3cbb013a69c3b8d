"""PolicyFlow's equations on hand-made cases, its environment toy/multigoal6, and its config's
bad input (jaxrl/learners/policyflow.py, envs/toy.py)."""

import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import jaxrl
from jaxrl.learners import policyflow
from jaxrl.learners.base import Batch

ROOT = Path(__file__).resolve().parents[3]


def normal_log_density(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)


def test_ratio_reacts_to_a_velocity_change_as_the_gaussian_formula_says():
    noise, change, std = [0.5, -1.0], [0.2, 0.1], [1.0, 0.5]
    old = sum(normal_log_density(n, 0.0, s) for n, s in zip(noise, std, strict=True))
    expected = sum(normal_log_density(n, d, s) for n, d, s in zip(noise, change, std, strict=True)) - old
    # By hand: (0.25 - 0.09) / 2 + (1 - 1.21) / (2 * 0.25) = 0.08 - 0.42.
    assert expected == pytest.approx(-0.34)
    got = policyflow.velocity_log_ratio(jnp.array(noise), jnp.array(change), jnp.array(std), jnp.float32(old))
    assert float(got) == pytest.approx(-0.34, abs=1e-6)
    # The KL of the shifted, rescaled Gaussian, by hand for one dimension.
    kl = policyflow.gaussian_kl(jnp.array([0.3]), jnp.array([2.0]), jnp.array([1.0]))
    assert float(kl) == pytest.approx(math.log(2.0) + (1.0 + 0.09) / 8.0 - 0.5, abs=1e-6)


def test_brownian_term_vanishes_on_the_field_it_is_written_for():
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 2))
    t = jax.random.uniform(jax.random.PRNGKey(1), (64,))
    # (1 - t) v = x_t - t v_old holds for v = v_old = x (the flow x_t = z e^t).
    assert float(policyflow.brownian_penalty(x, x, x, t)) == pytest.approx(0.0, abs=1e-12)
    # One sample by hand: t = 0.5, v = 1, v_old = 3, x = 2: (0.5 - (2 - 1.5))^2 = 0.
    one = policyflow.brownian_penalty(
        jnp.array([[1.0]]), jnp.array([[3.0]]), jnp.array([[2.0]]), jnp.array([0.5])
    )
    assert float(one) == 0.0
    # and v = 0 there: (0 - 0.5)^2.
    zero = policyflow.brownian_penalty(
        jnp.array([[0.0]]), jnp.array([[3.0]]), jnp.array([[2.0]]), jnp.array([0.5])
    )
    assert float(zero) == pytest.approx(0.25)


def test_noise_scale_stays_in_its_clamp():
    std = policyflow.noise_std({"log_std": jnp.array([10.0, -10.0, 0.0])})
    np.testing.assert_allclose(std, [math.exp(2.0), math.exp(-5.0), 1.0], rtol=1e-6)


def test_time_grid_is_the_midpoint_solver_s_21_times():
    np.testing.assert_allclose(policyflow.time_grid(), np.arange(21) * 0.05, atol=1e-7)


def test_ratio_is_exactly_one_at_the_collecting_parameters():
    config = jaxrl.make_config("policyflow", env="toy/pointmass", policy_hidden=(16,), value_hidden=(16,))
    learner = jaxrl.make_learner("policyflow", 6, 2)
    params = learner.init(jax.random.PRNGKey(0), config.learner)
    obs = jax.random.normal(jax.random.PRNGKey(1), (32, 6))
    action, extras = learner.act(params, {}, obs, jax.random.PRNGKey(2), config.learner)
    np.testing.assert_array_equal(action, extras["flowed"] + extras["noise"])
    advantage = jax.random.normal(jax.random.PRNGKey(3), (32,))
    batch = Batch(obs, action, extras, advantage, advantage, jnp.zeros(32))
    _, metrics = learner.loss(params, params, {}, batch, jax.random.PRNGKey(4), config.learner)
    assert float(metrics["approx_kl"]) == 0.0 and float(metrics["clip_fraction"]) == 0.0
    # With unit ratios the clipped surrogate is -mean(standardised advantages) = 0.
    assert abs(float(metrics["policy_loss"])) < 1e-6


def test_action_scale_runs_the_flow_in_the_task_s_own_units():
    # The multigoal6 preset is the reference's agent, which emits accelerations (5 per action).
    assert (
        jaxrl.make_config("policyflow", preset="multigoal6", env="toy/multigoal6").learner.action_scale == 5.0
    )
    unit = jaxrl.make_config("policyflow", env="toy/multigoal6", policy_hidden=(16,), value_hidden=(16,))
    scaled = jaxrl.make_config(
        "policyflow", env="toy/multigoal6", policy_hidden=(16,), value_hidden=(16,), action_scale=5.0
    )
    learner = jaxrl.make_learner("policyflow", 4, 2)
    params = learner.init(jax.random.PRNGKey(0), unit.learner)
    obs, key = jax.random.normal(jax.random.PRNGKey(1), (32, 4)), jax.random.PRNGKey(2)
    action, extras = learner.act(params, {}, obs, key, scaled.learner)
    unit_action, unit_extras = learner.act(params, {}, obs, key, unit.learner)
    jax.tree.map(np.testing.assert_array_equal, extras, unit_extras)  # the flow is the same
    np.testing.assert_allclose(action * 5.0, unit_action, rtol=1e-6)
    np.testing.assert_allclose(
        learner.act_deterministic(params, {}, obs, scaled.learner) * 5.0,
        learner.act_deterministic(params, {}, obs, unit.learner),
        rtol=1e-6,
    )
    # Cloning fits the flow to the demonstrated action in the task's units.
    clone = learner.clone_loss(params, obs, action, key, scaled.learner)[0]
    assert float(clone) == pytest.approx(
        float(learner.clone_loss(params, obs, unit_action, key, unit.learner)[0])
    )


def test_multigoal6_is_the_papers_task():
    env = envs.make("toy/multigoal6")
    task = env.env
    assert env.episode_length == 51 and (env.observation_size, env.action_size) == (4, 2)
    np.testing.assert_allclose(np.linalg.norm(task.goals, axis=-1), 5.0, rtol=1e-6)
    np.testing.assert_allclose(
        np.degrees(np.arctan2(task.goals[:, 1], task.goals[:, 0])) % 360, np.arange(6) * 60, atol=1e-4
    )
    starts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 512)).obs
    assert float(jnp.max(jnp.abs(starts[:, :2]))) <= 7.0 and float(jnp.max(jnp.abs(starts[:, 2:]))) == 0.0
    # On a goal at rest, an action of norm 2, the acceleration 5 (1.2, 1.6) of norm 10 (clipped to
    # 5 per axis for the physics).
    state = env.reset(jax.random.PRNGKey(1))
    at_goal = jnp.concatenate([task.goals[1], jnp.zeros(2)])
    state = state._replace(physics=at_goal, obs=at_goal)
    moved = env.step(state, jnp.array([1.2, 1.6]))
    assert float(moved.reward) == pytest.approx(0.1 * 2.0 - 0.001 * 100.0, abs=1e-6)
    np.testing.assert_allclose(moved.obs, [*task.goals[1], 0.5, 0.5], atol=1e-6)
    # Leaving [-8, 8]^2 terminates.
    edge = jnp.array([7.95, 0.0, 1.0, 0.0])
    out = env.step(state._replace(physics=edge, obs=edge), jnp.zeros(2))
    assert float(out.terminated) == 1.0


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (["--brownian-weight", "-0.1"], "--brownian-weight=-0.1 is invalid: expected a number >= 0"),
        (["--clip-eps", "0"], "--clip-eps=0.0 is invalid: expected a positive number"),
        (["--action-scale", "0"], "--action-scale=0.0 is invalid: expected a positive number"),
        (["--noise-steps", "3"], "unrecognized arguments: --noise-steps 3"),
    ],
)
def test_bad_policyflow_input_is_one_line_and_exit_2(flag, message):
    done = subprocess.run(
        [sys.executable, "-m", "experiments.train", "--algo", "policyflow", "--env", "toy/multigoal6", *flag],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr, done.stderr
    with pytest.raises(jaxrl.ConfigError, match="unknown config field 'noise_steps'"):
        jaxrl.make_config("policyflow", noise_steps=3)
