"""A learning-rate sweep in one program: every (learning rate, seed) pair is a member of the
vmapped seed axis, the learning rate a traced leaf of the config.

    python -m benchmarks.lr_sweep --algo bpo --env CartpoleBalance --total-steps 3000000 \\
        --learning-rates 3e-4 1e-3 3e-3 --out benchmarks/results/bpo_lr_cpu.md

Each learning rate trains ``--seeds`` seeds (member i of the program trains seed ``--seed`` + i,
so the rates' seeds differ) with the preset's settings (``--set`` overrides any
field, ``ALGO`` may carry ``:FIELD=VALUE`` as in the learning table) and the same evaluation as
the learning table. The markdown gives the final evaluation return per learning rate (mean +-
std over its seeds) and its curve over training; a plot of the same goes next to it. It
explains a learner's row; it does not choose its defaults.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.learning_table import short_label
from benchmarks.provenance import (
    check_out,
    learner_spec,
    parse_assignments,
    provenance,
    report,
    sized,
    write_errors_in_one_line,
)
from experiments.cli import OneLineParser


def member_records(metrics: list[dict], index: np.ndarray) -> list[dict]:
    """The evaluation records of the members ``index`` (one learning rate's seeds)."""
    out = []
    for record in metrics:
        per_seed = [record["eval_return_per_seed"][i] for i in index]
        out.append(
            {
                "env_steps": record["env_steps"],
                "wall_time": record["wall_time"],
                "eval_return": float(np.mean(per_seed)),
                "eval_return_per_seed": per_seed,
            }
        )
    return out


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", default="ppo", help="learner, ALGO[:FIELD=VALUE...]")
    parser.add_argument("--env", default="CartpoleBalance")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--total-steps", type=int, default=3_000_000)
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per learning rate")
    parser.add_argument("--seed", type=int, default=0, help="the first member's seed")
    parser.add_argument("--num-evals", type=int, default=10)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--out", type=Path, default=None, help="markdown file (the plot goes beside it)")
    args = parser.parse_args(argv)
    check_out(args.out)

    import jaxrl
    from jaxrl.runlog import plot_curves

    algo, own = learner_spec(args.algo)
    if "learning_rate" in own:
        parser.error(f"--algo {args.algo} sets learning_rate, which --learning-rates sweeps; leave it out")
    rates = np.repeat(np.asarray(args.learning_rates, np.float32), args.seeds)
    try:
        config = jaxrl.make_config(
            algo,
            preset=args.preset,
            env=args.env,
            total_steps=args.total_steps,
            num_evals=args.num_evals,
            num_seeds=len(rates),
            seed=args.seed,
            learning_rate=rates,
            **{**sized(parse_assignments(args.set, "--set")), **own},
        )
    except jaxrl.ConfigError as error:
        parser.error(str(error))
    launch = provenance("benchmarks.lr_sweep", argv)
    result = jaxrl.train(config, progress=False)
    series = {
        f"lr {rate:g}": member_records(result.metrics, np.arange(i * args.seeds, (i + 1) * args.seeds))
        for i, rate in enumerate(args.learning_rates)
    }
    steps = [f"{r['env_steps'] / 1e6:.2f}M" for r in result.metrics]
    lines = [
        f"{args.algo} on {args.env}, preset {args.preset}, {result.metrics[-1]['env_steps']:,} steps,"
        f" {args.seeds} seeds per learning rate, all in one vmapped program"
        f" ({result.metrics[-1]['wall_time']:.0f} s in all).",
        "",
        "| learning rate | final return (mean +- std) | per seed | mean return at " + ", ".join(steps) + " |",
        "|---:|---:|---|---|",
    ]
    for label, records in series.items():
        final = records[-1]["eval_return_per_seed"]
        curve = ", ".join(f"{r['eval_return']:.0f}" for r in records)
        lines.append(
            f"| {label[3:]} | {np.mean(final):.1f} +- {np.std(final):.1f} |"
            f" {', '.join(f'{v:.1f}' for v in final)} | {curve} |"
        )
    lines.append("")
    report(lines, launch, f"Learning-rate sweep: {args.algo} on {args.env}", args.out)
    if args.out is not None:
        title = f"{short_label(args.algo)} on {args.env}: learning rates"  # the full name is the table's
        plot_curves(args.out.with_suffix(".png"), series, title)


if __name__ == "__main__":
    main()
