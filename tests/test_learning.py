"""Every learner learns: a short run on the cheap toy task must beat the untrained policy by a
clear margin. The runs that prove learning quality (a return threshold per learner, PPO on
CartpoleBalance) are ``python -m benchmarks.learning_checks``; a new learner adds its budget
here and there."""

import pytest

import jaxrl
from benchmarks.learning_checks import pointmass_config

# A random (or untrained) policy scores about 5-10 on toy/pointmass, a trained one about 90: the
# smoke asks for four times the untrained return.
SMOKE_THRESHOLD = 40.0
# Steps at which seed 0 has passed the smoke threshold with room to spare (2 CPU cores).
SMOKE_BUDGET = {
    "ppo": 800_000,
    "bpo": 1_000_000,
    "fpo": 400_000,
    "dppo": 500_000,
    "reinflow": 600_000,
    "policyflow": 600_000,
}


def test_every_learner_has_a_smoke():
    assert set(SMOKE_BUDGET) == set(jaxrl.LEARNERS)


@pytest.mark.parametrize("algo", list(SMOKE_BUDGET))
def test_short_run_clearly_beats_the_untrained_policy(algo):
    result = jaxrl.train(pointmass_config(algo, SMOKE_BUDGET[algo], num_evals=1), progress=False)
    assert result.metrics[-1]["eval_return"] >= SMOKE_THRESHOLD, result.metrics[-1]
