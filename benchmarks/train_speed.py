"""Training throughput (steps per second) and compiled memory of learners, side by side.

    python -m benchmarks.train_speed --env CartpoleBalance --num-envs 256 2048 --preset cpu
    python -m benchmarks.train_speed --algos ppo fpo dppo reinflow --chain-steps 1 4 10 \\
        --env CartpoleBalance --num-envs 256 --out benchmarks/results/throughput_cpu.md

Each point trains for ``--iterations`` iterations split into ``--chunks`` timed chunks
(compilation excluded, timed after the chunk's results reach the host) and reports the median
chunk speed, the whole schedule's training time (the chunks and the learner's phases between
them, such as GoRL's decoder refits; no compilation), the memory XLA reports for the compiled
training program (arguments + outputs + temporaries - donated buffers) and the process's
measured peak memory so far: the device's on
an accelerator, the resident set on CPU (points run in the order given: in an ascending sweep,
each point's own peak).
``--scale-envs`` co-scales the minibatches with the environments (the 1M-environment recipe);
above ``--time-up-to`` environments a point is only compiled against shapes and sized, nothing
allocated, which finds the memory limit without training. Learners with a sampling chain (FPO,
DPPO, ReinFlow) run once per ``--chain-steps`` K; the others once. All points run one after
another in one process, so the ratios to the first learner (PPO by default) are measured side
by side. Everything else is the preset's and each learner's default. ``--redraw MD --plot PNG``
only redraws the plot from the last table of a markdown file the script wrote.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.provenance import check_out, provenance, report, write_errors_in_one_line
from experiments.cli import OneLineParser

# The config field that sets a learner's number of sampling-chain steps K.
CHAIN_STEP_FIELDS = ("flow_steps", "denoising_steps")


def chain_field(algo: str) -> str | None:
    import dataclasses

    from jaxrl.registry import LEARNERS

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
    from jaxrl.config import scale_envs

    overrides = {} if chain_steps is None else {chain_field(algo): chain_steps}
    if args.scale_envs:  # the preset's batch co-scaled: same minibatch size, more minibatches
        base = jaxrl.make_config(algo, preset=args.preset, env=args.env, total_steps=2**50, **overrides)
        probe = scale_envs(base, num_envs / base.num_envs)
    else:
        probe = jaxrl.make_config(algo, preset=args.preset, env=args.env, num_envs=num_envs, **overrides)
    return probe.replace(total_steps=args.iterations * probe.steps_per_iteration, num_evals=args.chunks)


def peak_memory_bytes() -> int:
    """The process's measured peak memory so far: the device's where the backend counts it (GPU,
    TPU), else the process's peak resident set (CPU, where the arrays live in host memory; this
    includes the runtime and the compiled programs, some hundreds of MiB)."""
    import jax

    peak = (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use")
    if peak is not None:
        return int(peak)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def measure(algo: str, chain_steps: int | None, num_envs: int, config, timed: bool) -> dict[str, Any]:
    import jaxrl
    from jaxrl.training import memory_footprint

    row = {
        "algo": algo,
        "chain_steps": chain_steps,
        "num_envs": num_envs,
        "num_minibatches": config.num_minibatches,
        "steps_per_iteration": config.steps_per_iteration,
    }
    if not timed:
        started = time.perf_counter()
        memory = memory_footprint(config)
        return {
            **row,
            "sps": None,
            "chunks": [],
            "memory_bytes": memory,
            "peak_bytes": None,
            "compile_seconds": time.perf_counter() - started,
        }
    try:
        result = jaxrl.train(config, progress=False)
    except jaxrl.TrainingDiverged as error:  # a point that diverges is reported, the sweep goes on
        print(f"diverged: {error}", file=sys.stderr, flush=True)
        return {
            **row,
            "sps": None,
            "chunks": [],
            "memory_bytes": None,
            "peak_bytes": None,
            "compile_seconds": float("nan"),
            "diverged": True,
        }
    speeds = [m["train_sps"] for m in result.metrics]
    steps = [m["env_steps"] for m in result.metrics]
    chunk_steps = [b - a for a, b in zip([0, *steps[:-1]], steps, strict=True)]
    return {
        **row,
        "sps": statistics.median(speeds),
        "chunks": speeds,
        "memory_bytes": result.metrics[0]["memory_bytes"],
        "peak_bytes": peak_memory_bytes(),
        "compile_seconds": result.metrics[0]["compile_seconds"],
        # The whole schedule's training time: every chunk's, and the learner's phases between
        # them (GoRL's decoder refits), compilation excluded.
        "schedule_seconds": sum(n / sps for n, sps in zip(chunk_steps, speeds, strict=True))
        + sum(m.get("phase_seconds", 0.0) for m in result.metrics),
    }


def table(rows: list[dict[str, Any]], env: str) -> list[str]:
    lines = [
        "| env | algo | K | num_envs | minibatches | median steps/s | x first | memory (MiB) | x first |"
        " measured peak so far (MiB) | chunks (steps/s) | compile s | training s, phases included |"
        " x first |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        base = next(r for r in rows if r["num_envs"] == row["num_envs"])
        memory, base_memory = row["memory_bytes"], base["memory_bytes"]
        mib = "-" if memory is None else f"{memory / 2**20:,.1f}"
        memory_ratio = "-" if memory is None or not base_memory else f"{memory / base_memory:.2f}"
        timed = row["sps"] is not None
        sps = f"{row['sps']:,.0f}" if timed else "diverged" if row.get("diverged") else "(memory only)"
        sps_ratio = f"{row['sps'] / base['sps']:.2f}" if timed and base["sps"] else "-"
        peak = row.get("peak_bytes")
        peak_mib = "-" if peak is None else f"{peak / 2**20:,.1f}"
        lines.append(
            f"| {env} | {row['algo']} | {row['chain_steps'] or '-'} | {row['num_envs']} |"
            f" {row['num_minibatches']} | {sps} | {sps_ratio} | {mib} | {memory_ratio} | {peak_mib} |"
            f" {', '.join(f'{s:,.0f}' for s in row['chunks'])} | {row['compile_seconds']:.0f} |"
            f" {_seconds(row, base)}"
        )
    return lines


def _seconds(row: dict[str, Any], base: dict[str, Any]) -> str:
    """The training-time cells: seconds and the ratio to the first learner's (``-`` untimed)."""
    seconds, base_seconds = row.get("schedule_seconds"), base.get("schedule_seconds")
    if seconds is None:
        return "- | - |"
    ratio = f"{seconds / base_seconds:.2f}" if base_seconds else "-"
    return f"{seconds:.2f} | {ratio} |"


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Steps per second and memory against the number of environments, one line per learner."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    figure = Figure(figsize=(10, 4.4), layout="constrained")
    speed_ax, memory_ax = figure.subplots(1, 2)
    for label in dict.fromkeys((r["algo"], r["chain_steps"]) for r in rows):
        series = [r for r in rows if (r["algo"], r["chain_steps"]) == label]
        name = label[0] if label[1] is None else f"{label[0]} K={label[1]}"
        timed = [r for r in series if r["sps"] is not None]
        speed_ax.plot([r["num_envs"] for r in timed], [r["sps"] for r in timed], "o-", label=name)
        sized = [r for r in series if r["memory_bytes"] is not None]
        memory_ax.plot(
            [r["num_envs"] for r in sized], [r["memory_bytes"] / 2**30 for r in sized], "o-", label=name
        )
    for ax, ylabel in ((speed_ax, "training steps / s"), (memory_ax, "compiled memory (GiB)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("parallel environments")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    memory_ax.set_yscale("log")
    handles, labels = speed_ax.get_legend_handles_labels()  # below the axes: it covers no point
    figure.legend(
        handles, labels, loc="outside lower center", ncol=min(len(labels), 6), fontsize=8, frameon=False
    )
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, format="png", dpi=110)


def rows_from_markdown(text: str) -> list[dict[str, Any]]:
    """The points of the last table in a markdown file this script wrote, as far as :func:`plot`
    needs them (memory to the table's 0.1 MiB): what ``--redraw`` plots."""
    tables: list[list[dict[str, Any]]] = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if cells[:2] == ["env", "algo"]:
            tables.append([])
        elif tables and len(cells) >= 8 and not cells[0].startswith("---") and cells[3].isdigit():
            tables[-1].append(
                {
                    "algo": cells[1],
                    "chain_steps": None if cells[2] == "-" else int(cells[2]),
                    "num_envs": int(cells[3]),
                    "sps": _number(cells[5]),
                    "memory_bytes": None if _number(cells[7]) is None else _number(cells[7]) * 2**20,
                }
            )
    if not tables:
        raise ValueError("no train_speed table in the markdown")
    return tables[-1]


def _number(cell: str) -> float | None:
    """A table cell's number ("61,202"), or None for "(memory only)", "diverged" or "-"."""
    try:
        return float(cell.replace(",", ""))
    except ValueError:
        return None


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    from jaxrl.registry import LEARNERS

    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=["ppo"], help="learners; ratios are to the first")
    parser.add_argument("--chain-steps", type=int, nargs="+", default=[10], help="K for chain learners")
    parser.add_argument("--env", default="CartpoleBalance")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[256, 2048])
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument(
        "--scale-envs",
        action="store_true",
        help="co-scale minibatches with the environments (same minibatch size)",
    )
    parser.add_argument(
        "--time-up-to", type=int, default=None, metavar="N", help="above N environments only compile and size"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    parser.add_argument("--plot", type=Path, default=None, help="also plot speed and memory to this PNG")
    parser.add_argument(
        "--redraw",
        type=Path,
        default=None,
        metavar="MD",
        help="only redraw --plot from the last table of this markdown file (title from --env, --preset,"
        " --scale-envs)",
    )
    args = parser.parse_args(argv)
    check_out(args.out)
    check_out(args.plot, flag="--plot")
    title = f"{args.env}, preset {args.preset}" + (", co-scaled minibatches" if args.scale_envs else "")
    if args.redraw is not None:
        if args.plot is None:
            parser.error("--redraw needs --plot, the PNG to draw")
        from jaxrl.runlog import atomic_write

        rows = rows_from_markdown(args.redraw.read_text())
        atomic_write(args.plot, lambda p: plot(rows, p, title))
        return
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
    from jaxrl.runlog import atomic_write

    launch = provenance("benchmarks.train_speed", argv)
    rows = []
    for (algo, chain_steps, num_envs), config in planned:
        print(f"{algo} K={chain_steps} num_envs={num_envs}", file=sys.stderr, flush=True)
        timed = args.time_up_to is None or num_envs <= args.time_up_to
        rows.append(measure(algo, chain_steps, num_envs, config, timed))
        print(table(rows, args.env)[-1], file=sys.stderr, flush=True)
        # Written after every point: a sweep that the memory limit kills keeps what it measured.
        done = len(rows) == len(planned)
        report([*table(rows, args.env), ""], launch, "Training throughput", args.out, echo=done)
        if args.plot is not None:
            atomic_write(args.plot, lambda p: plot(rows, p, title))


if __name__ == "__main__":
    main()
