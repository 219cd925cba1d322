"""Connection settings from the command line or the environment, validated at the edge."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from twin.core.errors import ConfigError, InputError

ENV_KAFKA = "TWIN_KAFKA_BOOTSTRAP"
ENV_DATABASE = "TWIN_DATABASE_URL"
ENV_TIMESCALE = "TWIN_TIMESCALE_URL"
ENV_TOPIC_PREFIX = "TWIN_TOPIC_PREFIX"
# The Kafka clients' SASL password (or, by FILE_SUFFIX, a file holding it); never in twin.toml.
ENV_KAFKA_SASL_PASSWORD = "TWIN_KAFKA_SASL_PASSWORD"
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")
ENV_DATA_DIR = "TWIN_DATA_DIR"
# The database roles the services act as: ingest (append only) and the read-only reader
# (Grafana's datasource, auditors).
INGEST_ROLE = "twin_ingest"
READER_ROLE = "twin_reader"
# When set, `twin db migrate` lets the read-only role log in with this password (Grafana).
ENV_READER_PASSWORD = "TWIN_READER_PASSWORD"
# Ingest's own login: a full URL, or the password `twin db migrate` gives `twin_ingest` (and
# ingest then logs in with at the --database's host and database).
ENV_INGEST_DATABASE = "TWIN_INGEST_DATABASE_URL"
ENV_INGEST_PASSWORD = "TWIN_INGEST_PASSWORD"
# "1": let a component that refuses superuser logins run as one anyway, with a warning.
ENV_ALLOW_SUPERUSER = "TWIN_ALLOW_SUPERUSER"
# Which store a new database gets (ingest.store.migrate.choose_store): auto-detected, or asked for.
ENV_STORE = "TWIN_STORE"
STORES = ("auto", "timescaledb", "postgresql")
FILE_SUFFIX = "_FILE"  # NAME_FILE: the secret NAME read from that file (Docker's convention)

PROJECT_DIR = Path(__file__).resolve().parents[2]  # this checkout (or site-packages)
# Data shipped in the package: stations, targets, coastlines, bundled fault scenarios.
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"


def shipped_dir(name: str) -> Path:
    """A top-level directory of the project that ships in the wheel (``grafana``, ``schemas``):
    the installed copy (``twin/bundled/<name>``) when running from a wheel, else the checkout's."""
    bundled = PACKAGE_DATA.parent / "bundled" / name
    return bundled if bundled.is_dir() else PROJECT_DIR / name


_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-_\[\]:]+:\d{1,5}$")


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


def database_url(value: str | None, option: str = "--database", env: str = ENV_DATABASE) -> str:
    """PostgreSQL URL from ``--database`` or ``TWIN_DATABASE_URL`` (or another ``option``
    and its ``env`` variable)."""
    value = value or os.environ.get(env)
    accepted = "postgresql://user:password@host:port/dbname"
    if not value:
        raise ConfigError(f"{option} / {env}", value, accepted)
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg") or not parts.hostname:
        raise ConfigError(f"{option} / {env}", mask_url(value), accepted)
    return value


def env_secret(name: str, env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """A secret from the environment: ``(value, where)`` from the variable ``name``, or from
    the file named by ``name_FILE`` (its first line); None when neither is set.

    A file must be readable and lie outside this checkout (secrets are never committed).
    """
    env = os.environ if env is None else env
    path_var = name + FILE_SUFFIX
    if env.get(name) and env.get(path_var):
        raise ConfigError(f"{name} / {path_var}", "both set", "one of the two")
    if env.get(name):
        return env[name], name
    if not env.get(path_var):
        return None
    path = Path(env[path_var]).expanduser().resolve()
    if path.is_relative_to(PROJECT_DIR):
        raise ConfigError(path_var, str(path), f"a file outside the repository {PROJECT_DIR}")
    try:
        value = path.read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "empty"
        raise ConfigError(
            path_var, str(path), f"a readable file holding the secret ({reason})"
        ) from None
    if not value:
        raise ConfigError(path_var, str(path), "a file whose first line is the secret")
    return value, f"{path_var} ({path})"


def allow_superuser(env: Mapping[str, str] | None = None) -> bool:
    """``TWIN_ALLOW_SUPERUSER=1``: components that refuse superuser logins only warn."""
    env = os.environ if env is None else env
    value = env.get(ENV_ALLOW_SUPERUSER, "")
    if value not in ("", "0", "1"):
        raise ConfigError(ENV_ALLOW_SUPERUSER, value, "1 (allow, with a warning) or 0 / unset")
    return value == "1"


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client protects its connections: TLS (``SSL``, ``SASL_SSL``), the
    broker's certificate checked against ``ssl_cafile`` (else the system's CAs) and its
    hostname, optionally with a client certificate; SASL login (``SASL_*``)."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


PLAINTEXT = KafkaSecurity()


def kafka_field(key: str) -> str:
    """How a ``[kafka]`` security setting is named in messages: variable and twin.toml key."""
    return f"TWIN_KAFKA_{key.upper()} / [kafka] {key}"


def kafka_security(
    values: Mapping[str, object], env: Mapping[str, str] | None = None
) -> KafkaSecurity:
    """The Kafka security settings among ``values`` (the resolved ``kafka_*`` settings, e.g.
    ``vars(args)``), checked together; the SASL password from ``TWIN_KAFKA_SASL_PASSWORD``
    or the file ``TWIN_KAFKA_SASL_PASSWORD_FILE`` names (``env_secret``).

    Raises ``ConfigError`` naming the setting, the value and what is accepted: an unknown
    protocol or mechanism; SASL without its mechanism, user or password; a SASL or TLS
    setting the protocol would silently ignore; an unreadable certificate file.
    """
    protocol = values.get("kafka_security_protocol") or "PLAINTEXT"
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigError(kafka_field("security_protocol"), protocol, ", ".join(SECURITY_PROTOCOLS))
    security = KafkaSecurity(protocol)
    password = env_secret(ENV_KAFKA_SASL_PASSWORD, env)
    given = {key: str(value) for key, value in values.items() if value}
    sasl = {key: given.get(f"kafka_{key}") for key in ("sasl_mechanism", "sasl_username")}
    tls = {key: given.get(f"kafka_{key}") for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")}
    ignored = [(kafka_field(k), v, "SASL") for k, v in sasl.items() if not security.sasl and v]
    ignored += [(kafka_field(k), v, "TLS") for k, v in tls.items() if not security.tls and v]
    if password is not None and not security.sasl:
        ignored.append((password[1], "***", "SASL"))
    if ignored:
        where, value, kind = ignored[0]
        raise ConfigError(
            where,
            value,
            f"no {kind} setting with security_protocol {protocol} (it would be ignored): set "
            f"{kafka_field('security_protocol')} to "
            + ("SASL_SSL or SASL_PLAINTEXT" if kind == "SASL" else "SSL or SASL_SSL"),
        )
    for key, path in tls.items():
        if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
            raise ConfigError(kafka_field(key), path, "a readable PEM file")
    if tls["ssl_keyfile"] and not tls["ssl_certfile"]:
        raise ConfigError(
            kafka_field("ssl_certfile"), None, "the client certificate to go with ssl_keyfile"
        )
    if not security.sasl:
        return KafkaSecurity(protocol, **tls)
    if sasl["sasl_mechanism"] not in SASL_MECHANISMS:
        raise ConfigError(
            kafka_field("sasl_mechanism"), sasl["sasl_mechanism"], ", ".join(SASL_MECHANISMS)
        )
    if not sasl["sasl_username"]:
        raise ConfigError(kafka_field("sasl_username"), None, f"the user name for {protocol}")
    if password is None:
        raise ConfigError(
            f"{ENV_KAFKA_SASL_PASSWORD} / {ENV_KAFKA_SASL_PASSWORD}{FILE_SUFFIX}",
            None,
            f"the password for {protocol}, or a file holding it (outside the repository)",
        )
    return KafkaSecurity(protocol, **sasl, sasl_password=password[0], **tls)


def kafka_security_env(security: KafkaSecurity) -> dict[str, str]:
    """``TWIN_KAFKA_*`` variables that give a child ``twin`` process ``security`` (but the
    password, which it inherits from this process's environment)."""
    values = {
        "security_protocol": security.protocol,
        "sasl_mechanism": security.sasl_mechanism,
        "sasl_username": security.sasl_username,
        "ssl_cafile": security.ssl_cafile,
        "ssl_certfile": security.ssl_certfile,
        "ssl_keyfile": security.ssl_keyfile,
    }
    return {f"TWIN_KAFKA_{key.upper()}": value for key, value in values.items() if value}


def libpq_url(url: str) -> str:
    """The URL psycopg takes (without SQLAlchemy's driver suffix)."""
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", url)


def mask_url(url: str) -> str:
    """Hide the passwords of a URL for logs and error messages: the one in its user part
    (up to the *last* ``@`` of the authority, so an unencoded ``@`` in it is hidden too) and
    any query parameter whose name holds ``password`` (libpq's ``?password=``)."""
    scheme, sep, rest = url.partition("://")
    if sep:
        end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        authority, tail = rest[:end], rest[end:]
        if "@" in authority:
            userinfo, host = authority.rsplit("@", 1)
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":***"
            authority = f"{userinfo}@{host}"
        url = f"{scheme}{sep}{authority}{tail}"
    return re.sub(r"(?i)([?&][^=&]*password[^=&]*=)[^&]*", r"\1***", url)


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
