"""Counter-based draws: uniform, independent per stream and tick, the same in any subset."""

import numpy as np

from twin.core.dice import Dice

IDS = np.arange(1, 100_001, dtype=np.int32)


def test_a_subset_of_satellites_draws_what_it_draws_in_the_whole_fleet():
    whole = Dice(42, 1000, IDS).uniform("background")
    rows = np.array([5, 17, 99_999, 3])
    np.testing.assert_array_equal(Dice(42, 1000, IDS[rows]).uniform("background"), whole[rows])


def test_draws_are_uniform_and_streams_ticks_and_seeds_are_independent():
    u = Dice(0, 0, IDS).uniform("upset")
    assert u.min() >= 0.0 and u.max() < 1.0
    counts, _ = np.histogram(u, bins=20, range=(0, 1))
    expected = IDS.size / 20
    assert ((counts - expected) ** 2 / expected).sum() < 50  # chi-square, 19 dof: p ~ 1e-4
    for other in (
        Dice(0, 0, IDS).uniform("reset"),
        Dice(0, 1, IDS).uniform("upset"),
        Dice(1, 0, IDS).uniform("upset"),
    ):
        assert abs(np.corrcoef(u, other)[0, 1]) < 0.02
        assert not np.array_equal(u, other)


def test_poisson_counts_have_the_right_mean_and_variance():
    for mean in (0.01, 0.3, 1.0):
        k = Dice(5, 9, IDS).poisson("background", np.full(IDS.size, mean))
        sigma = np.sqrt(mean / IDS.size)
        assert abs(k.mean() - mean) < 5 * sigma
        assert abs(k.var() - mean) < 0.05 * mean + 5 * sigma


def test_normal_draws_are_standard_normal_and_independent_of_the_uniform_stream():
    import numpy as np

    from twin.core.dice import Dice

    sat_id = np.arange(1, 200_001)
    z = Dice(3, 17, sat_id).normal("noise_battery_v")
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert abs((np.abs(z) < 1.0).mean() - 0.6827) < 0.005  # the 1σ share
    assert abs((np.abs(z) < 2.0).mean() - 0.9545) < 0.003
    other = Dice(3, 17, sat_id).normal("noise_payload")
    assert abs(np.corrcoef(z, other)[0, 1]) < 0.01
