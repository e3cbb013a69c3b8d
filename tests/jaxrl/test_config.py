import math

import pytest

import jaxrl
from jaxrl.config import ConfigError


def test_defaults_are_playground_dm_control_ppo():
    config = jaxrl.make_config("ppo")
    assert (config.num_envs, config.unroll_length, config.num_minibatches, config.update_epochs) == (
        2048,
        30,
        32,
        16,
    )
    # Brax batch_size = num_envs * num_unrolls / num_minibatches = 1024.
    assert config.num_envs * config.num_unrolls // config.num_minibatches == 1024
    assert (config.gamma, config.gae_lambda, config.learning_rate, config.reward_scaling) == (
        0.995,
        0.95,
        1e-3,
        10.0,
    )
    assert (config.learner.entropy_cost, config.learner.clip_eps) == (1e-2, 0.3)
    assert config.learner.policy_hidden == (32,) * 4 and config.learner.value_hidden == (256,) * 5
    assert math.isinf(config.max_grad_norm)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_envs": 0}, "--num-envs=0"),
        ({"learning_rate": -1.0}, "--learning-rate=-1.0"),
        ({"gamma": 1.5}, "--gamma=1.5"),
        ({"num_minibatches": 7}, "--num-minibatches=7"),
        ({"total_steps": 10}, "--total-steps=10"),
        ({"env": "Cartpole"}, "CartpoleBalance"),
        ({"lr_schedule": "cosine"}, "constant, linear"),
        ({"minibatch_unit": "episode"}, "transition, segment"),
        ({"num_envs": 4, "num_unrolls": 1, "num_minibatches": 8, "minibatch_unit": "segment"}, "4 segments"),
        ({"policy_hidden": ()}, "--policy-hidden"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_values_fail_with_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        jaxrl.make_config("ppo", **overrides)
    assert "\n" not in str(error.value)


def test_config_round_trips_through_json_dict():
    from jaxrl.config import to_dict
    from jaxrl.registry import from_dict

    config = jaxrl.make_config("ppo", preset="cpu", env="toy/pointmass")
    assert from_dict(to_dict(config)) == config


def test_scale_envs_keeps_minibatch_size_and_learning_rate():
    from jaxrl.config import scale_envs

    config = jaxrl.make_config("ppo", preset="cpu")
    scaled = scale_envs(config, 8)
    minibatch = config.num_envs * config.num_unrolls * config.unroll_length // config.num_minibatches
    assert (scaled.num_envs, scaled.num_minibatches) == (8 * config.num_envs, 8 * config.num_minibatches)
    assert scaled.num_envs * scaled.num_unrolls * scaled.unroll_length // scaled.num_minibatches == minibatch
    assert scaled.learning_rate == config.learning_rate and scaled.total_steps == config.total_steps
    assert scale_envs(config, 0.5).num_envs == config.num_envs // 2
    with pytest.raises(ConfigError, match="--scale-envs=0.3"):
        scale_envs(config, 0.3)


def test_task_settings_are_playgrounds_and_a_preset_that_sets_the_field_wins():
    pendulum = jaxrl.make_config("ppo", env="PendulumSwingup")
    assert (pendulum.action_repeat, pendulum.update_epochs) == (4, 4)
    assert jaxrl.make_config("ppo", env="FingerSpin").gamma == 0.95
    assert jaxrl.make_config("ppo", env="BallInCup").gamma == 0.95
    assert jaxrl.make_config("ppo", env="WalkerRun").total_steps == 100_000_000
    assert jaxrl.make_config("ppo", env="CartpoleBalance").total_steps == 60_000_000
    on_cpu = jaxrl.make_config("ppo", preset="cpu", env="PendulumSwingup")
    assert (on_cpu.action_repeat, on_cpu.update_epochs, on_cpu.total_steps) == (4, 8, 5_000_000)
    assert jaxrl.make_config("ppo", env="PendulumSwingup", action_repeat=2).action_repeat == 2


def test_the_toy_presets_take_each_learners_additions_and_explicit_values_win():
    ppo = jaxrl.make_config("ppo", preset="pointmass", env="toy/pointmass", total_steps=400_000)
    assert (ppo.num_envs, ppo.unroll_length, ppo.total_steps, ppo.learning_rate) == (256, 32, 400_000, 1e-3)
    fpo = jaxrl.make_config("fpo", preset="pointmass", env="toy/pointmass")
    assert (fpo.learner.loss_form, fpo.learning_rate) == ("velocity", 1e-3)  # its defaults: (1-t)^2, 3e-4
    dppo = jaxrl.make_config("dppo", preset="pointmass", env="toy/pointmass", clip_eps=0.2)
    assert dppo.learner.clip_eps == 0.2  # the preset's 0.1 gives way to an explicit value
    assert jaxrl.make_config("fpo", preset="multigoal", env="toy/multigoal").learner.loss_form != "velocity"


def test_presets_combine_in_order_and_a_bad_name_fails_with_one_line():
    combined = jaxrl.make_config("ppo", preset="cpu,bpo")
    assert (combined.num_envs, combined.normalize_obs, combined.learning_rate) == (512, False, 3e-4)
    with pytest.raises(ConfigError, match=r"^--preset=cpu,gpu is invalid: expected one of .*cpu,bpo"):
        jaxrl.make_config("ppo", preset="cpu,gpu")
