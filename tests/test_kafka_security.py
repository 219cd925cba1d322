"""Kafka TLS and SASL/SCRAM from configuration, through the stack's SASL_SSL listener.

``scripts/stack up`` gives the broker a SASL_SSL listener (SCRAM-SHA-512, a certificate for
127.0.0.1 signed by the stack's own CA) and prints it as ``TWIN_STACK_KAFKA_SASL_*`` and
``TWIN_STACK_KAFKA_CAFILE``; the tests set the twin's ``TWIN_KAFKA_*`` settings from them.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.conftest import REQUIRE_ENV, TEST_START, run_args, twin_command
from twin.app.cli import main
from twin.app.config import env_kafka_security
from twin.core.settings import InputError, KafkaSecurity, kafka_security, kafka_security_env
from twin.stream.broker import Producer, TopicSpec, client_settings, ensure_topics, open_client

STACK_SASL = {
    "TWIN_KAFKA_BOOTSTRAP": "TWIN_STACK_KAFKA_SASL_BOOTSTRAP",
    "TWIN_KAFKA_SASL_MECHANISM": "TWIN_STACK_KAFKA_SASL_MECHANISM",
    "TWIN_KAFKA_SASL_USERNAME": "TWIN_STACK_KAFKA_SASL_USERNAME",
    "TWIN_KAFKA_SASL_PASSWORD_FILE": "TWIN_STACK_KAFKA_SASL_PASSWORD_FILE",
    "TWIN_KAFKA_SSL_CAFILE": "TWIN_STACK_KAFKA_CAFILE",
}
# Environment of a twin command with no Kafka settings of the caller's.
BARE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_KAFKA_")}


@pytest.fixture(scope="module")
def sasl_listener() -> dict[str, str]:
    """``TWIN_KAFKA_*`` settings for the stack's SASL_SSL listener."""
    missing = [stack for stack in STACK_SASL.values() if not os.environ.get(stack)]
    if missing:
        reason = (
            f'{", ".join(missing)} not set (eval "$(scripts/stack up)"; a stack started '
            "before the SASL_SSL listener existed needs scripts/stack down first)"
        )
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    return {
        "TWIN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        **{twin: os.environ[stack] for twin, stack in STACK_SASL.items()},
    }


@pytest.fixture
def sasl_env(sasl_listener: dict[str, str], topic_prefix: str) -> dict[str, str]:
    return {**BARE_ENV, **sasl_listener, "TWIN_TOPIC_PREFIX": topic_prefix}


def twin_failing(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "twin", *args], env=env, capture_output=True, text=True, timeout=60
    )
    return done, time.monotonic() - started


@pytest.mark.integration
def test_own_clients_produce_and_consume_through_sasl_ssl(sasl_env):
    security = env_kafka_security(sasl_env)
    bootstrap = sasl_env["TWIN_KAFKA_BOOTSTRAP"]
    settings = client_settings(bootstrap, security)
    assert settings["security_protocol"] == "SASL_SSL" and settings["ssl_check_hostname"]
    assert settings["sasl_mechanism"] == "SCRAM-SHA-512"
    assert settings["ssl_cafile"] == sasl_env["TWIN_KAFKA_SSL_CAFILE"]
    topic = f"{sasl_env['TWIN_TOPIC_PREFIX']}sasl-{uuid.uuid4().hex[:8]}"
    assert ensure_topics(bootstrap, [TopicSpec(topic)], security) == [topic]

    producer = Producer(bootstrap, client_id="test-sasl", security=security)
    producer.send(topic, key=b"k", value=b"over TLS, logged in with SCRAM")
    producer.flush()
    producer.close()

    consumer = open_client(
        KafkaConsumer, bootstrap, security, group_id=None, enable_auto_commit=False
    )
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        records, deadline = [], time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            records = [r for batch in consumer.poll(timeout_ms=500).values() for r in batch]
    finally:
        consumer.close()
    assert [(r.key, r.value) for r in records] == [(b"k", b"over TLS, logged in with SCRAM")]


@pytest.mark.integration
def test_twin_run_and_ingest_through_sasl_ssl(sasl_env, database):
    """Every client of ``twin run`` (admin, checkpoint reader, job intake, producer) and of
    ``twin ingest`` (group consumer, publisher) goes through the SASL_SSL listener."""
    env = {**sasl_env, "TWIN_DATABASE_URL": database}
    out = twin_command(*run_args("threebody-12", "2m"), "--speed", "max", "--quiet", env=env)
    assert "120 ticks, 120 frames, 1440 samples" in out
    twin_command("db", "migrate", env=env)
    twin_command("db", "fleet", "--preset", "threebody-12", "--start", TEST_START, env=env)
    out = twin_command("ingest", "--stop-when-caught-up", env=env)
    assert "(120 frames," in out and "1440 rows inserted, 0 repeated, 0 dead letters" in out


@pytest.mark.integration
def test_wrong_password_is_refused_clearly_within_seconds(sasl_env, tmp_path):
    (tmp_path / "password").write_text("not-the-password\n")
    env = {**sasl_env, "TWIN_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "password")}
    done, took_s = twin_failing("topics", "ensure", env=env)
    assert done.returncode == 2, done.stderr
    assert "Kafka SASL login refused: the broker at 127.0.0.1:" in done.stderr
    assert "SCRAM-SHA-512 login of user 'twin'" in done.stderr
    assert "Traceback" not in done.stderr and "not-the-password" not in done.stderr
    assert took_s < 20.0  # kafka-python gives up bootstrapping after 6 s


@pytest.mark.integration
def test_untrusted_broker_certificate_is_refused(sasl_env):
    env = {k: v for k, v in sasl_env.items() if k != "TWIN_KAFKA_SSL_CAFILE"}
    done, took_s = twin_failing("topics", "ensure", env=env)  # the system's CAs only
    assert done.returncode == 2, done.stderr
    assert "Kafka TLS with the broker at 127.0.0.1:" in done.stderr
    assert "certificate" in done.stderr and "TWIN_KAFKA_SSL_CAFILE" in done.stderr
    assert took_s < 20.0


def test_bad_security_setting_exits_2_naming_it_and_what_is_accepted(tmp_path):
    env = {**BARE_ENV, "TWIN_KAFKA_SECURITY_PROTOCOL": "FOO"}
    done, _ = twin_failing("topics", "ensure", "--kafka", "127.0.0.1:1", env=env)
    assert done.returncode == 2
    assert (
        "TWIN_KAFKA_SECURITY_PROTOCOL: 'FOO' is not accepted; "
        "expected PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
    ) in done.stderr
    (tmp_path / "twin.toml").write_text('[kafka]\nsasl_mechanism = "SCRAM-SHA-1"\n')
    done = subprocess.run(
        [sys.executable, "-m", "twin", "config", "show"],
        env=BARE_ENV,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert (
        "[kafka] sasl_mechanism: 'SCRAM-SHA-1' is not accepted; "
        "expected SCRAM-SHA-256, SCRAM-SHA-512, PLAIN"
    ) in done.stderr


@pytest.mark.parametrize(
    ("values", "env", "field", "accepted"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, {}, "TWIN_KAFKA_SASL_MECHANISM", "PLAIN"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512"},
            {},
            "TWIN_KAFKA_SASL_USERNAME",
            "the user name",
        ),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "SCRAM-SHA-256",
                "kafka_sasl_username": "twin",
            },
            {},
            "TWIN_KAFKA_SASL_PASSWORD / TWIN_KAFKA_SASL_PASSWORD_FILE",
            "the password",
        ),
        # A setting the protocol would ignore is refused, not silently sent in the clear.
        ({"kafka_sasl_username": "twin"}, {}, "TWIN_KAFKA_SASL_USERNAME", "SASL_SSL"),
        ({}, {"TWIN_KAFKA_SASL_PASSWORD": "s3cret"}, "TWIN_KAFKA_SASL_PASSWORD", "SASL_SSL"),
        ({"kafka_ssl_cafile": "/etc/hostname"}, {}, "TWIN_KAFKA_SSL_CAFILE", "SSL or SASL_SSL"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/no/such/ca.pem"},
            {},
            "TWIN_KAFKA_SSL_CAFILE",
            "a readable PEM file",
        ),
    ],
)
def test_inconsistent_security_settings_name_the_setting(values, env, field, accepted):
    with pytest.raises(InputError) as raised:
        kafka_security(values, env)
    assert field in str(raised.value) and accepted in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_a_child_twin_process_gets_the_same_security(tmp_path):
    """``twin score`` runs ``twin run`` as a child: it passes the settings as variables and
    the password through the inherited ``TWIN_KAFKA_SASL_PASSWORD[_FILE]``."""
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    security = KafkaSecurity(
        "SASL_SSL", "SCRAM-SHA-256", "twin", "pw", ssl_cafile=str(tmp_path / "ca.pem")
    )
    env = {**kafka_security_env(security), "TWIN_KAFKA_SASL_PASSWORD": "pw"}
    assert "pw" not in kafka_security_env(security).values()
    assert env_kafka_security(env) == security


def test_password_is_never_shown(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no twin.toml
    for name in [n for n in os.environ if n.startswith("TWIN_KAFKA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TWIN_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TWIN_KAFKA_SASL_USERNAME", "twin")
    monkeypatch.setenv("TWIN_KAFKA_SASL_PASSWORD", "hunter2-kafka")
    assert main(["config", "show"]) == 0
    shown = capsys.readouterr().out
    assert "hunter2-kafka" not in shown
    rows = {line.split()[0]: line.split()[1:] for line in shown.splitlines()[1:]}
    assert rows["TWIN_KAFKA_SASL_PASSWORD"] == ["***", "environment"]
    assert rows["TWIN_KAFKA_SECURITY_PROTOCOL"] == ["SASL_SSL", "environment"]
    security = kafka_security(
        {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "PLAIN"}
        | {"kafka_sasl_username": "twin"}
    )
    assert "hunter2-kafka" not in repr(security)
    assert "hunter2-kafka" not in str(client_settings("127.0.0.1:1", security))
    assert client_settings("127.0.0.1:1", security)["sasl_plain_password"] == "hunter2-kafka"

    monkeypatch.delenv("TWIN_KAFKA_SASL_PASSWORD")
    secret_file = tmp_path / "kafka-password"
    secret_file.write_text("hunter2-from-file\n")
    monkeypatch.setenv("TWIN_KAFKA_SASL_PASSWORD_FILE", str(secret_file))
    assert main(["config", "show"]) == 0
    shown = capsys.readouterr().out
    assert "hunter2-from-file" not in shown and "TWIN_KAFKA_SASL_PASSWORD" in shown


@pytest.mark.integration
def test_password_stays_out_of_debug_logs(sasl_env):
    password = Path(sasl_env["TWIN_KAFKA_SASL_PASSWORD_FILE"]).read_text().strip()
    done = subprocess.run(
        [sys.executable, "-m", "twin", "--log-level", "DEBUG", "topics", "ensure"],
        env=sasl_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sasl_plain_password" in done.stderr  # kafka-python logged its configuration
    assert password not in done.stdout + done.stderr
