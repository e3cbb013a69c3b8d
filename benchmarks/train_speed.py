"""Training throughput (steps per second) and compiled memory of learners, side by side.

    python -m benchmarks.train_speed --env CartpoleBalance --num-envs 256 2048 --preset cpu
    python -m benchmarks.train_speed --algos ppo fpo dppo reinflow --chain-steps 1 4 10 \\
        --env CartpoleBalance --num-envs 256 --out benchmarks/results/throughput_cpu.md

Each point trains for ``--iterations`` iterations split into ``--chunks`` timed chunks
(compilation excluded, timed after the chunk's results reach the host) and reports the median
chunk speed and the memory XLA reports for the compiled training program (arguments + outputs +
temporaries - donated buffers). Learners with a sampling chain (FPO, DPPO, ReinFlow) run once
per ``--chain-steps`` K; the others once. All points run one after another in one process, so
the ratios to the first learner (PPO by default) are measured side by side. Everything else is
the preset's and each learner's default.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.provenance import provenance
from experiments.cli import OneLineParser

# The config field that sets a learner's number of sampling-chain steps K.
CHAIN_STEP_FIELDS = ("flow_steps", "denoising_steps")


def chain_field(algo: str) -> str | None:
    import dataclasses

    from jaxrl.learners import LEARNERS

    names = {f.name for f in dataclasses.fields(LEARNERS[algo].config_type)}
    return next((name for name in CHAIN_STEP_FIELDS if name in names), None)


def points(args: argparse.Namespace) -> list[tuple[str, int | None, int]]:
    """(algo, K or None, num_envs) in the order they run."""
    out = []
    for num_envs in args.num_envs:
        for algo in args.algos:
            steps = args.chain_steps if chain_field(algo) else [None]
            out += [(algo, k, num_envs) for k in steps]
    return out


def point_config(algo: str, chain_steps: int | None, num_envs: int, args: argparse.Namespace):
    import jaxrl

    overrides = {} if chain_steps is None else {chain_field(algo): chain_steps}
    probe = jaxrl.make_config(algo, preset=args.preset, env=args.env, num_envs=num_envs, **overrides)
    return probe.replace(total_steps=args.iterations * probe.steps_per_iteration, num_evals=args.chunks)


def measure(algo: str, chain_steps: int | None, num_envs: int, config) -> dict[str, Any]:
    import jaxrl

    result = jaxrl.train(config, progress=False)
    speeds = [m["train_sps"] for m in result.metrics]
    return {
        "algo": algo,
        "chain_steps": chain_steps,
        "num_envs": num_envs,
        "steps_per_iteration": config.steps_per_iteration,
        "sps": statistics.median(speeds),
        "chunks": speeds,
        "memory_bytes": result.metrics[0]["memory_bytes"],
        "compile_seconds": result.metrics[0]["compile_seconds"],
    }


def table(rows: list[dict[str, Any]], env: str) -> list[str]:
    lines = [
        "| env | algo | K | num_envs | median steps/s | x first | memory (MiB) | x first |"
        " chunks (steps/s) | compile s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        base = next(r for r in rows if r["num_envs"] == row["num_envs"])
        memory, base_memory = row["memory_bytes"], base["memory_bytes"]
        mib = "-" if memory is None else f"{memory / 2**20:,.1f}"
        memory_ratio = "-" if memory is None or not base_memory else f"{memory / base_memory:.2f}"
        lines.append(
            f"| {env} | {row['algo']} | {row['chain_steps'] or '-'} | {row['num_envs']} |"
            f" {row['sps']:,.0f} | {row['sps'] / base['sps']:.2f} | {mib} | {memory_ratio} |"
            f" {', '.join(f'{s:,.0f}' for s in row['chunks'])} | {row['compile_seconds']:.0f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    from jaxrl.learners import LEARNERS

    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=["ppo"], help="learners; ratios are to the first")
    parser.add_argument("--chain-steps", type=int, nargs="+", default=[10], help="K for chain learners")
    parser.add_argument("--env", default="CartpoleBalance")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[256, 2048])
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.algos) - set(LEARNERS))
    if unknown:
        parser.error(f"--algos {unknown[0]} is invalid: expected some of {', '.join(LEARNERS)}")
    bad = [k for k in args.chain_steps if k < 1]
    if bad:
        parser.error(f"--chain-steps {bad[0]} is invalid: expected a positive number of steps")
    if args.chunks < 1 or args.iterations < args.chunks:
        parser.error(f"--iterations {args.iterations} is invalid: expected at least --chunks {args.chunks}")
    import jaxrl

    try:  # every point's config is checked before the first one compiles
        planned = [(point, point_config(*point, args)) for point in points(args)]
    except jaxrl.ConfigError as error:
        parser.error(str(error))
    launch = provenance("benchmarks.train_speed", argv)
    rows = []
    for (algo, chain_steps, num_envs), config in planned:
        print(f"{algo} K={chain_steps} num_envs={num_envs}", file=sys.stderr, flush=True)
        rows.append(measure(algo, chain_steps, num_envs, config))
    lines = table(rows, args.env)
    lines += ["", f"Machine: {launch['machine']}; commit {launch['commit']}; {launch['started']}."]
    lines += [f"Command: `{launch['command']}`", ""]
    print("\n".join(lines))
    if args.out is not None:
        from jaxrl.runlog import atomic_write

        atomic_write(args.out, lambda p: p.write_text("# Training throughput\n\n" + "\n".join(lines)))


if __name__ == "__main__":
    main()
