"""Shared helpers: a tiny, fast config of any learner on the pure-JAX point-mass task. MuJoCo
renders headless (EGL) in tests: ``MUJOCO_GL`` must be set before MuJoCo is first imported."""

import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

import jaxrl  # noqa: E402

TINY = dict(
    env="toy/pointmass",
    num_envs=16,
    unroll_length=8,
    num_unrolls=2,
    num_minibatches=4,
    update_epochs=2,
    total_steps=16 * 8 * 2 * 6,
    num_evals=2,
    eval_envs=4,
    episode_length=20,
    policy_hidden=(16,),
    value_hidden=(16,),
)


@pytest.fixture
def tiny_config():
    def make(algo: str = "ppo", **overrides):
        return jaxrl.make_config(algo, **{**TINY, **overrides})

    return make
