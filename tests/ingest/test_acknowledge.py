"""``twin anomalies ack|shelve|unshelve|list``: actions kept with who and why, the status of
each anomaly, and the anomaly alert rules paging only for anomalies nobody has taken."""

from datetime import UTC, datetime, timedelta

import pytest

from ingest.store.db import connect
from ingest.store.migrate import migrate
from ingest.store.roles import READER_ROLE
from tests.conftest import KEEP_HISTORY, role_url
from twin.app.cli import main
from twin.grafana import alerts

pytestmark = pytest.mark.integration


@pytest.fixture(params=["postgresql", "timescaledb"])
def store(request):
    url = request.getfixturevalue("database" if request.param == "postgresql" else "timescale_db")
    migrate(url, KEEP_HISTORY, store=request.param)
    now = datetime.now(UTC)
    with connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO anomalies (time, anomaly_id, sat_id, rule, severity, state, value, "
            "message) VALUES (%(t)s, 'hot-1', 3, 'payload_overheating', 'critical', 'open', "
            "80.0, 'hot'), (%(t)s, 'low-1', 4, 'battery_low', 'warning', 'open', 0.2, 'low'), "
            "(%(t)s, 'old-1', 5, 'battery_low', 'warning', 'open', 0.2, 'low'), "
            "(%(later)s, 'old-1', 5, 'battery_low', 'warning', 'closed', 0.4, 'ok')",
            {"t": now - timedelta(hours=1), "later": now - timedelta(minutes=30)},
        )
    return url


def _paging(url: str) -> dict[str, int]:
    rules = {r.uid: r.sql for r in alerts.RULES}
    with connect(role_url(url, READER_ROLE)) as conn:
        return {
            uid: conn.execute(rules[uid]).fetchone()[0]
            for uid in ("twin-critical-anomalies", "twin-warning-anomalies")
        }


def _status(url: str, anomaly_id: str) -> tuple:
    with connect(role_url(url, READER_ROLE)) as conn:
        return conn.execute(
            "SELECT acknowledged, shelved, last_action, by_whom, reason FROM anomaly_status "
            "WHERE anomaly_id = %s",
            (anomaly_id,),
        ).fetchone()


def test_acknowledged_and_shelved_anomalies_stop_paging_and_every_action_is_kept(store, capsys):
    assert _paging(store) == {"twin-critical-anomalies": 1, "twin-warning-anomalies": 1}
    db = ["--database", store]
    assert (
        main(["anomalies", "ack", "hot-1", "--reason", "seen, cooling", "--by", "ops-1", *db]) == 0
    )
    assert _status(store, "hot-1") == (True, False, "acknowledged", "ops-1", "seen, cooling")
    assert _paging(store) == {"twin-critical-anomalies": 0, "twin-warning-anomalies": 1}

    assert main(["anomalies", "shelve", "low-1", "--for", "2h", "--reason", "eclipse", *db]) == 0
    assert _status(store, "low-1")[:3] == (True, True, "shelved")
    assert _paging(store) == {"twin-critical-anomalies": 0, "twin-warning-anomalies": 0}
    assert main(["anomalies", "unshelve", "low-1", "--reason", "eclipse over", *db]) == 0
    assert _status(store, "low-1")[:3] == (False, False, "unshelved")
    assert _paging(store)["twin-warning-anomalies"] == 1

    capsys.readouterr()
    assert main(["anomalies", "list", *db]) == 0
    out = capsys.readouterr().out
    assert "2 open" in out and "hot-1" in out and "acknowledged by ops-1: seen, cooling" in out
    assert "old-1" not in out  # closed
    with connect(store) as conn:
        kept = conn.execute(
            "SELECT anomaly_id, action FROM anomaly_acknowledgements ORDER BY at"
        ).fetchall()
    assert kept == [("hot-1", "acknowledged"), ("low-1", "shelved"), ("low-1", "unshelved")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ack", "old-1", "--reason", "x"], "anomaly 'old-1': closed at"),
        (["ack", "nope", "--reason", "x"], "anomaly 'nope': no such anomaly"),
        (["ack", "hot-1", "--reason", " "], "--reason: 1 to 1000 characters"),
        (["ack", "hot-1", "--reason", "a\x00b"], "--reason: 1 to 1000 characters"),
        (["ack", "hot-1", "--reason", "x" * 1001], "--reason: 1 to 1000 characters"),
        (["shelve", "hot-1", "--for", "soon", "--reason", "x"], "--for"),
    ],
)
def test_a_bad_action_exits_2_with_one_line_and_stores_nothing(store, capsys, argv, message):
    assert main(["anomalies", *argv, "--database", store]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    with connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM anomaly_acknowledgements").fetchone()[0] == 0
