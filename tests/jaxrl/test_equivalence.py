"""Seeds and hyperparameters vmapped in one program equal their single runs; a resumed run
equals an uninterrupted one. Both are properties of the loop, checked with learners whose state
differs in kind: a Gaussian actor (PPO), a chain with aux state (DPPO's frozen early steps) and
phases that replace parts of the state (GoRL)."""

import chex
import jax
import jax.numpy as jnp
import pytest

import jaxrl


def member(tree, index):
    return jax.tree.map(lambda x: x[index], tree)


@pytest.mark.parametrize(
    "algo, settings", [("ppo", {}), ("dppo", dict(denoising_steps=4, finetune_steps=2)), ("gorl", {})]
)
def test_vmapped_seed_equals_single_run(tiny_config, algo, settings):
    together = jaxrl.train(tiny_config(algo, num_seeds=3, seed=5, **settings), progress=False)
    for i in (0, 2):
        alone = jaxrl.train(tiny_config(algo, seed=5 + i, **settings), progress=False)
        chex.assert_trees_all_close(
            member(together.state.params, i), member(alone.state.params, 0), atol=1e-5, rtol=1e-5
        )


def test_learning_rate_sweep_is_one_vmapped_program(tiny_config):
    rates = [1e-4, 1e-3, 1e-2]
    swept = jaxrl.train(tiny_config(num_seeds=3, learning_rate=jnp.array(rates)), progress=False)
    finals = []
    for i, rate in enumerate(rates):
        alone = jaxrl.train(tiny_config(seed=i, learning_rate=rate), progress=False)
        chex.assert_trees_all_close(
            member(swept.state.params, i), member(alone.state.params, 0), atol=1e-5, rtol=1e-5
        )
        finals.append(alone.state.params)
    # The rates really differ in effect.
    assert not jnp.allclose(
        finals[0]["policy"]["params"]["Dense_0"]["kernel"], finals[2]["policy"]["params"]["Dense_0"]["kernel"]
    )


@pytest.mark.parametrize(
    "algo, settings", [("ppo", {}), ("dppo", dict(denoising_steps=4, finetune_steps=2)), ("gorl", {})]
)
def test_resumed_run_equals_uninterrupted_run(tiny_config, tmp_path, algo, settings):
    config = tiny_config(algo, num_seeds=2, **settings)
    uninterrupted = jaxrl.train(config, tmp_path / "whole", progress=False)
    half = config.replace(total_steps=config.total_steps // 2)
    jaxrl.train(half, tmp_path / "split", progress=False)
    resumed = jaxrl.resume(tmp_path / "split", total_steps=config.total_steps, progress=False)
    chex.assert_trees_all_equal(resumed.state.params, uninterrupted.state.params)
    chex.assert_trees_all_equal(resumed.state.opt_state, uninterrupted.state.opt_state)
    chex.assert_trees_all_equal(resumed.state.key, uninterrupted.state.key)
    assert resumed.metrics[-1]["env_steps"] == uninterrupted.metrics[-1]["env_steps"]
