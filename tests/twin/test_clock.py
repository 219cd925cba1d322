import numpy as np
import pytest

from twin.core.clock import NS_PER_S, iso, julian, parse_duration_ns, parse_start, skyfield_time


def test_parse_start_iso_and_naive_utc():
    assert parse_start("1970-01-01T00:00:01Z") == NS_PER_S
    assert parse_start("2026-03-20T12:00:00") == parse_start("2026-03-20T12:00:00+00:00")
    assert parse_start("2026-03-20T13:00:00+01:00") == parse_start("2026-03-20T12:00:00Z")
    assert parse_start("2026-03-20T12:00:00.250000Z") % NS_PER_S == 250_000_000
    assert parse_start("now", now_ns=42) == 42


def test_parse_start_rejects_garbage_naming_field():
    with pytest.raises(ValueError, match=r"start: 'yesterday' .*ISO-8601"):
        parse_start("yesterday")


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("90", 90 * NS_PER_S),
        ("1.5s", 1_500_000_000),
        ("10m", 600 * NS_PER_S),
        ("2h", 7200 * NS_PER_S),
        ("1d", 86_400 * NS_PER_S),
        ("250ms", 250_000_000),
    ],
)
def test_parse_duration(text, ns):
    assert parse_duration_ns("--step", text) == ns


@pytest.mark.parametrize("text", ["", "ten", "-1s", "0", "5 parsecs"])
def test_parse_duration_rejects_naming_field(text):
    with pytest.raises(ValueError, match=r"^--duration: "):
        parse_duration_ns("--duration", text)


def test_julian_matches_skyfield_utc_and_ut1():
    t_ns = parse_start("2026-06-21T06:30:15.5Z") + np.arange(5, dtype=np.int64) * 3_600 * NS_PER_S
    jt = julian(t_ns)
    t = skyfield_time(t_ns)
    # UTC JD: skyfield's SGP4 edge uses tai_fraction - leap seconds on the same whole day.
    utc_sky = t.whole + t.tai_fraction - t._leap_seconds() / 86_400.0
    np.testing.assert_allclose((jt.jd_utc - t.whole) + jt.fr_utc, utc_sky - t.whole, atol=1e-11)
    np.testing.assert_allclose(jt.jd_ut1 + jt.fr_ut1, t.ut1, atol=1e-9)


def test_iso_round_trip():
    t = parse_start("2026-03-20T12:34:56.789012Z")
    assert iso(t) == "2026-03-20T12:34:56.789012Z"
