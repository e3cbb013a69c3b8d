"""Why PolicyFlow keeps or loses modes: its sampled actions and its noiseless flow, per setting.

    python -m benchmarks.policyflow_modes --label default
    python -m benchmarks.policyflow_modes --label "paper weights" \\
        --set brownian_weight=0.25 entropy_weight=0.001 learning_rate=2e-4
    python -m benchmarks.policyflow_modes --label "Brownian sweep" --seeds 5 \\
        --set brownian_weight=[0,0.01,0.25,1,4]

Trains PolicyFlow on a goal task with :mod:`benchmarks.multimodality`'s settings (the
``multigoal`` preset) plus the ``--set`` overrides (a list gives one value per seed, trained
side by side), then counts per seed, at the task's start state, the goal modes of the sampled
actions a = phi_1(z) + n and of the noiseless flow phi_1(z) alone (so noise that blurs modes the
flow holds is told apart from a flow that holds one), the goals that episodes from the start
reach first, and the learned noise scale. Rows accumulate in ``<out>/<name>.json`` and
``<name>.md``, each with its command, commit and machine. It measures settings; the counting is
:mod:`jaxrl.modes`.
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.multimodality import multigoal_config
from benchmarks.provenance import (
    check_out,
    parse_assignments,
    provenance,
    provenance_lines,
    write_errors_in_one_line,
)
from benchmarks.store import accumulate
from experiments.cli import OneLineParser
from jaxrl.modes import covered, goals_reached, modes, task_of


def measure(env: str, seeds: int, overrides: dict[str, Any], samples: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    import jaxrl
    from jaxrl.learners.policyflow import noise_std
    from jaxrl.training import build, member_configs

    started = time.perf_counter()
    config = multigoal_config("policyflow", seeds, 0, env=env, **overrides)
    result = jaxrl.train(config, progress=False)
    task = task_of(config)
    _, learner, _ = build(config)
    obs = jnp.tile(task.start_obs, (samples, 1))
    members = member_configs(config)
    rows = {"actions": [], "flow": [], "std": []}
    for index in range(seeds):
        params, aux, learner_config = jax.tree.map(
            lambda x, i=index: x[i], (result.state.params, result.state.aux, members.learner)
        )
        action, extras = learner.act(params, aux, obs, jax.random.PRNGKey(1), learner_config)
        rows["actions"].append(modes(np.asarray(action), goals=task.goals)[0])
        rows["flow"].append(modes(np.asarray(extras["flowed"]), goals=task.goals)[0])
        rows["std"].append(np.asarray(noise_std(params)).round(3).tolist())
    reached = goals_reached(result, samples)
    return {
        "env": env,
        "modes_actions": rows["actions"],
        "modes_flow": rows["flow"],
        "goals_reached": [covered(shares) for shares in reached],
        "noise_std": rows["std"],
        "eval_return_per_seed": result.metrics[-1]["eval_return_per_seed"],
        "env_steps": result.metrics[-1]["env_steps"],
        "seconds": time.perf_counter() - started,
    }


def cell_key(label: str, env: str) -> str:
    return f"{label} | {env}"


def write(cells: dict[str, dict[str, Any]], out: Path, name: str) -> None:
    from jaxrl.runlog import atomic_write

    rows = list(cells.values())
    lines = [
        "# PolicyFlow's modes by setting",
        "",
        "Per seed at the start state: goal modes of 2000 sampled actions a = phi_1(z) + n and of the",
        "noiseless flow phi_1(z), goals that at least 15% of 2000 episodes from the start reach first,",
        "the learned noise scale and the final evaluation return. Settings: benchmarks/multimodality.py's",
        "plus the overrides. Each row's command, commit and machine are listed below the table.",
        "",
        "| setting | task | overrides | env steps | action modes | flow modes | goals reached |"
        " noise std | eval return | wall time (s) |",
        "|---|---|---|---:|---|---|---|---|---|---:|",
    ]
    for row in rows:
        entries = [
            row["label"],
            row["env"],
            ", ".join(f"{k}={v}" for k, v in row["overrides"].items()) or "-",
            f"{row['env_steps']:,}",
            ", ".join(map(str, row["modes_actions"])),
            ", ".join(map(str, row["modes_flow"])),
            ", ".join(map(str, row["goals_reached"])),
            "; ".join(f"{np.mean(s):.2f}" for s in row["noise_std"]),
            ", ".join(f"{r:.2f}" for r in row["eval_return_per_seed"]),
            f"{row['seconds']:.0f}",
        ]
        lines.append("| " + " | ".join(entries) + " |")
    lines += provenance_lines((row["label"], row) for row in rows)
    atomic_write(out / f"{name}.md", lambda p: p.write_text("\n".join(lines) + "\n"))


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", required=True, help="the setting's name in the table")
    parser.add_argument("--env", default="toy/multigoal", choices=["toy/multigoal", "toy/multigoal6"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="config overrides")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--name", default="policyflow_modes")
    args = parser.parse_args(argv)
    check_out(args.out, folder=True)
    overrides = parse_assignments(args.set, "--set")
    import jaxrl

    for key, value in overrides.items():
        if isinstance(value, list):
            if len(value) != args.seeds:
                parser.error(f"--set {key} has {len(value)} values: expected one per seed ({args.seeds})")
            overrides[key] = np.asarray(value, np.float32)
    try:
        multigoal_config("policyflow", args.seeds, 0, env=args.env, **overrides)
    except jaxrl.ConfigError as error:
        parser.error(str(error))
    launch = provenance("benchmarks.policyflow_modes", argv)
    shown = {k: [float(f"{x:.6g}") for x in v] if hasattr(v, "tolist") else v for k, v in overrides.items()}
    print(f"{args.label}: policyflow on {args.env} x {args.seeds} seeds", file=sys.stderr, flush=True)
    row = {
        "label": args.label,
        "overrides": shown,
        **measure(args.env, args.seeds, overrides, args.samples),
        **launch,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(cell_key(args.label, args.env), lambda: row)]
    accumulate(args.out / f"{args.name}.json", jobs, partial(write, out=args.out, name=args.name))
    print((args.out / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
