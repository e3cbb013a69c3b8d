"""Evaluate a run's latest checkpoint: mean and standard deviation of the episode return.

python -m experiments.evaluate --run-dir runs/ppo-CartpoleBalance-... --episodes 100
"""

from __future__ import annotations

import sys
from pathlib import Path

from experiments.cli import OneLineParser, fail


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m experiments.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="run folder written by experiments.train")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per seed (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed (default: 0)")
    parser.add_argument(
        "--stochastic", action="store_true", help="sample actions instead of the deterministic policy"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.episodes <= 0:
        fail(f"--episodes={args.episodes} is invalid: expected a positive integer")
    if Path(args.run_dir).exists() and not Path(args.run_dir).is_dir():
        fail(f"--run-dir={args.run_dir} is a file, not a run folder")
    if not Path(args.run_dir).is_dir():
        fail(f"--run-dir={args.run_dir}: no such run folder")

    import numpy as np

    import jaxrl
    from jaxrl.config import ConfigError

    try:
        returns = jaxrl.evaluate_run(
            args.run_dir, args.episodes, args.seed, deterministic=not args.stochastic
        )
    except ConfigError as error:
        fail(str(error))
    for index, seed_returns in enumerate(returns):
        print(
            f"seed {index}: return {np.mean(seed_returns):.2f} +- {np.std(seed_returns):.2f} over {args.episodes} episodes"
        )
    print(f"all: return {np.mean(returns):.2f} +- {np.std(returns):.2f} over {returns.size} episodes")


if __name__ == "__main__":
    main()
