"""The shared loop learns: PPO on the cheap toy task beats the untrained policy by a clear
margin in a short run. Every learner's learning is checked at its threshold by
``python -m benchmarks.learning_checks``, which is too long for the test suite."""

import jaxrl

# A random (or untrained) policy scores about 5-10 on toy/pointmass, a trained one about 90: the
# smoke asks for four times the untrained return, within a budget where PPO passes it with room
# to spare.
SMOKE_THRESHOLD = 40.0
SMOKE_BUDGET = 800_000


def test_a_short_ppo_run_clearly_beats_the_untrained_policy():
    config = jaxrl.make_config(
        "ppo", preset="pointmass", env="toy/pointmass", total_steps=SMOKE_BUDGET, num_evals=1
    )
    result = jaxrl.train(config, progress=False)
    assert result.metrics[-1]["eval_return"] >= SMOKE_THRESHOLD, result.metrics[-1]
