"""The loggers beside metrics.jsonl: the scalars they receive, and a real offline W&B run (no
network, no API key). TensorBoard is read back in tests/experiments/test_cli.py."""

import math

import pytest

import jaxrl
from jaxrl import loggers
from jaxrl.config import ConfigError

RECORDS = [
    {"env_steps": 256, "eval_return": 1.5, "eval_return_per_seed": [1.0, 2.0], "train_return": None},
    {"env_steps": 512, "eval_return": 2.5, "eval_return_per_seed": [2.0, 3.0], "train_return": 4.0},
]


def test_scalars_are_every_finite_number_with_lists_flattened():
    record = {**RECORDS[1], "policy_loss": math.nan, "algo": "ppo", "diverged": False}
    assert loggers.scalars(record) == {
        "eval_return": 2.5,
        "eval_return_per_seed/0": 2.0,
        "eval_return_per_seed/1": 3.0,
        "train_return": 4.0,
    }


def test_wandb_logs_offline_without_a_network(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert loggers.wandb_mode() == "offline"
    (logger,) = loggers.make(["jsonl", "wandb"], tmp_path, {"algo": "ppo"})
    for record in RECORDS:
        logger.log(record)
    logger.close()
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    assert next(run.glob("run-*.wandb")).stat().st_size > 0


def test_unknown_logger_fails_with_one_line_before_the_config_is_written(tiny_config, tmp_path):
    with pytest.raises(ConfigError, match="--logger=mlflow is invalid"):
        jaxrl.train(tiny_config(), tmp_path / "run", progress=False, loggers=["mlflow"])
    assert not (tmp_path / "run" / "config.json").exists()
