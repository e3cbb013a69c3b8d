"""The tiny run the tests train: PPO-sized toy/pointmass settings that compile and train in
seconds, as config fields (:data:`TINY`) and as the command line that sets them (:func:`flags`)."""

from typing import Any

TINY: dict[str, Any] = dict(
    env="toy/pointmass",
    num_envs=16,
    unroll_length=8,
    num_unrolls=2,
    num_minibatches=4,
    update_epochs=2,
    total_steps=16 * 8 * 2 * 6,
    num_evals=2,
    eval_envs=4,
    episode_length=20,
    policy_hidden=(16,),
    value_hidden=(16,),
)

# What one learner needs besides TINY to stay this small. GoRL's default stages split any budget,
# so a tiny run would refit its decoder (320 rollout segments each) three times in 6 iterations:
# one stage keeps the shared tests in stage 0; tests/jaxrl/learners/test_gorl.py covers the stages.
LEARNER_TINY: dict[str, dict[str, Any]] = {"gorl": dict(stage_steps=(10**9,))}


def flags(**overrides: Any) -> list[str]:
    """``experiments.train`` flags for :data:`TINY` with ``overrides`` (the total steps only when
    given), without the progress bar."""
    fields = {k: v for k, v in TINY.items() if k != "total_steps"} | overrides
    args = []
    for name, value in fields.items():
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        args += ["--" + name.replace("_", "-"), shown]
    return [*args, "--no-progress"]
