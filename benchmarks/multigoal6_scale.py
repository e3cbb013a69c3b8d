"""PolicyFlow's MultiGoal at its paper's scale: where the episodes from the origin go.

    python -m benchmarks.multigoal6_scale                         # PolicyFlow, 300 iterations, 1 seed
    python -m benchmarks.multigoal6_scale --iterations 75 --seeds 3
    python -m benchmarks.multigoal6_scale --iterations 1000       # the paper figure's first panel
    python -m benchmarks.multigoal6_scale --algos ppo fpo --iterations 75 --seeds 3
    python -m benchmarks.multigoal6_scale --algos policyflow:action_scale=1 --iterations 75 --seeds 3

Trains each learner of ``--algos`` on ``toy/multigoal6`` with the ``multigoal6`` preset (the
PolicyFlow reference's MultiGoal run: 4096 envs x 32 steps an iteration, 4 minibatches x 5
epochs, widths 256-128-64, and PolicyFlow's own weights and action units; every learner gets the
same sizes and its own defaults; ``ALGO:FIELD=VALUE`` sets a learner's field), ``--seeds`` seeds
vmapped, for ``--iterations`` iterations. Then, as the paper's
figure does, it runs ``--episodes`` stochastic episodes from the origin at rest per seed and
reports the share of them that arrives first at each of the six goals (within the task's arrival
radius, :func:`jaxrl.modes.start_episodes`), the goals reached by at least 5% and by at least 15%
of them (an even split over six goals is 16.7%, so the 15% count alone can miss an uneven policy
that reaches all six), and draws the paths. Run folders go under ``--work-dir`` and continue when
run again after a kill (a folder holding another setting is refused); rows accumulate in
``<name>.md``/``.json`` with ``<name>_<row>.png`` per row, each with its command, commit and
machine. It measures; it does not tune.
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.provenance import (
    check_out,
    learner_spec,
    provenance,
    provenance_lines,
    spec_folder,
    write_errors_in_one_line,
)
from benchmarks.store import accumulate
from experiments.cli import OneLineParser

RESULTS = Path("benchmarks/results")
ENV = "toy/multigoal6"
SHARES = (0.05, 0.15)  # a goal counts when at least this share of the episodes reaches it first
DRAWN = 300  # paths drawn per seed (all of them are counted)


def row_name(spec: str, iterations: int, seeds: int) -> str:
    """A row's file-name-safe name, e.g. ``policyflow_action_scale-1_75it_3seeds``."""
    return f"{spec_folder(spec)}_{iterations}it_{seeds}seeds"


def make_config(spec: str, seeds: int = 1) -> Any:
    import jaxrl

    algo, own = learner_spec(spec)
    return jaxrl.make_config(algo, preset="multigoal6", env=ENV, num_seeds=seeds, **own)


def train(spec: str, iterations: int, seeds: int, work: Path, progress: bool):
    """The learner trained (or continued in its run folder) at the preset's sizes."""
    import jaxrl

    config = make_config(spec, seeds)
    config = config.replace(total_steps=iterations * config.steps_per_iteration)
    return jaxrl.train_or_resume(config, work / row_name(spec, iterations, seeds), progress=progress)


def measure(spec: str, args, work: Path) -> tuple[dict[str, Any], np.ndarray]:
    from jaxrl.modes import arrival_shares, start_episodes

    started = time.perf_counter()
    result = train(spec, args.iterations, args.seeds, work, not args.no_progress)
    paths, first = start_episodes(result, args.episodes)
    shares = arrival_shares(first, 6)  # [seeds, goals]
    row = {
        "algo": spec,
        "iterations": args.iterations,
        "seeds": args.seeds,
        "env_steps": result.metrics[-1]["env_steps"],
        "episodes": args.episodes,
        "shares_per_seed": shares.round(3).tolist(),
        "nowhere_per_seed": np.mean(first < 0, axis=1).round(3).tolist(),
        **{f"goals_at_{share:.2f}": np.sum(shares >= share, axis=1).tolist() for share in SHARES},
        "eval_return_per_seed": result.metrics[-1]["eval_return_per_seed"],
        "seconds": time.perf_counter() - started,
    }
    return row, paths


def cell(spec: str, args, launch: dict[str, str]) -> dict[str, Any]:
    """One row: ``spec`` trained and measured, with its provenance; its paths drawn beside it."""
    print(f"{spec}: {args.iterations} iterations x {args.seeds} seeds", file=sys.stderr, flush=True)
    row, paths = measure(spec, args, args.work_dir)
    row = {**row, **launch}
    draw(paths, row, args.out / f"{args.name}_{row_name(spec, args.iterations, args.seeds)}.png")
    return row


def draw(paths: np.ndarray, row: dict[str, Any], path: Path) -> None:
    """The paths from the origin per seed, the goals and their arrival circles, as the paper
    draws them."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    from envs.toy import MultiGoal6
    from jaxrl.runlog import atomic_write

    seeds = len(paths)
    fig = Figure(figsize=(max(3.4 * seeds, 4.2), 4.2), layout="constrained")
    for index, ax in enumerate(np.atleast_1d(fig.subplots(1, seeds))):
        for line in paths[index, :DRAWN]:
            ax.plot(line[:, 0], line[:, 1], lw=0.5, alpha=0.25, color="tab:blue")
        for goal in MultiGoal6.goals:
            ax.add_patch(Circle(goal, MultiGoal6.arrival_radius, fill=False, color="black", lw=0.8))
        shares = ", ".join(f"{s:.0%}" for s in row["shares_per_seed"][index])
        ax.set(xlim=(-8, 8), ylim=(-8, 8), aspect="equal")
        ax.set_title(f"seed {index}: {shares}", fontsize="small")
        ax.tick_params(labelsize="small")
    fig.suptitle(
        f"{row['algo']}, {row['iterations']} iterations ({row['env_steps'] / 1e6:.1f}M steps)\n"
        f"{min(DRAWN, row['episodes'])} of {row['episodes']} episodes from the origin;\n"
        "titles: shares reaching the goals at 0, 60, ..., 300 degrees",
        fontsize="small",
    )
    atomic_write(path, lambda p: fig.savefig(p, dpi=90, format="png"))


def write(cells: dict[str, dict[str, Any]], out: Path, name: str) -> None:
    from jaxrl.runlog import atomic_write

    lines = [
        "# MultiGoal at PolicyFlow's scale",
        "",
        "`toy/multigoal6`, the `multigoal6` preset (4096 envs x 32 steps an iteration, 4 minibatches",
        "x 5 epochs, widths 256-128-64; PolicyFlow with its paper's weights and, unless its row says",
        "otherwise, its paper's action units, `action_scale` 5). Per seed: the share of",
        "the stochastic episodes from the origin at rest that arrive first at each goal (0, 60, ...,",
        "300 degrees), the episodes that arrive nowhere, and the goals reached by at least 5% and 15%",
        "of them. Paths: `<name>_<row>.png`.",
        "",
        "| learner | iterations | env steps | seed | shares per goal | nowhere | goals >= 5% |"
        " goals >= 15% | eval return |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for row in cells.values():
        for seed, shares in enumerate(row["shares_per_seed"]):
            entries = [
                row["algo"],
                str(row["iterations"]),
                f"{row['env_steps']:,}",
                str(seed),
                ", ".join(f"{s:.2f}" for s in shares),
                f"{row['nowhere_per_seed'][seed]:.2f}",
                str(row["goals_at_0.05"][seed]),
                str(row["goals_at_0.15"][seed]),
                f"{row['eval_return_per_seed'][seed]:.2f}",
            ]
            lines.append("| " + " | ".join(entries) + " |")
    lines += provenance_lines(cells.items(), lambda row: f"{row['seconds']:.0f} s")
    atomic_write(out / f"{name}.md", lambda p: p.write_text("\n".join(lines) + "\n"))


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m benchmarks.multigoal6_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=["policyflow"])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--work-dir", type=Path, default=Path("runs/multigoal6-scale"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="multigoal6_scale")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    for flag in ("iterations", "seeds", "episodes"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag}={getattr(args, flag)} is invalid: expected a positive integer")
    import jaxrl

    for algo in args.algos:
        try:
            make_config(algo)
        except jaxrl.ConfigError as error:
            parser.error(str(error))
    check_out(args.out, folder=True)
    launch = provenance("benchmarks.multigoal6_scale", argv)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = (
        (row_name(spec, args.iterations, args.seeds), partial(cell, spec, args, launch))
        for spec in args.algos
    )
    accumulate(args.out / f"{args.name}.json", jobs, partial(write, out=args.out, name=args.name))


if __name__ == "__main__":
    main()
