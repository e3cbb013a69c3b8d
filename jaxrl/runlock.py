"""One writer per run folder: a ``.lock`` file in the folder, held with an exclusive ``flock``
for as long as a trainer writes there and naming its process, host and start time. The kernel
releases the lock when its process ends however it ends, so a killed trainer never leaves the
folder stuck: the next trainer finds the dead holder's file unlocked, says it takes it over, and
writes its own name. A second live trainer gets :class:`RunFolderBusy`, one line naming the
holder; a command that checks a folder before training can hold the lock around the training,
which then holds it on. Nothing here touches JAX.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from jaxrl.config import ConfigError

LOCK_FILE = ".lock"
_held: set[tuple[Path, int]] = set()  # (run folder, thread) pairs this process holds


class RunFolderBusy(ConfigError):
    """Another live process is writing the run folder."""


def _busy(run_dir: Path, holder: str) -> RunFolderBusy:
    return RunFolderBusy(f"{run_dir} is being written by {holder}; wait for it or choose another --run-dir")


def _describe(text: str) -> str:
    """'process PID on HOST (started TIME)' from a lock file's contents, or what is known."""
    try:
        holder = json.loads(text)
        return f"process {holder['pid']} on {holder['host']} (started {holder['started']})"
    except (json.JSONDecodeError, TypeError, KeyError):
        return "another process"


def _holder(path: Path) -> str:
    try:
        return _describe(path.read_text())
    except OSError:
        return "another process"


def _try_lock(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its exclusive lock, or None if a live process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # locked a file its holder removed while releasing it: lock the current one


@contextlib.contextmanager
def hold(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock (creating the folder) for the duration of the block; a block
    nested in one that already holds it, in the same thread, holds it on."""
    run_dir = Path(run_dir)
    key = (run_dir.resolve(), threading.get_ident())
    if key in _held:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = _try_lock(path)
    if fd is None:
        raise _busy(run_dir, _holder(path))
    _held.add(key)
    try:
        previous = os.read(fd, 4096).decode(errors="replace")
        if previous:
            print(
                f"taking over the lock of {run_dir} from {_describe(previous)}, which ended", file=sys.stderr
            )
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield
    finally:
        _held.discard(key)
        path.unlink(missing_ok=True)
        os.close(fd)
