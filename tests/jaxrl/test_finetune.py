"""The loop's fine-tuning settings: a separate critic optimiser with its own learning rate,
critic warm-up (the actor and its optimiser state do not move), and observation statistics that
stay as they start."""

import chex
import jax
import jax.numpy as jnp
import pytest

import jaxrl
from jaxrl.optim import adapt_learning_rate, learning_rate_of, make_optimizer
from jaxrl.training import build


def run(config, iterations: int):
    _, learner, loop = build(config)
    state = loop.init(jax.random.PRNGKey(0), config)
    states = [state]
    for _ in range(iterations):
        state, _ = loop.iteration(state, config)
        states.append(state)
    return learner, states


def actor(learner, params):
    return {k: v for k, v in params.items() if k not in learner.critic_keys}


def critic(learner, params):
    return {k: v for k, v in params.items() if k in learner.critic_keys}


def test_during_critic_warmup_only_the_critic_trains(tiny_config):
    # BPO: two critics (value and median); the statistics fixed as fine-tuning keeps them.
    config = tiny_config(
        "bpo", critic_optimizer="separate", critic_warmup_iterations=2, update_obs_stats=False
    )
    learner, states = run(config, 3)
    first, warmed, trained = states[0], states[2], states[3]
    chex.assert_trees_all_equal(trained.obs_stats, first.obs_stats)
    chex.assert_trees_all_equal(actor(learner, warmed.params), actor(learner, first.params))
    assert not jnp.allclose(critic(learner, warmed.params)["value"]["params"]["Dense_0"]["kernel"],
                            critic(learner, first.params)["value"]["params"]["Dense_0"]["kernel"])  # fmt: skip
    moved = jax.tree.map(
        lambda a, b: bool(jnp.any(a != b)), actor(learner, trained.params), actor(learner, warmed.params)
    )
    assert any(jax.tree.leaves(moved))  # the gate opens after the warm-up


def test_the_critic_learns_at_its_own_rate(tiny_config):
    config = tiny_config(critic_optimizer="separate", learning_rate=1e-3)
    config = config.replace(critic_learning_rate=0.0)  # past validation: a zero rate must hold the critic
    learner, states = run(config, 1)
    chex.assert_trees_all_equal(critic(learner, states[1].params), critic(learner, states[0].params))
    assert float(learning_rate_of(states[1].opt_state)) == pytest.approx(1e-3)


def test_the_kl_rule_steps_the_actors_rate_with_a_separate_critic(tiny_config):
    config = tiny_config(critic_optimizer="separate", lr_schedule="kl_adaptive", learning_rate=1e-3)
    state = make_optimizer(config).init({"policy": jnp.zeros(3), "value": jnp.zeros(2)})
    assert float(learning_rate_of(adapt_learning_rate(state, jnp.float32(0.03), config))) == pytest.approx(
        1e-3 / 1.5
    )


def test_warmup_without_a_separate_critic_is_refused():
    with pytest.raises(
        jaxrl.ConfigError, match="--critic-warmup-iterations=2 needs --critic-optimizer=separate"
    ):
        jaxrl.make_config("ppo", critic_warmup_iterations=2)


def test_a_learner_trains_on_action_chunks(tiny_config):
    config = tiny_config(action_chunk=2)
    assert config.steps_per_iteration == 2 * config.transitions_per_iteration
    result = jaxrl.train(config, progress=False)
    assert result.metrics[-1]["env_steps"] == config.total_steps
    assert result.metrics[-1]["eval_length"] == 10  # the 20-step limit in chunks of 2


def test_dppos_frozen_early_steps_keep_the_actor_the_run_started_from(tiny_config):
    config = tiny_config("dppo", denoising_steps=4, finetune_steps=2)
    _, states = run(config, 2)
    first, last = states[0], states[-1]
    chex.assert_trees_all_equal(first.aux["frozen_policy"], first.params["policy"])
    chex.assert_trees_all_equal(last.aux["frozen_policy"], first.params["policy"])
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), last.params["policy"], first.params["policy"])
    assert any(jax.tree.leaves(moved))


def test_every_ratio_is_one_before_the_first_update_with_frozen_steps(tiny_config):
    config = tiny_config("dppo", denoising_steps=4, finetune_steps=2).replace(learning_rate=0.0)
    _, _, loop = build(config)  # a learning rate of 0 keeps the parameters that acted
    state = loop.init(jax.random.PRNGKey(0), config)
    _, metrics = loop.iteration(state, config)
    assert abs(float(metrics["approx_kl"])) < 1e-7 and float(metrics["clip_fraction"]) == 0.0


def test_reinflows_noise_ceiling_holds_then_anneals_as_the_reference():
    from jaxrl.learners.reinflow import noise_ceiling

    config = jaxrl.make_config("reinflow", preset="finetune").learner
    ceiling = [float(noise_ceiling(jnp.float32(p), config)) for p in (0.0, 0.35, 0.675, 1.0)]
    low = 0.10 * 0.3 + 0.24 * 0.7  # the reference's max_std_decayed
    assert ceiling[0] == pytest.approx(0.24) and ceiling[1] == pytest.approx(0.24)
    assert ceiling[2] == pytest.approx((0.24 + low) / 2, rel=1e-5) and ceiling[3] == pytest.approx(low)
    fixed = jaxrl.make_config("reinflow").learner  # from scratch: a fixed ceiling
    assert float(noise_ceiling(jnp.float32(0.9), fixed)) == pytest.approx(0.24)
