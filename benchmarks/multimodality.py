"""How many goals of a multi-goal task each learner's policy covers from the start.

    python -m benchmarks.multimodality --algos ppo fpo dppo reinflow policyflow --seeds 5
    python -m benchmarks.multimodality --env toy/multigoal6 --name multimodality_multigoal6

At the start state of ``toy/multigoal`` (the origin; four goals) and of ``toy/multigoal6`` (the
origin at rest; PolicyFlow's six goals) every goal is equally good, so a policy that represents
the whole optimal action distribution puts a substantial share of its actions on each goal
direction; a Gaussian policy can cover only one. Each learner trains ``--seeds`` seeds in one
vmapped program with the ``multigoal`` preset (the same for every learner apart from its own
defaults), then, per seed (the counting is :mod:`jaxrl.modes`), samples ``--samples`` stochastic actions at the start state and
counts the goals whose share (:func:`envs.toy.goal_shares`) is at least ``--min-share``; and
runs ``--samples`` stochastic episodes from the start and counts the goals that at least
``--min-share`` of them reach first (come within the task's ``arrival_radius`` of: the
behaviour the first action only begins). The default share, 15%, is above what a distribution
with no preferred direction gives a goal (isotropic: at most 12.5% of four goals' directions,
8.3% of six; uniform over the action square 8%). Writes
``<name>.md`` (counts and shares per seed, evaluation return, each row's provenance) and
``<name>.png`` (200 of the sampled actions per learner and seed) to ``--out``, from rows that
accumulate in ``<name>.json`` (:mod:`benchmarks.store`): running again with other learners adds
their rows, and a table refuses rows measured with other settings. It measures; it does not
tune.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from benchmarks.provenance import (
    check_out,
    parse_assignments,
    provenance,
    provenance_lines,
    write_errors_in_one_line,
)
from benchmarks.store import accumulate, load_cells
from experiments.cli import OneLineParser
from jaxrl.config import PRESETS
from jaxrl.modes import MIN_SHARE, covered, goals_reached, modes, start_actions, task_of

KEPT_ACTIONS = 200  # sampled start actions per seed kept in the JSON and drawn
# The ``multigoal`` preset's settings (small and fast on a CPU; 25-step episodes, one update of 8
# minibatches x 4 epochs per 6,400 transitions) on toy/multigoal unless --env says otherwise.
SETTINGS = MappingProxyType({"env": "toy/multigoal", **PRESETS["multigoal"]})


def multigoal_config(algo: str, num_seeds: int, seed: int = 0, **overrides: Any):
    """``algo`` with the ``multigoal`` preset on toy/multigoal, ``num_seeds`` seeds vmapped."""
    import jaxrl

    return jaxrl.make_config(
        algo, preset="multigoal", num_seeds=num_seeds, seed=seed, **{"env": SETTINGS["env"], **overrides}
    )


def cell(algo: str, args, overrides: dict[str, Any], wanted: dict[str, Any], launch: dict[str, str]):
    """One row: ``algo`` measured, with the settings that make it comparable and its provenance."""
    return {**measure(algo, args, overrides), "settings": wanted, **launch}


def measure(algo: str, args, overrides: dict[str, Any]) -> dict[str, Any]:
    import jaxrl

    config = multigoal_config(algo, args.seeds, args.seed, **overrides)
    print(f"{algo}: {config.total_steps:,} steps x {config.num_seeds} seeds", file=sys.stderr, flush=True)
    result = jaxrl.train(config, progress=not args.no_progress)
    actions = start_actions(result, args.samples)
    counted = [modes(a, args.min_share, task_of(config).goals) for a in actions]
    reached = goals_reached(result, args.samples, args.seed)
    return {
        "algo": algo,
        "env": config.env,
        "modes_per_seed": [count for count, _ in counted],
        "shares_per_seed": [shares.round(3).tolist() for _, shares in counted],
        "goals_per_seed": [covered(shares, args.min_share) for shares in reached],
        "reached_per_seed": reached.round(3).tolist(),
        "eval_return_per_seed": result.metrics[-1]["eval_return_per_seed"],
        "env_steps": result.metrics[-1]["env_steps"],
        "wall_time": result.metrics[-1]["wall_time"],
        "actions": actions[:, :KEPT_ACTIONS].round(3).tolist(),
    }


def goal_names(goals: Any) -> str:
    """Goal directions in degrees, as the shares' columns are ordered."""
    angles = np.degrees(np.arctan2(np.asarray(goals)[:, 1], np.asarray(goals)[:, 0])) % 360
    return ", ".join(f"{angle:.0f}" for angle in angles)


def measured_with(args, overrides: dict[str, Any]) -> dict[str, Any]:
    """What makes rows comparable: a table holds rows measured with one of these only."""
    return {
        "overrides": overrides,
        "seeds": args.seeds,
        "seed": args.seed,
        "samples": args.samples,
        "min_share": args.min_share,
    }


def write(cells: dict[str, dict[str, Any]], args) -> None:
    from jaxrl.runlog import atomic_write

    rows = list(cells.values())
    env = rows[0]["env"]
    goals = task_of(multigoal_config(rows[0]["algo"], 1, env=env)).goals
    half_width = 90.0 / len(goals)
    lines = [
        f"# Modes covered on {env}",
        "",
        f"{args.samples} stochastic actions per seed at the start state; a goal counts as a mode when",
        f"at least {args.min_share:.0%} of them point within {half_width:.1f} degrees of it with norm >= 0.5",
        f"(a distribution with no preferred direction gives a goal at most {1 / (2 * len(goals)):.1%}).",
        f"Goals reached: of {args.samples} stochastic episodes per seed from the start, the goals at",
        f"least {args.min_share:.0%} of them arrive at first.",
        f"Settings: {dict(SETTINGS)}, overrides {rows[0]['settings']['overrides']}.",
        "",
        f"| learner | modes (mean) | modes per seed | start-action shares per seed (goals at {goal_names(goals)}"
        " degrees) | goals reached (mean) | arrival shares per seed | final eval return per seed |"
        " wall time (s) |",
        "|---|---:|---|---|---:|---|---|---:|",
    ]
    for row in rows:
        shares, arrivals = (
            "; ".join(", ".join(f"{s:.2f}" for s in seed) for seed in row[key])
            for key in ("shares_per_seed", "reached_per_seed")
        )
        returns = ", ".join(f"{r:.2f}" for r in row["eval_return_per_seed"])
        lines.append(
            f"| {row['algo']} | {np.mean(row['modes_per_seed']):.1f} | "
            f"{', '.join(map(str, row['modes_per_seed']))} | {shares} | "
            f"{np.mean(row['goals_per_seed']):.1f} | {arrivals} | {returns} | {row['wall_time']:.0f} |"
        )
    lines += ["", f"Plot: `{args.name}.png`"]
    lines += provenance_lines(cells.items(), lambda row: row["started"])
    atomic_write(args.out / f"{args.name}.md", lambda p: p.write_text("\n".join(lines) + "\n"))
    atomic_write(args.out / f"{args.name}.png", lambda p: plot(rows, p))


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    env = rows[0]["env"]
    goals = np.asarray(task_of(multigoal_config(rows[0]["algo"], 1, env=env)).goals)
    limit = max(
        1.1, 1.1 * float(np.percentile(np.abs(np.concatenate([np.ravel(r["actions"]) for r in rows])), 99))
    )
    directions = 0.9 * limit * goals / np.linalg.norm(goals, axis=-1, keepdims=True)
    seeds = len(rows[0]["actions"])
    figure = Figure(figsize=(2.2 * seeds, 2.2 * len(rows)))
    axes = figure.subplots(len(rows), seeds, squeeze=False, sharex=True, sharey=True)
    for row, line in zip(rows, axes, strict=True):
        for seed, ax in enumerate(line):
            actions = np.asarray(row["actions"][seed])
            ax.scatter(actions[:, 0], actions[:, 1], s=2, alpha=0.3)
            ax.scatter(*directions.T, marker="*", s=60, color="tab:red")
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_aspect("equal")
            title = f"{row['algo']} s{seed}: {row['modes_per_seed'][seed]} modes, {row['goals_per_seed'][seed]} reached"
            ax.set_title(title, fontsize=7)
            ax.tick_params(labelsize=6)
    figure.suptitle(f"{env}: sampled actions at the start (stars: goal directions)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    from jaxrl.registry import LEARNERS

    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=list(LEARNERS))
    parser.add_argument("--env", default=SETTINGS["env"], choices=["toy/multigoal", "toy/multigoal6"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--samples", type=int, default=2000, help="start actions and episodes sampled per seed"
    )
    parser.add_argument("--min-share", type=float, default=MIN_SHARE, help="share for a goal to count")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="config overrides")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--name", default="multimodality")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    check_out(args.out, folder=True)
    overrides = {"env": args.env, **parse_assignments(args.set, "--set")}
    unknown = sorted(set(args.algos) - set(LEARNERS))
    if unknown:
        parser.error(f"--algos {unknown[0]} is invalid: expected some of {', '.join(LEARNERS)}")
    if not 0.0 < args.min_share <= 0.25:
        parser.error(f"--min-share {args.min_share} is invalid: expected a share in (0, 0.25]")
    import jaxrl

    for algo in args.algos:  # every config is checked before the first one trains
        try:
            multigoal_config(algo, args.seeds, args.seed, **overrides)
        except jaxrl.ConfigError as error:
            parser.error(str(error))
    store = args.out / f"{args.name}.json"
    wanted = json.loads(json.dumps(measured_with(args, overrides)))  # as the store holds them
    for row in load_cells(store).values():
        if row["settings"] != wanted:
            parser.error(
                f"--name {args.name} holds rows measured with {row['settings']}: give another --name"
            )
    launch = provenance("benchmarks.multimodality", argv)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = ((algo, partial(cell, algo, args, overrides, wanted, launch)) for algo in args.algos)
    accumulate(store, jobs, partial(write, args=args))
    print((args.out / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
