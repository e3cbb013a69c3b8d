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
    state = make_optimizer(config).init({"w": jnp.zeros(3)})
    rate = lambda kl, s=state: float(learning_rate_of(adapt_learning_rate(s, jnp.float32(kl), 0.01)))  # noqa: E731
    assert rate(0.03) == pytest.approx(1e-3 / 1.5)  # above twice the target
    assert rate(0.002) == pytest.approx(1.5e-3)  # below half of it
    assert rate(0.01) == pytest.approx(1e-3) and rate(0.019) == pytest.approx(1e-3)
    low = make_optimizer(config.replace(learning_rate=1.2e-6)).init({"w": jnp.zeros(3)})
    assert float(learning_rate_of(adapt_learning_rate(low, jnp.float32(1.0), 0.01))) == pytest.approx(1e-6)
    high = make_optimizer(config.replace(learning_rate=9e-3)).init({"w": jnp.zeros(3)})
    assert float(learning_rate_of(adapt_learning_rate(high, jnp.float32(0.0), 0.01))) == pytest.approx(1e-2)


def test_kl_adaptive_training_logs_the_rate_it_used(tiny_config):
    config = tiny_config("policyflow", num_evals=1)
    assert config.lr_schedule == "kl_adaptive" and config.weight_decay == 1e-5
    result = jaxrl.train(config, progress=False)
    assert 1e-6 <= result.metrics[-1]["learning_rate"] <= 1e-2
