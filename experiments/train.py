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
stored value, except ``--total-steps``, which may grow. ``--init-from RUN`` starts a new run from
the actor and observation statistics of RUN (a run of the same learner and actor sizes, such as
one ``experiments.pretrain`` wrote), with a fresh critic. Invalid input, a run folder that cannot
be created or written included, exits with code 2 and one line on stderr before anything
compiles, and changes nothing in the run folder. A write that fails during the run (a full disk)
exits with code 1 and one line naming the folder and the cause; the metrics and the latest
complete checkpoint are kept, and the same command continues the run once it can write again.

With ``--distributed`` the same command runs once per process (``--process-id`` 0, 1, ...) and
the processes train one run together; process 0 writes the run folder and prints. Each command
trains in a child process it watches, so that when another process dies (or the coordinator
goes away), which makes JAX abort the survivors, each survivor ends with one line on stderr and
exit code 1 instead of a crash dump, and rerunning the commands resumes the run
(:mod:`experiments.distributed`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments import distributed
from experiments.cli import OneLineParser, add_config_flags, fail, given

if TYPE_CHECKING:
    from jaxrl.config import TrainConfig

FLAG_NAMES = {"num_seeds": "seeds"}  # fields whose flag is not their name


def flag(field: str) -> str:
    """How the command line names a config field: ``--learning-rate``, ``--seeds``."""
    return "--" + FLAG_NAMES.get(field, field).replace("_", "-")


RERUN = "free space (or fix the folder) and run the same command again to continue"


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
    distributed.add_flags(parser)
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
    from jaxrl.config import scale_envs
    from jaxrl.registry import build_config

    config = build_config(algo, args.preset, overrides, flag)
    return config if args.scale_envs is None else scale_envs(config, args.scale_envs, flag)


def check_unchanged(
    stored: TrainConfig, args: argparse.Namespace, overrides: dict[str, Any], run_dir: Path
) -> None:
    """:func:`jaxrl.training.check_unchanged` with each field named by the flag that set it:
    every flag given may repeat its stored value; only the total steps may change."""
    from jaxrl.registry import preset_values
    from jaxrl.training import check_unchanged as check

    fixed = {k: v for k, v in overrides.items() if k != "total_steps"}
    sources = {}  # field -> the flag that set it; a later one replaces an earlier, as in make_config
    if args.algo is not None:
        sources["algo"] = "--algo={}"
    env = overrides.get("env", stored.env)
    for field in preset_values(args.algo or stored.algo, args.preset, env, flag) if args.preset else ():
        sources[field] = f"--preset={args.preset} (which sets {field}={{}})"
    for field in fixed:
        sources[field] = flag(field) + "={}"
    if args.scale_envs is not None:
        for field in ("num_envs", "num_minibatches"):
            sources[field] = f"--scale-envs={args.scale_envs:g} (which makes {field}={{}})"
    check(stored, command_config(args.algo or stored.algo, args, fixed), sources, run_dir, "--total-steps")


def default_run_dir(config: TrainConfig) -> Path:
    return Path(f"runs/{config.algo}-{config.env.replace('/', '-')}-{time.strftime('%Y%m%d-%H%M%S')}")


def train_or_resume(args: argparse.Namespace, overrides: dict[str, Any], stored: TrainConfig | None, say):
    """Train a new run, or continue the stored one; returns the run folder and the result."""
    import jaxrl
    from jaxrl.parallel import mesh_for
    from jaxrl.runlog import check_writable
    from jaxrl.training import check_init_from, resume_config

    progress, loggers = not args.no_progress, args.logger
    if stored is None:
        config = command_config(args.algo or "ppo", args, overrides)
        mesh_for(config)  # enough devices for the environments, before anything is written
        check_init_from(config)  # a run to start from that fits, before anything is written
        run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(config)
        check_writable(run_dir)
        with hold(run_dir):
            say(f"training {config.algo} on {config.env} into {run_dir}", file=sys.stderr)
            return run_dir, jaxrl.train(config, run_dir, progress=progress, loggers=loggers)
    run_dir = Path(args.resume or args.run_dir)
    check_unchanged(stored, args, overrides, run_dir)
    config, done_steps = resume_config(run_dir, overrides.get("total_steps"), flag)
    mesh_for(config)
    check_writable(run_dir)
    with hold(run_dir):
        if done_steps is None:
            say(f"{run_dir} has no checkpoint yet: training it from the start", file=sys.stderr)
            return run_dir, jaxrl.train(config, run_dir, progress=progress, loggers=loggers)
        say(f"resuming {run_dir} from step {done_steps}", file=sys.stderr)
        return run_dir, jaxrl.resume(run_dir, config.total_steps, progress=progress, loggers=loggers)


@contextlib.contextmanager
def hold(run_dir: Path) -> Iterator[None]:
    """:func:`jaxrl.training.hold`, with a write that fails while taking the lock (a disk
    filled since the check) as :class:`~jaxrl.runlog.RunWriteError`."""
    from jaxrl import runlog, training

    with contextlib.ExitStack() as stack:
        with runlog.writing(run_dir):
            stack.enter_context(training.hold(run_dir))
        yield


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, overrides, stored = parse(argv)
    distributed.check_flags(args)
    if args.distributed:
        distributed.start(argv, args)
    import jax

    import jaxrl
    from jaxrl.config import ConfigError
    from jaxrl.parallel import is_writer

    say = print if is_writer() else lambda *_, **__: None
    try:
        run_dir, result = train_or_resume(args, overrides, stored, say)
    except ConfigError as error:
        fail(str(error))
    except jaxrl.TrainingDiverged as error:
        fail(f"training diverged: {error}", code=1)
    except jaxrl.RunWriteError as error:
        fail(f"{error}; the metrics and the latest complete checkpoint are kept: {RERUN}", code=1)
    except jax.errors.JaxRuntimeError as error:
        if not args.distributed:
            raise
        distributed.collective_failed(args, error)
    except KeyboardInterrupt:
        folder = args.resume or args.run_dir or "the run folder"
        print(
            f"\ninterrupted; the latest checkpoint is kept: continue with --resume {folder}", file=sys.stderr
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
