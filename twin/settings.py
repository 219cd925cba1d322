"""Connection settings from the command line or the environment, validated at the edge."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

ENV_KAFKA = "TWIN_KAFKA_BOOTSTRAP"
ENV_DATABASE = "TWIN_DATABASE_URL"
ENV_TIMESCALE = "TWIN_TIMESCALE_URL"
ENV_TOPIC_PREFIX = "TWIN_TOPIC_PREFIX"
ENV_DATA_DIR = "TWIN_DATA_DIR"
# When set, `twin db migrate` lets the read-only role log in with this password (Grafana).
ENV_READER_PASSWORD = "TWIN_READER_PASSWORD"

_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-_\[\]:]+:\d{1,5}$")


class InputError(ValueError):
    """Bad configuration or input a user can fix; the message says what and how."""


class ConfigError(InputError):
    """Bad configuration: names the field, the value and what is accepted."""

    def __init__(self, field: str, value: object, accepted: str) -> None:
        super().__init__(f"{field}: {value!r} is not accepted; expected {accepted}")
        self.field = field
        self.value = value
        self.accepted = accepted


def kafka_bootstrap(value: str | None) -> str:
    """Kafka bootstrap servers from ``--kafka`` or ``TWIN_KAFKA_BOOTSTRAP``."""
    value = value or os.environ.get(ENV_KAFKA)
    if not value:
        raise ConfigError(
            f"--kafka / {ENV_KAFKA}",
            value,
            "host:port[,host:port...] of a Kafka broker (scripts/stack up "
            "starts one on 127.0.0.1:19092)",
        )
    for server in value.split(","):
        if not _HOST_PORT.match(server.strip()):
            raise ConfigError(f"--kafka / {ENV_KAFKA}", value, "host:port[,host:port...]")
    return value


def database_url(value: str | None) -> str:
    """PostgreSQL URL from ``--database`` or ``TWIN_DATABASE_URL``."""
    value = value or os.environ.get(ENV_DATABASE)
    accepted = "postgresql://user:password@host:port/dbname"
    if not value:
        raise ConfigError(f"--database / {ENV_DATABASE}", value, accepted)
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg") or not parts.hostname:
        raise ConfigError(f"--database / {ENV_DATABASE}", mask_url(value), accepted)
    return value


def libpq_url(url: str) -> str:
    """The URL psycopg takes (without SQLAlchemy's driver suffix)."""
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)


def mask_url(url: str) -> str:
    """Hide the password of a URL for logs and error messages."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def topic_prefix(value: str | None) -> str:
    """Prefix put before every topic name (``--topic-prefix`` or ``TWIN_TOPIC_PREFIX``)."""
    value = value if value is not None else os.environ.get(ENV_TOPIC_PREFIX, "")
    if value and not re.fullmatch(r"[A-Za-z0-9._\-]+", value):
        raise ConfigError(
            f"--topic-prefix / {ENV_TOPIC_PREFIX}", value, "letters, digits, '.', '_' or '-'"
        )
    return value


def check_keys(
    table: dict,
    where: str,
    accepted: Iterable[str],
    required: Iterable[str] | None = None,
    error: type[InputError] = InputError,
) -> None:
    """Raise ``error`` naming ``where`` and the keys when ``table`` (a TOML table) has keys
    outside ``accepted`` or lacks one of ``required`` (default: all accepted keys)."""
    accepted = list(accepted)
    unknown = sorted(set(table) - set(accepted))
    if unknown:
        raise error(f"{where}: unknown keys {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    missing = [k for k in (accepted if required is None else required) if k not in table]
    if missing:
        raise error(f"{where}: missing keys {', '.join(missing)}")
