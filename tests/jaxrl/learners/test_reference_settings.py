"""FPO, ReinFlow and DPPO as their reference code defines them: FPO's time embedding, loss form,
learning rate and unclamped ratio; ReinFlow's and DPPO's clamped, per-element log-probabilities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.learners import dppo, fpo, reinflow
from jaxrl.learners.base import Batch
from jaxrl.registry import make_config, make_learner
from tests.jaxrl.learners.test_expressive import ACT, BATCH, OBS, learner_setup

SMALL = {"policy_hidden": (8,), "value_hidden": (8,), "normalize_advantage": False}


def first_layer_inputs(policy_params) -> int:
    kernels = [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(policy_params)
        if "Dense_0" in str(path) and "kernel" in str(path)
    ]
    return kernels[0].shape[0]


def test_fpo_time_embedding_is_cos_and_sin_at_frequencies_1_2_4_8():
    t = jnp.array([0.0, 0.3, 1.0])
    frequencies = np.array([1.0, 2.0, 4.0, 8.0])
    angles = np.asarray(t)[:, None] * frequencies
    expected = np.concatenate([np.cos(angles), np.sin(angles)], axis=-1)
    np.testing.assert_allclose(fpo.time_embedding(t), expected, rtol=1e-6, atol=1e-7)
    assert fpo.time_embedding(t).shape == (3, 8)


def test_fpo_velocity_network_reads_8_time_features_and_the_other_chains_keep_16():
    for name, config_type, features in (
        ("fpo", fpo.FPOConfig, 8),
        ("dppo", dppo.DPPOConfig, 16),
        ("reinflow", reinflow.ReinFlowConfig, 16),
    ):
        params = make_learner(name, OBS, ACT).init(jax.random.PRNGKey(0), config_type(**SMALL))
        assert first_layer_inputs(params["policy"]) == OBS + ACT + features, name


def test_fpo_defaults_are_the_references_loss_form_and_learning_rate():
    config = make_config("fpo")
    assert config.learner.loss_form == "noise"  # (1-t)^2-weighted: "u_but_supervise_as_eps"
    assert config.learning_rate == pytest.approx(3e-4)
    assert make_config("fpo", learning_rate=1e-3).learning_rate == pytest.approx(1e-3)
    assert make_config("ppo").learning_rate == pytest.approx(1e-3)  # the loop's own default


def test_fpo_stored_losses_are_the_one_minus_t_squared_weighted_velocity_losses():
    config = fpo.FPOConfig(**SMALL)
    _, params, obs, _, extras = learner_setup("fpo", config)
    a, t, eps = extras["raw_action"], extras["times"], extras["noise"]
    x_t = t[..., None] * eps + (1 - t[..., None]) * a[:, None, :]
    field = fpo.flow.ConditionedField((8,), ACT, embed=fpo.time_embedding)
    repeated = jnp.broadcast_to(obs[:, None, :], (*t.shape, OBS))
    velocity = config.output_scale * field.apply(params["policy"], repeated, x_t, t)
    expected = (1 - t) ** 2 * jnp.mean((velocity - (eps - a[:, None, :])) ** 2, -1)
    np.testing.assert_allclose(extras["cfm_loss"], expected, rtol=1e-5, atol=1e-7)


def test_fpo_log_ratio_is_not_clamped():
    np.testing.assert_allclose(fpo.flow_log_ratio(jnp.array([[10.0, 12.0]]), jnp.array([[0.0, 0.0]])), [11.0])


@pytest.mark.parametrize(
    "name, config",
    [
        ("reinflow", reinflow.ReinFlowConfig(**SMALL)),
        # Bounds inside the log-probabilities' range, so that the clamp engages on most samples.
        ("reinflow", reinflow.ReinFlowConfig(**SMALL, log_prob_min=0.0, log_prob_max=0.05)),
        ("dppo", dppo.DPPOConfig(**SMALL)),
        ("dppo", dppo.DPPOConfig(**SMALL, log_prob_min=-0.5, log_prob_max=0.5)),
    ],
)
def test_stored_log_probs_lie_in_the_clamp_bounds_and_the_ratio_is_one_at_the_old_parameters(name, config):
    learner, params, obs, action, extras = learner_setup(name, config)
    stored = extras["log_prob" if name == "reinflow" else "log_probs"]
    assert stored.shape == ((BATCH,) if name == "reinflow" else (BATCH, config.denoising_steps))
    assert bool(jnp.all((stored >= config.log_prob_min) & (stored <= config.log_prob_max)))
    ones = jnp.ones(BATCH)
    _, metrics = learner.loss(params, params, {}, Batch(obs, action, extras, ones, ones, ones), None, config)
    assert float(metrics["approx_kl"]) == 0.0 and float(metrics["clip_fraction"]) == 0.0


def test_reinflow_log_prob_includes_the_start_and_is_averaged_per_element():
    # One step, one dimension: x_0 = 0, x_1 = 0.5 with mean 0.5 and std 1: the average of
    # log N(0; 0, 1) and log N(0.5; 0.5, 1), both -0.5 log(2 pi).
    stored = jnp.array([[[0.0], [0.5]]])
    log_densities = jnp.full((1, 1, 1), -0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(
        reinflow.chain_log_prob(stored, log_densities), [-0.5 * np.log(2 * np.pi)], rtol=1e-6
    )
    # The start counts: x_0 = 2 lowers the sum by 2, the per-element average by 2 / 2.
    far_start = stored.at[0, 0, 0].set(2.0)
    np.testing.assert_allclose(
        reinflow.chain_log_prob(far_start, log_densities), [-0.5 * np.log(2 * np.pi) - 1.0], rtol=1e-6
    )


def test_reinflow_entropy_is_the_per_element_rate_with_the_start():
    stds = jnp.full((4, 3, ACT), 0.2)  # [batch, K, d]
    per_element = 0.5 * np.log(2 * np.pi * np.e)
    expected = per_element + 3 * ACT * np.log(0.2) / ((3 + 1) * ACT)
    np.testing.assert_allclose(reinflow.entropy_rate(stds), np.full(4, expected), rtol=1e-6)
    assert reinflow.ReinFlowConfig().entropy_cost == pytest.approx(0.03)
    assert (reinflow.ReinFlowConfig().log_prob_min, reinflow.ReinFlowConfig().log_prob_max) == (-1.0, 1.0)


def test_dppo_clamps_every_element_before_the_average():
    log_densities = jnp.array([[[-10.0, 1.0], [3.0, 1.0]]])  # [batch, K, d]
    np.testing.assert_allclose(dppo.step_log_probs(log_densities, -5.0, 2.0), [[-2.0, 1.5]])
    assert (dppo.DPPOConfig().log_prob_min, dppo.DPPOConfig().log_prob_max) == (-5.0, 2.0)


@pytest.mark.parametrize("name", ["reinflow", "dppo"])
def test_a_chain_far_outside_the_bounds_gets_the_bound_and_no_policy_gradient(name):
    config = (reinflow.ReinFlowConfig if name == "reinflow" else dppo.DPPOConfig)(**SMALL)
    learner, params, obs, action, extras = learner_setup(name, config)
    far = extras["chain"].at[..., 1:, :].add(100.0)  # every transition far from its mean
    if name == "reinflow":
        stored = {"chain": far, "log_prob": jnp.full(BATCH, config.log_prob_min)}
    else:
        stored = {"chain": far, "log_probs": jnp.full((BATCH, config.denoising_steps), config.log_prob_min)}
    ones = jnp.ones(BATCH)
    batch = Batch(obs, action, stored, ones, ones, ones)

    def loss(policy):
        return learner.loss({**params, "policy": policy}, params, {}, batch, None, config)

    (_, metrics), grads = jax.value_and_grad(loss, has_aux=True)(params["policy"])
    assert float(metrics["log_prob_clamped_fraction"]) == 1.0
    assert float(metrics["approx_kl"]) == 0.0  # both at the lower bound: the ratio is 1
    assert all(bool(jnp.all(g == 0.0)) for g in jax.tree_util.tree_leaves(grads))
