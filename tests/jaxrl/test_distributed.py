"""Two processes on localhost, 2 simulated CPU devices each, train one run (``--distributed``,
gloo collectives): it equals one process with 4 simulated devices up to summation order; only
process 0 prints and writes the run folder; when one process is killed mid-run the other ends
within a bounded time with one clear line, and the same two commands resume the run to exactly
where an uninterrupted one ends. Every process has a timeout, so a hang fails instead of blocking.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import chex
import jax
import numpy as np
import pytest

from experiments import train
from jaxrl.training import _restored_run
from tests import tiny

ROOT = Path(__file__).resolve().parents[2]
ARGS = tiny.flags(num_evals=4, total_steps=2048)
STEPS = [512, 1024, 1536, 2048]
TIMING_KEYS = ("train_sps", "compile_seconds", "wall_time")
TIMEOUT = 600  # seconds for any one command; compiling dominates, and CI machines may be loaded
HEARTBEAT = 10  # --heartbeat-timeout: how long the survivor may wait for news of a dead process


def environment(devices: int) -> dict[str, str]:
    """This environment with ``devices`` simulated CPU devices and no cluster to auto-detect."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "JAX_COORDINATOR"))}
    return {**env, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(run_dir: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "experiments.train", *ARGS, "--run-dir", str(run_dir), *flags]


def start_pair(run_dir: Path, port: int) -> list[subprocess.Popen]:
    """The two processes of one distributed run, each with 2 simulated devices."""
    flags = ["--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    flags += ["--heartbeat-timeout", str(HEARTBEAT)]
    return [
        subprocess.Popen(
            command(run_dir, *flags, "--process-id", str(i)),
            cwd=ROOT,
            env=environment(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]


def finish(processes: list[subprocess.Popen], timeout: float = TIMEOUT) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each process; kills them all if one outlives ``timeout``."""
    deadline = time.monotonic() + timeout
    results = []
    try:
        for p in processes:
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((p.returncode, out, err))
    except subprocess.TimeoutExpired:
        for p in processes:
            p.kill()
        pytest.fail(f"a process of the distributed run hung for over {timeout:.0f} s")
    return results


def run_pair(run_dir: Path, port: int) -> list[tuple[int, str, str]]:
    results = finish(start_pair(run_dir, port))
    for code, _, err in results:
        assert code == 0, err
    return results


def metrics(run_dir: Path) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


def records(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


GLOO_LINE = re.compile(
    r"\[Gloo\] Rank \d+ is connected to \d+ peer ranks\. Expected number of connected peer ranks is : \d+\n?"
)


def ours(text: str) -> str:
    """Output without gloo's own '[Gloo] Rank ... is connected to ... peer ranks' messages, which
    gloo's threads may interleave mid-line (one message cut by another): removed until none is left."""
    while (stripped := GLOO_LINE.sub("", text)) != text:
        text = stripped
    return text


def final_state(run_dir: Path):
    return _restored_run(run_dir)[3]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """One process with 4 devices, and two processes with 2 each, trained side by side."""
    folder = tmp_path_factory.mktemp("distributed")
    single = subprocess.Popen(
        command(folder / "single"),
        cwd=ROOT,
        env=environment(4),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pair = run_pair(folder / "pair", free_port())
    [(code, _, err)] = finish([single])
    assert code == 0, err
    return {"single": folder / "single", "pair": folder / "pair", "outputs": pair}


def test_two_processes_train_what_one_process_with_all_devices_trains(runs):
    single, pair = metrics(runs["single"]), metrics(runs["pair"])
    assert [r["env_steps"] for r in pair] == STEPS  # one line per evaluation: process 0 alone writes
    for a, b in zip(single, pair, strict=True):
        np.testing.assert_allclose(b["eval_return_per_seed"], a["eval_return_per_seed"], rtol=1e-4, atol=1e-5)
        for key in ("policy_loss", "value_loss", "train_return"):
            np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-6)
    one, two = final_state(runs["single"]), final_state(runs["pair"])
    leaves_one = jax.tree.leaves((one.params, one.obs_stats))
    leaves_two = jax.tree.leaves((two.params, two.obs_stats))
    for a, b in zip(leaves_one, leaves_two, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6)
    assert int(two.iteration[0]) == 8


def test_only_process_zero_prints_and_writes(runs):
    (_, out0, err0), (_, out1, err1) = ((code, ours(out), ours(err)) for code, out, err in runs["outputs"])
    assert out0.count("done: 2048 steps") == 1 and out1 == ""
    assert f"training ppo on toy/pointmass into {runs['pair']}" in err0
    assert "training" not in err1 and "done" not in err1
    files = {p.name for p in runs["pair"].iterdir()}
    assert files == {"config.json", "metrics.jsonl", "learning_curve.png", "checkpoints"}  # lock released
    assert sorted(p.name for p in (runs["pair"] / "checkpoints").iterdir()) == ["6", "8"]


def test_a_dead_process_stops_the_other_and_the_same_commands_resume(runs, tmp_path):
    run_dir, port = tmp_path / "run", free_port()
    processes = start_pair(run_dir, port)
    deadline = time.monotonic() + TIMEOUT
    while records(run_dir) < 2:  # the second record follows the first checkpoint
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            for p in processes:
                p.kill()
            pytest.fail(f"the run ended or hung before its second evaluation: {finish(processes)}")
        time.sleep(0.02)
    processes[1].kill()
    killed = time.monotonic()
    [(code, _, err)] = finish(processes[:1], timeout=HEARTBEAT + 60)
    finish(processes[1:])
    assert time.monotonic() - killed < HEARTBEAT + 60
    last = err.strip().splitlines()[-1]
    assert code == 1 and last.startswith("error: process 0 stopped: "), err
    assert last.endswith("rerun the same command in every process to resume")

    (_, out0, err0), (_, out1, _) = run_pair(run_dir, port)
    assert f"resuming {run_dir} from step" in err0 and ours(out1) == ""
    assert metrics(run_dir) == metrics(runs["pair"])  # no record lost or repeated
    chex.assert_trees_all_equal(final_state(run_dir), final_state(runs["pair"]))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--coordinator", "127.0.0.1:1234"], "--coordinator is only valid with --distributed"),
        (["--distributed", "--coordinator", "localhost"], "--coordinator=localhost is invalid: expected HOST:PORT"),
        (["--distributed", "--num-processes", "2", "--process-id", "2"], "--process-id=2 is invalid for --num-processes=2: expected 0 to 1"),
        (["--distributed", "--num-processes", "0"], "--num-processes=0 is invalid: expected at least 1"),
        (["--distributed", "--heartbeat-timeout", "0"], "--heartbeat-timeout=0 is invalid"),
    ],
)  # fmt: skip
def test_invalid_distributed_flags_are_one_line(tmp_path, capsys, flags, message):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        train.main([*ARGS, "--run-dir", str(tmp_path / "run"), *flags])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_distributed_without_a_coordinator_to_detect_is_one_line(tmp_path):
    result = subprocess.run(
        command(tmp_path / "run", "--distributed"),
        cwd=ROOT,
        env=environment(1),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: --distributed cannot start: ") and "--coordinator" in lines[0]
