import numpy as np
import pytest

from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.constellation import MU_EARTH_KM3_S2, R_EARTH_WGS72_KM, period_s, walker_delta
from twin.physics.orbit import propagate

START_NS = parse_start("2026-03-20T00:00:00Z")


def test_walker_pattern_geometry():
    fleet = walker_delta(24, 4, 1, 550.0, 53.0, START_NS)
    assert fleet.n_sat == 24
    np.testing.assert_array_equal(np.bincount(fleet.plane), [6, 6, 6, 6])
    raan = np.degrees([s.nodeo for s in fleet.elements])
    mean_anomaly = np.degrees([s.mo for s in fleet.elements])
    np.testing.assert_allclose(raan.reshape(4, 6)[:, 0], [0, 90, 180, 270], atol=1e-9)
    # In-plane spacing 360/6 and inter-plane phase offset f*360/t = 15°.
    np.testing.assert_allclose(np.diff(mean_anomaly.reshape(4, 6)[0]), 60.0, atol=1e-9)
    np.testing.assert_allclose(mean_anomaly.reshape(4, 6)[1, 0], 15.0, atol=1e-9)
    np.testing.assert_array_equal(fleet.sat_id, np.arange(1, 25))


@pytest.mark.parametrize("inclination_deg", [53.0, 97.4])
def test_nodal_period_matches_kepler_within_0_1_percent(inclination_deg):
    altitude_km = 550.0
    expected_s = 2 * np.pi * np.sqrt((R_EARTH_WGS72_KM + altitude_km) ** 3 / MU_EARTH_KM3_S2)
    assert period_s(altitude_km) == pytest.approx(expected_s, rel=1e-12)
    # Measured: time between ascending-node crossings (J2 shifts it by O(1e-3)).
    fleet = walker_delta(1, 1, 0, altitude_km, inclination_deg, START_NS)
    elapsed_s = np.arange(0.0, 3 * expected_s, 1.0)
    z = propagate(fleet.satrecs, START_NS + (elapsed_s * NS_PER_S).astype(np.int64)).r_teme_km[2, 0]
    up = np.nonzero((z[:-1] < 0) & (z[1:] >= 0))[0]
    crossing_s = elapsed_s[up] - z[up] / (z[up + 1] - z[up])  # linear interpolation, 1 s steps
    assert len(crossing_s) >= 2
    assert np.diff(crossing_s).mean() == pytest.approx(expected_s, rel=1e-3)


def test_altitude_stays_near_requested():
    fleet = walker_delta(12, 3, 1, 500.0, 97.4, START_NS)
    alt = propagate(fleet.satrecs, START_NS + np.arange(0, 6000, 60) * NS_PER_S).alt_km
    # Circular orbit over an ellipsoid: height varies by Earth's flattening (~21 km) and J2.
    assert np.all((alt > 470.0) & (alt < 530.0))


@pytest.mark.parametrize(
    ("args", "field"),
    [((12, 5, 1), "planes"), ((12, 3, 3), "phasing"), ((0, 1, 0), "total")],
)
def test_bad_walker_names_field(args, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        walker_delta(*args, 550.0, 53.0, START_NS)


def test_bad_altitude_and_inclination_name_field():
    with pytest.raises(ValueError, match=r"^altitude_km: "):
        walker_delta(12, 3, 1, 50.0, 53.0, START_NS)
    with pytest.raises(ValueError, match=r"^inclination_deg: "):
        walker_delta(12, 3, 1, 550.0, 190.0, START_NS)


def test_frame_groups_hold_whole_planes_of_at_least_200_satellites():
    from twin.fleet.constellation import frame_groups

    fleet = walker_delta(2800, 100, 1, 550.0, 53.0, START_NS)  # 28 satellites per plane
    groups = frame_groups(fleet)
    sizes = np.diff(groups.bounds)
    assert (sizes[:-1] >= 200).all() and sizes.sum() == 2800
    for g in range(len(groups.names)):
        rows = groups.order[groups.bounds[g] : groups.bounds[g + 1]]
        planes = np.unique(fleet.plane[rows])
        assert groups.names[g] == f"planes-{planes[0]:04d}-{planes[-1]:04d}"
        assert np.isin(fleet.plane, planes).sum() == rows.size  # whole planes only


def test_shards_keep_the_frame_groups_of_the_whole_fleet():
    from twin.fleet.constellation import frame_groups, shard_rows, subset

    fleet = walker_delta(2800, 100, 1, 550.0, 53.0, START_NS)
    whole = set(frame_groups(fleet).names)
    parts = [frame_groups(subset(fleet, shard_rows(fleet, i, 4))).names for i in range(4)]
    assert set().union(*parts) == whole and sum(map(len, parts)) == len(whole)
    rows = np.concatenate([shard_rows(fleet, i, 4) for i in range(4)])
    assert np.array_equal(np.sort(rows), np.arange(2800))


def test_rows_of_finds_each_id_once_and_marks_the_missing():
    from twin.fleet.constellation import RowsOf

    sat_id = np.array([40, 7, 19, 3])
    rows = RowsOf(sat_id)(np.array([3, 19, 99, 40, 0, 7, 3, -1]))
    assert rows.tolist() == [3, 2, -1, 0, -1, 1, 3, -1]
    assert RowsOf(np.zeros(0, np.int32))(np.array([1, 2])).tolist() == [-1, -1]
