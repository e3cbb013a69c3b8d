"""Runs that survive their machine: a run folder that cannot be created or written is refused
before anything compiles, with one line and nothing left behind; a write that fails during a run
(a full disk, simulated part-way through a checkpoint or a metrics line) stops it with one line,
keeps the metrics and the last complete checkpoint, and the run resumes exactly as an
uninterrupted one ends. None of it needs root: the failures are simulated."""

import errno
import json
import os
import tempfile
from pathlib import Path

import chex
import numpy as np
import pytest

import jaxrl
from experiments import collect, evaluate, train
from jaxrl import checkpoint, runlog, video
from jaxrl.config import ConfigError
from tests import tiny
from tests.oneline import refusal

TINY = tiny.flags()
NO_SPACE = (
    "RESOURCE_EXHAUSTED: Failed to write 864 bytes to file 20: No space left on device [os_error_code='28']"
)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def fail_probe(monkeypatch, code: int) -> None:
    """Creating a file anywhere fails with ``code`` (a read-only filesystem, a denied write)."""

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_a_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "notes").write_text("mine")
    with pytest.raises(
        ConfigError, match=f"^{tmp_path}/notes/run cannot be written: {tmp_path}/notes is a file"
    ):
        runlog.check_writable(tmp_path / "notes" / "run")
    assert listing(tmp_path) == ["notes"]


def test_a_writable_folder_to_be_created_passes_and_nothing_is_left(tmp_path):
    runlog.check_writable(tmp_path / "a" / "b" / "run")
    runlog.check_writable(tmp_path)
    assert listing(tmp_path) == []


def test_a_folder_without_write_permission_is_refused(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    # Root passes every permission check, so the check is made to answer as for another user.
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: False if Path(path) == locked else real_access(path, mode)
    )
    with pytest.raises(ConfigError, match="run cannot be written: permission denied"):
        runlog.check_writable(locked / "run")


@pytest.mark.parametrize(
    "code, cause", [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied")]
)
def test_a_folder_where_no_file_can_be_created_is_refused(tmp_path, monkeypatch, code, cause):
    fail_probe(monkeypatch, code)
    with pytest.raises(ConfigError) as error:
        runlog.check_writable(tmp_path / "run")
    assert str(error.value) == f"{tmp_path}/run cannot be written: {cause} ({tmp_path})"
    assert listing(tmp_path) == []


def test_train_refuses_a_folder_it_cannot_write_before_compiling(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes").write_text("mine")
    line = refusal(capsys, train, [*TINY, "--run-dir", str(tmp_path / "notes" / "run")])
    assert line == f"error: {tmp_path}/notes/run cannot be written: {tmp_path}/notes is a file, not a folder"
    fail_probe(monkeypatch, errno.EROFS)
    line = refusal(capsys, train, [*TINY, "--run-dir", str(tmp_path / "run")])
    assert line == f"error: {tmp_path}/run cannot be written: read-only file system ({tmp_path})"
    with pytest.raises(ConfigError, match="read-only file system"):
        jaxrl.train(jaxrl.make_config("ppo", **tiny.TINY), tmp_path / "run", progress=False)
    assert listing(tmp_path) == ["notes"]


def fill_the_disk_in_checkpoint(monkeypatch, iteration: int) -> None:
    """The save of checkpoint ``iteration`` fails as a full disk makes TensorStore fail, after
    writing two of the state's arrays."""
    from orbax.checkpoint._src.serialization import serialization

    real_serialize, real_save = serialization.async_serialize_from_host, checkpoint.save
    writes: list[int] = []

    async def serialize(*args, **kwargs):
        if writes and writes[0] == iteration and len(writes) > 2:
            raise ValueError(NO_SPACE)
        writes.append(iteration)
        return await real_serialize(*args, **kwargs)

    def save(checkpoints, step, state):
        writes[:] = [step]
        real_save(checkpoints, step, state)

    monkeypatch.setattr(serialization, "async_serialize_from_host", serialize)
    monkeypatch.setattr(checkpoint, "save", save)


def test_a_disk_full_mid_checkpoint_keeps_the_last_one_and_resumes_bit_for_bit(tmp_path, monkeypatch):
    config = jaxrl.make_config("ppo", **tiny.TINY)  # checkpoints at iterations 3 and 6
    whole = jaxrl.train(config, tmp_path / "whole", progress=False)
    with monkeypatch.context() as patch:
        fill_the_disk_in_checkpoint(patch, 6)
        with pytest.raises(jaxrl.RunWriteError) as error:
            jaxrl.train(config, tmp_path / "run", progress=False)
    assert str(error.value) == f"writing {tmp_path / 'run'} failed: no space left on device"
    assert checkpoint.latest_iteration(tmp_path / "run") == 3
    assert any("tmp" in name for name in os.listdir(tmp_path / "run" / "checkpoints"))  # the partial one
    assert [r["iteration"] for r in runlog.read_metrics(tmp_path / "run")] == [3, 6]
    resumed = jaxrl.resume(tmp_path / "run", progress=False)
    chex.assert_trees_all_equal(resumed.state, whole.state)
    assert [r["iteration"] for r in runlog.read_metrics(tmp_path / "run")] == [3, 6]
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["3", "6"]


class FullDisk:
    """A file whose writes stop, part-way through a line, as on a full disk."""

    def __init__(self, file, room: int):
        self.file, self.room = file, room

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data: bytes) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = self.file.write(data[: self.room])
        self.room -= written
        return written


def test_a_disk_full_mid_metrics_line_cuts_it_and_stops_with_one_line(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    train.main([*TINY, "--total-steps", "768", "--run-dir", str(run_dir)])
    before = (run_dir / runlog.METRICS_FILE).read_bytes()
    monkeypatch.setattr(runlog, "open", lambda *a, **k: FullDisk(open(*a, **k), 40), raising=False)  # noqa: SIM115
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        train.main([*TINY, "--total-steps", "1536", "--run-dir", str(run_dir)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 1 and lines[-1].startswith(
        f"error: writing {run_dir} failed: no space left on device; the metrics and the latest complete"
        " checkpoint are kept"
    )
    assert (run_dir / runlog.METRICS_FILE).read_bytes() == before  # the part-written line is cut
    assert [json.loads(line)["iteration"] for line in before.decode().splitlines()] == [2, 3]
    assert checkpoint.latest_iteration(run_dir) == 3
    monkeypatch.undo()
    train.main([*TINY, "--total-steps", "1536", "--run-dir", str(run_dir)])
    assert [r["iteration"] for r in runlog.read_metrics(run_dir)] == [2, 3, 6]


def test_a_failed_whole_file_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("old")

    def half_then_full(temporary: Path) -> None:
        temporary.write_text("ne")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError):
        runlog.atomic_write(path, half_then_full)
    assert listing(tmp_path) == ["config.json"] and path.read_text() == "old"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--learning-rate", "inf"], "--learning-rate=inf is invalid: expected a finite number"),
        (["--gamma", "nan"], "--gamma=nan is invalid: expected a finite number in (0, 1]"),
        (["--entropy-cost", "inf"], "--entropy-cost=inf is invalid: expected a finite number"),
        (
            ["--algo", "dppo", "--log-prob-min=-inf"],
            "--log-prob-min=-inf is invalid: expected a finite number",
        ),
        (["--max-grad-norm=-inf"], "--max-grad-norm=-inf is invalid: expected a positive number"),
        (["--seeds", "0"], "--seeds=0 is invalid"),
    ],
)
def test_the_command_line_refuses_non_finite_settings_naming_the_flag(tmp_path, capsys, flags, message):
    line = refusal(capsys, train, [*TINY, *flags, "--run-dir", str(tmp_path / "run")])
    assert line == f"error: {message}" or line.startswith(f"error: {message}")
    assert listing(tmp_path) == []


def test_a_list_sweeps_in_training(tmp_path):
    config = jaxrl.make_config("ppo", **{**tiny.TINY, "num_seeds": 2, "learning_rate": [1e-3, 1e-2]})
    result = jaxrl.train(config, progress=False)
    assert len(result.metrics[-1]["eval_return_per_seed"]) == 2


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_evaluate_refuses_a_video_it_cannot_write_before_compiling(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes").write_text("mine")
    line = refusal(
        capsys, evaluate, ["--run-dir", str(tmp_path), "--video", str(tmp_path / "notes" / "v.gif")]
    )
    assert (
        line
        == f"error: --video={tmp_path}/notes/v.gif: {tmp_path}/notes cannot be written: {tmp_path}/notes is a file, not a folder"
    )
    fail_probe(monkeypatch, errno.EROFS)
    line = refusal(capsys, evaluate, ["--run-dir", str(tmp_path), "--video", str(tmp_path / "v.gif")])
    assert line.endswith(f"{tmp_path} cannot be written: read-only file system")
    assert listing(tmp_path) == ["notes"]


def test_a_video_the_disk_cannot_hold_leaves_no_file(tmp_path, monkeypatch):
    import mediapy

    def half_then_full(path, *args, **kwargs):
        Path(path).write_bytes(b"GIF89a")
        no_space()

    monkeypatch.setattr(mediapy, "write_video", half_then_full)
    with pytest.raises(OSError):
        video.write(tmp_path / "v.gif", np.zeros((2, 4, 4, 3), np.uint8), 10)
    assert listing(tmp_path) == []


def test_collect_refuses_an_out_it_cannot_write_and_a_full_disk_leaves_neither_file(
    tmp_path, monkeypatch, capsys
):
    args = ["--expert", "pointmass", "--episodes", "2", "--out", str(tmp_path / "demos.npz")]
    with monkeypatch.context() as patch:
        fail_probe(patch, errno.EROFS)
        assert refusal(capsys, collect, args) == (
            f"error: --out={tmp_path}/demos.npz: {tmp_path} cannot be written: read-only file system"
        )
    monkeypatch.setattr(np, "savez", no_space)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        collect.main(args)
    assert exit.value.code == 1 and capsys.readouterr().err == (
        f"error: writing --out={tmp_path}/demos.npz failed: no space left on device; nothing was written\n"
    )
    assert listing(tmp_path) == []
