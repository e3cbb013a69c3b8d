"""Expressive actors cover several of toy/multigoal's optimal action modes; the mode count
itself is checked on hand-made actions."""

import numpy as np

from benchmarks import multimodality
from envs.toy import goal_shares


def test_goal_shares_count_actions_by_nearest_goal_and_ignore_short_ones():
    actions = np.array(
        [[1.0, 0.2], [0.9, -0.3], [0.1, 0.8], [-0.7, 0.6], [0.0, -1.0], [0.2, 0.1], [-0.05, -0.3]]
    )
    np.testing.assert_allclose(goal_shares(actions), np.array([2, 1, 1, 1]) / 7, rtol=1e-6)
    count, shares = multimodality.modes(actions, min_share=0.2)
    assert count == 1 and np.isclose(shares.sum(), 5 / 7)
