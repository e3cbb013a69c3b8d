"""More environments at the same number of iterations: the 1M-environment paper's recipe against
the common alternative and against doing nothing.

    python -m benchmarks.scaling_recipe --preset cpu     # toy/pointmass, 16 x 1..64 envs, 2 cores
    python -m benchmarks.scaling_recipe --preset gpu     # CartpoleSwingup, 2^14 x 1..64 envs (2^20)

"Preventing Learning Stagnation in PPO by Scaling to 1 Million Parallel Environments" (2025)
claims that when the environments grow by K, keeping the minibatch size and learning rate and
taking K times the minibatches improves the return monotonically with K, while growing the
minibatches and rescaling the learning rate instead degrades. For each learner and each K in
``--factors`` this trains three ways to use K times the base environments for the same number of
iterations (so K times the environment steps):

- ``recipe``: K times the minibatches, same minibatch size and learning rate
  (:func:`jaxrl.config.scale_envs`);
- ``alt-sqrt`` (``alt-linear`` with ``--alt-lr-scaling linear``): the same number of
  minibatches, each K times larger, the learning rate times sqrt(K) (times K);
- ``nothing``: the same number of minibatches and learning rate, the batch K times larger only.

K = 1 is one run (``base``), shared by the three. Each cell trains ``--seeds`` seeds side by side
in one vmapped program (:func:`benchmarks.learning_table.train_cell`) and records every evaluation
with its environment steps and wall time. Cells accumulate in ``<out>/<name>.json`` (written
atomically after each cell: an interrupted sweep keeps its finished cells, and running it again
with other learners or factors adds them); from the whole JSON the script rewrites ``<name>.md``
(the table, a generated "Does the claim hold?" comparison per learner, provenance) and
``<name>.png`` (per learner, return against environment steps and against wall time, one line per
method and K). Nothing is tuned: every cell is the preset's base settings, ``--set`` and the
learner's defaults, changed only as its method says.
"""

from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.learning_table import train_cell
from benchmarks.provenance import check_out, parse_assignments, provenance, sized, write_errors_in_one_line
from benchmarks.store import accumulate, load_cells
from experiments.cli import OneLineParser

# The base settings each preset scales: the jaxrl config preset they start from, the task and its
# base environment count, the iterations every cell trains for, and the learners by default.
SETUPS: dict[str, dict[str, Any]] = {
    # 2 CPU cores, the whole sweep (PPO and DPPO, 3 seeds, K = 1..64) about 25 minutes alone.
    # toy/pointmass: solved (return ~89) by PPO in ~1.5M steps, far from it in the base's 48k.
    # 16 envs x 2 unrolls of 30 = 960 transitions an iteration, 4 minibatches of 240, 4 epochs.
    "cpu": {
        "config_preset": "cpu",
        "env": "toy/pointmass",
        "algos": ("ppo", "dppo"),
        "iterations": 50,
        "base": {"num_envs": 16, "num_unrolls": 2, "num_minibatches": 4, "update_epochs": 4},
        # The learners' own additions to the pointmass preset (not its sizes), e.g. DPPO's clip
        # 0.1 on its per-dimension average of log-probabilities: for 2-D actions about the trust
        # region of clip 0.2 on their sum, which the committed DPPO cells used (commit f5d7418,
        # before DPPO averaged); at 0.2 averaged it does not learn pointmass.
        "learner_preset": "pointmass",
    },
    # One accelerator: Playground's DM Control PPO settings (networks, 16 epochs, lr 1e-3,
    # unrolls of 30) from 2^14 environments, one unroll an iteration (491,520 transitions, close
    # to Playground's 983,040), 16 minibatches of 30,720 transitions (Playground's size); K = 64
    # is 2^20 environments and, with the recipe, 1,024 minibatches an epoch.
    "gpu": {
        "config_preset": "playground",
        "env": "CartpoleSwingup",
        "algos": ("ppo", "dppo"),
        "iterations": 60,
        "base": {"num_envs": 2**14, "num_unrolls": 1, "num_minibatches": 16},
        "learner_preset": None,
    },
}
LR_SCALINGS = {"sqrt": math.sqrt, "linear": float}
BASE = "base"  # the K = 1 run, the same for every method


def methods(alt_lr_scaling: str) -> tuple[str, ...]:
    return ("recipe", f"alt-{alt_lr_scaling}", "nothing")


def method_config(base, method: str, factor: int):
    """``base`` with ``factor`` times the environments, used as ``method`` says, for as many
    iterations (``factor`` times the steps: every method's iteration is ``factor`` times as long)."""
    from jaxrl import registry
    from jaxrl.config import scale_envs

    longer = base.replace(total_steps=base.total_steps * factor)
    if factor == 1 or method == BASE:
        scaled = base
    elif method == "recipe":
        scaled = scale_envs(longer, factor)
    elif method.startswith("alt-"):
        lr = base.learning_rate * LR_SCALINGS[method.removeprefix("alt-")](factor)
        scaled = longer.replace(num_envs=base.num_envs * factor, learning_rate=lr)
    elif method == "nothing":
        scaled = longer.replace(num_envs=base.num_envs * factor)
    else:
        raise ValueError(f"unknown method {method!r}")
    registry.validate(scaled)
    return scaled


def base_config(algo: str, args: argparse.Namespace):
    import jaxrl

    setup = SETUPS[args.preset]
    config = jaxrl.make_config(
        algo,
        preset=setup["config_preset"],
        env=args.env,
        num_seeds=args.seeds,
        seed=args.seed,
        num_evals=args.num_evals,
        **{
            **setup["base"],
            **jaxrl.LEARNERS[algo].presets.get(setup["learner_preset"], {}),
            **args.overrides,
        },
    )
    return config.replace(total_steps=args.iterations * config.steps_per_iteration)


def cells_to_run(args: argparse.Namespace) -> list[tuple[str, int, str]]:
    """(algo, K, method) in the order they run: learner by learner, K ascending."""
    out = []
    for algo in args.algos:
        for factor in args.factors:
            out += [(algo, 1, BASE)] if factor == 1 else [(algo, factor, m) for m in args.methods]
    return out


def cell_key(env: str, algo: str, factor: int, method: str) -> str:
    return f"{env} | {algo} | K={factor} | {method}"


def run(algo: str, factor: int, method: str, args: argparse.Namespace, launch: dict[str, str]) -> dict:
    import jaxrl

    config = method_config(base_config(algo, args), method, factor)
    print(
        f"{algo} K={factor} {method}: {config.num_envs} envs, {config.num_minibatches} minibatches of"
        f" {config.minibatch_size}, lr {config.learning_rate:.3g}, {config.num_iterations} iterations,"
        f" {config.total_steps:,} steps x {config.num_seeds} seeds",
        file=sys.stderr,
        flush=True,
    )
    labels = dict(
        algo=algo,
        env=config.env,
        factor=factor,
        method=method,
        num_envs=config.num_envs,
        num_minibatches=config.num_minibatches,
        minibatch_size=config.minibatch_size,
        learning_rate=float(config.learning_rate),
        iterations=config.num_iterations,
    )
    try:
        return train_cell(config, launch, not args.no_progress, **labels)
    except jaxrl.TrainingDiverged as error:  # a cell that diverges is a result: recorded, the sweep goes on
        print(f"diverged: {error}", file=sys.stderr, flush=True)
        from jaxrl.config import to_dict

        return {
            **labels,
            "diverged": str(error),
            "env_steps": config.total_steps,
            "records": [],
            "config": to_dict(config),
            **launch,
        }


def groups(cells: dict[str, dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(env, algo) -> its cells, by K then method."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    order = {BASE: 0, "recipe": 1, "nothing": 3}  # the alternatives between
    for cell in sorted(cells.values(), key=lambda c: (c["factor"], order.get(c["method"], 2), c["method"])):
        out.setdefault((cell["env"], cell["algo"]), []).append(cell)
    return out


def score(cell: dict[str, Any]) -> float:
    """A cell's final mean return; minus infinity where it diverged."""
    return -math.inf if cell.get("diverged") else cell["final_mean"]


def shown(cell: dict[str, Any]) -> str:
    return "diverged" if cell.get("diverged") else f"{cell['final_mean']:.1f} +- {cell['final_std']:.1f}"


def spread(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The seeds' spread of a difference of two cells' final returns: their stds combined."""
    return math.hypot(a["final_std"], b["final_std"])


def gradient_steps(cell: dict[str, Any]) -> int:
    """The optimiser steps of a cell's whole run: iterations x epochs x minibatches."""
    return cell["iterations"] * cell["config"]["update_epochs"] * cell["num_minibatches"]


def training_seconds(cell: dict[str, Any]) -> float:
    return cell["wall_time"] - cell["compile_seconds"]


def verdict(group: list[dict[str, Any]]) -> list[str]:
    """The generated comparison of one learner's cells: at each K, the recipe's final return
    against the best other method's, and whether the recipe's rises monotonically with K (a fall
    smaller than the seeds' spread counted as noise)."""
    base = next((c for c in group if c["method"] == BASE), None)
    factors = sorted({c["factor"] for c in group if c["factor"] > 1})
    lines, wins, clear_wins, contests = [], 0, 0, 0
    for factor in factors:
        at = {c["method"]: c for c in group if c["factor"] == factor}
        recipe = at.get("recipe")
        others = {m: c for m, c in at.items() if m != "recipe"}
        results = ", ".join(f"{m} {shown(c)}" for m, c in at.items())
        if recipe is None or not others:
            lines.append(f"- K={factor}: {results}.")
            continue
        best = max(others.values(), key=score)
        contests += 1
        if recipe.get("diverged") or best.get("diverged"):
            wins += score(recipe) > score(best)
            clear_wins += score(recipe) > score(best)
            outcome = "the recipe diverged" if recipe.get("diverged") else "every other method diverged"
            lines.append(f"- K={factor}: {results}: {outcome}.")
            continue
        margin, noise = recipe["final_mean"] - best["final_mean"], spread(recipe, best)
        wins += margin > 0
        clear_wins += margin > noise
        if margin > 0:
            outcome = f"the recipe is best, by {margin:.1f}"
        else:
            outcome = f"{best['method']} is ahead of the recipe by {-margin:.1f}"
        within = "more than" if abs(margin) > noise else "within"
        speed = training_seconds(recipe) / training_seconds(best)
        lines.append(
            f"- K={factor}: {results}: {outcome}, {within} the seeds' spread ({noise:.1f}); the recipe's"
            f" training (wall time less compilation) took {speed:.2f}x {best['method']}'s."
        )
    curve = ([base] if base else []) + [c for c in group if c["method"] == "recipe"]
    falls = [(a, b) for a, b in zip(curve, curve[1:], strict=False) if score(b) < score(a)]
    real = [(a, b) for a, b in falls if b.get("diverged") or score(a) - score(b) > spread(a, b)]
    if not falls:
        shape = "monotone in K"
    else:
        where = "; ".join(
            f"K={b['factor']} diverged"
            if b.get("diverged")
            else f"K={a['factor']} -> {b['factor']} falls by {score(a) - score(b):.1f} (spread {spread(a, b):.1f})"
            for a, b in falls
        )
        kind = "not monotone" if real else "monotone within the seeds' spread"
        shape = f"{kind} in K ({where})"
    returns = " -> ".join("diverged" if c.get("diverged") else f"{c['final_mean']:.1f}" for c in curve)
    lines.append(
        f"- The recipe's final return over K = {', '.join(str(c['factor']) for c in curve)}:"
        f" {returns}: {shape}."
    )
    if contests:
        holds = wins == contests and not real
        lines.append(
            f"- **{'Holds' if holds else 'Does not hold in full'}** here: the recipe is ahead at {wins}"
            f" of {contests} K > 1 ({clear_wins} by more than the seeds' spread) and its return is"
            f" {'not ' if real else ''}monotone in K{' within the spread' if falls and not real else ''}."
        )
    return lines


def write_table(cells: dict[str, dict[str, Any]], out: Path, name: str) -> None:
    from jaxrl.runlog import atomic_write

    lines = [
        f"# Scaling the environments: the recipe against the alternatives (`{name}`)",
        "",
        "Every learner's cells train the same number of iterations; K times the environments is K",
        "times the environment steps. `recipe`: K times the minibatches, same minibatch size and",
        "learning rate (the paper's). `alt-sqrt` / `alt-linear`: the same number of minibatches, K",
        "times larger, the learning rate times sqrt(K) / K. `nothing`: the same minibatches and",
        "learning rate, the batch K times larger. `base` is K = 1, shared by the three. Final return:",
        "the deterministic policy's mean over `eval_envs` episodes per seed, then mean +- std over",
        "seeds. Wall time is the cell's whole run (compilation, training, evaluations; seeds together);",
        "the plot's wall-time axis starts after compilation, which is most of a small cell's time on CPU.",
        "",
        "| task | learner | K | method | num_envs | minibatch size | minibatches | lr | env steps |"
        " gradient steps | final return (mean +- std) | per seed | wall time (s) | of which compilation (s) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    grouped = groups(cells)
    for (env, algo), group in grouped.items():
        for c in group:
            per_seed = ", ".join(f"{v:.1f}" for v in c.get("final_per_seed", [])) or "-"
            times = "- | -" if c.get("diverged") else f"{c['wall_time']:.0f} | {c['compile_seconds']:.0f}"
            lines.append(
                f"| {env} | {algo} | {c['factor']} | {c['method']} | {c['num_envs']:,} |"
                f" {c['minibatch_size']:,} | {c['num_minibatches']} | {c['learning_rate']:.3g} |"
                f" {c['env_steps']:,} | {gradient_steps(c):,} | {shown(c)} | {per_seed} | {times} |"
            )
    lines += ["", "## Does the claim hold?", ""]
    for (env, algo), group in grouped.items():
        iterations = sorted({c["iterations"] for c in group})
        lines += [f"{algo} on {env}, {', '.join(map(str, iterations))} iterations:", "", *verdict(group), ""]
    lines += ["## Provenance", ""]
    launches: dict[tuple[str, str, str], list[str]] = {}
    for c in cells.values():
        label = f"{c['algo']} K={c['factor']} {c['method']}"
        launches.setdefault((c["machine"], c["commit"], c["command"]), []).append(label)
    for (machine, commit, command), labels in launches.items():
        lines.append(f"- {', '.join(labels)}: {machine}; commit {commit}; `{command}`")
    lines += ["", f"Plot: `{name}.png`", ""]
    atomic_write(out / f"{name}.md", lambda p: p.write_text("\n".join(lines)))
    plot(grouped, out / f"{name}.png")


def plot(grouped: dict[tuple[str, str], list[dict[str, Any]]], path: Path) -> None:
    """Per learner, a row: return against environment steps and against wall time after
    compilation (log scales; compilation, tens of seconds on CPU, would hide the small cells'
    training), one colour family per method (the same in every row), darker for larger K, the shared K = 1 run in black."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from jaxrl.runlog import atomic_write, draw_curves

    if not grouped:
        return
    families = {"recipe": "Blues", "alt-sqrt": "Oranges", "alt-linear": "Reds", "nothing": "Greens"}
    fig = Figure(figsize=(13, 4.5 * len(grouped)), layout="constrained")
    rows = fig.subplots(len(grouped), 2, sharey="row", squeeze=False)
    for axes, ((env, algo), group) in zip(rows, grouped.items(), strict=True):
        factors = sorted({c["factor"] for c in group})
        series, colours = {}, {}
        for c in (c for c in group if c["records"]):  # a diverged cell has none
            label = f"K={c['factor']} {c['method']}"
            series[label] = [{**r, "wall_time": r["wall_time"] - c["compile_seconds"]} for r in c["records"]]
            if c["method"] == BASE:
                colours[label] = "black"
            else:
                shade = 0.4 + 0.6 * factors.index(c["factor"]) / max(len(factors) - 1, 1)
                colours[label] = colormaps[families.get(c["method"], "Purples")](shade)
        draw_curves(axes, series, colours)
        for axis in axes:
            axis.set_xscale("log")
        # Beside the row, outside the axes: it covers no curve, and the layout makes room for it.
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", handlelength=3)
        axes[0].set_title(f"{algo} on {env}: return vs environment steps")
        axes[1].set_title(f"{algo} on {env}: return vs wall time")
        axes[1].set_xlabel("wall time after compilation (s)")
    atomic_write(path, lambda p: fig.savefig(p, dpi=90, format="png"))


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    from jaxrl.registry import LEARNERS

    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(SETUPS), default="cpu", help="base settings (see SETUPS)")
    parser.add_argument("--algos", nargs="+", default=None, help="learners (default: the preset's)")
    parser.add_argument("--env", default=None, help="task (default: the preset's)")
    parser.add_argument("--factors", nargs="+", type=int, default=[1, 4, 16, 64], help="K: env multiples")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell, vmapped")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--iterations", type=int, default=None, help="iterations of every cell")
    parser.add_argument("--alt-lr-scaling", choices=sorted(LR_SCALINGS), default="sqrt",
                        help="the alternative's learning rate: x sqrt(K) (Adam's usual) or x K")  # fmt: skip
    parser.add_argument("--methods", nargs="+", choices=("recipe", "alt", "nothing"),
                        default=["recipe", "alt", "nothing"], help="the methods to run at K > 1")  # fmt: skip
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="FIELD=VALUE", help="overrides of the base settings"
    )
    parser.add_argument("--num-evals", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--name", default=None, help="file stem (default: scaling_recipe_<preset>)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--rewrite", action="store_true", help="only rewrite the table and plot from the JSON"
    )
    args = parser.parse_args(argv)
    check_out(args.out, folder=True)
    setup = SETUPS[args.preset]
    args.algos = args.algos or list(setup["algos"])
    args.env = args.env or setup["env"]
    args.iterations = args.iterations or setup["iterations"]
    args.name = args.name or f"scaling_recipe_{args.preset}"
    args.overrides = sized(parse_assignments(args.set, "--set"))
    args.methods = [m for m in methods(args.alt_lr_scaling) if m.split("-")[0] in args.methods]
    unknown = sorted(set(args.algos) - set(LEARNERS))
    if unknown:
        parser.error(f"--algos {unknown[0]} is invalid: expected some of {', '.join(LEARNERS)}")
    if any(k < 1 for k in args.factors):
        parser.error("--factors must be positive integers")

    store = args.out / f"{args.name}.json"
    if args.rewrite:
        write_table(load_cells(store), args.out, args.name)
        print((args.out / f"{args.name}.md").read_text())
        return

    import jaxrl

    todo = cells_to_run(args)
    for algo, factor, method in todo:  # every cell's config is checked before the first one trains
        try:
            method_config(base_config(algo, args), method, factor)
        except jaxrl.ConfigError as error:
            parser.error(str(error))

    args.out.mkdir(parents=True, exist_ok=True)
    launch = provenance("benchmarks.scaling_recipe", argv)
    jobs = ((cell_key(args.env, *cell), partial(run, *cell, args, launch)) for cell in todo)
    accumulate(store, jobs, partial(write_table, out=args.out, name=args.name))
    print((args.out / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
