"""The learning table: learners x tasks, equal budgets and seeds, as markdown and plots.

    python -m benchmarks.learning_table --algos ppo bpo \\
        --envs toy/pointmass CartpoleBalance CartpoleSwingup PendulumSwingup \\
        --seeds 3 --preset cpu --steps toy/pointmass=1500000 --name learning_cpu
    python -m benchmarks.learning_table --table learning_cpu [--missing]

Each (task, learner) cell trains ``--seeds`` seeds side by side in one vmapped program with the
same config apart from the learner, and records every evaluation. Results accumulate in
``<out>/<name>.json`` (written atomically after each cell): running again with other learners
or tasks adds or replaces those cells and keeps the rest, so later learners join the same
table. From the whole JSON the script rewrites ``<name>.md`` (final mean evaluation return,
mean and std over seeds, steps, wall time including compilation) and one
``<name>_<task>.png`` learning-curve plot per task, with each cell's wall time relative to PPO's
on the same task. It does not tune anything: every cell uses the preset, the learner's defaults,
the ``--set`` overrides, a task's ``--task-set`` overrides and the learner's own ones: a learner
is named ``ALGO`` or ``ALGO:FIELD=VALUE[:FIELD=VALUE...]`` (e.g. ``gorl:decoder=diffusion``;
``preset=NAME`` replaces the table's preset for that learner), and that name labels its cells (the plots' legends a short form of it, listed in the markdown).
``--table NAME`` regenerates a committed table from its definition in :data:`TABLES` (its
learners, tasks, budgets, preset and seeds; flags given beside it still win), ``--missing`` runs
only the cells its JSON lacks, so a regeneration cut short carries on where it stopped, and
``--rewrite`` only rewrites the markdown and plots from the JSON (``--name NAME --rewrite``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from benchmarks.provenance import (
    check_out,
    learner_spec,
    parse_assignments,
    provenance,
    provenance_lines,
    sized,
    write_errors_in_one_line,
)
from benchmarks.store import accumulate, load_cells
from experiments.cli import OneLineParser, fail

DEFAULT_ENVS = ("toy/pointmass", "CartpoleBalance", "CartpoleSwingup", "PendulumSwingup")
RECORD_KEYS = ("env_steps", "wall_time", "eval_return", "eval_return_per_seed", "train_sps")

# PPO at BPO's own setting with no entropy bonus: the control that isolates BPO's objective.
BPO_CONTROL = (
    "ppo:entropy_cost=0:std_param=global:squash=clip:learning_rate=0.0003:value_cost=0.5"
    ":max_grad_norm=1:advantages_per_epoch=true"
)

# BPO's rsl_rl path at the CPU sizes, and PPO under the same setting with its reference entropy
# weight and with none (a cell's ``preset=`` replaces the table's preset).
RSL_RL_ROWS = ("bpo:preset=rsl_rl_cpu", "ppo:preset=rsl_rl_cpu", "ppo:preset=rsl_rl_cpu:entropy_cost=0")

# Short names for the plots' legends (the tables keep the full ones and list these beside them).
ALGO_LABELS = MappingProxyType(
    {
        "ppo": "PPO",
        "bpo": "BPO",
        "fpo": "FPO",
        "dppo": "DPPO",
        "reinflow": "ReinFlow",
        "policyflow": "PolicyFlow",
        "gorl": "GoRL",
    }
)
FIELD_LABELS = MappingProxyType({"entropy_cost": "ent", "learning_rate": "lr", "clip_eps": "clip"})
# Learners whose settings have a name; the control's learning-rate sweep leaves its rate out.
NAMED_LEARNERS = MappingProxyType(
    {BPO_CONTROL: "BPO control", BPO_CONTROL.replace(":learning_rate=0.0003", ""): "BPO control"}
)
LABEL_LENGTH = 20  # settings past this many characters are counted ("+2"), not shown


@dataclass(frozen=True)
class TableDefinition:
    """A committed table's cells: what ``--table NAME`` regenerates."""

    algos: tuple[str, ...]
    envs: tuple[str, ...]
    steps: Mapping[str, int]
    preset: str
    seeds: int = 3

    def flag_defaults(self, name: str) -> dict[str, Any]:
        """The parser defaults that make the script run this table."""
        return {
            "algos": list(self.algos),
            "envs": list(self.envs),
            "steps": [f"{task}={steps}" for task, steps in self.steps.items()],
            "preset": self.preset,
            "seeds": self.seeds,
            "name": name,
        }


TABLES = MappingProxyType(
    {
        "learning_cpu": TableDefinition(
            algos=(
                "ppo",
                "ppo:entropy_cost=0",
                BPO_CONTROL,
                "bpo",
                "fpo",
                "dppo",
                "reinflow",
                "policyflow",
                "gorl",
                *RSL_RL_ROWS,
            ),
            envs=("CartpoleBalance", "CartpoleSwingup", "PendulumSwingup"),
            steps={"CartpoleBalance": 3_000_000, "CartpoleSwingup": 6_000_000, "PendulumSwingup": 6_000_000},
            preset="cpu",
        ),
    }
)


def split_commit(spec: str) -> tuple[str, str | None]:
    """``ALGO[:...]@COMMIT`` -> (``ALGO[:...]``, COMMIT); a name without ``@`` -> (it, None)."""
    name, sep, commit = spec.rpartition("@")
    return (name, commit) if sep else (spec, None)


def short_label(spec: str) -> str:
    """A learner's short name for a legend: ``PPO`` for ``ppo``, ``PPO ent=0`` for
    ``ppo:entropy_cost=0``, ``GoRL flow`` for ``gorl:decoder=flow``, ``BPO control`` for
    :data:`BPO_CONTROL`, ``FPO (old, c170621)`` for ``fpo@c170621`` (the learner as it was at
    that commit); settings that would make it longer than :data:`LABEL_LENGTH` are counted."""
    name, commit = split_commit(spec)
    if name in NAMED_LEARNERS:
        label = NAMED_LEARNERS[name]
    else:
        algo, *assignments = name.split(":")
        label, hidden = ALGO_LABELS.get(algo, algo), 0
        for assignment in assignments:
            field, _, value = assignment.partition("=")
            word = value.replace("_", "").isalpha() and value not in ("true", "false")
            part = value if word else f"{FIELD_LABELS.get(field, field)}={value}"
            if hidden or len(label) + 1 + len(part) > LABEL_LENGTH:
                hidden += 1
            else:
                label += " " + part
        label += f" +{hidden}" if hidden else ""
    return label + (f" (old, {commit})" if commit else "")


def plot_labels(specs: Iterable[str]) -> dict[str, str]:
    """Each learner's :func:`short_label`, numbered where two would read the same; a learner's
    variants (``ALGO:...``) follow it, and its earlier versions (``ALGO@COMMIT``) each version."""
    specs = list(dict.fromkeys(specs))
    bases = list(dict.fromkeys(split_commit(spec)[0] for spec in specs))
    algos = list(dict.fromkeys(base.split(":")[0] for base in bases))

    def order(spec: str) -> tuple[int, int, bool]:
        base, commit = split_commit(spec)
        return algos.index(base.split(":")[0]), bases.index(base), commit is not None

    specs.sort(key=order)
    labels = {spec: short_label(spec) for spec in specs}
    counts = {label: list(labels.values()).count(label) for label in labels.values()}
    seen: dict[str, int] = {}
    for spec, label in labels.items():
        if counts[label] > 1:
            seen[label] = seen.get(label, 0) + 1
            labels[spec] = f"{label} #{seen[label]}"
    return labels


def cell_config(spec: str, env: str, args: argparse.Namespace, overrides: dict[str, Any]):
    import jaxrl

    algo, own = learner_spec(spec)
    preset = own.pop("preset", args.preset)  # a cell's own preset replaces the table's
    return jaxrl.make_config(
        algo,
        preset=preset,
        env=env,
        num_seeds=args.seeds,
        seed=args.seed,
        num_evals=args.num_evals,
        **{
            "total_steps": args.steps.get(env, args.total_steps),
            **overrides,
            **args.task_set.get(env, {}),
            **own,
        },
    )


def run_cell(
    algo: str, env: str, args: argparse.Namespace, overrides: dict[str, Any], launch: dict[str, str]
) -> dict[str, Any]:
    config = cell_config(algo, env, args, overrides)
    print(
        f"{algo} on {env}: {config.total_steps:,} steps x {config.num_seeds} seeds",
        file=sys.stderr,
        flush=True,
    )
    return train_cell(config, launch, not args.no_progress, algo=algo, env=env)


def train_cell(config, launch: dict[str, str], progress: bool, **labels: Any) -> dict[str, Any]:
    """Train ``config`` (its seeds vmapped) and return the cell: ``labels``, every evaluation's
    record, the final return's mean, std and per-seed values, the config and the launch."""
    import jaxrl
    from jaxrl.config import to_dict

    result = jaxrl.train(config, progress=progress)
    records = [{k: r[k] for k in RECORD_KEYS} for r in result.metrics]
    final = records[-1]["eval_return_per_seed"]
    return {
        **labels,
        "num_seeds": config.num_seeds,
        "env_steps": records[-1]["env_steps"],
        "wall_time": records[-1]["wall_time"],
        "compile_seconds": result.metrics[0]["compile_seconds"],
        "final_mean": float(np.mean(final)),
        "final_std": float(np.std(final)),
        "final_per_seed": final,
        "records": records,
        "config": to_dict(config),
        **launch,
        "finished": time.strftime("%Y-%m-%d %H:%M"),
    }


def cell_key(env: str, algo: str) -> str:
    return f"{env} | {algo}"


def write_table(cells: dict[str, dict[str, Any]], out: Path, name: str) -> None:
    from jaxrl.runlog import atomic_write

    tasks = list(dict.fromkeys(cell["env"] for cell in cells.values()))
    lines = [
        f"# Learning table `{name}`",
        "",
        "Final evaluation return (deterministic policy, mean over `eval_envs` episodes per seed, 128",
        "by default), then mean +- std over seeds. Wall time is one cell's whole run: compilation,",
        "training and evaluations, all seeds together. Each cell's command and machine are listed",
        "under the table; the JSON next to this file holds every evaluation and the full configs.",
        "A learner labelled `ALGO@COMMIT` is that learner as it was at COMMIT, kept for comparison",
        "after its defaults (or its task's settings) changed; its config is in the JSON.",
        "",
        "| task | learner | env steps | final return (mean +- std) | per seed | wall time (s) | time / PPO's | machine |",
        "|---|---|---:|---:|---|---:|---:|---|",
    ]
    for task in tasks:
        ppo = cells.get(cell_key(task, "ppo"))
        for cell in (c for c in cells.values() if c["env"] == task):
            per_seed = ", ".join(f"{v:.1f}" for v in cell["final_per_seed"])
            ratio = f"{cell['wall_time'] / ppo['wall_time']:.2f}" if ppo else "-"
            lines.append(
                f"| {task} | {cell['algo']} | {cell['env_steps']:,} | {cell['final_mean']:.1f} +- "
                f"{cell['final_std']:.1f} | {per_seed} | {cell['wall_time']:.0f} | {ratio} |"
                f" {cell['machine'].split(',')[0]} |"
            )
    named = ((f"{cell['env']} / {cell['algo']}", cell) for cell in cells.values())
    lines += provenance_lines(named, lambda cell: cell["finished"])
    labels = plot_labels(cell["algo"] for cell in cells.values())
    lines += ["", "Plots: " + ", ".join(f"`{plot_name(name, task)}`" for task in tasks), ""]
    lines += ["Their legends' short names for the learners (dashed: the learner at an earlier commit):", ""]
    lines += [f"- {label}: `{spec}`" for spec, label in labels.items()] + [""]
    atomic_write(out / f"{name}.md", lambda p: p.write_text("\n".join(lines)))
    plot_table(cells, out, name, labels)


def plot_table(cells: dict[str, dict[str, Any]], out: Path, name: str, labels: dict[str, str]) -> None:
    """One plot per task, each learner under its short label, in the same colour in every plot;
    a learner as it was at an earlier commit (``ALGO@COMMIT``) dashed, in its current colour."""
    from matplotlib import colormaps

    from jaxrl.runlog import plot_curves

    bases = list(dict.fromkeys(split_commit(spec)[0] for spec in labels))
    palette = colormaps["tab10" if len(bases) <= 10 else "tab20"]
    colours = {labels[spec]: palette(bases.index(split_commit(spec)[0])) for spec in labels}
    styles = {labels[spec]: "--" if split_commit(spec)[1] else "-" for spec in labels}
    for task in dict.fromkeys(cell["env"] for cell in cells.values()):
        records = {c["algo"]: c["records"] for c in cells.values() if c["env"] == task}
        series = {label: records[spec] for spec, label in labels.items() if spec in records}
        title = f"{task}: evaluation return (seeds faint, mean bold)"
        plot_curves(out / plot_name(name, task), series, title, colours, styles)


def plot_name(name: str, task: str) -> str:
    return f"{name}_{task.replace('/', '-')}.png"


def task_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``TASK:FIELD=VALUE`` items -> {task: {field: value}}."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        task, sep, assignment = item.rpartition(":")
        if not sep or not task:
            fail(f"--task-set {item!r} is not TASK:FIELD=VALUE")
        out.setdefault(task, {}).update(sized(parse_assignments([assignment], "--task-set")))
    return out


def cells_to_run(
    envs: Iterable[str], algos: Iterable[str], stored: Iterable[str], missing_only: bool
) -> list[tuple[str, str]]:
    """The ``(env, algo)`` cells of this run, task by task: all of them, or with
    ``missing_only`` those whose key is not among the ``stored`` ones."""
    done = set(stored) if missing_only else set()
    return [(env, algo) for env in envs for algo in algos if cell_key(env, algo) not in done]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from jaxrl.registry import LEARNERS

    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--table",
        choices=sorted(TABLES),
        help="regenerate this committed table (its learners, tasks, budgets, preset and seeds)",
    )
    parser.add_argument(
        "--missing", action="store_true", help="run only the cells the table's JSON does not hold yet"
    )
    parser.add_argument("--algos", nargs="+", default=list(LEARNERS), help="learners (default: all)")
    parser.add_argument("--envs", nargs="+", default=list(DEFAULT_ENVS), help="tasks")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (at least 3 for the table)")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--preset", default="cpu", help="config preset for every cell")
    parser.add_argument("--total-steps", type=int, default=None, help="budget per cell (default: preset's)")
    parser.add_argument("--steps", nargs="*", default=[], metavar="TASK=STEPS", help="per-task budgets")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="FIELD=VALUE", help="config overrides, all cells"
    )
    parser.add_argument(
        "--task-set", nargs="*", default=[], metavar="TASK:FIELD=VALUE", help="config overrides of one task"
    )
    parser.add_argument("--num-evals", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--name", default="learning_cpu", help="file stem of the table, JSON and plots")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--rewrite", action="store_true", help="only rewrite the table and plots from the JSON (no training)"
    )
    table = parser.parse_known_args(argv)[0].table
    if table is not None:
        parser.set_defaults(**TABLES[table].flag_defaults(table))
    args = parser.parse_args(argv)
    args.steps = {k: int(v) for k, v in parse_assignments(args.steps, "--steps").items()}
    overrides = sized(parse_assignments(args.set, "--set"))
    args.task_set = task_overrides(args.task_set)
    unknown = sorted({learner_spec(spec)[0] for spec in args.algos} - set(LEARNERS))
    if unknown:
        parser.error(f"--algos {unknown[0]} is invalid: expected some of {', '.join(LEARNERS)}")
    if args.total_steps is None:
        from jaxrl.config import TrainConfig, preset_settings

        args.total_steps = preset_settings(args.preset).get("total_steps", TrainConfig.total_steps)

    import jaxrl

    for algo in args.algos:  # every cell's config is checked before the first one trains
        for env in args.envs:
            try:
                cell_config(algo, env, args, overrides)
            except jaxrl.ConfigError as error:
                parser.error(str(error))
    args.overrides = overrides
    return args


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    check_out(args.out, folder=True)
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / f"{args.name}.json"
    if args.rewrite:
        write_table(load_cells(store), args.out, args.name)
        print((args.out / f"{args.name}.md").read_text())
        return
    launch = provenance("benchmarks.learning_table", argv)
    cells = cells_to_run(args.envs, args.algos, load_cells(store), args.missing)
    jobs = (
        (cell_key(env, algo), partial(run_cell, algo, env, args, args.overrides, launch))
        for env, algo in cells
    )
    accumulate(store, jobs, partial(write_table, out=args.out, name=args.name))
    print((args.out / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
