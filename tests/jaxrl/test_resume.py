"""Resuming as people do it: the same command again, flags equal to the stored ones, a changed
flag, a busy or corrupt run folder, a swept hyperparameter, a metrics file cut short. The
scripts run in this process (``main(argv)``); every refusal is one line, exit 2, and leaves
the run folder as it was."""

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest

import jaxrl
from experiments import evaluate, train
from jaxrl import runlock, runlog
from jaxrl.runlock import RunFolderBusy
from tests import tiny
from tests.oneline import refusal

ROOT = Path(__file__).resolve().parents[2]
TINY = tiny.flags()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished run of 1024 steps (checkpoints at 512 and 1024); tests work on copies."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    train.main([*TINY, "--total-steps", "1024", "--run-dir", str(run_dir)])
    return run_dir


@pytest.fixture
def run_dir(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "run"))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def env_steps(folder: Path) -> list[int]:
    return [json.loads(line)["env_steps"] for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_rerunning_the_command_continues_the_run(run_dir, capsys):
    capsys.readouterr()
    train.main(["--resume", str(run_dir), "--algo", "ppo", "--env", "toy/pointmass", "--num-envs", "16",
                "--policy-hidden", "16", "--total-steps", "1536", "--no-progress"])  # fmt: skip
    assert f"resuming {run_dir} from step 1024" in capsys.readouterr().err
    train.main([*TINY, "--total-steps", "2048", "--run-dir", str(run_dir)])
    assert f"resuming {run_dir} from step 1536" in capsys.readouterr().err
    assert env_steps(run_dir) == [512, 1024, 1536, 2048]
    assert json.loads((run_dir / "config.json").read_text())["total_steps"] == 2048


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--env", "CartpoleBalance"], "--env=CartpoleBalance differs from the run's stored env=toy/pointmass"),
        (["--algo", "bpo"], "--algo=bpo differs from the run's stored algo=ppo"),
        (["--policy-hidden", "32,32"], "--policy-hidden=32,32 differs from the run's stored policy_hidden=16"),
        (["--preset", "cpu"], "--preset=cpu (which sets num_envs=512) differs from the run's stored num_envs=16"),
        (["--scale-envs", "2"], "--scale-envs=2 (which makes num_envs=4096) differs from the run's stored num_envs=16"),
        (["--total-steps", "512"], "--total-steps=512 is less than the 1024 steps"),
    ],
)  # fmt: skip
def test_a_changed_flag_is_refused_naming_both_values(run_dir, capsys, flags, message):
    before = snapshot(run_dir)
    for argv in (["--resume", str(run_dir), *flags], ["--run-dir", str(run_dir), *flags]):
        line = refusal(capsys, train, argv)
        assert message in line, line
        if "differs" in line:
            assert line.endswith(f"({run_dir / 'config.json'}); only --total-steps may change when resuming")
    assert snapshot(run_dir) == before


def test_python_resume_keeps_the_same_rule(run_dir):
    before = snapshot(run_dir)
    with pytest.raises(jaxrl.ConfigError) as error:
        jaxrl.resume(run_dir, total_steps=1536, progress=False, env="toy/pointmass", learning_rate=3e-3)
    assert str(error.value) == (
        f"learning_rate=0.003 differs from the run's stored learning_rate=0.001"
        f" ({run_dir / 'config.json'}); only total_steps may change when resuming"
    )
    assert snapshot(run_dir) == before


def test_train_or_resume_continues_its_own_config_and_refuses_another(run_dir):
    config = jaxrl.load_config(run_dir).replace(total_steps=1536)
    before = snapshot(run_dir)
    with pytest.raises(
        jaxrl.ConfigError, match="learning_rate=0.003 differs from the run's stored learning_rate=0.001"
    ):
        jaxrl.train_or_resume(config.replace(learning_rate=3e-3), run_dir, progress=False)
    assert snapshot(run_dir) == before
    jaxrl.train_or_resume(config, run_dir, progress=False)
    assert env_steps(run_dir) == [512, 1024, 1536]


def test_resume_and_run_dir_must_agree(run_dir, tmp_path, capsys):
    line = refusal(capsys, train, ["--resume", str(run_dir), "--run-dir", str(tmp_path / "other")])
    assert "name different folders" in line


def test_a_run_stopped_before_its_first_checkpoint_starts_over(trained, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(trained / "config.json", run_dir)
    (run_dir / "metrics.jsonl").write_text('{"env_steps": 512, "eval_ret')  # a crash mid-line
    capsys.readouterr()
    train.main([*TINY, "--total-steps", "1024", "--run-dir", str(run_dir)])
    assert f"{run_dir} has no checkpoint yet: training it from the start" in capsys.readouterr().err
    assert env_steps(run_dir) == [512, 1024]


def test_a_second_writer_is_refused_and_a_dead_ones_lock_taken_over(run_dir, tiny_config, capsys):
    hold = "import sys, time\nfrom jaxrl import runlock\nwith runlock.hold(sys.argv[1]):\n"
    hold += "    print('held', flush=True)\n    time.sleep(600)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        before = snapshot(run_dir)
        line = refusal(capsys, train, [*TINY, "--total-steps", "2048", "--run-dir", str(run_dir)])
        assert line.startswith(f"error: {run_dir} is being written by process {holder.pid} on ")
        assert line.endswith("; wait for it or choose another --run-dir")
        with pytest.raises(RunFolderBusy):
            jaxrl.resume(run_dir, progress=False)
        assert snapshot(run_dir) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    capsys.readouterr()
    with runlock.hold(run_dir):
        pass
    assert f"taking over the lock of {run_dir} from process {holder.pid} on " in capsys.readouterr().err
    assert not (run_dir / runlock.LOCK_FILE).exists()


@pytest.mark.parametrize(
    "contents, problem",
    [
        (lambda text: text[: len(text) // 2], "is not valid JSON"),
        (lambda text: "", "is not valid JSON"),
        (lambda text: "[1, 2]", "holds a JSON list, not a config object"),
        (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "gamma"}), "'gamma' is missing"),
        (lambda text: json.dumps({**json.loads(text), "num_envs": "many"}), "config.json"),
    ],
)  # fmt: skip
def test_a_corrupt_config_is_one_line_naming_the_file(run_dir, capsys, contents, problem):
    path = run_dir / "config.json"
    path.write_text(contents(path.read_text()))
    before = snapshot(run_dir)
    for script, argv in (
        (train, ["--resume", str(run_dir)]),
        (train, [*TINY, "--run-dir", str(run_dir)]),
        (evaluate, ["--run-dir", str(run_dir)]),
    ):
        line = refusal(capsys, script, argv)
        assert str(path) in line and problem in line, line
    assert snapshot(run_dir) == before


def test_a_file_as_run_folder_is_one_line(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    for script, argv in (
        (train, [*TINY, "--run-dir", str(path)]),
        (train, ["--resume", str(path)]),
        (evaluate, ["--run-dir", str(path)]),
    ):
        assert "is a file, not a run folder" in refusal(capsys, script, argv)
    assert path.read_text() == "mine"


def test_a_swept_hyperparameter_resumes_and_evaluates(tiny_config, tmp_path, capsys):
    config = tiny_config(num_seeds=2, learning_rate=jnp.array([1e-3, 1e-2]), total_steps=512)
    jaxrl.train(config, tmp_path / "run", progress=False)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["learning_rate"] == pytest.approx(
        [1e-3, 1e-2]
    )
    train.main(["--resume", str(tmp_path / "run"), "--total-steps", "1024", "--no-progress"])
    assert env_steps(tmp_path / "run") == [256, 512, 1024]
    capsys.readouterr()
    evaluate.main(["--run-dir", str(tmp_path / "run"), "--episodes", "3"])
    assert "seed 1: return" in capsys.readouterr().out
    policy = jaxrl.load_policy(tmp_path / "run", seed_index=1, deterministic=True)
    assert policy(jnp.zeros(6), None).shape == (2,)


def test_metrics_drop_lines_cut_short_and_records_past_the_checkpoint(tmp_path):
    path = tmp_path / runlog.METRICS_FILE
    path.write_text('{"env_steps": 1}\n{"env_steps": 2}\n{"env_st')
    runlog.append_metrics(tmp_path, {"env_steps": 3})
    assert path.read_text() == '{"env_steps": 1}\n{"env_steps": 2}\n{"env_steps": 3}\n'
    path.write_text(path.read_text() + '{"env_steps": 4')
    runlog.keep_metrics_until(tmp_path, 2)
    assert path.read_text() == '{"env_steps": 1}\n{"env_steps": 2}\n'
