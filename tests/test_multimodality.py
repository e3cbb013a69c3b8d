"""Expressive actors cover several of toy/multigoal's optimal action modes; the mode count
itself is checked on hand-made actions."""

import numpy as np

from benchmarks import multimodality
from envs.toy import goal_shares


def test_goal_shares_count_actions_near_a_goal_direction_and_ignore_short_ones():
    # +x twice (11 and 18 degrees off), +y, -y; (-0.7, 0.6) is 41 degrees off -x: between goals;
    # (0.2, 0.1) and (-0.05, -0.3) are too short to head anywhere.
    actions = np.array(
        [[1.0, 0.2], [0.9, -0.3], [0.1, 0.8], [-0.7, 0.6], [0.0, -1.0], [0.2, 0.1], [-0.05, -0.3]]
    )
    np.testing.assert_allclose(goal_shares(actions), np.array([2, 1, 0, 1]) / 7, rtol=1e-6)
    np.testing.assert_allclose(goal_shares(actions, max_angle=45.0), np.array([2, 1, 1, 1]) / 7, rtol=1e-6)
    count, shares = multimodality.modes(actions, min_share=0.2)
    assert count == 1 and np.isclose(shares.sum(), 4 / 7)


def test_actions_spread_uniformly_over_the_square_cover_no_goal():
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, (20_000, 2))
    count, shares = multimodality.modes(actions)
    assert count == 0 and np.allclose(shares, 0.079, atol=0.01), shares
