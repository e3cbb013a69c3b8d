import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.actors import gaussian
from jaxrl.learners import ppo
from jaxrl.networks import MLP
from jaxrl.registry import make_learner
from tests import hand_computed


def test_tanh_normal_log_prob_matches_direct_formula():
    u = jnp.array([[0.3, -1.2], [2.0, 0.1]])
    mean, std = jnp.array([[0.1, -1.0], [1.5, 0.0]]), jnp.array([[0.5, 0.2], [1.0, 0.3]])
    direct = jax.scipy.stats.norm.logpdf(u, mean, std).sum(-1) - jnp.log(1 - jnp.tanh(u) ** 2).sum(-1)
    np.testing.assert_allclose(gaussian.log_prob(u, mean, std), direct, rtol=1e-5)


def test_ppo_loss_equals_hand_computed_value():
    config = ppo.PPOConfig(
        clip_eps=0.2, entropy_cost=0.01, value_cost=0.5, policy_hidden=(8,), value_hidden=(8,)
    )
    learner = make_learner("ppo", 3, 2)
    params = learner.init(jax.random.PRNGKey(0), config)
    old_log_prob = jnp.array([-2.0, -1.0, -3.0, -2.5, -0.5])
    advantage = jnp.array([1.0, -2.0, 0.5, 3.0, -1.0])
    target = jnp.array([0.5, 1.0, -1.0, 2.0, 0.0])
    obs, raw_action, batch = hand_computed.gaussian_batch(old_log_prob, advantage, target)
    key = jax.random.PRNGKey(3)
    total, metrics = learner.loss(params, params, {}, batch, key, config)

    # By hand, in NumPy, from the network outputs.
    log_prob, entropy, gaussian_entropy = hand_computed.tanh_normal(
        params["policy"], (8,), obs, raw_action, key
    )
    ratio = np.exp(log_prob - np.asarray(old_log_prob))
    a = np.asarray(advantage)
    a = (a - a.mean()) / (a.std() + 1e-8)
    policy_loss = -np.mean(np.minimum(ratio * a, np.clip(ratio, 0.8, 1.2) * a))
    values = np.asarray(MLP((8,), 1).apply(params["value"], obs))[:, 0]
    value_loss = np.mean((np.asarray(target) - values) ** 2)
    expected = policy_loss + 0.5 * value_loss - 0.01 * entropy
    np.testing.assert_allclose(metrics["policy_loss"], policy_loss, rtol=1e-4)
    np.testing.assert_allclose(metrics["value_loss"], value_loss, rtol=1e-4)
    np.testing.assert_allclose(metrics["entropy"], gaussian_entropy, rtol=1e-4)
    saturated = np.mean(np.abs(np.tanh(np.asarray(raw_action))) > 0.99)
    np.testing.assert_allclose(metrics["action_saturation"], saturated)
    np.testing.assert_allclose(total, expected, rtol=1e-4)
    assert 0.0 < float(metrics["clip_fraction"]) <= 1.0


def test_policy_far_from_the_acting_one_keeps_loss_kl_and_gradients_finite():
    # A ratio of e^-200 underflows to 0 and e^200 overflows: the bounded log-ratio keeps the
    # surrogate, the KL estimate and the gradient finite, and the clip range's values unchanged.
    from jaxrl.learners import common

    advantage = jnp.array([1.0, -1.0, 1.0, -1.0, 0.5])

    def surrogate(log_ratio):
        return common.clipped_surrogate(log_ratio, advantage, 0.2)

    extreme = jnp.array([-200.0, -200.0, 200.0, 200.0, 0.1])
    metrics = common.ratio_metrics(extreme, 0.2)
    assert np.isfinite(float(surrogate(extreme))) and np.isfinite(float(metrics["approx_kl"]))
    assert np.all(np.isfinite(jax.grad(surrogate)(extreme)))
    assert float(metrics["clip_fraction"]) == np.float32(0.8)
    moderate = jnp.array([-0.3, 0.05, 0.1, -0.1, 0.25])
    ratio = np.exp(np.asarray(moderate))
    a = np.asarray(advantage)
    np.testing.assert_allclose(
        surrogate(moderate), -np.mean(np.minimum(ratio * a, np.clip(ratio, 0.8, 1.2) * a)), rtol=1e-6
    )
    np.testing.assert_allclose(
        common.ratio_metrics(moderate, 0.2)["approx_kl"], np.mean(ratio - 1 - np.asarray(moderate)), rtol=1e-5
    )
