import jax
import numpy as np
import pytest

import jaxrl
from jaxrl.optim import minibatch_indices


def config_for(unit):
    return jaxrl.make_config(
        "ppo", num_envs=8, num_unrolls=2, unroll_length=5, num_minibatches=4, minibatch_unit=unit
    )


@pytest.mark.parametrize("unit", ["segment", "transition"])
def test_each_epoch_uses_every_transition_once(unit):
    config = config_for(unit)
    indices = np.asarray(minibatch_indices(jax.random.PRNGKey(0), config))
    assert indices.shape == (4, 20)
    np.testing.assert_array_equal(np.sort(indices.ravel()), np.arange(80))
    other = np.asarray(minibatch_indices(jax.random.PRNGKey(1), config))
    assert not np.array_equal(indices, other)


def test_segment_minibatches_hold_whole_segments():
    config = config_for("segment")
    segments = 16  # num_envs * num_unrolls; the flattened batch is time-major
    indices = np.asarray(minibatch_indices(jax.random.PRNGKey(0), config))
    for minibatch in indices:
        steps, segment = np.divmod(minibatch, segments)
        assert len(set(segment)) == 4
        for s in set(segment):
            np.testing.assert_array_equal(np.sort(steps[segment == s]), np.arange(5))


def test_transition_minibatches_mix_segments():
    indices = np.asarray(minibatch_indices(jax.random.PRNGKey(0), config_for("transition")))
    assert all(len(set(minibatch % 16)) > 4 for minibatch in indices)
