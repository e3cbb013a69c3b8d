"""Train a learner from the command line.

    python -m experiments.train --algo ppo --env CartpoleBalance --preset cpu
    python -m experiments.train --resume runs/ppo-CartpoleBalance-... --total-steps 8000000
    python -m experiments.train --algo ppo --env CartpoleBalance --run-dir runs/cartpole  # again: continues

Every field of the loop's config and of the chosen learner's config is a flag (``--help`` lists
them with their defaults: MuJoCo Playground's DM Control PPO settings; ``--preset cpu`` sets the
CPU preset). The run folder receives the config, ``metrics.jsonl``, a learning curve and
checkpoints; ``--logger tensorboard`` / ``--logger wandb`` log the same metrics there too. A
folder that holds a run is continued from its latest checkpoint: by ``--resume``,
or by rerunning the command with its ``--run-dir``; any flag given must then repeat the run's
stored value, except ``--total-steps``, which may grow. Invalid input exits with code 2 and one
line on stderr before anything compiles, and changes nothing in the run folder.

With ``--distributed`` the same command runs once per process (``--process-id`` 0, 1, ...) and
the processes train one run together; process 0 writes the run folder and prints. Each command
trains in a child process it watches, so that when another process dies (or the coordinator
goes away), which makes JAX abort the survivors, each survivor ends with one line on stderr and
exit code 1 instead of a crash dump, and rerunning the commands resumes the run.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from experiments.cli import OneLineParser, add_config_flags, fail, given

if TYPE_CHECKING:
    from jaxrl.config import TrainConfig

FLAG_NAMES = {"num_seeds": "seeds"}  # fields whose flag is not their name
WORKER = "JAXRL_DISTRIBUTED_WORKER"  # set in the child process that a --distributed command trains in
DISTRIBUTED_FLAGS = ("coordinator", "num_processes", "process_id", "heartbeat_timeout")


def parse(argv: list[str]) -> tuple[argparse.Namespace, dict[str, Any], TrainConfig | None]:
    """The arguments, the config fields the user set, and the stored config of the run folder
    named (``--resume``, or ``--run-dir`` on a folder holding a run), whose algo is the default."""
    from jaxrl.config import PRESETS, TrainConfig
    from jaxrl.registry import LEARNERS

    first = OneLineParser(add_help=False)
    for flag in ("--algo", "--resume", "--run-dir"):
        first.add_argument(flag, default=None)
    known = first.parse_known_args(argv)[0]
    stored = stored_config(known.resume, known.run_dir)
    algo = known.algo or (stored.algo if stored is not None else "ppo")
    if algo not in LEARNERS:
        fail(f"--algo={algo} is invalid: expected one of {', '.join(LEARNERS)}")

    parser = OneLineParser(prog="python -m experiments.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", default=None, help=f"learner: {', '.join(LEARNERS)} (default: ppo)")
    parser.add_argument(
        "--preset",
        default=None,
        help=f"settings preset: {', '.join(PRESETS)}, or several joined by commas (cpu,bpo)",
    )
    parser.add_argument(
        "--run-dir",
        default=None,
        help="run folder (default: runs/<algo>-<env>-<time>); one holding this run continues it",
    )
    parser.add_argument(
        "--resume", default=None, metavar="DIR", help="continue the run in DIR from its latest checkpoint"
    )
    parser.add_argument(
        "--seeds",
        dest="num_seeds",
        type=int,
        default=None,
        help="seeds trained side by side in one program (default: 1)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--logger",
        action="append",
        default=[],
        choices=("jsonl", "tensorboard", "wandb"),
        help="also log to tensorboard (<run>/tensorboard) or wandb (offline without an API key);"
        " repeatable; metrics.jsonl is always written",
    )
    parser.add_argument(
        "--scale-envs",
        type=float,
        default=None,
        metavar="K",
        help="K times the environments and minibatches (same minibatch size and learning rate)",
    )
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
        help="--distributed: seconds without news of a process before the others stop (default: 100)",
    )
    loop_names = add_config_flags(
        parser, TrainConfig, skip=("algo", "num_seeds"), defaults=LEARNERS[algo].loop_defaults
    )
    learner_names = add_config_flags(parser, LEARNERS[algo].config_type)
    args = parser.parse_args(argv)
    return args, given(args, loop_names + learner_names + ["num_seeds"]), stored


def stored_config(resume: str | None, run_dir: str | None) -> TrainConfig | None:
    """The config of the run to continue: ``--resume``'s, or that of a ``--run-dir`` holding one."""
    from jaxrl.config import ConfigError
    from jaxrl.training import load_config

    if resume is not None and run_dir is not None and Path(resume) != Path(run_dir):
        fail(f"--resume={resume} and --run-dir={run_dir} name different folders; give one")
    if resume is None and run_dir is None:
        return None
    folder, flag = (Path(resume), "--resume") if resume is not None else (Path(run_dir), "--run-dir")
    if folder.exists() and not folder.is_dir():
        fail(f"{flag}={folder} is a file, not a run folder")
    if resume is not None and not folder.is_dir():
        fail(f"--resume={folder}: no such run folder")
    if resume is None and not (folder / "config.json").exists():
        return None
    try:
        return load_config(folder)
    except ConfigError as error:
        fail(str(error))


def command_config(algo: str, args: argparse.Namespace, overrides: dict[str, Any]) -> TrainConfig:
    """The config the command line builds: defaults, then the preset, the flags, the scaling."""
    import jaxrl
    from jaxrl.config import scale_envs

    config = jaxrl.make_config(algo, preset=args.preset, **overrides)
    return config if args.scale_envs is None else scale_envs(config, args.scale_envs)


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def check_unchanged(
    stored: TrainConfig, args: argparse.Namespace, overrides: dict[str, Any], run_dir: Path
) -> None:
    """ConfigError naming the first flag whose value differs from the run's stored one (every
    flag given may repeat its stored value; only the total steps may change)."""
    from jaxrl.config import ConfigError, to_dict
    from jaxrl.registry import preset_values

    fixed = {k: v for k, v in overrides.items() if k != "total_steps"}
    command = json.loads(json.dumps(to_dict(command_config(args.algo or stored.algo, args, fixed))))
    saved = json.loads(json.dumps(to_dict(stored)))
    sources = {}  # field -> the flag that set it; a later one replaces an earlier, as in make_config
    if args.algo is not None:
        sources["algo"] = "--algo={}"
    env = overrides.get("env", stored.env)
    for field in preset_values(args.algo or stored.algo, args.preset, env) if args.preset else ():
        sources[field] = f"--preset={args.preset} (which sets {field}={{}})"
    for field in fixed:
        sources[field] = "--" + FLAG_NAMES.get(field, field).replace("_", "-") + "={}"
    if args.scale_envs is not None:
        for field in ("num_envs", "num_minibatches"):
            sources[field] = f"--scale-envs={args.scale_envs:g} (which makes {field}={{}})"
    for field, source in sources.items():
        if field != "total_steps" and command[field] != saved[field]:
            raise ConfigError(
                f"{source.format(_show(command[field]))} differs from the run's stored"
                f" {field}={_show(saved[field])} ({run_dir / 'config.json'}); only --total-steps may"
                f" change when resuming"
            )


def check_distributed_flags(args: argparse.Namespace) -> None:
    """Exit 2 with one line for distributed flags that are invalid or given without --distributed."""
    from jaxrl.config import ConfigError
    from jaxrl.parallel import check_distributed

    given_flags = [name for name in DISTRIBUTED_FLAGS if getattr(args, name) is not None]
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

    timeout = 100 if args.heartbeat_timeout is None else args.heartbeat_timeout
    try:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id, timeout)
    except ConfigError as error:
        fail(str(error))


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, overrides, stored = parse(argv)
    check_distributed_flags(args)
    if args.distributed:
        if os.environ.get(WORKER) != "1":
            supervise(argv, args)
        join(args)
    import jax

    import jaxrl
    from jaxrl.config import ConfigError
    from jaxrl.parallel import is_writer, mesh_for
    from jaxrl.training import hold, resume_config

    say = print if is_writer() else lambda *_, **__: None
    progress = not args.no_progress
    try:
        if stored is None:
            config = command_config(args.algo or "ppo", args, overrides)
            mesh_for(config)  # enough devices for the environments, before anything is written
            run_dir = Path(
                args.run_dir
                or f"runs/{config.algo}-{config.env.replace('/', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
            )
            with hold(run_dir):
                say(f"training {config.algo} on {config.env} into {run_dir}", file=sys.stderr)
                result = jaxrl.train(config, run_dir, progress=progress, loggers=args.logger)
        else:
            run_dir = Path(args.resume or args.run_dir)
            check_unchanged(stored, args, overrides, run_dir)
            config, done_steps = resume_config(run_dir, overrides.get("total_steps"))
            mesh_for(config)
            with hold(run_dir):
                if done_steps is None:
                    say(f"{run_dir} has no checkpoint yet: training it from the start", file=sys.stderr)
                    result = jaxrl.train(config, run_dir, progress=progress, loggers=args.logger)
                else:
                    say(f"resuming {run_dir} from step {done_steps}", file=sys.stderr)
                    result = jaxrl.resume(run_dir, config.total_steps, progress=progress, loggers=args.logger)
    except ConfigError as error:
        fail(str(error))
    except jaxrl.TrainingDiverged as error:
        fail(f"training diverged: {error}", code=1)
    except jax.errors.JaxRuntimeError as error:
        if not args.distributed:
            raise
        cause = (
            f"a collective failed ({str(error).splitlines()[0]}), most likely because another process died"
        )
        print(f"error: {stopped(args, cause)}", file=sys.stderr, flush=True)
        os._exit(1)  # not sys.exit: JAX's shutdown would wait for the dead process, then abort
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; the latest checkpoint is kept: continue with --resume {run_dir}", file=sys.stderr
        )
        raise SystemExit(130) from None
    if result.metrics:
        last = result.metrics[-1]
        say(
            f"done: {last['env_steps']} steps, eval return {last['eval_return']:.1f}"
            f" +- {last['eval_return_std']:.1f}, {last['train_sps']:.0f} steps/s; run folder {run_dir}"
        )


if __name__ == "__main__":
    main()
