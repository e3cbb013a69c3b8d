"""The scripts end to end with tiny budgets (TensorBoard logging and a video included), and every
kind of invalid input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import evaluate, train
from jaxrl.loggers import read_tensorboard
from tests import tiny
from tests.oneline import refusal

ROOT = Path(__file__).resolve().parents[2]
TINY = tiny.flags()


def cli(script, *args):
    return subprocess.run(
        [sys.executable, "-m", f"experiments.{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_train_resume_evaluate(tmp_path):
    algo = "ppo"
    run_dir = tmp_path / "run"
    trained = cli(
        "train", "--algo", algo, *TINY, "--total-steps", "1024", "--seeds", "2", "--run-dir", str(run_dir),
        "--logger", "tensorboard",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["env_steps"] == 1024
    for key in ("env_steps", "eval_return", "train_sps", "policy_loss", "value_loss", "entropy"):
        assert key in records[-1]
    assert (run_dir / "learning_curve.png").stat().st_size > 0
    saved = json.loads((run_dir / "config.json").read_text())
    assert (saved["num_seeds"], saved["algo"]) == (2, algo)

    resumed = cli(
        "train", "--resume", str(run_dir), "--total-steps", "2048", "--no-progress", "--logger", "tensorboard"
    )
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["env_steps"] == 2048

    # The event files hold the same curves as metrics.jsonl, on the same step axis.
    curves = read_tensorboard(run_dir)
    for key in ("eval_return", "policy_loss", "train_sps", "eval_return_per_seed/1"):
        steps = [step for step, _ in curves[key]]
        assert steps == [r["env_steps"] for r in records], (key, curves[key])
    expected = [r["eval_return"] for r in records]
    assert [value for _, value in curves["eval_return"]] == pytest.approx(expected, rel=1e-6)

    video = tmp_path / "episode.gif"
    evaluated = cli("evaluate", "--run-dir", str(run_dir), "--episodes", "5", "--video", str(video))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "all: return" in evaluated.stdout and "over 10 episodes" in evaluated.stdout
    assert video.read_bytes()[:6] == b"GIF89a" and "21 frames" in evaluated.stdout  # reset + 20 steps


@pytest.mark.parametrize(
    "args, message",
    [
        (["--algo", "sac"], "--algo=sac"),
        (["--env", "CartPole"], "CartpoleBalance"),
        (["--num-envs", "0"], "--num-envs=0"),
        (["--num-envs", "many"], "--num-envs"),
        (["--learning-rate", "-0.001"], "--learning-rate=-0.001"),
        (["--clip-eps", "0"], "--clip-eps=0"),
        (["--algo", "bpo", "--barrier-lambda", "0"], "--barrier-lambda=0"),
        (["--barrier-lambda", "0.01"], "--barrier-lambda"),
        ([*TINY, "--num-minibatches", "7"], "--num-minibatches=7"),
        ([*TINY, "--total-steps", "10"], "--total-steps=10"),
        (["--preset", "gpu"], "--preset=gpu"),
        (["--logger", "mlflow"], "--logger"),
        (["--resume", "/nonexistent/run"], "no such run folder"),
        (["--resume", "."], "has no config.json: not a jaxrl run folder"),
        ([*TINY, "--scale-envs", "0.3"], "--scale-envs=0.3"),
        ([*TINY, "--num-devices", "3"], "--num-devices=3"),
    ],
)
def test_train_rejects_invalid_input_with_one_line(args, message, capsys):
    assert message in refusal(capsys, train, args)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--run-dir", "/nonexistent/run"], "no such run folder"),
        (["--run-dir", ".", "--video", "out.avi"], "--video=out.avi"),
        (["--run-dir", ".", "--video-episodes", "0"], "--video-episodes=0"),
    ],
)
def test_evaluate_rejects_invalid_input_with_one_line(args, message, capsys):
    assert message in refusal(capsys, evaluate, args)


def test_train_refuses_a_run_folder_with_an_invalid_config(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    result = cli("train", *TINY, "--total-steps", "1024", "--run-dir", str(tmp_path))
    assert result.returncode == 2 and f"{tmp_path / 'config.json'}: algo=None is invalid" in result.stderr
    assert (tmp_path / "config.json").read_text() == "{}"
