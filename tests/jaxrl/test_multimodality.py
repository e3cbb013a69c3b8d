"""The mode counts of toy/multigoal (jaxrl/modes.py): on hand-made actions, and for Gaussian PPO
with the multigoal preset, which heads for and reaches one goal only.

No expressive learner is asserted to cover several goals: trained from scratch, FPO, DPPO and
ReinFlow each collapse onto one goal within the CPU budget (benchmarks/results/multimodality.md),
as they do on a one-step version of the task (``episode_length=1``).
"""

import numpy as np

import jaxrl
from envs.toy import goal_shares
from jaxrl import modes


def test_goal_shares_count_actions_near_a_goal_direction_and_ignore_short_ones():
    # +x twice (11 and 18 degrees off), +y, -y; (-0.7, 0.6) is 41 degrees off -x: between goals;
    # (0.2, 0.1) and (-0.05, -0.3) are too short to head anywhere.
    actions = np.array(
        [[1.0, 0.2], [0.9, -0.3], [0.1, 0.8], [-0.7, 0.6], [0.0, -1.0], [0.2, 0.1], [-0.05, -0.3]]
    )
    np.testing.assert_allclose(goal_shares(actions), np.array([2, 1, 0, 1]) / 7, rtol=1e-6)
    np.testing.assert_allclose(goal_shares(actions, max_angle=45.0), np.array([2, 1, 1, 1]) / 7, rtol=1e-6)
    count, shares = modes.modes(actions, min_share=0.2)
    assert count == 1 and np.isclose(shares.sum(), 4 / 7)


def test_actions_with_no_preferred_direction_cover_no_goal():
    rng = np.random.default_rng(0)
    square = rng.uniform(-1.0, 1.0, (20_000, 2))
    count, shares = modes.modes(square)
    assert count == 0 and np.allclose(shares, 0.079, atol=0.01), shares
    angles = rng.uniform(0.0, 2.0 * np.pi, 20_000)
    ring = 0.8 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # every direction, long enough
    count, shares = modes.modes(ring)
    assert count == 0 and np.allclose(shares, 0.125, atol=0.01), shares


def test_gaussian_ppo_heads_for_one_goal_at_the_start():
    config = jaxrl.make_config(
        "ppo", preset="multigoal", env="toy/multigoal", total_steps=300_000, num_evals=1
    )
    result = jaxrl.train(config, progress=False)
    assert result.metrics[-1]["eval_return"] > 1.5, result.metrics[-1]  # reaches a goal
    count, shares = modes.modes(modes.start_actions(result, 2000)[0])
    assert count == 1, shares
    reached = modes.goals_reached(result, 500)[0]
    assert modes.covered(reached) == 1 and np.max(reached) > 0.9, reached
    paths, first = modes.start_episodes(result, 50)
    assert paths.shape == (1, 50, 26, 2) and np.all(paths[:, :, 0] == 0.0)
    goals = modes.task_of(config).goals
    for path, goal in zip(paths[0], first[0], strict=True):  # the goal named is one the path reaches
        assert (
            goal < 0
            or np.min(np.linalg.norm(path - goals[goal], axis=-1)) < modes.task_of(config).arrival_radius
        )
