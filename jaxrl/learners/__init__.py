"""Registry of learners: ``LEARNERS[name]`` is a factory, ``make(name, obs, act)`` a learner.

Each learner is its own module exposing ``FACTORY``; adding one is adding a line here.
"""

from __future__ import annotations

from jaxrl.learners import bpo, dppo, fpo, policyflow, ppo, reinflow
from jaxrl.learners.base import Batch, Learner, LearnerFactory

LEARNERS: dict[str, LearnerFactory] = {
    factory.name: factory
    for factory in (ppo.FACTORY, bpo.FACTORY, fpo.FACTORY, dppo.FACTORY, reinflow.FACTORY, policyflow.FACTORY)
}


def make(name: str, observation_size: int, action_size: int) -> Learner:
    return LEARNERS[name].make(observation_size, action_size)


__all__ = ["Batch", "Learner", "LearnerFactory", "LEARNERS", "make"]
