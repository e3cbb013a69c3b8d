"""Pre-train, then fine-tune: demonstrations, behaviour cloning of every actor, and RL fine-tuning
from the cloned actors, as DPPO and ReinFlow were made for.

    python -m benchmarks.finetune --task multigoal              # scripted multimodal demos, CPU
    python -m benchmarks.finetune --task hopper                 # PPO expert -> demos -> BC -> RL
    python -m benchmarks.finetune --task hopper --scale reference   # the references' sizes (GPU)

One command runs the whole pipeline for a task: demonstrations (``multigoal``: the scripted
expert of :mod:`jaxrl.experts`, which heads for a goal drawn per episode, so the data have four
modes; ``hopper``: a PPO policy trained here for a budget short of convergence, a "medium"
demonstrator as D4RL's, collected with Gaussian action noise), then for every learner the cloning of its own
actor with its reference's loss (:mod:`jaxrl.pretrain`) and fine-tuning from it (``--init-from``
with the ``finetune`` preset) at the same environment steps, seeds vmapped. It reports the
pre-trained and fine-tuned returns (deterministic evaluation, the loop's; and of sampled actions,
since a multimodal policy's deterministic action can fall between its modes), the net growth
(fine-tuned minus pre-trained, over the pre-trained return, ReinFlow's measure, deterministic),
seconds per iteration and return
against wall time, and on ``multigoal`` the goal directions of the start actions (:mod:`jaxrl.modes`)
after cloning and after fine-tuning, drawn per learner. Run folders go under ``--work-dir``; the
table, its JSON and the plots under ``benchmarks/results/finetune_<task>*``.

ReinFlow fine-tunes with 1 and 4 flow steps, DPPO 20 steps with the last 10 trained; FPO and
PolicyFlow run their own objectives with the loop's fine-tuning settings; the Gaussian row is PPO
with a state-independent std and clipped actions cloned by maximum likelihood (a tanh-squashed
Gaussian clones saturated actions badly: their pre-images are at +-7). The toy task acts one
action at a time (``action_chunk`` 1: its episodes are 25 steps); hopper in chunks of 4.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.provenance import (
    check_out,
    learner_spec,
    provenance,
    report,
    spec_folder,
    write_errors_in_one_line,
)
from experiments.cli import OneLineParser

RESULTS = Path("benchmarks/results")
LEARNERS = (
    "reinflow:flow_steps=1",
    "reinflow",
    "dppo",
    "fpo",
    "policyflow",
    "ppo:squash=clip:std_param=global",
)
LABELS = {
    "reinflow:flow_steps=1": "ReinFlow K=1",
    "reinflow": "ReinFlow K=4",
    "dppo": "DPPO 20 (last 10)",
    "fpo": "FPO",
    "policyflow": "PolicyFlow",
    "ppo:squash=clip:std_param=global": "Gaussian PPO",
}


@dataclass(frozen=True)
class Task:
    env: str
    preset: str
    finetune_steps: int  # environment steps of fine-tuning, every learner alike
    loop: dict[str, Any] = field(default_factory=dict)  # loop settings over the presets
    episodes: int = 256  # demonstrations
    action_noise: float = 0.0
    expert_steps: int = 0  # the PPO demonstrator's budget, short of convergence (0: scripted)
    epochs: int = 60  # behaviour cloning, at most (early stopping on the held-out loss)


TASKS = {
    "multigoal": Task(
        env="toy/multigoal",
        preset="multigoal,finetune",
        finetune_steps=320_000,
        loop={"action_chunk": 1, "num_evals": 4},
        episodes=1024,
        epochs=300,
    ),
    "hopper": Task(
        env="brax/hopper",
        preset="cpu,finetune",
        finetune_steps=500_000,
        loop={"num_envs": 256, "num_minibatches": 8, "num_evals": 5, "eval_envs": 32},
        episodes=64,
        action_noise=0.1,
        expert_steps=4_000_000,
    ),
}
# The references' fine-tuning sizes (40 environments x 500 steps, 1000 iterations, batch 50,000,
# chunks of 4) at an accelerator's parallelism: many more environments for the same samples.
REFERENCE_SCALE = {"num_envs": 4096, "unroll_length": 20, "num_unrolls": 1, "num_minibatches": 4}


def learner_config(spec: str, task: Task, seeds: int, extra: dict[str, Any]):
    import jaxrl

    algo, own = learner_spec(spec, "--learners")
    overrides = {**task.loop, **extra, **own}
    return jaxrl.make_config(algo, preset=task.preset, env=task.env, num_seeds=seeds, **overrides)


def demonstrations(task: Task, work: Path, seed: int, progress: bool):
    """The task's demonstrations (cached in the work folder) and the return of their source."""
    import jax

    import jaxrl
    from jaxrl import data, experts

    path = work / "demos.npz"
    if path.exists():
        return data.load(path), (data.read_provenance(path) or {}).get("return_mean")
    if task.expert_steps:
        expert_dir = work / "expert"
        config = jaxrl.make_config(
            "ppo", preset="cpu", env=task.env, total_steps=task.expert_steps, num_evals=10, seed=seed
        )
        jaxrl.train_or_resume(config, expert_dir, progress=progress)
        medium = jaxrl.load_policy(expert_dir, deterministic=True)
        env, actor = jaxrl.training.make_env(config), experts.from_policy(medium)
        source = {"source_run": str(expert_dir), "expert_steps": task.expert_steps}
    else:
        env = jaxrl.training.make_env(jaxrl.make_config("ppo", env=task.env))
        actor, source = experts.expert("multigoal", env), {"expert": "multigoal"}
    demos = experts.collect(env, actor, task.episodes, jax.random.PRNGKey(seed), task.action_noise)
    returns = data.trajectory_returns(demos)
    provenance_ = {**source, "env": task.env, "action_noise": task.action_noise, "episodes": task.episodes}
    data.save(path, demos, {**provenance_, "return_mean": float(np.mean(returns))})
    return demos, float(np.mean(returns))


def run_learner(spec: str, task: Task, demos, work: Path, seeds: int, extra: dict[str, Any], progress: bool):
    """Clone, evaluate, fine-tune: one learner's row."""
    import jaxrl
    from jaxrl.pretrain import CloneConfig, pretrain

    folder = work / spec_folder(spec)
    config = learner_config(spec, task, seeds, extra)
    pretrained_dir = folder / "pretrained"
    if not (pretrained_dir / "checkpoints").exists():
        pretrain(
            config.replace(num_seeds=1), demos, pretrained_dir, CloneConfig(epochs=task.epochs), progress
        )
    pretrained_returns = jaxrl.evaluate_run(pretrained_dir, episodes=config.eval_envs)
    finetuned_dir = folder / "finetuned"
    tuned = config.replace(init_from=str(pretrained_dir), total_steps=task.finetune_steps)
    started = time.perf_counter()
    result = jaxrl.train_or_resume(tuned, finetuned_dir, progress=progress)
    sampled = [
        jaxrl.evaluate_run(run, config.eval_envs, deterministic=False)
        for run in (pretrained_dir, finetuned_dir)
    ]
    row = {
        "spec": spec,
        "label": LABELS.get(spec, spec),
        "pretrained": float(np.mean(pretrained_returns)),
        "finetuned_per_seed": result.metrics[-1]["eval_return_per_seed"],
        "sampled_pretrained": float(np.mean(sampled[0])),
        "sampled_finetuned_per_seed": np.mean(sampled[1], axis=1).tolist(),
        "seconds_per_iteration": seconds_per_iteration(result.metrics, tuned),
        "wall_seconds": time.perf_counter() - started,
        "records": result.metrics,
    }
    if task.env.startswith("toy/multigoal"):
        row["modes"] = start_modes(pretrained_dir, result)
    return row


def seconds_per_iteration(records: list[dict[str, Any]], config) -> float:
    """Training time per iteration (compilation and evaluation left out), from the records'
    steps per second."""
    return float(np.median([config.steps_per_iteration / r["train_sps"] for r in records]))


def start_modes(pretrained_dir: Path, finetuned) -> dict[str, Any]:
    """Goal directions of 1000 stochastic start actions: after cloning and after fine-tuning."""
    from jaxrl import modes
    from jaxrl.training import TrainResult, _restored_run

    config, _, _, state = _restored_run(pretrained_dir)
    before = modes.start_actions(TrainResult(state, [], config), 1000)[0]
    after = modes.start_actions(finetuned, 1000)
    counts_after = [modes.modes(actions)[0] for actions in after]
    return {
        "before": modes.modes(before)[0],
        "before_shares": modes.modes(before)[1].round(3).tolist(),
        "after": counts_after,
        "after_shares": [modes.modes(actions)[1].round(3).tolist() for actions in after],
        "before_actions": before[:300].round(3).tolist(),
        "after_actions": after[0][:300].round(3).tolist(),
    }


def table(rows: list[dict[str, Any]], source_return: float | None) -> list[str]:
    multimodal = any("modes" in row for row in rows)
    head = "| learner | pre-trained | fine-tuned | net growth | sampled: pre-trained | fine-tuned | s / iteration |"
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    if multimodal:
        head, rule = head + " start modes: cloned -> fine-tuned (per seed) |", rule + "---|"
    lines = [
        f"Demonstrations' return (their source's): {source_return:.1f}" if source_return is not None else "",
        "",
        head,
        rule,
    ]
    for row in rows:
        tuned = np.asarray(row["finetuned_per_seed"])
        growth = (
            (tuned.mean() - row["pretrained"]) / abs(row["pretrained"]) if row["pretrained"] else float("nan")
        )
        sampled = np.asarray(row["sampled_finetuned_per_seed"])
        cells = (
            f"| {row['label']} | {row['pretrained']:.2f} | {tuned.mean():.2f} +- {tuned.std():.2f} |"
            f" {100 * growth:+.0f}% | {row['sampled_pretrained']:.2f} | {sampled.mean():.2f} +- {sampled.std():.2f} |"
            f" {row['seconds_per_iteration']:.3f} |"
        )
        if multimodal:
            cells += f" {row['modes']['before']} -> {', '.join(map(str, row['modes']['after']))} |"
        lines.append(cells)
    return lines


def plot_start_actions(rows: list[dict[str, Any]], path: Path) -> None:
    """One row per learner: its start actions after cloning and after fine-tuning (seed 0)."""
    from matplotlib.figure import Figure

    from envs.toy import GOALS
    from jaxrl.runlog import atomic_write

    fig = Figure(figsize=(6, 2.6 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 2, squeeze=False)
    for row, (left, right) in zip(rows, axes, strict=True):
        for ax, key, when in ((left, "before_actions", "cloned"), (right, "after_actions", "fine-tuned")):
            actions = np.asarray(row["modes"][key])
            ax.scatter(actions[:, 0], actions[:, 1], s=4, alpha=0.4)
            ax.scatter(GOALS[:, 0], GOALS[:, 1], marker="*", s=120, color="black")
            ax.set(xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), aspect="equal", title=f"{row['label']}: {when}")
            ax.tick_params(labelsize="small")
    fig.suptitle("start actions at the origin (stars: goals)")
    atomic_write(path, lambda p: fig.savefig(p, dpi=90, format="png"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m benchmarks.finetune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=tuple(TASKS), required=True)
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), metavar="SPEC")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", choices=("cpu", "reference"), default="cpu")
    parser.add_argument("--finetune-steps", type=int, default=None, help="default: the task's")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="run folders (default: runs/finetune-TASK)"
    )
    parser.add_argument("--name", default=None, help="results name (default: finetune_TASK)")
    parser.add_argument(
        "--time-rounds",
        type=int,
        default=0,
        help="instead of the table: time the --learners' fine-tuning iterations side by side, this many"
        " rounds (their clones must be in the work folder)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds={args.seeds} is invalid: expected a positive integer")
    return args


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    import dataclasses

    args = parse_args(argv)
    task = TASKS[args.task]
    if args.finetune_steps is not None:
        task = dataclasses.replace(task, finetune_steps=args.finetune_steps)
    extra = REFERENCE_SCALE if args.scale == "reference" else {}
    name = args.name or f"finetune_{args.task}"
    work = args.work_dir or Path(f"runs/finetune-{args.task}")
    check_out(RESULTS / f"{name}.md")
    work.mkdir(parents=True, exist_ok=True)
    launch = provenance("benchmarks.finetune", argv)
    if args.time_rounds:
        timing = time_side_by_side(args.learners, task, work, args.seeds, extra, args.time_rounds)
        write_timing(timing, task, launch, name)
        return
    demos, source_return = demonstrations(task, work, args.seed, not args.no_progress)
    rows = []
    for spec in args.learners:  # the results are written after every learner: a cut run keeps them
        rows.append(run_learner(spec, task, demos, work, args.seeds, extra, not args.no_progress))
        write_results(rows, task, launch, source_return, name, echo=spec == args.learners[-1])


def time_side_by_side(specs: list[str], task: Task, work: Path, seeds: int, extra, rounds: int):
    """Seconds per fine-tuning iteration of each learner in ``specs`` (from its cached clone),
    measured in turn, one iteration each per round (A B C A B C ...), so that the machine's load
    and drift fall on all alike: each learner's median, and its median ratio to the first."""
    import jax
    import jax.numpy as jnp

    from jaxrl import parallel
    from jaxrl.training import _compiled_chunk, build, initial_state, member_configs

    programs = {}
    for spec in specs:
        pretrained = work / spec_folder(spec) / "pretrained"
        config = learner_config(spec, task, seeds, extra)
        config = config.replace(init_from=str(pretrained), total_steps=task.finetune_steps)
        state, members = initial_state(config), member_configs(config)
        chunk = _compiled_chunk(build(config)[2], config, parallel.mesh_for(config), state, members)
        programs[spec] = [chunk, state, members]
    seconds: dict[str, list[float]] = {spec: [] for spec in specs}
    for _ in range(rounds + 1):  # the first round warms up and is not counted
        for spec, program in programs.items():
            chunk, state, members = program
            started = time.perf_counter()
            program[1] = jax.block_until_ready(chunk(state, members, jnp.int32(1))[0])
            seconds[spec].append(time.perf_counter() - started)
    first = np.asarray(seconds[specs[0]][1:])
    return {
        spec: {
            "median_seconds": float(np.median(times[1:])),
            "seconds": times[1:],
            "ratio_to_first": float(np.median(np.asarray(times[1:]) / first)),
        }
        for spec, times in seconds.items()
    }


def write_timing(timing: dict[str, Any], task: Task, launch, name: str) -> None:
    from jaxrl.runlog import atomic_write

    first = next(iter(timing))
    lines = [
        "One iteration of each learner in turn per round, from its cloned actor, seeds vmapped;"
        f" the ratio is the median over rounds of each round's ratio to {LABELS.get(first, first)}.",
        "",
        "| learner | s / iteration (median) | ratio | per round |",
        "|---|---:|---:|---|",
    ]
    for spec, row in timing.items():
        rounds = ", ".join(f"{s:.2f}" for s in row["seconds"])
        lines.append(
            f"| {LABELS.get(spec, spec)} | {row['median_seconds']:.3f} | {row['ratio_to_first']:.3f} | {rounds} |"
        )
    title = f"Seconds per fine-tuning iteration on {task.env}, side by side"
    report([*lines, ""], launch, title, RESULTS / f"{name}_timing.md")
    store = {"task": task.env, "launch": launch, "timing": timing}
    atomic_write(RESULTS / f"{name}_timing.json", lambda p: p.write_text(json.dumps(store) + "\n"))


def write_results(rows, task: Task, launch, source_return, name: str, echo: bool) -> None:
    import dataclasses

    from jaxrl.runlog import atomic_write, plot_curves

    store = {"task": dataclasses.asdict(task), "launch": launch, "source_return": source_return, "rows": rows}
    atomic_write(RESULTS / f"{name}.json", lambda p: p.write_text(json.dumps(store) + "\n"))
    curves = {row["label"]: row["records"] for row in rows}
    plot_curves(RESULTS / f"{name}.png", curves, f"fine-tuning on {task.env}")
    if any("modes" in row for row in rows):
        plot_start_actions(rows, RESULTS / f"{name}_start_actions.png")
    title = f"Pre-train, then fine-tune on {task.env}"
    report(table(rows, source_return), launch, title, RESULTS / f"{name}.md", echo)


if __name__ == "__main__":
    main()
