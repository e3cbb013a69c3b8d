"""A trainer killed (SIGKILL) at random moments, one of them mid-checkpoint, and rerun with its
original command line ends exactly where an uninterrupted run does, with a clean metrics.jsonl."""

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import chex

from jaxrl.training import _restored_run
from tests import tiny

ROOT = Path(__file__).resolve().parents[2]
ARGS = tiny.flags(num_evals=10, total_steps=5120)
TIMING_KEYS = ("train_sps", "compile_seconds", "wall_time")


def command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "experiments.train", *ARGS, "--run-dir", str(run_dir)]


def metric_lines(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def temporary_checkpoints(run_dir: Path) -> set[str]:
    folder = run_dir / "checkpoints"
    return {p.name for p in folder.iterdir() if "tmp" in p.name} if folder.is_dir() else set()


def after(seconds: float) -> Callable[[], bool]:
    moment = time.monotonic() + seconds
    return lambda: time.monotonic() > moment


def after_record(run_dir: Path, seconds: float = 0.0) -> Callable[[], bool]:
    """True from ``seconds`` after the next metrics record (then its checkpoint is being written)."""
    lines, moment = metric_lines(run_dir), []

    def condition() -> bool:
        if not moment and metric_lines(run_dir) > lines:
            moment.append(time.monotonic() + seconds)
        return bool(moment) and time.monotonic() > moment[0]

    return condition


def during_checkpoint(run_dir: Path) -> Callable[[], bool]:
    """True while Orbax writes a checkpoint to a temporary folder not there before."""
    before = temporary_checkpoints(run_dir)
    return lambda: bool(temporary_checkpoints(run_dir) - before)


def run(run_dir: Path, kill_when: Callable[[], bool] = lambda: False) -> tuple[bool, str]:
    """Run the command until it ends or ``kill_when()`` holds (then SIGKILL it): (killed, stderr)."""
    process = subprocess.Popen(command(run_dir), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = False
    while process.poll() is None:
        if kill_when():
            process.kill()
            killed = True
            break
        time.sleep(0.001)
    _, stderr = process.communicate(timeout=300)
    assert killed or process.returncode == 0, stderr.decode()
    return killed, stderr.decode()


def clean_metrics(run_dir: Path) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r["env_steps"] for r in records]
    assert steps == sorted(set(steps)), steps  # strictly increasing: no duplicate, no reordering
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


def test_killed_trainer_resumes_bit_for_bit(tmp_path):
    rng = random.Random(21)
    reference, killed_dir = tmp_path / "reference", tmp_path / "killed"
    run(reference)

    moments = [
        lambda: after(rng.uniform(0.5, 6.0)),  # while starting, compiling or training
        lambda: after_record(killed_dir),  # its checkpoint is being written
        lambda: after_record(killed_dir, rng.uniform(0.0, 0.3)),
        lambda: during_checkpoint(killed_dir),  # after a resume, in the middle of Orbax's write
    ]
    stderr = []
    for moment in moments:
        killed, err = run(killed_dir, moment())
        assert killed, "the run ended before the planned kill"
        stderr.append(err)
    _, err = run(killed_dir)
    stderr.append(err)

    assert any("resuming" in err for err in stderr) and any("taking over the lock" in err for err in stderr)
    assert clean_metrics(killed_dir) == clean_metrics(reference)
    assert clean_metrics(killed_dir)[-1]["env_steps"] == 5120
    assert not (killed_dir / ".lock").exists()
    _, _, _, resumed_state = _restored_run(killed_dir)
    _, _, _, reference_state = _restored_run(reference)
    chex.assert_trees_all_equal(resumed_state, reference_state)
