"""The learning-quality checks: each learner must reach a return threshold within a budget.

    python -m benchmarks.learning_checks                       # every check (about 27 minutes on 2 busy cores)
    python -m benchmarks.learning_checks --algos ppo fpo --checks pointmass

These runs train long enough to prove that a learner learns well, so they live here rather than
in the test suite, which keeps one short PPO smoke (``tests/jaxrl/test_learning.py``).
``pointmass``: every learner must reach a return of 80 on ``toy/pointmass`` within its budget (a
random policy scores about 5-10; holding the target from a random start about 90). ``cartpole``:
PPO with the CPU preset must go from below 400 (a random policy scores about 150-250) to at
least 700 on ``CartpoleBalance`` within 2.15M steps (it passes 800 at about 1.8M).
``multigoal6``: PolicyFlow with its paper's MultiGoal settings (its ``multigoal6`` preset: the
weights, and ``action_scale`` 5, the reference's agent emitting accelerations) must send at least
15% of the episodes from the origin of ``toy/multigoal6`` to each of two or more goals in at least
3 of 5 seeds within 2.4M steps (measured: 2, 1, 3, 2, 2 goals, with that agent while the task took
accelerations; ``benchmarks/results/policyflow_modes.md``),
the one multimodal result of the suite, too long for the test suite (20 minutes on 2 busy cores).
Prints one line per check; the exit status is 1 if any check failed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from experiments.cli import OneLineParser

POINTMASS_THRESHOLD = 80.0
CARTPOLE_BEFORE_MAX, CARTPOLE_THRESHOLD = 400.0, 700.0

# Steps each learner gets for the threshold. BPO (no entropy bonus, unnormalised advantage
# weights) starts slower here: across 6 seeds it scored 75-87 at 1M steps and 85-90 at 1.5M.
# DPPO scored 84-86 over 3 seeds at 1M, ReinFlow 76-81 at 1M, FPO 81-86 at 0.6M (and 67-81 at
# 1M: it destabilises once converged, see its docstring); these three were measured before
# issue 20 gave them their references' log-probabilities, embedding and defaults. PolicyFlow scored 90-91 over 3 seeds at
# 0.62M and 90-92 at 0.78M (seed 0 passed 40 between 0.31M and 0.47M).
POINTMASS_BUDGET = {
    "ppo": 1_000_000,
    "bpo": 1_500_000,
    "fpo": 600_000,
    "dppo": 1_000_000,
    "reinflow": 1_500_000,
    "policyflow": 800_000,
}
CHECKS = ("pointmass", "cartpole", "multigoal6")
MULTIGOAL6_STEPS, MULTIGOAL6_SEEDS, MULTIGOAL6_MIN_GOALS, MULTIGOAL6_MIN_SEEDS = 2_400_000, 5, 2, 3


def pointmass_config(algo: str, total_steps: int, **overrides: Any):
    """``algo`` on toy/pointmass with the ``pointmass`` preset (:data:`jaxrl.config.PRESETS`;
    BPO, FPO and DPPO add their own values to it, see their ``PRESETS``) for ``total_steps``."""
    import jaxrl

    return jaxrl.make_config(
        algo, preset="pointmass", env="toy/pointmass", total_steps=total_steps, **overrides
    )


def check_pointmass(algo: str) -> tuple[bool, str]:
    import jaxrl

    result = jaxrl.train(pointmass_config(algo, POINTMASS_BUDGET[algo]), progress=False)
    final = result.metrics[-1]["eval_return"]
    return final >= POINTMASS_THRESHOLD, f"return {final:.1f} (>= {POINTMASS_THRESHOLD:g})"


def check_cartpole() -> tuple[bool, str]:
    import jaxrl

    config = jaxrl.make_config("ppo", preset="cpu", env="CartpoleBalance", total_steps=2_150_400, num_evals=7)
    returns = [r["eval_return"] for r in jaxrl.train(config, progress=False).metrics]
    passed = returns[0] < CARTPOLE_BEFORE_MAX and returns[-1] >= CARTPOLE_THRESHOLD
    return passed, (
        f"returns {returns[0]:.0f} (< {CARTPOLE_BEFORE_MAX:g}) -> {returns[-1]:.0f} (>= {CARTPOLE_THRESHOLD:g})"
    )


def check_multigoal6() -> tuple[bool, str]:
    import jaxrl
    from benchmarks.multimodality import multigoal_config
    from jaxrl.learners.policyflow import PRESETS
    from jaxrl.modes import covered, goals_reached

    config = multigoal_config(
        "policyflow",
        MULTIGOAL6_SEEDS,
        env="toy/multigoal6",
        total_steps=MULTIGOAL6_STEPS,
        **PRESETS["multigoal6"],
    )
    reached = goals_reached(jaxrl.train(config, progress=False), 2000)
    goals = [covered(shares) for shares in reached]
    seeds = sum(count >= MULTIGOAL6_MIN_GOALS for count in goals)
    return seeds >= MULTIGOAL6_MIN_SEEDS, (
        f"goals reached per seed {goals} ({seeds} seeds with >= {MULTIGOAL6_MIN_GOALS};"
        f" >= {MULTIGOAL6_MIN_SEEDS} needed)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m benchmarks.learning_checks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=list(POINTMASS_BUDGET), choices=list(POINTMASS_BUDGET))
    parser.add_argument("--checks", nargs="+", default=list(CHECKS), choices=CHECKS)
    args = parser.parse_args(argv)
    runs = [
        (f"pointmass {a}", lambda a=a: check_pointmass(a)) for a in args.algos if "pointmass" in args.checks
    ]
    if "cartpole" in args.checks and "ppo" in args.algos:
        runs.append(("cartpole ppo", check_cartpole))
    if "multigoal6" in args.checks and "policyflow" in args.algos:
        runs.append(("multigoal6 policyflow", check_multigoal6))
    failed = 0
    for name, run in runs:
        started = time.perf_counter()
        passed, detail = run()
        failed += not passed
        print(
            f"{'PASS' if passed else 'FAIL'} {name}: {detail}, {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
