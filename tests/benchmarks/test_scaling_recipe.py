"""benchmarks/scaling_recipe.py: the three ways to use K times the environments have the stated
relations, and a tiny sweep writes its JSON, table and plot."""

import argparse
import json
import math

import pytest

from benchmarks import scaling_recipe
from tests.tiny import TINY


def namespace(**changes):
    values = dict(preset="cpu", env="toy/pointmass", seeds=2, seed=0, num_evals=2, overrides={}, iterations=3)
    return argparse.Namespace(**{**values, **changes})


@pytest.mark.parametrize("scaling", ["sqrt", "linear"])
def test_the_methods_configs_for_a_factor_have_the_stated_relations(scaling):
    base = scaling_recipe.base_config("ppo", namespace())
    recipe, alternative, nothing = (
        scaling_recipe.method_config(base, method, 4) for method in scaling_recipe.methods(scaling)
    )
    for config in (recipe, alternative, nothing):
        assert config.num_envs == 4 * base.num_envs
        assert config.num_iterations == base.num_iterations == 3
        assert config.total_steps == 4 * base.total_steps
    assert recipe.minibatch_size == base.minibatch_size
    assert recipe.num_minibatches == 4 * base.num_minibatches
    assert recipe.learning_rate == base.learning_rate
    assert alternative.num_minibatches == base.num_minibatches
    assert alternative.minibatch_size == 4 * base.minibatch_size
    assert alternative.learning_rate == pytest.approx(base.learning_rate * (2 if scaling == "sqrt" else 4))
    assert nothing.num_minibatches == base.num_minibatches
    assert nothing.minibatch_size == 4 * base.minibatch_size
    assert nothing.learning_rate == base.learning_rate
    assert scaling_recipe.method_config(base, "base", 1) == base


def test_a_tiny_sweep_writes_the_json_table_and_plot(tmp_path):
    tiny = {k: v for k, v in TINY.items() if k not in ("env", "total_steps", "num_evals")}
    tiny |= {"num_envs": 4, "num_unrolls": 1, "num_minibatches": 2, "update_epochs": 1}
    sets = [f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in tiny.items()]
    argv = ["--algos", "ppo", "--factors", "1", "2", "--iterations", "1", "--num-evals", "1"]
    scaling_recipe.main(
        [*argv, "--seeds", "2", "--out", str(tmp_path), "--name", "s", "--no-progress", "--set", *sets]
    )
    cells = json.loads((tmp_path / "s.json").read_text())
    assert sorted(c["method"] for c in cells.values()) == ["alt-sqrt", "base", "nothing", "recipe"]
    assert {c["iterations"] for c in cells.values()} == {1}
    assert all(len(c["final_per_seed"]) == 2 and math.isfinite(c["final_mean"]) for c in cells.values())
    table = (tmp_path / "s.md").read_text()
    assert "| toy/pointmass | ppo | 2 | recipe | 8 | 16 | 4 | 0.001 |" in table
    assert "## Does the claim hold?" in table and "python -m benchmarks.scaling_recipe" in table
    assert (tmp_path / "s.png").stat().st_size > 0


def cell(factor, method, mean, std=1.0):
    return {"factor": factor, "method": method, "final_mean": mean, "final_std": std, "wall_time": 20.0,
            "compile_seconds": 10.0}  # fmt: skip


def test_the_verdict_counts_a_fall_within_the_seeds_spread_as_noise_and_a_larger_one_as_a_fall():
    others = [cell(k, m, 10.0) for k in (2, 4) for m in ("alt-sqrt", "nothing")]
    noisy = [cell(1, "base", 5.0), cell(2, "recipe", 50.0), cell(4, "recipe", 49.0), *others]
    assert "**Holds** here: the recipe is ahead at 2 of 2 K > 1 (2 by" in "\n".join(
        scaling_recipe.verdict(noisy)
    )
    falling = [cell(1, "base", 5.0), cell(2, "recipe", 50.0), cell(4, "recipe", 9.0), *others]
    lines = "\n".join(scaling_recipe.verdict(falling))
    assert "not monotone in K (K=2 -> 4 falls by 41.0" in lines
    assert "**Does not hold in full** here: the recipe is ahead at 1 of 2" in lines


def test_a_diverged_cell_loses_and_breaks_monotonicity():
    diverged = {**cell(4, "recipe", 0.0), "diverged": "loss became non-finite", "records": []}
    group = [cell(1, "base", 5.0), cell(2, "recipe", 50.0), diverged]
    group += [cell(k, m, 10.0) for k in (2, 4) for m in ("alt-linear", "nothing")]
    lines = "\n".join(scaling_recipe.verdict(group))
    assert "K=4: recipe diverged, alt-linear 10.0 +- 1.0, nothing 10.0 +- 1.0: the recipe diverged." in lines
    assert "5.0 -> 50.0 -> diverged: not monotone in K (K=4 diverged)" in lines
    assert "ahead at 1 of 2" in lines
