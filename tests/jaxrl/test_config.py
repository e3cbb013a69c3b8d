import math

import numpy as np
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
        ({"num_envs": 0}, "^num_envs=0 is invalid"),
        ({"learning_rate": -1.0}, "^learning_rate=-1.0 is invalid"),
        ({"gamma": 1.5}, "^gamma=1.5 is invalid"),
        ({"num_minibatches": 7}, "^num_minibatches=7 must divide"),
        ({"total_steps": 10}, "^total_steps=10 is less"),
        ({"env": "Cartpole"}, "CartpoleBalance"),
        ({"lr_schedule": "cosine"}, "constant, linear"),
        ({"minibatch_unit": "episode"}, "transition, segment"),
        ({"num_envs": 4, "num_unrolls": 1, "num_minibatches": 8, "minibatch_unit": "segment"}, "4 segments"),
        ({"policy_hidden": ()}, "^policy_hidden= is invalid"),
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
    with pytest.raises(
        ConfigError, match="^scale_envs=0.3 is invalid: expected a factor that keeps num_envs=512"
    ):
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
    with pytest.raises(ConfigError, match=r"^preset=cpu,gpu is invalid: expected one of .*cpu,bpo"):
        jaxrl.make_config("ppo", preset="cpu,gpu")


INTEGER_FIELDS: set[str] = set()


def numeric_fields() -> list[tuple[str, str]]:
    """(algo, field) for every numeric field of the loop and of each learner."""
    import dataclasses

    from jaxrl.registry import LEARNERS

    pairs = []
    for algo, factory in LEARNERS.items():
        loop = [] if pairs else dataclasses.fields(jaxrl.TrainConfig)
        for f in [*loop, *dataclasses.fields(factory.config_type)]:
            if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
                pairs.append((algo, f.name))
                if isinstance(f.default, int):
                    INTEGER_FIELDS.add(f.name)
    return pairs


@pytest.mark.parametrize("algo, field", numeric_fields())
def test_every_numeric_setting_must_be_finite(algo, field):
    for value in (math.inf, -math.inf, math.nan):
        if field == "max_grad_norm" and value == math.inf:
            continue  # inf: no clip
        expected = "an integer" if field in INTEGER_FIELDS else ".*a finite"  # inf is no integer
        if field == "max_grad_norm":
            expected = "a positive number"
        with pytest.raises(ConfigError, match=f"^{field}={value} is invalid: expected {expected}") as error:
            jaxrl.make_config(algo, **{field: value})
        assert "\n" not in str(error.value)


def test_max_grad_norm_keeps_inf_as_no_clip():
    assert math.isinf(jaxrl.make_config("ppo", max_grad_norm=math.inf).max_grad_norm)


def test_a_non_finite_member_of_a_sweep_is_refused():
    with pytest.raises(ConfigError, match=r"^learning_rate=\[0.0010000000474974513, inf\] is invalid"):
        jaxrl.make_config("ppo", num_seeds=2, learning_rate=[1e-3, math.inf])


@pytest.mark.parametrize("sweep", [[1e-4, 3e-3], (1e-4, 3e-3), np.array([1e-4, 3e-3])])
def test_a_list_sweeps_like_a_tuple_or_an_array(sweep):
    config = jaxrl.make_config("ppo", num_seeds=2, learning_rate=sweep)
    assert np.asarray(config.learning_rate).tolist() == pytest.approx([1e-4, 3e-3])
    assert isinstance(sweep, np.ndarray) or config.learning_rate.dtype == np.float32


def test_lists_of_sizes_are_tuples_and_integral_floats_are_ints():
    config = jaxrl.make_config("ppo", policy_hidden=[16, 16], total_steps=1e6)
    assert config.learner.policy_hidden == (16, 16) and config.total_steps == 1_000_000
    assert isinstance(config.total_steps, int)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_envs": "64"}, "num_envs='64' is invalid: expected an integer"),
        ({"num_envs": 64.5}, "num_envs=64.5 is invalid: expected an integer"),
        ({"learning_rate": "3e-4"}, "learning_rate='3e-4' is invalid: expected a number, or a list"),
        ({"learning_rate": [1e-3, "x"]}, r"learning_rate=\[0.001, 'x'\] is invalid: expected a number"),
        ({"learning_rate": True}, "learning_rate=True is invalid: expected a number"),
        ({"normalize_obs": 1}, "normalize_obs=1 is invalid: expected True or False"),
        ({"env": 3}, "env=3 is invalid: expected a str"),
        (
            {"policy_hidden": "64,64"},
            "policy_hidden='64,64' is invalid: expected a list or tuple of integers",
        ),
        ({"policy_hidden": [64, 6.5]}, r"policy_hidden=\[64, 6.5\] is invalid: expected a list or tuple"),
        ({"num_envs": None}, "num_envs=None is invalid: expected an integer"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_field_the_value_and_the_type(overrides, message):
    with pytest.raises(ConfigError, match="^" + message) as error:
        jaxrl.make_config("ppo", **overrides)
    assert "\n" not in str(error.value)


def test_a_config_changed_with_replace_is_checked_before_anything_traces():
    config = jaxrl.make_config("ppo")
    with pytest.raises(ConfigError, match="^learning_rate=inf is invalid: expected a finite number$"):
        jaxrl.train(config.replace(learning_rate=math.inf), progress=False)
    with pytest.raises(ConfigError, match="^num_envs='64' is invalid: expected an integer$"):
        jaxrl.train(config.replace(num_envs="64"), progress=False)


def test_a_config_stored_before_fields_were_added_loads_with_their_defaults():
    from jaxrl.config import to_dict
    from jaxrl.registry import ADDED_FIELDS, from_dict

    stored = to_dict(jaxrl.make_config("ppo"))
    old = {k: v for k, v in stored.items() if k not in ADDED_FIELDS}  # flat: loop and learner fields
    assert {"kl_step", "activation"} <= set(stored) - set(old)
    assert from_dict(old) == jaxrl.make_config("ppo")
