"""Where one training iteration's time goes: a learner's phases timed one by one.

    python -m benchmarks.profile_phases --env CartpoleBalance --num-envs 256 --networks default
    python -m benchmarks.profile_phases --algo reinflow --chain-steps 10 --networks small \\
        --minibatch-unit transition         # another learner (PPO by default), train_speed's sizes

Builds the side by side's config (:func:`benchmarks.brax_side_by_side.config_for`: the preset,
segment minibatches unless ``--minibatch-unit transition``, the chosen network sizes) and times,
each compiled on its own and run ``--repeats`` times after one warm-up call: the rollout (acting
and environment steps), the observation statistics' update, the advantages (the value network
over the batch's observations, then GAE), the whole update (those advantages plus
``update_epochs`` x ``num_minibatches`` optimiser steps; its SGD share is the difference), the
drawing of every epoch's minibatch indices (part of the SGD share) and the whole jitted
iteration; for a learner other than PPO, also its loss alone and its loss's gradient on one
minibatch (``--algo``; ``--chain-steps`` sets a chain learner's K). Medians in seconds and as shares of the iteration, printed as a
markdown table. One seed, not vmapped, so the figures are of the loop's own mathematics; the
trainer's seeds vmap and device layout are not part of it. Under the table, the gradient steps'
arithmetic against this machine's ceiling: their dense layers' FLOPs counted from the network
widths (XLA's cost analysis counts a loop's body once, whatever its trip count), the rate the
SGD phase reaches, and the rate of one XLA matmul of the minibatch through the widest layer.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.brax_side_by_side import NETWORKS, config_for
from benchmarks.provenance import check_out, provenance, report, write_errors_in_one_line
from experiments.cli import OneLineParser

if TYPE_CHECKING:
    from jaxrl.config import TrainConfig
    from jaxrl.loop import Loop


def median_seconds(fn, args: tuple, repeats: int) -> float:
    """Median wall time of ``fn(*args)`` to its results on the host, after one warm-up call."""
    import jax

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def profile(loop: Loop, config: TrainConfig, repeats: int) -> dict[str, float]:
    """Median seconds of each phase of one iteration, and of the whole iteration."""
    import jax

    from jaxrl import normalize
    from jaxrl.optim import minibatch_indices

    state = jax.jit(loop.init)(jax.random.PRNGKey(config.seed), config)
    rollout_key, update_key = jax.random.split(jax.random.PRNGKey(1))
    rollout = jax.jit(loop.rollout)
    acting = (state.params, state.aux, state.obs_stats, state.env_state, rollout_key, config)
    _, trajectories = rollout(*acting)
    stats = state.obs_stats  # the iteration's update sees the statistics its rollout acted under
    phases = {"rollout": (rollout, acting)}
    if config.normalize_obs:  # the iteration skips it otherwise
        phases["observation statistics"] = (jax.jit(normalize.update), (state.obs_stats, trajectories.obs))
    every_epoch = jax.jit(jax.vmap(lambda key: minibatch_indices(key, config)))
    phases |= {
        "minibatch indices (all epochs)": (
            every_epoch,
            (jax.random.split(update_key, config.update_epochs),),
        ),
        "advantages": (jax.jit(loop.advantages), (state.params, stats, trajectories, config)),
        "update (advantages + SGD)": (
            jax.jit(loop.update),
            (state.params, state.opt_state, state.aux, stats, trajectories, update_key, config),
        ),
        "whole iteration": (loop.iteration, (state, config)),
    }
    return {name: median_seconds(fn, args, repeats) for name, (fn, args) in phases.items()}


def loss_seconds(loop: Loop, config: TrainConfig, repeats: int) -> dict[str, float]:
    """Median seconds of the learner's loss, and of its value and gradient, on one minibatch of
    a fresh rollout (the first ``minibatch_size`` transitions, advantages as the loop computes)."""
    import jax

    from jaxrl.learners.base import Batch
    from jaxrl.loop import observe
    from jaxrl.training import build

    learner = build(config)[1]
    state = jax.jit(loop.init)(jax.random.PRNGKey(config.seed), config)
    _, trajectories = jax.jit(loop.rollout)(
        state.params, state.aux, state.obs_stats, state.env_state, jax.random.PRNGKey(1), config
    )
    advantage, target, values = jax.jit(loop.advantages)(state.params, state.obs_stats, trajectories, config)
    batch = Batch(trajectories.obs, trajectories.action, trajectories.extras, advantage, target, values)
    batch = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:])[: config.minibatch_size], batch)
    batch = batch._replace(obs=observe(config, state.obs_stats, batch.obs))
    params, key, learner_config = state.params, jax.random.PRNGKey(2), config.learner

    def loss(p):
        return learner.loss(p, params, state.aux, batch, key, learner_config)[0]

    return {
        "loss": median_seconds(jax.jit(loss), (params,), repeats),
        "loss and gradient": median_seconds(jax.jit(jax.value_and_grad(loss)), (params,), repeats),
    }


def loss_line(timings: dict[str, float]) -> str:
    return (
        f"One minibatch: the loss {timings['loss'] * 1e3:.2f} ms, with its gradient"
        f" {timings['loss and gradient'] * 1e3:.2f} ms."
    )


def sgd_seconds(seconds: dict[str, float]) -> float:
    """The gradient steps' share of :func:`profile`'s timings: the update less its advantages."""
    return seconds["update (advantages + SGD)"] - seconds["advantages"]


def table(seconds: dict[str, float], steps: int) -> list[str]:
    whole = seconds["whole iteration"]
    rows = {"observation statistics": 0.0, **seconds}
    rows["SGD (update - advantages)"] = sgd_seconds(seconds)
    lines = ["| phase | seconds (median) | share of the iteration |", "|---|---:|---:|"]
    for name in ("rollout", "observation statistics", "advantages", "SGD (update - advantages)"):
        lines.append(f"| {name} | {rows[name]:.3f} | {rows[name] / whole:.1%} |")
    indices = seconds["minibatch indices (all epochs)"]  # drawn inside the SGD phase
    lines.append(f"| of which: minibatch indices (all epochs) | {indices:.3f} | {indices / whole:.1%} |")
    phases = sum(rows[n] for n in ("rollout", "observation statistics", "update (advantages + SGD)"))
    lines.append(f"| sum of the phases | {phases:.3f} | {phases / whole:.1%} |")
    lines.append(f"| whole iteration | {whole:.3f} | 100% ({steps / whole:,.0f} steps/s) |")
    return lines


def dense_multiply_adds(widths: Sequence[int]) -> int:
    """Multiply-adds of one row through an MLP's dense layers, ``widths`` input first."""
    return sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))


def matmul_flops_per_second(rows: int, width: int, repeats: int) -> float:
    """This machine's rate for one XLA matmul [rows, width] @ [width, width]."""
    import jax

    rows_key, weights_key = jax.random.split(jax.random.PRNGKey(0))
    a, b = jax.random.normal(rows_key, (rows, width)), jax.random.normal(weights_key, (width, width))
    seconds = median_seconds(jax.jit(lambda a, b: a @ b), (a, b), 10 * repeats)
    return 2 * rows * width * width / seconds


def sgd_arithmetic(config: TrainConfig, sizes: tuple[int, int], seconds: float, repeats: int) -> str:
    """The gradient steps' dense-layer FLOPs (forward 2 per multiply-add, backward twice the
    forward), the rate the SGD phase reaches, and the matmul ceiling it is measured against."""
    observation_size, action_size = sizes
    policy = (observation_size, *config.learner.policy_hidden, 2 * action_size)  # mean and scale
    value = (observation_size, *config.learner.value_hidden, 1)
    rows = config.minibatch_size
    steps = config.update_epochs * config.num_minibatches
    flops = 6 * rows * (dense_multiply_adds(policy) + dense_multiply_adds(value))
    achieved = steps * flops / seconds
    width = max(policy[1:-1] + value[1:-1])
    ceiling = matmul_flops_per_second(rows, width, repeats)
    return (
        f"Gradient steps: {steps} of {rows:,} rows, {flops / 1e9:.2f} GFLOP each in the dense layers"
        f" (forward and backward), {achieved / 1e9:.0f} GFLOP/s; one XLA matmul [{rows:,} x {width}]"
        f" @ [{width} x {width}] on this machine: {ceiling / 1e9:.0f} GFLOP/s, so the SGD phase runs"
        f" at {achieved / ceiling:.0%} of it."
    )


@write_errors_in_one_line
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartpoleBalance")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--networks", default="default", choices=list(NETWORKS))
    parser.add_argument(
        "--minibatch-unit",
        default="segment",
        choices=["segment", "transition"],
        help="what minibatches shuffle: whole segments (Brax's way, the side by side's) or transitions",
    )
    parser.add_argument("--algo", default="ppo", help="the learner (PPO's config otherwise)")
    parser.add_argument("--chain-steps", type=int, default=None, help="K of a chain learner")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per phase (median)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    check_out(args.out)
    if args.repeats < 3:
        parser.error(f"--repeats {args.repeats}: expected at least 3")
    import jaxrl

    point = {
        "env": args.env,
        "preset": args.preset,
        "num_envs": args.num_envs,
        "networks": args.networks,
        "minibatch_unit": args.minibatch_unit,
        "epochs": 1,
        "iterations": 1,
        "eval_envs": 1,
        "algo": args.algo,
    }
    if args.chain_steps is not None:
        from benchmarks.train_speed import chain_field

        if chain_field(args.algo) is None:
            parser.error(f"--chain-steps: {args.algo} has no sampling chain")
        point["set"] = {chain_field(args.algo): args.chain_steps}
    try:
        config = config_for(point)
    except jaxrl.ConfigError as error:
        parser.error(str(error))
    launch = provenance("benchmarks.profile_phases", argv)
    print(f"{point}", file=sys.stderr, flush=True)
    from jaxrl.training import build

    env, _, loop = build(config)
    sizes = (env.observation_size, env.action_size)
    seconds = profile(loop, config, args.repeats)
    lines = [
        f"{args.env}, {args.num_envs} environments, {args.networks} networks, preset {args.preset},"
        f" {args.minibatch_unit} minibatches ({config.steps_per_iteration:,} steps per iteration),"
        f" {args.algo}" + (f" K={args.chain_steps}" if args.chain_steps else "") + ":",
        "",
        *table(seconds, config.steps_per_iteration),
        "",
    ]
    if args.algo == "ppo":  # the FLOP count is of PPO's Gaussian actor and critic
        lines += [sgd_arithmetic(config, sizes, sgd_seconds(seconds), args.repeats), ""]
    else:
        lines += [loss_line(loss_seconds(loop, config, args.repeats)), ""]
    report(lines, launch, "Where an iteration's time goes", args.out)


if __name__ == "__main__":
    main()
