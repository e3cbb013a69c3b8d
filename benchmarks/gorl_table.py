"""GoRL's DM Control table (its Table 1): PPO and both GoRL variants on its six tasks at the
paper's budget, seeds vmapped, as one command for an accelerator.

    python -m benchmarks.gorl_table                       # 180M steps x 5 seeds x 3 learners x 6 tasks
    python -m benchmarks.gorl_table --smoke --name gorl_dmc_smoke   # the same cells, tiny, on CPU

Every cell is a :mod:`benchmarks.learning_table` cell (same JSON, markdown and plots, each cell's
wall time relative to PPO's; rerunning adds or replaces cells) under the Playground DM Control
settings, which GoRL's code also uses: 2048 envs, unroll 30, batch 1024 x 32 minibatches, 16
epochs, lr 1e-3, reward scaling 10, gamma 0.995 (0.95 on FingerSpin). PPO is run as the GoRL
code runs it (clip 0.1, no gradient clip); GoRL with its defaults (stages 60M, 60M, 30M, 30M of the 180M).
Every cell evaluates at least 10 times per stage and at each stage's end, as the reference does, and
the table reports the last evaluation (the reference's number); every evaluation is in the JSON.
``--smoke`` shrinks everything (environments, iterations, stages, refits) so that all 18 cells
run on CPU in minutes: it checks that the command works, not what it measures. Extra arguments
go to the learning table (e.g. ``--envs CheetahRun --seeds 3``; a later flag replaces this table's).
"""

from __future__ import annotations

import sys

from benchmarks import learning_table

TASKS = ("CheetahRun", "FingerSpin", "FingerTurnHard", "FishSwim", "HopperStand", "WalkerWalk")
BUDGET = 180_000_000
SEEDS = 5
# The reference evaluates 10 times in each stage and reports the last evaluation: 10 per sixth of
# the run is at least 10 per stage (its stages are 2, 2, 1 and 1 sixths), and the loop evaluates
# before every stage's refit too, so each stage ends with an evaluation and the run with its last.
EVALS = 60
LEARNERS = ("ppo:clip_eps=0.1", "gorl:decoder=flow", "gorl:decoder=diffusion")
TASK_SETTINGS = ("FingerSpin:gamma=0.95",)
SMOKE_LOOP = (
    "num_envs=8", "unroll_length=10", "num_unrolls=1", "num_minibatches=2", "update_epochs=1",
    "eval_envs=2", "episode_length=50", "policy_hidden=[8]", "value_hidden=[8]",
)  # fmt: skip
SMOKE_GORL = ":stage_steps=[160,160,80,80]:refit_unrolls=1:refit_samples=80:refit_batch=32:refit_epochs=2"


def command(argv: list[str]) -> list[str]:
    """The learning table's arguments for this table (``--smoke``: the tiny version)."""
    smoke = "--smoke" in argv
    rest = [arg for arg in argv if arg != "--smoke"]
    learners = [spec + (SMOKE_GORL if smoke and spec.startswith("gorl") else "") for spec in LEARNERS]
    args = ["--algos", *learners, "--envs", *TASKS, "--preset", "playground", "--task-set", *TASK_SETTINGS]
    args += ["--total-steps", str(480 if smoke else BUDGET), "--seeds", str(2 if smoke else SEEDS)]
    args += ["--num-evals", "2" if smoke else str(EVALS), "--name", "gorl_dmc_smoke" if smoke else "gorl_dmc"]
    if smoke:
        args += ["--set", *SMOKE_LOOP]
    return args + rest


def main(argv: list[str] | None = None) -> None:
    learning_table.main(command(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
