"""Ground stations: passes against skyfield's find_events, closed-form elevations, antenna
grants, the cone prefilter finding exactly the pairs the full computation finds, and station
files rejected by key and value."""

import numpy as np
import pytest
from skyfield.api import EarthSatellite, wgs84

from twin.core.clock import NS_PER_S, parse_start, skyfield_time
from twin.core.settings import InputError
from twin.fleet.constellation import concat, walker_delta
from twin.payload.ground import (
    DEFAULT_STATIONS,
    StationError,
    assign_contacts,
    assign_pairs,
    elevation_deg,
    load_stations,
    make_reach,
    pass_changes,
    stations_from_arrays,
    visible,
    visible_pairs,
)
from twin.physics.orbit import propagate

START_NS = parse_start("2026-03-20T12:00:00Z")
DAY_S = 86_400
TICK_S = 10
BLOCK_TICKS = 2_000  # propagate a few hours at a time to bound memory
SKYFIELD_EPSILON_S = 0.5  # find_events brackets risings and settings to half a second
COMPARED = (  # 10 of the bundled stations: both polar regions, mid-latitudes, the tropics
    "Svalbard SvalSat",
    "Inuvik",
    "Wallops",
    "Kourou",
    "Punta Arenas",
    "Hartebeesthoek",
    "Troll",
    "McMurdo",
    "Singapore",
    "Weilheim",
)


@pytest.fixture(scope="module")
def fleet():
    # 50 satellites: an inclined shell for the mid-latitudes, a polar one for the poles.
    return concat(
        [
            walker_delta(25, 5, 1, 550.0, 53.0, START_NS),
            walker_delta(25, 5, 1, 560.0, 97.6, START_NS, raan0_deg=20.0, first_sat_id=26),
        ]
    )


@pytest.fixture(scope="module")
def stations():
    every = load_stations()
    rows = [every.name.index(name) for name in COMPARED]
    return stations_from_arrays(
        every.lat_deg[rows],
        every.lon_deg[rows],
        every.alt_km[rows],
        every.min_elevation_deg[rows],
        every.downlink_mbps[rows],
        every.antennas[rows],
        every.station_id[rows],
        [every.name[r] for r in rows],
    )


def _our_passes(fleet, stations):
    """[n_sat][n_st] lists of (start_s, end_s) from our ticks; ±inf where cut by the window."""
    t_s = np.arange(0, DAY_S + 1, TICK_S)
    blocks = np.array_split(t_s, -(-t_s.shape[0] // BLOCK_TICKS))
    vis = np.concatenate(
        [
            visible(
                elevation_deg(
                    propagate(fleet.satrecs, START_NS + b * NS_PER_S).r_itrs_km, stations
                ),
                stations,
            )
            for b in blocks
        ],
        axis=2,
    )  # (n_sat, n_st, n_time)
    n_sat, n_st, _ = vis.shape
    # Fold time into the rows so that one pass_changes call sees every tick pair.
    before = vis[:, :, :-1].transpose(2, 0, 1).reshape(-1, n_st)
    now = vis[:, :, 1:].transpose(2, 0, 1).reshape(-1, n_st)
    rows, st, aos = pass_changes(before, now)
    tick, sat = np.divmod(rows, n_sat)
    change_s = t_s[tick + 1]
    passes = [[[] for _ in range(n_st)] for _ in range(n_sat)]
    for i in range(n_sat):
        for s in range(n_st):
            mine = (sat == i) & (st == s)
            starts = list(change_s[mine & aos].astype(float))
            ends = list(change_s[mine & ~aos].astype(float))
            starts = [-np.inf] * bool(vis[i, s, 0]) + starts
            ends = ends + [np.inf] * bool(vis[i, s, -1])
            passes[i][s] = list(zip(starts, ends, strict=True))
    return passes


def _skyfield_passes(fleet, stations):
    """The same from skyfield's find_events, one satellite and station at a time (the
    authority computes per pair; our side above is one call per block)."""
    t0 = skyfield_time(START_NS)
    t1 = skyfield_time(START_NS + DAY_S * NS_PER_S)
    passes = []
    for i in range(fleet.n_sat):
        sat = EarthSatellite.from_satrec(fleet.elements[i], t0.ts)
        row = []
        for s in range(stations.n_st):
            where = wgs84.latlon(
                stations.lat_deg[s], stations.lon_deg[s], elevation_m=stations.alt_km[s] * 1e3
            )
            t, event = sat.find_events(
                where, t0, t1, altitude_degrees=stations.min_elevation_deg[s]
            )
            when_s = (t.tt - t0.tt) * DAY_S
            starts = list(when_s[event == 0])
            ends = list(when_s[event == 2])
            edges = event[event != 1]
            starts = [-np.inf] * bool(edges.size and edges[0] == 2) + starts
            ends = ends + [np.inf] * bool(edges.size and edges[-1] == 0)
            row.append(list(zip(starts, ends, strict=True)))
        passes.append(row)
    return passes


def test_passes_match_skyfield_find_events_within_one_tick(fleet, stations):
    ours = _our_passes(fleet, stations)
    theirs = _skyfield_passes(fleet, stations)
    diffs_s, n_passes, n_pairs_with_passes = [], 0, 0
    for i in range(fleet.n_sat):
        for s in range(stations.n_st):
            mine, ref = ours[i][s], theirs[i][s]
            assert len(mine) == len(ref), (fleet.sat_id[i], stations.name[s], mine, ref)
            n_passes += len(ref)
            n_pairs_with_passes += bool(ref)
            for (a, b), (c, d) in zip(mine, ref, strict=True):
                # Passes cut by the window ends (on either side) have no edge to compare.
                if np.isfinite([a, b, c, d]).all():
                    diffs_s += [a - c, b - d]
    diffs_s = np.array(diffs_s)
    # Measured: 2410 passes over 425 of the 500 pairs, 2388 not cut by the window ends.
    assert n_passes >= 2000 and n_pairs_with_passes >= 400
    assert diffs_s.shape[0] >= 2 * 2000
    # A tick finds an edge after it happened, by less than one tick; skyfield's own search
    # stops within half a second.
    assert diffs_s.min() >= -SKYFIELD_EPSILON_S
    assert diffs_s.max() <= TICK_S


def test_elevations_match_skyfield_altaz(fleet, stations):
    t_ns = START_NS + np.arange(0, 6 * 3600, 613, dtype=np.int64) * NS_PER_S
    ours = elevation_deg(propagate(fleet.satrecs, t_ns).r_itrs_km, stations)
    t = skyfield_time(t_ns)
    for s in (0, 4, 8):
        where = wgs84.latlon(
            stations.lat_deg[s], stations.lon_deg[s], elevation_m=stations.alt_km[s] * 1e3
        )
        for i in (0, 17, 33, 49):
            sat = EarthSatellite.from_satrec(fleet.elements[i], t.ts)
            alt, _, _ = (sat - where).at(t).altaz()
            np.testing.assert_allclose(ours[i, s], alt.degrees, atol=1e-4)


def test_station_positions_match_skyfield_wgs84():
    stations = load_stations()
    xyz_km = np.stack(
        [
            wgs84.latlon(lat, lon, elevation_m=alt * 1e3).itrs_xyz.km
            for lat, lon, alt in zip(
                stations.lat_deg, stations.lon_deg, stations.alt_km, strict=True
            )
        ],
        axis=1,
    )
    np.testing.assert_allclose(stations.r_itrs_km, xyz_km, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(stations.up_itrs, axis=0), 1.0, atol=1e-15)


def test_zenith_is_90_and_horizon_is_0_degrees():
    stations = stations_from_arrays([0.0, 45.0, -78.0, 89.9], [0.0, -120.0, 166.0, 30.0], 0.3)
    lon_rad = np.radians(stations.lon_deg)
    east = np.stack([-np.sin(lon_rad), np.cos(lon_rad), np.zeros_like(lon_rad)])
    zenith_km = stations.r_itrs_km + 550.0 * stations.up_itrs  # (3, n_st): satellite j over j
    horizon_km = stations.r_itrs_km + 2000.0 * east
    at_zenith = elevation_deg(zenith_km, stations)  # (n_sat=n_st, n_st)
    at_horizon = elevation_deg(horizon_km, stations)
    np.testing.assert_allclose(np.diag(at_zenith), 90.0, atol=1e-4)
    np.testing.assert_allclose(np.diag(at_horizon), 0.0, atol=1e-9)
    # 45° up: 500 km along the zenith and 500 km along the horizon.
    np.testing.assert_allclose(
        np.diag(elevation_deg(stations.r_itrs_km + 500.0 * (stations.up_itrs + east), stations)),
        45.0,
        atol=1e-9,
    )


def test_broadcast_one_n_and_n_by_m_agree(fleet):
    stations = load_stations()
    r_km = propagate(fleet.satrecs, START_NS + np.arange(7) * 60 * NS_PER_S).r_itrs_km
    full = elevation_deg(r_km, stations)  # N × M
    assert full.shape == (fleet.n_sat, stations.n_st, 7)
    np.testing.assert_allclose(elevation_deg(r_km[:, :, 3], stations), full[:, :, 3], atol=1e-12)
    np.testing.assert_allclose(elevation_deg(r_km[:, 42:43], stations)[0], full[42], atol=1e-12)
    np.testing.assert_allclose(
        elevation_deg(r_km[:, 42, 5:6], stations)[0], full[42, :, 5], atol=1e-12
    )
    assert visible(full, stations).shape == full.shape


def test_nan_positions_give_nan_elevation_and_no_visibility():
    stations = load_stations()
    r_km = np.full((3, 4, 2), np.nan)
    r_km[:, 1, 0] = stations.r_itrs_km[:, 0] + 600.0 * stations.up_itrs[:, 0]
    elev = elevation_deg(r_km, stations)
    assert np.isnan(elev[[0, 2, 3]]).all() and np.isnan(elev[1, :, 1]).all()
    assert elev[1, 0, 0] == pytest.approx(90.0, abs=1e-4)
    vis = visible(elev, stations)
    assert vis[1, 0, 0] and vis.sum() == vis[1, :, 0].sum()  # Kiruna may see it too


def test_visible_at_and_above_the_mask_only():
    stations = stations_from_arrays([0.0, 50.0], [0.0, 0.0], min_elevation_deg=[10.0, 5.0])
    elev = np.array([[10.0, 4.999], [9.999, 5.0], [np.nan, 90.0]])
    np.testing.assert_array_equal(
        visible(elev, stations), [[True, False], [False, True], [False, True]]
    )


def _two_stations():
    return stations_from_arrays(
        [10.0, 20.0], [0.0, 5.0], 0.0, [10.0, 10.0], [800.0, 1200.0], [2, 1], [7, 9], ["A", "B"]
    )


def test_assign_contacts_highest_elevation_wins_and_keeps_best_station():
    stations = _two_stations()
    elev = np.array(
        [[50.0, 60.0], [40.0, -10.0], [30.0, 35.0], [5.0, 20.0], [np.nan, np.nan]]
    )  # (n_sat=5, n_st=2)
    contacts = assign_contacts(elev, stations)
    # A grants its two antennas to satellites 0 and 1, B its one to satellite 0; satellite 0
    # keeps B (60° > 50°), so one of A's antennas stays unused and satellite 2 gets none.
    np.testing.assert_array_equal(contacts.station_row, [1, 0, -1, -1, -1])
    np.testing.assert_array_equal(contacts.downlink_mbps, [1200.0, 800.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(contacts.elevation_deg, [60.0, 40.0, np.nan, np.nan, np.nan])


def test_assign_contacts_no_visible_satellite_gives_minus_one():
    stations = _two_stations()
    for elev in (np.full((3, 2), 5.0), np.full((3, 2), np.nan), np.empty((0, 2))):
        contacts = assign_contacts(elev, stations)
        assert (contacts.station_row == -1).all() and (contacts.downlink_mbps == 0).all()
        assert np.isnan(contacts.elevation_deg).all()
        assert contacts.station_row.shape == (elev.shape[0],)


def test_assign_contacts_respects_antennas_on_a_large_random_case():
    rng = np.random.default_rng(7)
    stations = stations_from_arrays(
        rng.uniform(-60, 60, 30), rng.uniform(-180, 180, 30), antennas=rng.integers(1, 6, 30)
    )
    elev = rng.uniform(-90, 90, (400, 30))
    elev[rng.random((400, 30)) < 0.7] = -30.0  # most pairs below the horizon
    contacts = assign_contacts(elev, stations)
    vis = visible(elev, stations)
    granted = contacts.station_row >= 0
    counts = np.bincount(contacts.station_row[granted], minlength=stations.n_st)
    assert (counts <= stations.antennas).all() and counts.sum() > 0
    sat = np.flatnonzero(granted)
    st = contacts.station_row[sat]
    assert vis[sat, st].all()
    np.testing.assert_array_equal(contacts.elevation_deg[sat], elev[sat, st])
    # Station s offered its antennas to its top-`antennas` visible satellites only, and a
    # satellite offered by several stations kept the one where it is highest.
    rank = np.argsort(np.argsort(-np.where(vis, elev, -np.inf), axis=0), axis=0)
    offered = vis & (rank < stations.antennas)
    assert offered[sat, st].all()
    best = np.where(offered, elev, -np.inf).max(axis=1)
    np.testing.assert_array_equal(contacts.elevation_deg[sat], best[sat])
    assert (granted == offered.any(axis=1)).all()


def test_pass_changes_returns_aos_and_los_pairs():
    before = np.array([[True, False], [False, False], [True, True]])
    now = np.array([[False, False], [False, True], [True, True]])
    sat, st, aos = pass_changes(before, now)
    np.testing.assert_array_equal(sat, [0, 1])
    np.testing.assert_array_equal(st, [0, 1])
    np.testing.assert_array_equal(aos, [False, True])
    with pytest.raises(ValueError, match="visible_before"):
        pass_changes(before, now[:2])


def test_bundled_stations_load():
    stations = load_stations()
    assert stations.n_st >= 20
    assert len(np.unique(stations.station_id)) == stations.n_st
    assert stations.station_id.dtype == np.int32 and stations.antennas.dtype == np.int32
    assert {"Svalbard SvalSat", "Troll", "McMurdo", "Singapore"} <= set(stations.name)
    assert stations.r_itrs_km.shape == stations.up_itrs.shape == (3, stations.n_st)
    assert (stations.lat_deg.max() > 75.0) and (stations.lat_deg.min() < -75.0)
    assert load_stations(DEFAULT_STATIONS).name == stations.name


STATION = """
[[stations]]
station_id = {id}
name = "{name}"
lat_deg = 10.0
lon_deg = 20.0
alt_km = 0.1
min_elevation_deg = 10.0
downlink_mbps = 800.0
antennas = 2
"""


def _station_file(tmp_path, *replace, head=""):
    text = head + STATION.format(id=1, name="Alpha") + STATION.format(id=2, name="Beta")
    for old, new in replace:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "stations.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (
            ("antennas = 2", "antennas = 2\ndish_m = 7.3"),
            r"stations\[0\] \(Alpha\): unknown keys dish_m",
        ),
        (("alt_km = 0.1\n", ""), r"stations\[0\] \(Alpha\): missing keys alt_km"),
        (
            ("lat_deg = 10.0", "lat_deg = 91.5"),
            r"stations\[0\] \(Alpha\)\.lat_deg: 91\.5 .*-90\.\.90",
        ),
        (("lon_deg = 20.0", "lon_deg = -200"), r"\(Alpha\)\.lon_deg: -200\.0 .*-180\.\.180"),
        (("alt_km = 0.1", "alt_km = 12.0"), r"\(Alpha\)\.alt_km: 12\.0 .*-1\.\.10 km"),
        (("min_elevation_deg = 10.0", "min_elevation_deg = -1"), r"min_elevation_deg: -1\.0"),
        (("downlink_mbps = 800.0", "downlink_mbps = 0"), r"downlink_mbps: 0\.0 .*greater than 0"),
        (("antennas = 2", "antennas = 65"), r"\(Alpha\)\.antennas: 65 .*1\.\.64"),
        (("antennas = 2", "antennas = 2.5"), r"\(Alpha\)\.antennas: 2\.5 .*integer"),
        (("antennas = 2", 'antennas = "2"'), r"\(Alpha\)\.antennas: '2' .*integer"),
        (
            ("station_id = 2", "station_id = 1"),
            r"stations\[0, 1\] \(Alpha, Beta\)\.station_id: 1 .*unique",
        ),
        (("station_id = 1", "station_id = 0"), r"\(Alpha\)\.station_id: 0 .*1\.\.32767"),
    ],
)
def test_bad_station_files_name_key_and_value(tmp_path, replace, expected):
    path = _station_file(tmp_path, replace)
    with pytest.raises(StationError, match=expected) as info:
        load_stations(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, InputError)


def test_unknown_top_level_key_and_missing_file_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="unknown keys operator; accepted: sources, stations"):
        load_stations(_station_file(tmp_path, head='operator = "x"\n'))
    with pytest.raises(InputError, match=r"no-such\.toml"):
        load_stations(tmp_path / "no-such.toml")
    empty = tmp_path / "empty.toml"
    empty.write_text('sources = ["x"]\n')
    with pytest.raises(InputError, match=r"stations: expected one or more \[\[stations\]\]"):
        load_stations(empty)


def test_stations_from_arrays_rejects_out_of_range_values():
    with pytest.raises(StationError, match=r"stations\[2\]\.lat_deg: nan .*-90\.\.90"):
        stations_from_arrays([0.0, 1.0, np.nan], [0.0, 0.0, 0.0])
    with pytest.raises(StationError, match=r"stations\[1\] \(b\)\.antennas: 0 .*1\.\.64"):
        stations_from_arrays([0.0, 1.0], [0.0, 0.0], antennas=[1, 0], name=["a", "b"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_cone_prefilter_finds_every_visible_pair_and_grants_the_same_contacts(seed):
    # Three shells from 350 to 1,200 km, polar and inclined, over a day; stations anywhere,
    # the poles and the date line included, masks from 0 to 40 degrees.
    fleet = concat(
        [
            walker_delta(300, 15, 1, 350.0, 53.0, START_NS),
            walker_delta(300, 20, 3, 560.0, 97.6, START_NS, first_sat_id=301),
            walker_delta(200, 10, 1, 1_200.0, 70.0, START_NS, first_sat_id=601),
        ]
    )
    rng = np.random.default_rng(seed)
    n_st = 25
    lat = np.r_[rng.uniform(-90, 90, n_st - 3), 90.0, -89.9, 0.0]
    lon = np.r_[rng.uniform(-180, 180, n_st - 3), 0.0, 179.99, -180.0]
    stations = stations_from_arrays(
        lat, lon, rng.uniform(0, 3, n_st), rng.uniform(0, 40, n_st),
        antennas=rng.integers(1, 8, n_st),
    )  # fmt: skip
    times = START_NS + np.arange(0, DAY_S, 1_200) * NS_PER_S + seed * 7 * NS_PER_S
    r_itrs = propagate(fleet.satrecs, times).r_itrs_km  # (3, n_sat, n_time)
    r_itrs[:, 5, :] = np.nan  # a failed propagation is never seen
    reach = make_reach(stations, 6378.0 + 1_250.0)
    seen = 0
    for k in range(times.shape[0]):  # over instants: each a whole-fleet call
        r = r_itrs[:, :, k]
        elev = elevation_deg(r, stations)
        dense = visible(elev, stations)
        sat, st, pair_deg = visible_pairs(r, stations, reach)
        assert (np.diff(st) >= 0).all()  # grouped by station
        by = np.lexsort((sat, st))
        sat, st, pair_deg = sat[by], st[by], pair_deg[by]
        expect_sat, expect_st = np.nonzero(dense.T)[::-1]  # by station, then satellite
        np.testing.assert_array_equal(st, expect_st)
        np.testing.assert_array_equal(sat, expect_sat)
        np.testing.assert_allclose(pair_deg, elev[sat, st], atol=1e-9)
        want = assign_contacts(elev, stations, dense)
        got = assign_pairs(sat, st, pair_deg, stations, fleet.n_sat)
        np.testing.assert_array_equal(got.station_row, want.station_row)
        np.testing.assert_array_equal(got.downlink_mbps, want.downlink_mbps)
        np.testing.assert_allclose(got.elevation_deg, want.elevation_deg, atol=1e-9)
        seen += sat.shape[0]
    assert seen > 1_000  # the comparison saw many pairs
    # Satellites higher than the reach was made for: a new reach, still every pair.
    r = r_itrs[:, :, 0] * 1.5
    sat, st, _ = visible_pairs(r, stations, reach)
    by = np.lexsort((sat, st))
    sat, st = sat[by], st[by]
    expect_sat, expect_st = np.nonzero(visible(elevation_deg(r, stations), stations).T)[::-1]
    np.testing.assert_array_equal(st, expect_st)
    np.testing.assert_array_equal(sat, expect_sat)
