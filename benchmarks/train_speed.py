"""Training throughput of a learner at several environment counts (steps per second).

    python -m benchmarks.train_speed --env CartpoleBalance --num-envs 256 2048 --preset cpu

Each point trains for ``--iterations`` iterations split into ``--chunks`` timed chunks
(compilation excluded, timed after ``block_until_ready``) and reports the median chunk speed.
Points run one after another in one process, so ratios between them are side by side.
"""

from __future__ import annotations

import argparse
import statistics

import jaxrl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--env", default="CartpoleBalance")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[256, 2048])
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--chunks", type=int, default=4)
    args = parser.parse_args()
    print("| env | algo | num_envs | steps/iteration | median steps/s | chunks (steps/s) | compile s |")
    print("|---|---|---|---|---|---|---|")
    for num_envs in args.num_envs:
        probe = jaxrl.make_config(args.algo, preset=args.preset, env=args.env, num_envs=num_envs)
        config = probe.replace(total_steps=args.iterations * probe.steps_per_iteration, num_evals=args.chunks)
        result = jaxrl.train(config, progress=False)
        speeds = [m["train_sps"] for m in result.metrics]
        print(
            f"| {args.env} | {args.algo} | {num_envs} | {config.steps_per_iteration} |"
            f" {statistics.median(speeds):,.0f} | {', '.join(f'{s:,.0f}' for s in speeds)} |"
            f" {result.metrics[0]['compile_seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
