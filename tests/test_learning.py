"""The learners learn: a reward threshold on the cheap toy task and (PPO) a clear improvement
on CartpoleBalance, each within a CPU budget."""

import pytest

import jaxrl

# A random policy scores about 5-10 on toy/pointmass (100 steps, reward <= 1 per step);
# holding the target from a random start scores about 90.
POINTMASS_THRESHOLD = 80.0
# A random policy scores about 150-250 on CartpoleBalance (1000 steps); the CPU preset passes
# 800 at about 1.8M steps.
CARTPOLE_BEFORE_MAX, CARTPOLE_THRESHOLD = 400.0, 700.0


# Steps each learner gets for the threshold. BPO (no entropy bonus, unnormalised advantage
# weights) starts slower here: across 6 seeds it scored 75-87 at 1M steps and 85-90 at 1.5M.
# DPPO scored 84-86 over 3 seeds at 1M, ReinFlow 76-81 at 1M, FPO 81-86 at 0.6M (and 67-81 at
# 1M: it destabilises once converged, see its docstring).
POINTMASS_BUDGET = {
    "ppo": 1_000_000,
    "bpo": 1_500_000,
    "fpo": 600_000,
    "dppo": 1_000_000,
    "reinflow": 1_500_000,
}


@pytest.mark.parametrize("algo", list(POINTMASS_BUDGET))
def test_solves_pointmass_within_budget(algo):
    config = jaxrl.make_config(
        algo,
        env="toy/pointmass",
        num_envs=256,
        num_unrolls=1,
        unroll_length=32,
        num_minibatches=8,
        update_epochs=4,
        total_steps=POINTMASS_BUDGET[algo],
        num_evals=4,
        policy_hidden=(32, 32),
        value_hidden=(64, 64),
    )
    result = jaxrl.train(config, progress=False)
    assert result.metrics[-1]["eval_return"] >= POINTMASS_THRESHOLD, result.metrics[-1]


def test_ppo_clearly_improves_on_cartpole_balance():
    config = jaxrl.make_config("ppo", preset="cpu", env="CartpoleBalance", total_steps=2_150_400, num_evals=7)
    result = jaxrl.train(config, progress=False)
    returns = [r["eval_return"] for r in result.metrics]
    assert returns[0] < CARTPOLE_BEFORE_MAX, returns
    assert returns[-1] >= CARTPOLE_THRESHOLD, returns


# GoRL through its whole CPU-preset schedule (four stages in 1.5M steps, three refits): one seed
# scored 47.2 (flow) and 55.5 (diffusion) at the end, 26 at the end of stage 0; a fresh encoder
# gets about 4 iterations per later stage, so it learns, more slowly than PPO at this budget.
GORL_THRESHOLD = 35.0


def test_gorl_learns_pointmass_through_its_stages():
    config = jaxrl.make_config("gorl", preset="cpu", env="toy/pointmass")
    result = jaxrl.train(config, progress=False)
    assert [r["stage"] for r in result.metrics][-1] == 3
    assert result.metrics[-1]["eval_return"] >= GORL_THRESHOLD, result.metrics[-1]
