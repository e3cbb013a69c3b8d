"""jaxrl: on-policy reinforcement learning that trains inside the same XLA program as
MuJoCo-XLA environments.

Notebook use::

    import jaxrl
    config = jaxrl.make_config("ppo", env="toy/pointmass", preset="cpu", total_steps=1_000_000)
    result = jaxrl.train(config, run_dir="runs/pointmass")
    policy = jaxrl.load_policy("runs/pointmass")
"""

from jaxrl.config import PRESETS, ConfigError, TrainConfig
from jaxrl.learners.base import Learner
from jaxrl.loop import TrainState
from jaxrl.registry import LEARNERS, make_config, make_learner
from jaxrl.runlog import RunWriteError
from jaxrl.training import (
    TrainingDiverged,
    TrainResult,
    evaluate_run,
    load_config,
    load_policy,
    policy_of,
    resume,
    train,
    train_or_resume,
)

__all__ = [
    "ConfigError",
    "LEARNERS",
    "Learner",
    "PRESETS",
    "RunWriteError",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "TrainingDiverged",
    "evaluate_run",
    "load_config",
    "load_policy",
    "make_config",
    "make_learner",
    "policy_of",
    "resume",
    "train",
    "train_or_resume",
]
