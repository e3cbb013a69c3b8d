"""Flow and diffusion actors and the FPO, DPPO and ReinFlow losses against direct computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from jaxrl.actors import chain, diffusion, flow
from jaxrl.learners import dppo, fpo, reinflow
from jaxrl.learners.base import Batch
from jaxrl.registry import make_learner

OBS, ACT, BATCH = 3, 2, 5


def test_euler_sampler_integrates_a_constant_field_exactly_for_any_step_count():
    noise = jax.random.normal(jax.random.PRNGKey(0), (4, ACT))
    drift = jnp.array([0.5, -2.0])
    for steps in (1, 4, 10):
        np.testing.assert_allclose(
            flow.euler_sample(lambda x, t: drift, noise, steps), noise - drift, rtol=1e-5
        )


def test_euler_sampler_uses_the_step_times_of_the_grid():
    # v = t: x_0 = x_1 - (1/K) sum_k t_k with t_k = 1 - k/K.
    steps = 4
    result = flow.euler_sample(lambda x, t: jnp.full_like(x, t), jnp.zeros((1, 1)), steps)
    np.testing.assert_allclose(result, -(1 + 0.75 + 0.5 + 0.25) / 4, rtol=1e-6)


def test_noise_form_of_the_cfm_loss_is_the_eps_prediction_error():
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    action, noise, velocity = (jax.random.normal(k, (BATCH, ACT)) for k in keys[:3])
    t = jax.random.uniform(keys[3], (BATCH,))
    x_t = flow.interpolate(action, noise, t)
    eps_hat = x_t + (1 - t)[:, None] * velocity
    np.testing.assert_allclose(
        flow.cfm_loss(velocity, action, noise, t, "noise"), jnp.mean((eps_hat - noise) ** 2, -1), rtol=1e-5
    )
    np.testing.assert_allclose(
        flow.cfm_loss(velocity, action, noise, t, "velocity"),
        jnp.mean((velocity - (noise - action)) ** 2, -1),
        rtol=1e-6,
    )


@pytest.mark.parametrize("schedule", diffusion.SCHEDULES)
def test_denoising_step_recovers_the_clean_action_given_the_true_noise(schedule):
    steps = 6
    alpha_bar = diffusion.cosine_alpha_bar(steps)
    x0 = jnp.array([[0.3, -0.7]])
    eps = jnp.array([[1.1, 0.4]])
    for k in range(steps):
        j = steps - k
        x = np.sqrt(alpha_bar[j]) * x0 + np.sqrt(1 - alpha_bar[j]) * eps
        step = diffusion.denoising_step(lambda x, t: eps, steps, schedule, 1e-6, 10.0)
        mean, std = step(x, k)
        if schedule == "ddim":  # the deterministic DDIM update of the true (x0, eps)
            expected = np.sqrt(alpha_bar[j - 1]) * x0 + np.sqrt(1 - alpha_bar[j - 1]) * eps
        else:  # the DDPM posterior mean of q(x_{j-1} | x_j, x0)
            beta = 1 - alpha_bar[j] / alpha_bar[j - 1]
            expected = (
                np.sqrt(alpha_bar[j - 1]) * beta * x0 + np.sqrt(1 - beta) * (1 - alpha_bar[j - 1]) * x
            ) / (1 - alpha_bar[j])
        np.testing.assert_allclose(mean, expected, rtol=2e-4, atol=2e-5)
        if schedule == "ddim":  # DDIM's own std is 0: only the floor remains
            assert float(std) == pytest.approx(1e-6)


def direct_chain_log_prob(step, path):
    """sum_k log N(x_{k+1}; mean_k, std_k^2), one step at a time, with SciPy's density."""
    total = 0.0
    for k in range(path.shape[0] - 1):
        mean, std = step(path[k], k)
        total = total + norm.logpdf(path[k + 1], mean, jnp.broadcast_to(std, mean.shape)).sum(-1)
    return total


def learner_setup(name, config):
    learner = make_learner(name, OBS, ACT)
    params = learner.init(jax.random.PRNGKey(0), config)
    obs = jax.random.normal(jax.random.PRNGKey(1), (BATCH, OBS))
    action, extras = learner.act(params, {}, obs, jax.random.PRNGKey(2), config)
    return learner, params, obs, action, extras


@pytest.mark.parametrize("schedule", diffusion.SCHEDULES)
def test_dppo_chain_log_likelihood_is_the_direct_sum_of_gaussian_log_densities(schedule):
    config = dppo.DPPOConfig(denoising_steps=5, schedule=schedule, policy_hidden=(8,), value_hidden=(8,))
    learner, params, obs, action, extras = learner_setup("dppo", config)
    path = jnp.moveaxis(extras["chain"], -2, 0)
    denoiser = flow.ConditionedField((8,), ACT)
    step = diffusion.denoising_step(
        lambda x, t: denoiser.apply(params["policy"], obs, x, t),
        5,
        schedule,
        config.min_std,
        config.x0_clip,
    )
    log_densities = chain.rescore(step, extras["chain"])  # [batch, K, act]
    np.testing.assert_allclose(
        log_densities.sum((-2, -1)), direct_chain_log_prob(step, path), rtol=1e-4, atol=1e-3
    )
    # Stored per step: every element clamped to [-5, 2], then averaged over action dimensions.
    np.testing.assert_allclose(
        extras["log_probs"], jnp.mean(jnp.clip(log_densities, -5.0, 2.0), -1), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(action, jnp.tanh(path[-1]), rtol=1e-6)


def test_reinflow_chain_log_likelihood_is_the_direct_sum_and_noise_is_bounded():
    config = reinflow.ReinFlowConfig(flow_steps=3, policy_hidden=(8,), value_hidden=(8,))
    learner, params, obs, action, extras = learner_setup("reinflow", config)
    path = jnp.moveaxis(extras["chain"], -2, 0)
    field, noise = flow.ConditionedField((8,), ACT), reinflow.NoiseScale((8,), ACT)
    times = flow.time_grid(3)
    stds = jnp.stack([noise.apply(params["noise"], obs, times[k], 0.10, 0.24) for k in range(3)])

    def step(x, k):
        return x - field.apply(params["policy"], obs, x, times[k]) / 3, stds[k]

    # Stored: (log N(x_0; 0, I) + the transitions' sum) / ((K + 1) d), clamped to [-1, 1].
    start = norm.logpdf(path[0]).sum(-1)
    unclamped = (start + direct_chain_log_prob(step, path)) / ((3 + 1) * ACT)
    np.testing.assert_allclose(extras["log_prob"], jnp.clip(unclamped, -1.0, 1.0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        reinflow.chain_log_prob(extras["chain"], chain.rescore(step, extras["chain"])),
        unclamped,
        rtol=1e-4,
        atol=1e-4,
    )
    assert all(float(s.min()) >= 0.10 - 1e-6 and float(s.max()) <= 0.24 + 1e-6 for s in stds)


@pytest.mark.parametrize(
    "name, config",
    [
        ("fpo", fpo.FPOConfig(policy_hidden=(8,), value_hidden=(8,), normalize_advantage=False)),
        ("dppo", dppo.DPPOConfig(policy_hidden=(8,), value_hidden=(8,), normalize_advantage=False)),
        (
            "reinflow",
            reinflow.ReinFlowConfig(policy_hidden=(8,), value_hidden=(8,), normalize_advantage=False),
        ),
    ],
)
def test_ratio_is_exactly_one_when_parameters_are_unchanged(name, config):
    learner, params, obs, action, extras = learner_setup(name, config)
    ones = jnp.ones(BATCH)
    batch = Batch(obs, action, extras, ones, ones, ones)
    _, metrics = learner.loss(params, params, {}, batch, jax.random.PRNGKey(3), config)
    # With A = 1 (DPPO: every step weighted by the denoising discount), -mean(min(rho A, clip A)).
    weight = 1.0 if name != "dppo" else float(jnp.mean(dppo.step_weights(10, config.denoise_discount)))
    np.testing.assert_allclose(metrics["policy_loss"], -weight, rtol=1e-6)
    assert float(metrics["approx_kl"]) == 0.0 and float(metrics["clip_fraction"]) == 0.0


def test_fpo_log_ratio_is_the_averaged_loss_difference():
    old = jnp.array([[1.0, 3.0, 2.0]])
    new = jnp.array([[0.5, 2.0, 2.9]])
    np.testing.assert_allclose(fpo.flow_log_ratio(old, new), [(6.0 - 5.4) / 3], rtol=1e-6)


def test_deterministic_actions_are_the_noise_free_chains():
    for name, config in (
        ("fpo", fpo.FPOConfig(policy_hidden=(8,), value_hidden=(8,))),
        ("dppo", dppo.DPPOConfig(policy_hidden=(8,), value_hidden=(8,))),
        ("reinflow", reinflow.ReinFlowConfig(policy_hidden=(8,), value_hidden=(8,))),
    ):
        learner, params, obs, action, _ = learner_setup(name, config)
        deterministic = learner.act_deterministic(params, {}, obs, config)
        assert deterministic.shape == action.shape
        np.testing.assert_array_equal(deterministic, learner.act_deterministic(params, {}, obs, config))
        assert bool(jnp.all(jnp.abs(deterministic) <= 1.0))


def test_chain_rescoring_equals_sampling_log_probs():
    def step(x, k):
        return 0.5 * x + k, 0.1 + 0.05 * k

    path = chain.sample(step, jnp.ones((2, ACT)), jax.random.normal(jax.random.PRNGKey(0), (3, 2, ACT)))
    stored = jnp.moveaxis(path, 0, -2)
    np.testing.assert_allclose(
        chain.rescore(step, stored).sum((-2, -1)), direct_chain_log_prob(step, path), rtol=1e-5
    )
