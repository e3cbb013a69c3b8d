"""Train a learner from the command line.

    python -m experiments.train --algo ppo --env CartpoleBalance --preset cpu
    python -m experiments.train --resume runs/ppo-CartpoleBalance-... --total-steps 8000000

Every field of the loop's config and of the chosen learner's config is a flag (``--help`` lists
them with their defaults: MuJoCo Playground's DM Control PPO settings; ``--preset cpu`` sets the
CPU preset). The run folder receives the config, ``metrics.jsonl``, a learning curve and
checkpoints; ``--logger tensorboard`` / ``--logger wandb`` log the same metrics there too. Invalid input exits with code 2 and one line on stderr before anything compiles.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from experiments.cli import OneLineParser, add_config_flags, fail, given


def parse(argv: list[str]):
    from jaxrl.config import PRESETS, TrainConfig
    from jaxrl.learners import LEARNERS

    first = OneLineParser(add_help=False)
    first.add_argument("--algo", default="ppo")
    algo = first.parse_known_args(argv)[0].algo
    if algo not in LEARNERS:
        fail(f"--algo={algo} is invalid: expected one of {', '.join(LEARNERS)}")

    parser = OneLineParser(prog="python -m experiments.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", default="ppo", help=f"learner: {', '.join(LEARNERS)} (default: ppo)")
    parser.add_argument("--preset", default=None, help=f"settings preset: {', '.join(PRESETS)}")
    parser.add_argument("--run-dir", default=None, help="run folder (default: runs/<algo>-<env>-<time>)")
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
        help="multi-host: call jax.distributed.initialize() first (run this command on every host)",
    )
    loop_names = add_config_flags(
        parser, TrainConfig, skip=("algo", "num_seeds"), defaults=LEARNERS[algo].loop_defaults
    )
    learner_names = add_config_flags(parser, LEARNERS[algo].config_type)
    args = parser.parse_args(argv)
    return args, given(args, loop_names + learner_names + ["num_seeds"])


def main(argv: list[str] | None = None) -> None:
    args, overrides = parse(sys.argv[1:] if argv is None else argv)
    import jaxrl
    from jaxrl.config import ConfigError, scale_envs
    from jaxrl.parallel import mesh_for

    if args.distributed:
        from jaxrl.parallel import initialize_distributed

        initialize_distributed()

    try:
        if args.resume is not None:
            extra = sorted(set(overrides) - {"total_steps"})
            if extra or args.preset or args.run_dir or args.scale_envs is not None:
                name = (
                    extra[0]
                    if extra
                    else ("preset" if args.preset else "run_dir" if args.run_dir else "scale_envs")
                )
                fail(f"--{name.replace('_', '-')} cannot be changed when resuming; only --total-steps can")
            if not Path(args.resume).is_dir():
                fail(f"--resume={args.resume}: no such run folder")
            run_dir = Path(args.resume)
            config = jaxrl.load_config(run_dir)
            print(f"resuming {run_dir} ({config.algo} on {config.env})", file=sys.stderr)
            result = jaxrl.resume(
                run_dir, overrides.get("total_steps"), progress=not args.no_progress, loggers=args.logger
            )
        else:
            config = jaxrl.make_config(args.algo, preset=args.preset, **overrides)
            if args.scale_envs is not None:
                config = scale_envs(config, args.scale_envs)
            mesh_for(config)  # enough devices for the environments, before anything is written
            run_dir = Path(
                args.run_dir
                or f"runs/{config.algo}-{config.env.replace('/', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
            )
            if (run_dir / "config.json").exists():
                fail(
                    f"--run-dir={run_dir} already holds a run: resume it with --resume {run_dir} or choose another folder"
                )
            print(f"training {config.algo} on {config.env} into {run_dir}", file=sys.stderr)
            result = jaxrl.train(config, run_dir, progress=not args.no_progress, loggers=args.logger)
    except ConfigError as error:
        fail(str(error))
    except jaxrl.TrainingDiverged as error:
        fail(f"training diverged: {error}", code=1)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; the latest checkpoint is kept: continue with --resume {run_dir}", file=sys.stderr
        )
        raise SystemExit(130) from None
    if result.metrics:
        last = result.metrics[-1]
        print(
            f"done: {last['env_steps']} steps, eval return {last['eval_return']:.1f}"
            f" +- {last['eval_return_std']:.1f}, {last['train_sps']:.0f} steps/s; run folder {run_dir}"
        )


if __name__ == "__main__":
    main()
