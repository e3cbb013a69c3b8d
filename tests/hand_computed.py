"""NumPy references shared by the loss tests: what the JAX code must equal, written plainly."""

import jax
import numpy as np

from jaxrl.networks import MLP


def tanh_normal(policy_params, hidden, obs, raw_action, key):
    """log pi(tanh(u)) of stored pre-squash actions u, the one-sample entropy estimate at a
    sample drawn with ``key`` (the bonus) and the Gaussian's entropy (the metric), from the
    policy MLP's outputs."""
    action_size = raw_action.shape[-1]
    logits = np.asarray(MLP(hidden, 2 * action_size).apply(policy_params, obs))
    mean, std = logits[:, :action_size], np.log1p(np.exp(logits[:, action_size:])) + 1e-3
    u = np.asarray(raw_action)
    gaussian = (-0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
    log_prob = gaussian - np.log(1 - np.tanh(u) ** 2).sum(-1)
    sample = mean + std * np.asarray(jax.random.normal(key, mean.shape))
    gaussian_entropy = (np.log(std) + 0.5 * (1 + np.log(2 * np.pi))).sum(-1)
    entropy = np.mean(gaussian_entropy + np.log(1 - np.tanh(sample) ** 2).sum(-1))
    return log_prob, entropy, np.mean(gaussian_entropy)


def gaussian_batch(old_log_prob, advantage, target):
    """A minibatch of 3-D observations and stored 2-D pre-squash actions for the Gaussian
    learners' loss tests (fixed keys), with V_old = target."""
    from jaxrl.learners.base import Batch

    size = len(old_log_prob)
    obs = jax.random.normal(jax.random.PRNGKey(1), (size, 3))
    raw_action = jax.random.normal(jax.random.PRNGKey(2), (size, 2))
    extras = {"raw_action": raw_action, "log_prob": old_log_prob}
    return obs, raw_action, Batch(obs, jax.numpy.tanh(raw_action), extras, advantage, target, target)
