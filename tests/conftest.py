"""Service fixtures: real Kafka, PostgreSQL and TimescaleDB.

Services come from the environment (``TWIN_KAFKA_BOOTSTRAP``, ``TWIN_DATABASE_URL``,
``TWIN_TIMESCALE_URL``, as printed by ``scripts/stack up``); where a variable is unset and a
Docker engine answers, from testcontainers; otherwise the test is skipped with the reason.
With ``TWIN_REQUIRE_SERVICES=1`` (set by .ci/run) a missing service fails the test, and any
skipped test fails the session.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from ingest.store.db import connect
from ingest.store.migrate import StoreSettings
from ingest.store.roles import allow_login, configured_logins
from twin.core.settings import ENV_DATABASE, ENV_KAFKA, ENV_STORE, ENV_TIMESCALE, libpq_url

REQUIRE_ENV = "TWIN_REQUIRE_SERVICES"
TIMESCALE_IMAGE = "timescale/timescaledb:latest-pg17"
KAFKA_IMAGE = "apache/kafka:4.1.1"


def pytest_configure(config: pytest.Config) -> None:
    """Ingest logs in as twin_ingest in every test, as with the stack's
    TWIN_INGEST_PASSWORD_FILE: without one, a password of this session's own (migrations give
    it to the role). ``TWIN_DATABASE_URL`` is the stack's plain PostgreSQL cluster, where
    TimescaleDB is installed but not preloaded: commands run against it ask for the plain
    path (``TWIN_STORE=postgresql``), as a user of such a server would."""
    os.environ[ENV_STORE] = "postgresql"
    if not (os.environ.get("TWIN_INGEST_PASSWORD") or os.environ.get("TWIN_INGEST_PASSWORD_FILE")):
        os.environ["TWIN_INGEST_PASSWORD"] = secrets.token_urlsafe(18)


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


@functools.cache
def _docker_engine() -> bool:
    """True when a Docker engine answers ``GET /_ping`` on its socket (``DOCKER_HOST`` aside)."""
    path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
            return status_line.startswith(b"HTTP/1.") and b" 200 " in status_line + b" "
    except OSError:
        return False


def _service(request: pytest.FixtureRequest, env_var: str, start: Callable[[], str]) -> str:
    value = os.environ.get(env_var)
    if value:
        return value
    if _docker_engine():
        return start()
    reason = f'{env_var} is not set and no Docker engine answers (run: eval "$(scripts/stack up)")'
    if _required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def _kafka_container(request: pytest.FixtureRequest) -> str:
    from testcontainers.kafka import KafkaContainer

    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    container.start()
    request.addfinalizer(container.stop)
    return container.get_bootstrap_server()


_CONTAINER_SUPERUSER: dict[str, str] = {}  # owner URL -> the container's superuser URL


def _postgres_container(request: pytest.FixtureRequest) -> str:
    """A TimescaleDB container's URL of a ``twin`` owner role made as ``scripts/stack`` makes
    it (no superuser: the services refuse one)."""
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(TIMESCALE_IMAGE, driver=None)
    container.start()
    request.addfinalizer(container.stop)
    superuser = container.get_connection_url()
    password = secrets.token_urlsafe(18)
    with connect(superuser, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE twin LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
                sql.Literal(password)
            )
        )
        conn.execute("CREATE DATABASE twin OWNER twin")
    parts = urlsplit(superuser)
    url = urlunsplit(
        parts._replace(netloc=f"twin:{password}@{parts.hostname}:{parts.port}", path="/twin")
    )
    _CONTAINER_SUPERUSER[url] = superuser
    return url


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    return _service(request, ENV_KAFKA, lambda: _kafka_container(request))


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str:
    """URL of a role that may create databases (the stack's ``twin`` owner)."""
    return libpq_url(_service(request, ENV_DATABASE, lambda: _postgres_container(request)))


@pytest.fixture(scope="session")
def superuser_url(postgres_url: str) -> str:
    """URL of a superuser of ``postgres_url``'s server, for tests that it is refused: the
    stack's ``postgres`` (its password in ``$TWIN_STACK_DIR/pg-superuser.secret``), or the
    container's."""
    if postgres_url in _CONTAINER_SUPERUSER:
        return libpq_url(_CONTAINER_SUPERUSER[postgres_url])
    stack_dir = os.environ.get("TWIN_STACK_DIR") or Path(
        tempfile.gettempdir(), f"twin-stack-{os.getuid()}"
    )
    secret_file = Path(stack_dir, "pg-superuser.secret")
    if not secret_file.is_file():
        reason = f"no superuser password at {secret_file} (set TWIN_STACK_DIR to the stack's)"
        if _required():
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    parts = urlsplit(postgres_url)
    password = quote(secret_file.read_text().strip(), safe="")
    return urlunsplit(parts._replace(netloc=f"postgres:{password}@{parts.hostname}:{parts.port}"))


def role_url(database_url: str, role: str) -> str:
    """``database_url``'s database logged in as ``role`` (``twin_ingest``, ``twin_reader``),
    given a login: with the password the environment configures for it (the stack's, so
    that other tests' logins keep working), else a test-only one."""
    configured = configured_logins().get(role)
    password = configured[0] if configured else "test-only"
    allow_login(database_url, role, password)
    parts = urlsplit(database_url)
    login = f"{role}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=login))


@pytest.fixture(scope="session")
def timescale_url(request: pytest.FixtureRequest) -> str:
    """URL of a role that may create databases on a server that preloads TimescaleDB (the
    stack's ``twin`` owner on its TimescaleDB cluster)."""
    return libpq_url(_service(request, ENV_TIMESCALE, lambda: _postgres_container(request)))


@contextlib.contextmanager
def fresh_database(postgres_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped on exit."""
    name = f"twin_test_{uuid.uuid4().hex[:12]}"
    with connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    finally:
        _drop_database(postgres_url, name)


def _drop_database(postgres_url: str, name: str) -> None:
    """Drop a test database; an autovacuum worker inside it (which FORCE may not end for a
    non-superuser) delays that by a moment."""
    statement = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
    deadline = time.monotonic() + 30
    while True:
        try:
            with connect(postgres_url, autocommit=True) as conn:
                conn.execute(statement)
            return
        except psycopg.errors.InsufficientPrivilege:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture
def timescale_db(timescale_url: str) -> Iterator[str]:
    """A fresh, empty database on the TimescaleDB server for one test; dropped afterwards."""
    with fresh_database(timescale_url) as url:
        yield url


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic prefix so that tests sharing a broker do not see each other's data."""
    return f"test-{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_env(kafka_bootstrap: str, topic_prefix: str) -> dict[str, str]:
    """Environment for ``twin`` commands against the test broker, with unique topics."""
    return {
        **os.environ,
        "TWIN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TWIN_TOPIC_PREFIX": topic_prefix,
    }


def read_topic(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list:
    """Every record of ``topic`` from its beginning to its current end, in partition order."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"{topic}: not read to its end in {timeout_s} s"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


TEST_START = "2026-03-20T12:00:00Z"
# Tests store data of fixed past dates: on TimescaleDB, whose policies run in the background,
# the default retention (90 days before now) and compression (after a day) would drop or
# compress it under the test's feet. Tests that prove the policies set their own.
KEEP_HISTORY = StoreSettings(
    retain_telemetry="36500 days", retain_events="36500 days", compress_after="36500 days"
)


def run_args(preset: str, duration: str) -> list[str]:
    """The start of a ``twin run`` command line for the tests' fixed start time."""
    return ["run", "--preset", preset, "--start", TEST_START, "--duration", duration]


def max_speed_args(preset: str, duration: str, step: str = "1s") -> list[str]:
    """A ``twin run`` command line as fast as the machine goes, without checkpoints."""
    return [*run_args(preset, duration), "--step", step, "--speed", "max",
            "--checkpoint-every", "off"]  # fmt: skip


def twin_command(*args: str, env: dict[str, str], timeout_s: float = 300) -> str:
    """Run the ``twin`` command; return its stdout, failing the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-m", "twin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert done.returncode == 0, f"twin {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _required():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        print(f"\n{REQUIRE_ENV}=1: {skipped} test(s) skipped; failing the run")
        session.exitstatus = 1


def store_frames(url: str, frames: list, group: str = "tests"):
    """Write ``frames`` as one poll of partition 0 of topic ``t`` (offsets 0..), with the
    writer ingest uses; returns its ``WriteResult``."""
    from ingest.service.batch import PartitionBatch
    from ingest.service.writer import Writer

    part = PartitionBatch("t", 0, 0, len(frames) - 1, messages=len(frames))
    part.frames = list(enumerate(frames))
    writer = Writer(url, group)
    try:
        return writer.write([part])
    finally:
        writer.close()


def same_json(a, b, rel: float = 1e-12) -> bool:
    """Two decoded JSON documents equal but for floats within ``rel`` of each other: an
    example generated by a simulation step differs in its last bits between numpy builds
    and processors, never more."""
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and not isinstance(a, bool)
            and not isinstance(b, bool)
            and math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y, rel) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
