"""What the shared loop promises every learner: the loss sees the observations ``act`` saw
(normalised with the same statistics), so every ratio is exactly 1 before the first update;
and the kl_adaptive learning-rate rule."""

import jax
import jax.numpy as jnp
import pytest

import jaxrl
from jaxrl.optim import adapt_learning_rate, learning_rate_of, make_optimizer
from jaxrl.training import build


@pytest.mark.parametrize("algo", list(jaxrl.LEARNERS))
def test_every_ratio_is_one_before_the_first_update(tiny_config, algo):
    # A learning rate of 0 keeps the parameters those that acted through every minibatch; the
    # second iteration acts under statistics of the first rollout, which its own changes.
    config = tiny_config(algo, normalize_obs=True, lr_schedule="constant", max_grad_norm=1.0)
    config = config.replace(learning_rate=0.0)
    _, _, loop = build(config)
    state = loop.init(jax.random.PRNGKey(0), config)
    for _ in range(2):
        state, metrics = loop.iteration(state, config)
    assert float(metrics["clip_fraction"]) == 0.0, metrics
    assert abs(float(metrics["approx_kl"])) < 1e-7, metrics


def test_kl_adaptive_rule_steps_the_learning_rate_within_its_bounds(tiny_config):
    config = tiny_config("ppo", lr_schedule="kl_adaptive", learning_rate=1e-3, kl_target=0.01)

    def rate(kl, **changes):
        changed = config.replace(**changes)
        state = make_optimizer(changed).init({"w": jnp.zeros(3)})
        return float(learning_rate_of(adapt_learning_rate(state, jnp.float32(kl), changed)))

    assert rate(0.03) == pytest.approx(1e-3 / 1.5)  # above twice the target
    assert rate(0.002) == pytest.approx(1.5e-3)  # below half of it
    assert rate(0.01) == pytest.approx(1e-3) and rate(0.019) == pytest.approx(1e-3)
    assert rate(0.0) == pytest.approx(1e-3)  # a policy that has not moved says nothing
    assert rate(1.0, learning_rate=1.2e-6) == pytest.approx(1e-6)
    assert rate(1e-4, learning_rate=9e-3) == pytest.approx(1e-2)
    assert rate(1.0, learning_rate=1.2e-5, kl_min_learning_rate=1e-5) == pytest.approx(1e-5)  # rsl_rl's


def test_the_kl_rule_can_step_before_every_minibatch_on_the_exact_kl(tiny_config):
    # A target far above any KL raises the rate on every positive KL: before each of the 2 x 4
    # minibatch steps but the first, whose policy has not moved yet (per epoch it would be 2).
    config = tiny_config(
        "ppo", lr_schedule="kl_adaptive", learning_rate=1e-4, kl_target=100.0, kl_step="minibatch"
    )
    config = config.replace(kl_estimate="exact")
    _, _, loop = build(config)
    state, _ = loop.iteration(loop.init(jax.random.PRNGKey(0), config), config)
    assert float(learning_rate_of(state.opt_state)) == pytest.approx(1e-4 * 1.5 ** (2 * 4 - 1), rel=1e-5)


def test_the_exact_kl_is_offered_only_by_gaussian_actors():
    assert jaxrl.make_config("bpo", kl_estimate="exact").kl_estimate == "exact"
    message = "kl_estimate=exact is invalid for algo fpo: its actor has no closed-form KL; expected sample"
    with pytest.raises(jaxrl.ConfigError, match=message):
        jaxrl.make_config("fpo", kl_estimate="exact")


def test_kl_adaptive_training_logs_the_rate_it_used(tiny_config):
    config = tiny_config("policyflow", num_evals=1)
    assert config.lr_schedule == "kl_adaptive" and config.weight_decay == 1e-5
    result = jaxrl.train(config, progress=False)
    assert 1e-6 <= result.metrics[-1]["learning_rate"] <= 1e-2
