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
from tests.tiny import LEARNER_TINY, TINY  # noqa: E402


def pytest_sessionfinish(session):
    worker = hasattr(session.config, "workerinput")
    if not worker and os.environ.get("JAXRL_TESTS_OWN_CACHE"):
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


@pytest.fixture
def tiny_config():
    def make(algo: str = "ppo", **overrides):
        return jaxrl.make_config(algo, **{**TINY, **LEARNER_TINY.get(algo, {}), **overrides})

    return make
