"""Process supervision for ``experiments.train --distributed``: checking the distributed flags,
training in a watched child process, joining the run, and ending every survivor with one line
when another process of the run dies.

Each ``--distributed`` command runs its training in a child process (this same command, marked
as the worker) and watches it: when another process dies or the coordinator goes away, JAX
aborts the survivors, and the watcher turns that abort into one line on stderr and exit code 1
instead of a crash dump; rerunning the commands resumes the run. What is trained, and how, is
:mod:`experiments.train`'s; this module only starts, joins and ends processes.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
from typing import NoReturn

from experiments.cli import fail

WORKER = "JAXRL_DISTRIBUTED_WORKER"  # set in the child process that a --distributed command trains in
FLAGS = ("coordinator", "num_processes", "process_id", "heartbeat_timeout")
DEFAULT_HEARTBEAT_TIMEOUT = 100  # seconds


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of a run trained by several processes."""
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="train one run with several processes or hosts: run this command once per process",
    )
    parser.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="--distributed: address of process 0 (default: detected, e.g. JAX_COORDINATOR_ADDRESS, SLURM)",
    )
    parser.add_argument(
        "--num-processes",
        type=int,
        default=None,
        metavar="N",
        help="--distributed: processes (default: detected)",
    )
    parser.add_argument(
        "--process-id",
        type=int,
        default=None,
        metavar="I",
        help="--distributed: this process, 0..N-1 (default: detected)",
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=int,
        default=None,
        metavar="S",
        help="--distributed: seconds without news of a process before the others stop"
        f" (default: {DEFAULT_HEARTBEAT_TIMEOUT})",
    )


def check_flags(args: argparse.Namespace) -> None:
    """Exit 2 with one line for distributed flags that are invalid or given without --distributed."""
    from jaxrl.config import ConfigError
    from jaxrl.parallel import check_distributed

    given_flags = [name for name in FLAGS if getattr(args, name) is not None]
    if given_flags and not args.distributed:
        fail(f"--{given_flags[0].replace('_', '-')} is only valid with --distributed")
    if args.distributed and args.run_dir is None and args.resume is None:
        fail("--distributed needs --run-dir: every process must name the same run folder")
    if args.heartbeat_timeout is not None and args.heartbeat_timeout < 1:
        fail(f"--heartbeat-timeout={args.heartbeat_timeout} is invalid: expected at least 1 second")
    try:
        check_distributed(args.coordinator, args.num_processes, args.process_id)
    except ConfigError as error:
        fail(str(error))


def start(argv: list[str], args: argparse.Namespace) -> None:
    """In the command a user ran: train in a watched child and end as it ends (never returns).
    In that child: join the run (before any JAX computation) and return."""
    if os.environ.get(WORKER) != "1":
        supervise(argv, args)
    join(args)


def _die_with_parent() -> None:
    """In the child, before it runs: the kernel kills it when the watching command dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def supervise(argv: list[str], args: argparse.Namespace) -> NoReturn:
    """Train in a child process (this command again, as the worker) and end as it ends; a child
    that JAX aborted, because another process died or the coordinator went away, becomes one
    line on stderr and exit code 1. Ctrl-C reaches the child (it stops and says how to resume);
    SIGTERM is passed on to it."""
    command = [sys.executable, "-m", "experiments.train", *argv]
    child = subprocess.Popen(command, env={**os.environ, WORKER: "1"}, preexec_fn=_die_with_parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    code = child.wait()
    if code >= 0:
        raise SystemExit(code)
    cause = (
        "another process of the run died or the coordinator could not be reached"
        if -code == signal.SIGABRT
        else f"its training was killed by {signal.Signals(-code).name}"
    )
    fail(stopped(args, cause), code=1)


def stopped(args: argparse.Namespace, cause: str) -> str:
    """The line a process of a distributed run ends with when the run cannot go on."""
    who = "this process" if args.process_id is None else f"process {args.process_id}"
    return (
        f"{who} stopped: {cause}; the run folder keeps its latest checkpoint: rerun the same command"
        f" in every process to resume"
    )


def join(args: argparse.Namespace) -> None:
    """Join the distributed run (before any JAX computation); exit 2 with one line if impossible."""
    from jaxrl.config import ConfigError
    from jaxrl.parallel import initialize_distributed

    timeout = DEFAULT_HEARTBEAT_TIMEOUT if args.heartbeat_timeout is None else args.heartbeat_timeout
    try:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id, timeout)
    except ConfigError as error:
        fail(str(error))


def collective_failed(args: argparse.Namespace, error: Exception) -> NoReturn:
    """End a process whose collective failed, most likely because another process died."""
    cause = f"a collective failed ({str(error).splitlines()[0]}), most likely because another process died"
    print(f"error: {stopped(args, cause)}", file=sys.stderr, flush=True)
    os._exit(1)  # not sys.exit: JAX's shutdown would wait for the dead process, then abort
