"""Every learner learns: a short run on the cheap toy task must beat the untrained policy by a
clear margin. The runs that prove learning quality (a return threshold per learner, PPO on
CartpoleBalance) are ``python -m benchmarks.learning_checks``; a new learner adds its budget
here and there."""

import pytest

import jaxrl

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
    assert set(SMOKE_BUDGET) | {"gorl"} == set(jaxrl.LEARNERS)  # GoRL's runs through its stages


@pytest.mark.parametrize("algo", list(SMOKE_BUDGET))
def test_short_run_clearly_beats_the_untrained_policy(algo):
    config = jaxrl.make_config(
        algo, preset="pointmass", env="toy/pointmass", total_steps=SMOKE_BUDGET[algo], num_evals=1
    )
    result = jaxrl.train(config, progress=False)
    assert result.metrics[-1]["eval_return"] >= SMOKE_THRESHOLD, result.metrics[-1]


# GoRL through its whole CPU-preset schedule (four stages in 1.5M steps, three refits): one seed
# scored 47.2 (flow) and 55.5 (diffusion) at the end, 26 at the end of stage 0; a fresh encoder
# gets about 4 iterations per later stage, so it learns, more slowly than PPO at this budget.
GORL_THRESHOLD = 35.0


def test_gorl_learns_pointmass_through_its_stages():
    config = jaxrl.make_config("gorl", preset="cpu", env="toy/pointmass")
    result = jaxrl.train(config, progress=False)
    assert [r["stage"] for r in result.metrics][-1] == 3
    assert result.metrics[-1]["eval_return"] >= GORL_THRESHOLD, result.metrics[-1]
