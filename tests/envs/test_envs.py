"""The registry's names match the backends', and each backend steps through the interface."""

import jax
import jax.numpy as jnp
import numpy as np

import envs


def test_names_cover_playground_dm_control_and_brax():
    from mujoco_playground import registry

    names = envs.names()
    assert set(registry.dm_control_suite.ALL_ENVS) <= set(names)
    assert len([n for n in names if "/" not in n]) == 25
    assert {"brax/ant", "brax/halfcheetah", "brax/hopper", "brax/humanoid"} <= set(names)
    assert {"toy/multigoal", "toy/pointmass"} <= set(names)


def test_playground_task_steps_with_mjx_jax_impl():
    env = envs.BatchedEnv(envs.make("PendulumSwingup", episode_length=3), 2)
    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    for _ in range(3):
        state = step(state, jnp.zeros((2, env.action_size)))
    assert state.truncated.all()
    assert np.isfinite(state.info["done_return"]).all()
    assert state.obs.shape == (2, env.observation_size)
