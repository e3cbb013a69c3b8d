"""One accelerator check that fits in ten minutes: every learner's throughput and memory from 2^14
to 2^20 environments under the co-scaling recipe, against PPO's, and Brax's PPO against ours.

    JAXRL_COMMIT=$(git rev-parse --short HEAD) python -m benchmarks.accelerator     # one GPU
    python -m benchmarks.accelerator --smoke --out-dir /tmp/acc     # CPU, toy sizes (the test)

The sizes are the scaling study's GPU setup (:data:`benchmarks.scaling_recipe.SETUPS` ``"gpu"``):
Playground's DM Control PPO settings on CartpoleBalance from 2^14 environments, one unroll of 30
an iteration and 16 minibatches, co-scaled (:func:`jaxrl.config.scale_envs`: K times the
environments, K times the minibatches of the same size, the same learning rate). Each learner at
its defaults (chain learners at ``--chain-steps``, K = 10 by default); GoRL with one stage for
the whole run: its training iteration is one program in every stage (the decoder is evaluated
under a ``where`` in stage 0 as well), and a refit would collect 320 segments per environment,
which is the stage boundary's cost, not the iteration's.

Cells run in priority order so that the most important land first: (1) every learner timed at the
smallest size; (2) every learner compiled only (:func:`jaxrl.training.memory_footprint`: nothing
of that size is allocated) at the sizes above ``--time-up-to``; (3) our PPO and Brax's PPO at the
smallest size, identical settings (:func:`benchmarks.brax_side_by_side.spawn`, each in a fresh
process, our minibatches whole segments as Brax's are); (4) every learner timed at the other
sizes up to ``--time-up-to``. Timed cells are :func:`benchmarks.train_speed.measure`'s (median
chunk speed, compilation excluded; the compiled program's memory; the device's peak so far).
Before each cell the script estimates its time from what it has measured (the learner's last
compile, its last steps per second scaled to the cell's steps) and skips it, marking it so, where
it would end past ``--budget`` seconds; a cell that fails (out of memory) is recorded with its
error and the rest go on. After every cell the JSON and the markdown table are rewritten
(``<out-dir>/accelerator_<device>.json`` and ``.md``, with the device, commit and command), and
copied under ``$OUT/benchmarks/results/`` where ``$OUT`` is set (a lent machine's return folder).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import brax_side_by_side, train_speed
from benchmarks.provenance import provenance, report
from experiments.cli import OneLineParser

ALGOS = ("ppo", "bpo", "fpo", "dppo", "reinflow", "policyflow", "gorl")
SETUPS: dict[str, dict[str, Any]] = {
    # One GPU, ten minutes: 2^14 environments x 30 steps = 491,520 transitions an iteration,
    # 16 minibatches of 30,720 x 16 epochs; 2^17 and 2^20 co-scaled (1,024 minibatches at 2^20).
    "gpu": {
        "env": "CartpoleBalance",
        "preset": "playground",
        "base": {"num_envs": 2**14, "num_unrolls": 1, "num_minibatches": 16, "eval_envs": 16},
        "sizes": (2**14, 2**17, 2**20),
        "time_up_to": 2**17,
        "iterations": 2,
        "chunks": 2,
        "brax": {"epochs": 4, "iterations": 1, "eval_envs": 16, "networks": "default", "repeats": 1},
        "budget": 540.0,
    },
    # CPU, a minute or two: the same cells at toy sizes (Brax on CartpoleBalance, which it knows).
    "smoke": {
        "env": "toy/pointmass",
        "preset": "pointmass",
        "base": {
            "num_envs": 8,
            "unroll_length": 8,
            "num_minibatches": 2,
            "update_epochs": 1,
            "eval_envs": 2,
            "episode_length": 10,
            "policy_hidden": (8,),
            "value_hidden": (8,),
        },
        "sizes": (8, 16),
        "time_up_to": 8,
        "iterations": 1,
        "chunks": 1,
        "brax": {
            "env": "CartpoleBalance",
            "preset": "cpu",
            "set": {
                "num_envs": 8,
                "num_unrolls": 1,
                "unroll_length": 8,
                "num_minibatches": 2,
                "update_epochs": 1,
            },  # fmt: skip
            "epochs": 3,
            "iterations": 1,
            "eval_envs": 2,
            "networks": "small",
            "repeats": 1,
        },
        "budget": 600.0,
    },
}
GORL_ONE_STAGE = {"stage_steps": (10**15,)}


def device_slug() -> str:
    """``cpu`` or the accelerator's kind, lower case with dashes (``nvidia-h100-80gb-hbm3``)."""
    import jax

    device = jax.devices()[0]
    kind = "cpu" if device.platform == "cpu" else device.device_kind
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")


def cell_config(algo: str, chain_steps: int | None, num_envs: int, setup: dict[str, Any], args):
    """The learner's config at ``num_envs``: the setup's base co-scaled by ``num_envs / base``."""
    import jaxrl
    from jaxrl.config import scale_envs

    overrides = dict(setup["base"])
    if chain_steps is not None:
        overrides[train_speed.chain_field(algo)] = chain_steps
    if algo == "gorl":
        overrides |= GORL_ONE_STAGE
    base = jaxrl.make_config(algo, preset=setup["preset"], env=setup["env"], total_steps=2**50, **overrides)
    scaled = scale_envs(base, num_envs / base.num_envs)
    return scaled.replace(total_steps=args.iterations * scaled.steps_per_iteration, num_evals=args.chunks)


def plan(args, setup: dict[str, Any]) -> list[dict[str, Any]]:
    """Every cell in the order it runs (see the module's docstring)."""
    learners = [(a, args.chain_steps if train_speed.chain_field(a) else None) for a in args.algos]
    smallest, *others = args.sizes
    timed = [s for s in others if s <= args.time_up_to]
    sized = [s for s in others if s > args.time_up_to]
    cells = [{"kind": "timed", "algo": a, "chain_steps": k, "num_envs": smallest} for a, k in learners]
    cells += [
        {"kind": "memory", "algo": a, "chain_steps": k, "num_envs": n} for n in sized for a, k in learners
    ]
    if args.brax:
        cells += [{"kind": "brax", "num_envs": smallest}]
    cells += [
        {"kind": "timed", "algo": a, "chain_steps": k, "num_envs": n} for n in timed for a, k in learners
    ]
    return cells


def estimate(cell: dict[str, Any], done: list[dict[str, Any]], config) -> float:
    """Seconds the cell should take, from the learner's cells measured so far (0 with none)."""
    if cell["kind"] == "brax":
        runs = [r for r in done if r.get("kind") == "timed" and r["algo"] == "ppo" and r.get("sps")]
        return 2 * (runs[0]["compile_seconds"] + 10) * 2 if runs else 0.0
    mine = [r for r in done if r.get("algo") == cell["algo"] and r.get("compile_seconds") is not None]
    if not mine:
        return 0.0
    compile_seconds = max(r["compile_seconds"] for r in mine)
    if cell["kind"] == "memory":
        return compile_seconds
    speeds = [r["sps"] for r in mine if r.get("sps")]
    return compile_seconds + (config.total_steps / speeds[-1] if speeds else 0.0)


def run_cell(cell: dict[str, Any], setup: dict[str, Any], args) -> dict[str, Any]:
    if cell["kind"] == "brax":
        return run_brax(cell, setup)
    config = cell_config(cell["algo"], cell["chain_steps"], cell["num_envs"], setup, args)
    row = train_speed.measure(
        cell["algo"], cell["chain_steps"], cell["num_envs"], config, cell["kind"] == "timed"
    )
    return {**row, "minibatch_size": config.minibatch_size, "update_epochs": config.update_epochs}


def brax_point(num_envs: int, setup: dict[str, Any]) -> dict[str, Any]:
    """The side by side's point at the smallest size: the setup's sizes unless Brax's own are set."""
    brax = setup["brax"]
    base = {k: v for k, v in setup["base"].items() if k not in ("policy_hidden", "value_hidden", "eval_envs")}
    return {
        "env": brax.get("env", setup["env"]),
        "preset": brax.get("preset", setup["preset"]),
        "num_envs": num_envs,
        "networks": brax["networks"],
        "epochs": brax["epochs"],
        "iterations": brax["iterations"],
        "eval_envs": brax["eval_envs"],
        "set": brax.get("set", {k: v for k, v in base.items() if k != "num_envs"}),
    }


def run_brax(cell: dict[str, Any], setup: dict[str, Any]) -> dict[str, Any]:
    point = brax_point(cell["num_envs"], setup)
    if "num_envs" in point["set"]:
        point["num_envs"] = point["set"].pop("num_envs")
    runs: dict[str, list] = {"ours": [], "brax": []}
    for _ in range(setup["brax"]["repeats"]):
        for trainer in runs:
            runs[trainer].append(brax_side_by_side.spawn(trainer, point))
    return {
        "kind": "brax",
        "num_envs": point["num_envs"],
        "point": point,
        **{trainer: brax_side_by_side.summary(r) for trainer, r in runs.items()},
    }


def tables(rows: list[dict[str, Any]], env: str) -> list[str]:
    """The throughput table (ratios to the first learner of each size, PPO by default) and the
    Brax side by side."""
    learners = [r for r in rows if r.get("kind") in ("timed", "memory") and "error" not in r]
    learners.sort(key=lambda r: (r["num_envs"], ALGOS.index(r["algo"]) if r["algo"] in ALGOS else 99))
    lines = ["## Learners, co-scaled, against PPO at each size", ""]
    lines += train_speed.table(learners, env) if learners else ["(no learner measured)"]
    problems = [r for r in rows if "error" in r or r.get("kind") == "skipped"]
    if problems:
        lines += ["", "Not measured:", ""]
        for r in problems:
            what = r.get("algo", r.get("kind"))
            why = r.get("error", "skipped: it would have ended past the time budget")
            lines.append(f"- {r.get('cell', {}).get('kind', '')} {what} at {r.get('num_envs')}: {why}")
    brax = [r for r in rows if r.get("kind") == "brax" and "error" not in r]
    for r in brax:
        point = r["point"]
        lines += [
            "",
            f"## Brax's PPO and ours at {point['num_envs']:,} environments, identical settings",
            "",
            f"{point['env']}, preset {point['preset']} with {point['set']}, {point['networks']} networks,"
            f" {point['epochs']} epochs of {point['iterations']} iteration(s) per run (the first epoch"
            " dropped), our minibatches whole segments as Brax's are, each run a fresh process.",
            "",
            "| trainer | steps/s (median) | per run | compile s | peak memory (MiB) | final return |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for trainer in ("ours", "brax"):
            s = r[trainer]
            final = "-" if s["final_return"] is None else f"{s['final_return']:.1f}"
            lines.append(
                f"| {trainer} | {s['sps']:,.0f} | {', '.join(f'{v:,.0f}' for v in s['sps_runs'])} |"
                f" {s['compile_seconds']:.0f} | {s['peak_memory_bytes'] / 2**20:,.0f} | {final} |"
            )
        ours, theirs = r["ours"], r["brax"]
        lines += [
            "",
            f"Ours / Brax: steps/s {ours['sps'] / theirs['sps']:.2f},"
            f" peak memory {ours['peak_memory_bytes'] / theirs['peak_memory_bytes']:.2f}.",
        ]
    return lines


def write(rows: list[dict[str, Any]], launch: dict[str, str], args, setup, out_dirs: list[Path]) -> None:
    from jaxrl.runlog import atomic_write

    slug = ("smoke_" if args.smoke else "") + launch["device"]
    head = [
        f"{setup['env']}, preset {setup['preset']} with {setup['base']}, co-scaled from"
        f" {args.sizes[0]:,} environments (K times the environments and the minibatches);"
        f" {args.iterations} iterations in {args.chunks} timed chunk(s) per timed cell, compile-only"
        f" memory above {args.time_up_to:,}; chain learners at K = {args.chain_steps}; budget"
        f" {args.budget:.0f} s, used {launch['elapsed']:.0f} s.",
        "",
    ]
    payload = json.dumps({**launch, "settings": setup, "rows": rows}, indent=1, default=str) + "\n"
    for out_dir in out_dirs:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(
            out_dir / f"accelerator_{slug}.json",
            lambda p: p.write_text(payload),
        )
        report([*head, *tables(rows, setup["env"]), ""], launch, "Accelerator check", out_dir / f"accelerator_{slug}.md",
               echo=False)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes on any machine (the CPU test)")
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    parser.add_argument("--chain-steps", type=int, default=10, help="K of the chain learners")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="environment counts, ascending")
    parser.add_argument("--time-up-to", type=int, default=None, help="above this only compile and size")
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--chunks", type=int, default=None)
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds; cells that would end later are skipped"
    )
    parser.add_argument("--no-brax", dest="brax", action="store_false", help="leave Brax's PPO out")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    setup = SETUPS["smoke" if args.smoke else "gpu"]
    for name in ("sizes", "time_up_to", "iterations", "chunks", "budget"):
        if getattr(args, name) is None:
            setattr(args, name, list(setup[name]) if name == "sizes" else setup[name])
    if args.sizes != sorted(args.sizes) or args.chunks < 1 or args.iterations < args.chunks:
        parser.error("--sizes must ascend and --iterations be at least --chunks (at least 1)")
    import jaxrl

    cells = plan(args, setup)
    try:
        for cell in cells:
            if cell["kind"] != "brax":
                cell_config(cell["algo"], cell["chain_steps"], cell["num_envs"], setup, args)
    except jaxrl.ConfigError as error:
        parser.error(str(error))
    launch = {**provenance("benchmarks.accelerator", argv), "device": device_slug(), "elapsed": 0.0}
    out_dirs = [args.out_dir] + (
        [Path(os.environ["OUT"]) / "benchmarks" / "results"] if os.environ.get("OUT") else []
    )
    rows: list[dict[str, Any]] = []
    for cell in cells:
        label = " ".join(f"{k}={v}" for k, v in cell.items())
        config = (
            None
            if cell["kind"] == "brax"
            else cell_config(cell["algo"], cell["chain_steps"], cell["num_envs"], setup, args)
        )
        elapsed = time.perf_counter() - started
        if elapsed + estimate(cell, rows, config) > args.budget:
            print(f"skipped (budget): {label}", file=sys.stderr, flush=True)
            rows.append({**cell, "cell": dict(cell), "kind": "skipped"})
        else:
            print(f"{label} at {elapsed:.0f} s", file=sys.stderr, flush=True)
            try:
                rows.append({**run_cell(cell, setup, args), "kind": cell["kind"]})
            except Exception as error:  # an out-of-memory cell is a result; the rest go on
                traceback.print_exc()
                rows.append(
                    {**cell, "cell": dict(cell), "error": f"{type(error).__name__}: {str(error)[:300]}"}
                )
        launch["elapsed"] = time.perf_counter() - started
        write(rows, launch, args, setup, out_dirs)
    print("\n".join(tables(rows, setup["env"])))
    print(f"Wrote {', '.join(str(d) for d in out_dirs)}; {launch['elapsed']:.0f} s.")


if __name__ == "__main__":
    main()
