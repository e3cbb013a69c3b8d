"""Shared set-up: a tiny, fast config of any learner on the pure-JAX point-mass task, headless
MuJoCo rendering, and one JAX compilation cache for the whole test session.

Tests compile many identical programs (a seed run alone and inside a vmap, a run and its resume,
the CLI's train and resume subprocesses); JAX's persistent compilation cache, in a fresh
temporary folder per session, lets every process (pytest-xdist workers, subprocesses, the
notebook's kernel: they inherit the environment) compile each of them once. Both variables must
be set before JAX and MuJoCo are first imported.
"""

import os
import shutil
import tempfile

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # set once, by the controller under xdist
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxrl-tests-jax-cache-")
    os.environ["JAXRL_TESTS_OWN_CACHE"] = "1"

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


def pytest_sessionfinish(session):
    worker = hasattr(session.config, "workerinput")
    if not worker and os.environ.get("JAXRL_TESTS_OWN_CACHE"):
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


@pytest.fixture
def tiny_config():
    def make(algo: str = "ppo", **overrides):
        return jaxrl.make_config(algo, **{**TINY, **overrides})

    return make
