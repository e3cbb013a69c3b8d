import numpy as np

from jaxrl import normalize


def test_running_stats_equal_whole_data_statistics():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)).astype(np.float32) for n in (5, 17, 40)]
    stats = normalize.RunningStats.zeros(4)
    for batch in batches:
        stats = normalize.update(stats, batch)
    data = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.sum_sq / stats.count, data.var(0), rtol=1e-4)
    standardized = normalize.normalize(stats, data)
    np.testing.assert_allclose(np.asarray(standardized).mean(0), 0.0, atol=1e-4)


def test_identity_before_first_update():
    stats = normalize.RunningStats.zeros(2)
    obs = np.array([[3.0, -4.0]], np.float32)
    np.testing.assert_array_equal(normalize.normalize(stats, obs), obs)
