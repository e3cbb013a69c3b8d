import chex
import jax
import jax.extend.core as jax_core
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import jaxrl
from envs.toy import GOALS, PointMass
from envs.wrappers import BatchedEnv, vmap_envs
from jaxrl.training import memory_footprint


def run(env_name, steps, num_envs=3, action=0.5, **overrides):
    env = envs.BatchedEnv(envs.make(env_name, **overrides), num_envs)
    state = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    states = [state]
    for _ in range(steps):
        states.append(step(states[-1], jnp.full((num_envs, env.action_size), action)))
    return env, states


def test_truncation_at_time_limit_keeps_final_observation_and_resets():
    env, states = run("toy/pointmass", 6, episode_length=5)
    for t in range(1, 5):
        assert not states[t].truncated.any() and not states[t].terminated.any()
    ended, before = states[5], states[4]
    assert ended.truncated.all() and not ended.terminated.any()
    # The final observation is where the episode was cut off: one step on from the state before.
    physics = jax.vmap(env.env.env.step)(before._replace(info={}), jnp.full((3, 2), 0.5))
    np.testing.assert_allclose(ended.info["final_obs"], physics.obs, rtol=1e-6)
    # The returned state is a fresh episode, not the ended one.
    assert not np.allclose(ended.obs, ended.info["final_obs"])
    np.testing.assert_array_equal(ended.info["steps"], 0)
    np.testing.assert_array_equal(ended.info["episode_return"], 0)
    expected_return = sum(np.asarray(s.reward) for s in states[1:6])
    np.testing.assert_allclose(ended.info["done_return"], expected_return, rtol=1e-5)
    np.testing.assert_array_equal(ended.info["done_length"], 5)
    # The new episode then runs normally.
    np.testing.assert_array_equal(states[6].info["steps"], 1)
    assert not states[6].truncated.any()


def test_termination_is_not_truncation():
    env = envs.BatchedEnv(envs.make("toy/multigoal"), 2)
    state = env.reset(jax.random.PRNGKey(0))
    toward_goal = jnp.tile(GOALS[0], (2, 1))
    flags = []
    for _ in range(10):
        state = env.step(state, toward_goal)
        flags.append((bool(state.terminated[0]), bool(state.truncated[0])))
    assert (True, False) in flags
    assert all(not truncated for _, truncated in flags)


def test_action_repeat_sums_rewards_and_counts_environment_steps():
    single = envs.make("toy/pointmass", episode_length=100)
    repeated = envs.make("toy/pointmass", episode_length=100, action_repeat=3)
    key, action = jax.random.PRNGKey(1), jnp.array([0.3, -0.2])
    a, b = single.reset(key), repeated.reset(key)
    total = 0.0
    for _ in range(3):
        a = single.step(a, action)
        total += float(a.reward)
    b = repeated.step(b, action)
    np.testing.assert_allclose(float(b.reward), total, rtol=1e-5)
    np.testing.assert_allclose(b.obs, a.obs, rtol=1e-6)
    assert int(b.info["steps"]) == 3


def test_an_action_chunk_runs_its_actions_in_sequence_each_repeated():
    single = envs.make("toy/pointmass", episode_length=100)
    chunked = envs.make("toy/pointmass", episode_length=100, action_repeat=2, action_chunk=3)
    assert chunked.action_size == 3 * single.action_size and chunked.steps_per_action == 6
    key, chunk = jax.random.PRNGKey(1), jnp.array([[0.3, -0.2], [-0.5, 0.1], [0.9, 0.4]])
    a, b = single.reset(key), chunked.reset(key)
    total = 0.0
    for action in chunk:
        for _ in range(2):
            a = single.step(a, action)
            total += float(a.reward)
    b = chunked.step(b, chunk.reshape(-1))
    np.testing.assert_allclose(float(b.reward), total, rtol=1e-5)
    np.testing.assert_allclose(b.obs, a.obs, rtol=1e-6)
    assert int(b.info["steps"]) == 6 and chunked.policy_steps == 17  # ceil(100 / 6)


def test_unknown_name_lists_closest_valid_names():
    with pytest.raises(ValueError, match="CartpoleBalance"):
        envs.make("cartpole_balance")
    with pytest.raises(ValueError, match="brax/halfcheetah"):
        envs.make("brax/half_cheetah")


def _primitives(jaxpr: jax_core.Jaxpr) -> set[str]:
    """Every primitive in ``jaxpr`` and the jaxprs nested in its equations (branches, bodies)."""
    names = {str(eqn.primitive) for eqn in jaxpr.eqns}
    for inner in jax_core.subjaxprs(jaxpr):
        names |= _primitives(inner)
    return names


def test_auto_reset_stays_a_branch_under_the_seed_vmap():
    # vmap turns a cond on a batched predicate into a select that resets every environment at
    # every step (200 physics steps each for a DM Control cheetah: training ran 200x slower).
    env = envs.BatchedEnv(envs.make("toy/pointmass", episode_length=2), 3)
    state = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 2))
    actions = jnp.zeros((2, 3, env.action_size))

    def primitives(step):
        return _primitives(jax.make_jaxpr(jax.vmap(step))(state, actions).jaxpr)

    assert "cond" in primitives(env.step)
    nested = env._step_and_reset_ended  # what folding the seeds avoids
    assert "cond" not in primitives(nested)
    folded_states, nested_states = [state], [state]
    for _ in range(3):  # episodes end at the second step
        folded_states.append(jax.jit(jax.vmap(env.step))(folded_states[-1], actions))
        nested_states.append(jax.jit(jax.vmap(nested))(nested_states[-1], actions))
    chex.assert_trees_all_equal(folded_states, nested_states)
    assert float(folded_states[2].info["done_length"].max()) == 2.0


def test_vmap_envs_under_a_seeds_vmap_equals_the_nested_vmap():
    # Folding the seeds axis into the environment axis changes shapes, not results.
    env = envs.make("toy/pointmass")
    keys = jax.random.split(jax.random.PRNGKey(0), 3 * 5).reshape(3, 5, 2)
    actions = jax.random.normal(jax.random.PRNGKey(1), (3, 5, env.action_size))
    nested = jax.jit(jax.vmap(jax.vmap(env.reset)))(keys)
    chex.assert_trees_all_equal(jax.jit(jax.vmap(vmap_envs(env.reset)))(keys), nested)
    stepped = jax.jit(jax.vmap(jax.vmap(env.step)))(nested, actions)
    chex.assert_trees_all_equal(jax.jit(jax.vmap(vmap_envs(env.step)))(nested, actions), stepped)
    shared = jax.jit(jax.vmap(jax.vmap(env.step), in_axes=(0, None)))(nested, actions[0])
    folded = jax.jit(jax.vmap(vmap_envs(env.step), in_axes=(0, None)))(nested, actions[0])
    chex.assert_trees_all_equal(folded, shared)


@pytest.mark.parametrize("num_seeds, traces", [(1, 1), (2, 2)])
def test_compiling_training_traces_the_environment_step_once_per_shape(monkeypatch, num_seeds, traces):
    # Tracing a MuJoCo step takes seconds, so one compilation of the training chunk traces it
    # once; several seeds add the folded [envs * seeds] shape, and nothing else adds a trace.
    calls = []
    step = PointMass.step
    monkeypatch.setattr(PointMass, "step", lambda self, *args: (calls.append(1), step(self, *args))[1])
    config = jaxrl.make_config(
        "ppo", env="toy/pointmass", num_envs=4, num_unrolls=2, unroll_length=3, num_minibatches=2,
        update_epochs=1, num_seeds=num_seeds,
    )  # fmt: skip
    memory_footprint(config)
    assert len(calls) == traces


def test_a_postponed_time_limit_lets_episodes_run_past_it_and_restoring_it_ends_them():
    env = BatchedEnv(envs.make("toy/pointmass", episode_length=20), 4)
    state = envs.postpone_time_limit(env.reset(jax.random.PRNGKey(0)), 32)
    action = jnp.zeros((4, 2))
    for _ in range(32):  # 32 steps of a 20-step episode, none truncated
        state = env.step(state, action)
        assert float(jnp.max(state.truncated)) == 0.0
    state = env.step(envs.postpone_time_limit(state, -32), action)
    assert float(jnp.min(state.truncated)) == 1.0  # 64 steps counted: the limit ends them now
