"""``twin export``: a relation of a real store to CSV and Parquet, read back independently
(the csv module, pyarrow), filtered by time and satellites; names reach SQL only as
identifiers found in the catalogue."""

import csv
import io
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from ingest.store.db import connect
from ingest.store.migrate import migrate
from tests.conftest import KEEP_HISTORY
from tests.ingest.test_roles_and_audit import _load_two_hours
from twin.app.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(params=["postgresql", "timescaledb"])
def store(request):
    url = request.getfixturevalue("database" if request.param == "postgresql" else "timescale_db")
    migrate(url, KEEP_HISTORY, store=request.param)
    _load_two_hours(url)
    return url


def test_telemetry_to_csv_and_parquet_matches_the_store(store, tmp_path):
    argv = ["export", "--table", "telemetry", "--database", store,
            "--since", "2026-03-20T12:30:00Z", "--until", "2026-03-20T13:00:00Z",
            "--satellites", "2,5"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "t.csv")]) == 0
    assert main([*argv, "--out", str(tmp_path / "t.parquet"), "--format", "parquet"]) == 0
    with connect(store) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        expected = conn.execute(
            "SELECT sat_id, time, soc, safe_mode, station_id FROM telemetry "
            "WHERE sat_id IN (2, 5) AND time >= '2026-03-20T12:30:00Z' "
            "AND time < '2026-03-20T13:00:00Z' ORDER BY sat_id, time"
        ).fetchall()
    assert len(expected) == 2 * 180  # 30 minutes at 10 s, two satellites
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    assert len(rows) == len(expected)
    for row, (sat, time, soc, safe, station) in zip(rows, expected, strict=True):
        assert int(row["sat_id"]) == sat and float(row["soc"]) == soc
        assert datetime.fromisoformat(row["time"]) == time
        assert row["safe_mode"] == ("t" if safe else "f") and int(row["station_id"]) == station
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.num_rows == len(expected)
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("soc").type) == "double"
    names = ("sat_id", "time", "soc", "safe_mode", "station_id")
    got = list(zip(*(table.column(c).to_pylist() for c in names), strict=True))
    assert got == [(s, t.astimezone(UTC), x, b, st) for s, t, x, b, st in expected]


def test_views_and_documents_export_and_bad_requests_exit_2(store, tmp_path, capsys):
    out = tmp_path / "sats.parquet"
    assert main(["export", "--table", "satellites", "--format", "parquet", "--out", str(out),
                 "--database", store]) == 0  # fmt: skip
    table = pq.read_table(out)
    assert table.num_rows == 12 and '"battery_capacity_wh"' in table.column("hardware")[0].as_py()
    assert main(["export", "--table", "audit_compute_daily", "--out", str(tmp_path / "a.csv"),
                 "--database", store]) == 0  # fmt: skip
    capsys.readouterr()
    for argv, message in [
        (["--table", "telemetry; DROP TABLE satellites"], "is not a table or view of the store"),
        (["--table", "ground_stations", "--satellites", "3"], "has no sat_id column"),
        (["--table", "satellites", "--since", "2026-03-20T12:00:00Z"], "has no time column"),
        (["--table", "telemetry", "--satellites", "3,x"], "is not a list of ids"),
    ]:
        done = main(["export", *argv, "--out", str(tmp_path / "x.csv"), "--database", store])
        err = capsys.readouterr().err
        assert done == 2 and message in err, (argv, err)
    with connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM satellites").fetchone()[0] == 12
