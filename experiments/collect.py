"""Collect demonstrations: episodes of a trained run's policy, or of a scripted expert, in the
``.npz`` layout of :mod:`jaxrl.data` with a provenance JSON beside it.

python -m experiments.collect --run-dir runs/pointmass --episodes 100 --action-noise 0.1 --out demos.npz
python -m experiments.collect --expert multigoal --env toy/multigoal --episodes 256 --out multigoal.npz

A run collects in its own environment (its time limit and action repeat) with the deterministic
action of seed ``--seed-index`` (``--stochastic`` samples instead); ``--action-noise`` adds
Gaussian noise of that std to every action, clipped to [-1, 1]. It prints one line: the episodes,
their mean return +- std and the file. Invalid input exits with code 2 and one line on stderr
before anything compiles, and writes nothing (an --out whose folder cannot be written, a
read-only filesystem included, is invalid input); a write that fails (a full disk) exits with
code 1 and one line, and leaves neither file.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from experiments.cli import OneLineParser, fail

EXPERT_NAMES = ("multigoal", "pointmass")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m experiments.collect", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default=None, help="run folder whose latest checkpoint acts")
    parser.add_argument("--expert", default=None, choices=EXPERT_NAMES, help="a scripted expert instead")
    parser.add_argument("--env", default=None, help="the expert's environment (default: the one it drives)")
    parser.add_argument("--episodes", type=int, required=True, help="episodes to collect")
    parser.add_argument(
        "--action-noise", type=float, default=0.0, help="std of Gaussian noise added to actions (default: 0)"
    )
    parser.add_argument("--out", required=True, metavar="FILE.npz", help="demonstrations file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--seed", type=int, default=0, help="collection seed (default: 0)")
    parser.add_argument(
        "--seed-index", type=int, default=None, help="which seed of the run acts (default: 0)"
    )
    parser.add_argument(
        "--stochastic", action="store_true", help="sample the run's policy instead of its mean"
    )
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Everything that needs no JAX: one line and exit 2 on the first problem."""
    if (args.run_dir is None) == (args.expert is None):
        fail("give exactly one of --run-dir (a trained run's policy) and --expert (a scripted one)")
    check_source_flags(args)
    if args.episodes < 1:
        fail(f"--episodes={args.episodes} is invalid: expected a positive integer")
    if not (math.isfinite(args.action_noise) and args.action_noise >= 0):
        fail(f"--action-noise={args.action_noise} is invalid: expected a non-negative number")
    if args.seed_index is not None and args.seed_index < 0:
        fail(f"--seed-index={args.seed_index} is invalid: expected a non-negative integer")
    check_out(Path(args.out), args.overwrite)
    if args.run_dir is not None:
        run_dir = Path(args.run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            fail(f"--run-dir={run_dir} is a file, not a run folder")
        if not run_dir.is_dir():
            fail(f"--run-dir={run_dir}: no such run folder")


def check_source_flags(args: argparse.Namespace) -> None:
    """The flags that belong to the other source (a run's or an expert's) are refused."""
    if args.run_dir is not None and args.env is not None:
        fail("--env is only valid with --expert: a run collects in its own environment")
    if args.expert is not None and (args.seed_index is not None or args.stochastic):
        flag = "--seed-index" if args.seed_index is not None else "--stochastic"
        fail(f"{flag} is only valid with --run-dir")


def check_out(out: Path, overwrite: bool) -> None:
    if out.suffix != ".npz":
        fail(f"--out={out} is invalid: expected a file name ending in .npz")
    if out.is_dir():
        fail(f"--out={out} is a folder: expected a file name ending in .npz")
    for path in (out, out.with_suffix(".json")):  # jaxrl.data.provenance_path, without importing JAX
        if path.exists() and not overwrite:
            fail(f"--out={out}: {path} exists already; choose another file or pass --overwrite")
    folder = out.parent
    if not folder.is_dir():
        fail(f"--out={out}: no such folder {folder}")
    from jaxrl.config import ConfigError
    from jaxrl.runlog import check_writable

    try:
        check_writable(folder)  # a temporary file proves it: root, a read-only filesystem
    except ConfigError as error:
        fail(f"--out={out}: {error}")


def prepare(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """The environment, the actor and the provenance of the source; ConfigError on a bad source
    (nothing compiles here)."""
    import jaxrl
    from jaxrl import checkpoint, experts
    from jaxrl.training import build

    if args.expert is not None:
        import envs

        own_env = experts.EXPERTS[args.expert][0]
        env_name = own_env if args.env is None else args.env
        try:
            envs.check_name(env_name)
        except ValueError as error:
            fail(f"--env={env_name} is invalid: {error}")
        if env_name != own_env:
            fail(f"--env={env_name} is invalid: --expert={args.expert} drives {own_env}")
        env = envs.make(env_name)
        source = {"env": env_name, "source": f"expert:{args.expert}"}
        return env, experts.expert(args.expert, env), source

    config = jaxrl.load_config(args.run_dir)
    iteration = checkpoint.latest_iteration(args.run_dir)
    if iteration is None:
        fail(f"--run-dir={args.run_dir} has no checkpoint yet: train it first")
    seed_index = args.seed_index or 0
    if seed_index >= config.num_seeds:
        fail(
            f"--seed-index={seed_index} is invalid: the run has {config.num_seeds} seed(s)"
            f" (expected 0 to {config.num_seeds - 1})"
        )
    env, _, _ = build(config)
    policy = jaxrl.load_policy(args.run_dir, seed_index, deterministic=not args.stochastic)
    source = {
        "env": config.env,
        "source": str(Path(args.run_dir).resolve()),
        "algo": config.algo,
        "iteration": iteration,
        "seed_index": seed_index,
        "deterministic": not args.stochastic,
    }
    return env, experts.from_policy(policy), source


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    check_args(args)

    import jax
    import numpy as np

    from jaxrl import data, experts, runlog
    from jaxrl.config import ConfigError

    try:
        env, actor, source = prepare(args)
        demos = experts.collect(env, actor, args.episodes, jax.random.PRNGKey(args.seed), args.action_noise)
    except ConfigError as error:
        fail(str(error))
    returns = data.trajectory_returns(demos)
    provenance = {
        **source,
        "episode_length": env.episode_length,
        "action_repeat": env.action_repeat,
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "action_noise": args.action_noise,
        "episodes": args.episodes,
        "seed": args.seed,
    }
    try:
        path = data.save(args.out, demos, provenance)
    except OSError as error:
        fail(f"writing --out={args.out} failed: {runlog.cause(error)}; nothing was written", code=1)
    print(
        f"{args.episodes} episodes ({demos.num_transitions} steps): return {np.mean(returns):.2f}"
        f" +- {np.std(returns):.2f} in {path}"
    )


if __name__ == "__main__":
    main()
