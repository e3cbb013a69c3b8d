"""Our PPO and Brax's PPO on the same MuJoCo Playground task, same settings, side by side.

    python -m benchmarks.brax_side_by_side --env CartpoleBalance --num-envs 256 2048 --networks small default

For every (environment count, network size) point the script runs the two trainers in
alternation (ours, Brax, ours, Brax, ...; ``--repeats`` each), every run in a fresh
subprocess, and reports per trainer: training steps per second (median over runs of the median
speed of the second half of the epochs, so compilation is excluded for both),
compile time, peak memory (the process's peak resident memory on CPU, the device's peak bytes in
use on an accelerator), final evaluation return (both evaluate the deterministic mean action);
then the ratios ours / Brax, and both speeds as a fraction of the bare environment's (a jitted
scan of our batched, auto-resetting environment under a zero policy at the same count).
Settings are the preset's (``--preset cpu`` by default) mapped onto Brax's arguments as the
README describes, and our minibatches are whole segments as Brax's are
(``minibatch_unit="segment"``); ``--networks default`` uses Playground's network sizes (policy
4x32, value 5x256), ``small`` the preset's.

Brax's trainer calls ``jax.device_put_replicated``, which current JAX removed; :func:`shim`
restores it as a stack of copies laid out by an identity ``pmap`` over the given devices, which
is what the old function returned, so nothing Brax computes changes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.provenance import check_out, provenance, report, write_errors_in_one_line
from benchmarks.train_speed import peak_memory_bytes
from experiments.cli import OneLineParser

NETWORKS = {"default": ((32,) * 4, (256,) * 5), "small": None}  # small: the preset's sizes


def shim() -> None:
    """Give JAX back ``jax.device_put_replicated(x, devices)`` for Brax's trainer."""
    import jax
    import jax.numpy as jnp

    if hasattr(jax, "device_put_replicated"):
        return

    def device_put_replicated(tree: Any, devices: list) -> Any:
        # An identity pmap lays the copies out exactly as Brax's own pmapped steps return them,
        # so its training step compiles once (a plain device_put made it compile twice).
        stacked = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * len(devices)), tree)
        return jax.pmap(lambda x: x, devices=devices)(stacked)

    jax.device_put_replicated = device_put_replicated


def config_for(args: dict[str, Any]):
    import jaxrl

    overrides: dict[str, Any] = {
        "env": args["env"],
        "num_envs": args["num_envs"],
        "num_evals": args["epochs"],
        "eval_envs": args["eval_envs"],
        "minibatch_unit": args.get("minibatch_unit", "segment"),  # Brax shuffles whole segments
        **args.get("set", {}),  # further loop fields (benchmarks.accelerator: its co-scaled sizes)
    }
    if NETWORKS[args["networks"]] is not None:
        overrides["policy_hidden"], overrides["value_hidden"] = NETWORKS[args["networks"]]
    probe = jaxrl.make_config(args.get("algo", "ppo"), preset=args["preset"], **overrides)
    return probe.replace(total_steps=args["epochs"] * args["iterations"] * probe.steps_per_iteration)


def run_ours(args: dict[str, Any]) -> dict[str, Any]:
    import jaxrl

    result = jaxrl.train(config_for(args), progress=False)
    return {
        "epoch_sps": [m["train_sps"] for m in result.metrics],
        "compile_seconds": result.metrics[0]["compile_seconds"],
        "final_return": result.metrics[-1]["eval_return"],
    }


def run_brax(args: dict[str, Any]) -> dict[str, Any]:
    shim()
    import functools

    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo
    from mujoco_playground import registry, wrapper

    config = config_for(args)
    learner = config.learner
    env = registry.load(config.env, config_overrides={"impl": "jax"})
    speeds: list[float] = []  # steps/s of each training epoch
    evaluations: list[float] = []

    def progress(step: int, metrics: dict[str, Any]) -> None:
        if "training/sps" in metrics:
            speeds.append(float(metrics["training/sps"]))
        evaluations.append(float(metrics["eval/episode_reward"]))

    ppo.train(
        environment=env,
        wrap_env_fn=wrapper.wrap_for_brax_training,
        num_timesteps=config.total_steps,
        num_evals=config.num_evals + 1,  # Brax counts the evaluation before training
        episode_length=registry.get_default_config(config.env).episode_length,
        num_envs=config.num_envs,
        batch_size=config.num_envs * config.num_unrolls // config.num_minibatches,
        num_minibatches=config.num_minibatches,
        num_updates_per_batch=config.update_epochs,
        unroll_length=config.unroll_length,
        learning_rate=config.learning_rate,
        entropy_cost=learner.entropy_cost,
        discounting=config.gamma,
        gae_lambda=config.gae_lambda,
        reward_scaling=config.reward_scaling,
        clipping_epsilon=learner.clip_eps,
        normalize_observations=config.normalize_obs,
        num_eval_envs=config.eval_envs,
        deterministic_eval=True,  # as ours evaluates: the mean action (Brax's default samples)
        seed=config.seed,
        network_factory=functools.partial(
            ppo_networks.make_ppo_networks,
            policy_hidden_layer_sizes=learner.policy_hidden,
            value_hidden_layer_sizes=learner.value_hidden,
        ),
        progress_fn=progress,
    )
    # Brax's walltime is cumulative; its first two epochs include compilation (it compiles
    # its training step twice), so compile time is what they took beyond the steady speed.
    epoch_steps = config.total_steps / config.num_evals
    steady = statistics.median(steady_part(speeds))
    compile_seconds = sum(max(epoch_steps / sps - epoch_steps / steady, 0.0) for sps in speeds)
    return {"epoch_sps": speeds, "compile_seconds": compile_seconds, "final_return": evaluations[-1]}


def steady_part(speeds: list[float]) -> list[float]:
    """The second half of a run's epoch speeds: past every trainer's compilation."""
    return speeds[len(speeds) // 2 :]


def run_bare(args: dict[str, Any]) -> dict[str, Any]:
    """Steps per second of the batched environment under a zero policy (the limit)."""
    import jax
    import jax.numpy as jnp

    import envs

    config = config_for(args)
    env = envs.BatchedEnv(envs.make(config.env), config.num_envs)
    steps = config.num_unrolls * config.unroll_length
    zeros = jnp.zeros((config.num_envs, env.action_size))

    @jax.jit
    def run(state):
        return jax.lax.scan(lambda s, _: (env.step(s, zeros), None), state, None, length=steps)[0]

    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    started = time.perf_counter()
    run = run.lower(state).compile()
    compile_seconds = time.perf_counter() - started
    speeds = []
    for _ in range(args["epochs"]):
        started = time.perf_counter()
        state = jax.block_until_ready(run(state))
        speeds.append(steps * config.num_envs / (time.perf_counter() - started))
    return {"epoch_sps": speeds, "compile_seconds": compile_seconds, "final_return": None}


WORKERS = {"ours": run_ours, "brax": run_brax, "bare": run_bare}


def worker(kind: str, args: dict[str, Any]) -> None:
    out = WORKERS[kind](args)
    print(json.dumps({**out, "peak_memory_bytes": peak_memory_bytes()}))


def spawn(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.brax_side_by_side", "--worker", kind, json.dumps(args)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode:
        raise RuntimeError(f"{kind} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    per_run = [
        statistics.median(r["epoch_sps"][1:] if len(r["epoch_sps"]) > 1 else r["epoch_sps"]) for r in runs
    ]
    finals = [r["final_return"] for r in runs if r["final_return"] is not None]
    return {
        "sps": statistics.median(per_run),
        "sps_runs": per_run,
        "compile_seconds": statistics.median(r["compile_seconds"] for r in runs),
        "peak_memory_bytes": max(r["peak_memory_bytes"] for r in runs),
        "final_return": statistics.median(finals) if finals else None,
    }


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartpoleBalance")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[256, 2048])
    parser.add_argument("--networks", nargs="+", default=["small", "default"], choices=list(NETWORKS))
    parser.add_argument("--repeats", type=int, default=3, help="runs per trainer (alternating)")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per run (the first is dropped)")
    parser.add_argument("--iterations", type=int, default=2, help="iterations per epoch")
    parser.add_argument(
        "--eval-envs", type=int, default=128, help="episodes per evaluation (untimed; fewer for slow tasks)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "ARGS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    check_out(args.out)
    if args.worker:
        worker(args.worker[0], json.loads(args.worker[1]))
        return
    if args.repeats < 3 or args.epochs < 4:
        parser.error(f"--repeats {args.repeats} / --epochs {args.epochs}: expected at least 3 and 4")
    import jaxrl

    points = [
        {
            "env": args.env,
            "preset": args.preset,
            "num_envs": n,
            "networks": net,
            "epochs": args.epochs,
            "iterations": args.iterations,
            "eval_envs": args.eval_envs,
        }
        for n in args.num_envs
        for net in args.networks
    ]
    try:  # every point's config is checked before anything compiles
        for point in points:
            config_for(point)
    except jaxrl.ConfigError as error:
        parser.error(str(error))
    launch = provenance("benchmarks.brax_side_by_side", argv)
    lines = [
        "| env | num_envs | networks | trainer | steps/s (median) | per run | compile s | peak memory (MiB) |"
        " final return | fraction of bare env |",
        "|---|---:|---|---|---:|---|---:|---:|---:|---:|",
    ]
    ratios = []
    for point in points:
        print(f"{point}", file=sys.stderr, flush=True)
        runs: dict[str, list] = {"ours": [], "brax": []}
        for _ in range(args.repeats):
            for kind in runs:
                runs[kind].append(spawn(kind, point))
        bare = summary([spawn("bare", point)])
        result = {kind: summary(r) for kind, r in runs.items()} | {"bare env": bare}
        for kind, s in result.items():
            final = "-" if s["final_return"] is None else f"{s['final_return']:.1f}"
            lines.append(
                f"| {point['env']} | {point['num_envs']} | {point['networks']} | {kind} | {s['sps']:,.0f} |"
                f" {', '.join(f'{v:,.0f}' for v in s['sps_runs'])} | {s['compile_seconds']:.0f} |"
                f" {s['peak_memory_bytes'] / 2**20:,.0f} | {final} | {s['sps'] / bare['sps']:.2f} |"
            )
        ours, brax = result["ours"], result["brax"]
        ratios.append(
            f"| {point['num_envs']} | {point['networks']} | {ours['sps'] / brax['sps']:.2f} |"
            f" {ours['compile_seconds'] / max(brax['compile_seconds'], 1e-9):.2f} |"
            f" {ours['peak_memory_bytes'] / brax['peak_memory_bytes']:.2f} |"
        )
        print(lines[-3], lines[-2], lines[-1], sep="\n", file=sys.stderr, flush=True)
    lines += [
        "",
        "Ours / Brax:",
        "",
        "| num_envs | networks | steps/s | compile | peak memory |",
        "|---:|---|---:|---:|---:|",
    ]
    lines += ratios
    report([*lines, ""], launch, "Our PPO and Brax's PPO, side by side", args.out)


if __name__ == "__main__":
    main()
