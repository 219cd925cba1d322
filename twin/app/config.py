"""Settings from the command line, the environment and ``twin.toml``, in that order.

A setting given as an option wins; else its ``TWIN_*`` environment variable; else the
``twin.toml`` found in the working directory (or given with ``twin --config FILE``); else the
default. ``twin config show`` prints each effective setting with where it came from, secrets
masked. An unknown table or key, or a value of the wrong type, is a ``ConfigError`` naming
the file, the key, the value and what is accepted.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from twin.core.settings import (
    ENV_DATA_DIR,
    ENV_DATABASE,
    ENV_INGEST_DATABASE,
    ENV_INGEST_PASSWORD,
    ENV_KAFKA,
    ENV_KAFKA_SASL_PASSWORD,
    ENV_READER_PASSWORD,
    ENV_STORE,
    ENV_TOPIC_PREFIX,
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    STORES,
    ConfigError,
    KafkaSecurity,
    kafka_security,
    mask_url,
)

CONFIG_FILE = "twin.toml"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Setting:
    """One setting: its option's ``dest``, environment variable, ``[table] key`` in
    twin.toml, default and type; ``secret`` ones are masked when shown."""

    dest: str
    option: str | None
    env: str
    table: str | None
    key: str | None
    default: object
    kind: type = str
    secret: bool = False
    choices: tuple[str, ...] = ()


SETTINGS = (
    Setting("kafka", "--kafka", ENV_KAFKA, "kafka", "bootstrap", None),
    Setting("topic_prefix", "--topic-prefix", ENV_TOPIC_PREFIX, "kafka", "topic_prefix", ""),
    # Kafka client security (twin.core.settings.kafka_security checks them together); the
    # password only from the environment: TWIN_KAFKA_SASL_PASSWORD or ..._PASSWORD_FILE.
    Setting(
        "kafka_security_protocol",
        None,
        "TWIN_KAFKA_SECURITY_PROTOCOL",
        "kafka",
        "security_protocol",
        "PLAINTEXT",
        choices=SECURITY_PROTOCOLS,
    ),
    Setting(
        "kafka_sasl_mechanism",
        None,
        "TWIN_KAFKA_SASL_MECHANISM",
        "kafka",
        "sasl_mechanism",
        None,
        choices=SASL_MECHANISMS,
    ),
    Setting(
        "kafka_sasl_username", None, "TWIN_KAFKA_SASL_USERNAME", "kafka", "sasl_username", None
    ),
    Setting("kafka_ssl_cafile", None, "TWIN_KAFKA_SSL_CAFILE", "kafka", "ssl_cafile", None),
    Setting("kafka_ssl_certfile", None, "TWIN_KAFKA_SSL_CERTFILE", "kafka", "ssl_certfile", None),
    Setting("kafka_ssl_keyfile", None, "TWIN_KAFKA_SSL_KEYFILE", "kafka", "ssl_keyfile", None),
    Setting("kafka_sasl_password", None, ENV_KAFKA_SASL_PASSWORD, None, None, None, secret=True),
    Setting("database", "--database", ENV_DATABASE, "database", "url", None, secret=True),
    Setting(
        "ingest_database",
        "--ingest-database",
        ENV_INGEST_DATABASE,
        "database",
        "ingest_url",
        None,
        secret=True,
    ),
    Setting("data_dir", "--data-dir", ENV_DATA_DIR, "store", "data_dir", None),
    Setting("store", "--store", ENV_STORE, "database", "store", "auto", choices=STORES),
    Setting("preset", "--preset", "TWIN_PRESET", "run", "preset", "threebody-12"),
    Setting("duration", "--duration", "TWIN_DURATION", "run", "duration", "10m"),
    Setting("step", "--step", "TWIN_STEP", "run", "step", "1s"),
    Setting("speed", "--speed", "TWIN_SPEED", "run", "speed", "1"),
    Setting("seed", "--seed", "TWIN_SEED", "run", "seed", 0, kind=int),
    Setting("rules", "--rules", "TWIN_RULES", "rules", "file", None),
    Setting(
        "log_level", "--log-level", "TWIN_LOG_LEVEL", "log", "level", "INFO", choices=LOG_LEVELS
    ),
    Setting(
        "log_format",
        "--log-format",
        "TWIN_LOG_FORMAT",
        "log",
        "format",
        "text",
        choices=LOG_FORMATS,
    ),
    Setting("reader_password", None, ENV_READER_PASSWORD, None, None, None, secret=True),
    Setting("ingest_password", None, ENV_INGEST_PASSWORD, None, None, None, secret=True),
)
_BY_DEST = {s.dest: s for s in SETTINGS}


def env_kafka_security(env: Mapping[str, str]) -> KafkaSecurity:
    """The Kafka security settings of ``env`` alone (``TWIN_KAFKA_SECURITY_PROTOCOL``...),
    checked together, for a program with no command line or twin.toml of its own."""
    values = {s.dest: env.get(s.env) for s in SETTINGS if s.dest.startswith("kafka_")}
    return kafka_security(values, env)


def read_file(path: str | None) -> tuple[dict, Path | None]:
    """The settings table of ``path``, or of ./twin.toml when present; ``({}, None)`` if none."""
    if path is None:
        found = Path(CONFIG_FILE)
        if not found.is_file():
            return {}, None
        path = str(found)
    try:
        with open(path, "rb") as f:
            body = tomllib.load(f)
    except OSError as exc:
        raise ConfigError("--config", path, f"a readable TOML file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", path, f"valid TOML in UTF-8 ({exc})") from None
    tables = {s.table: set() for s in SETTINGS if s.table}
    for s in SETTINGS:
        if s.table:
            tables[s.table].add(s.key)
    values = {}
    for table, entries in body.items():
        if table not in tables or not isinstance(entries, dict):
            raise ConfigError(f"{path}: [{table}]", entries, "tables " + ", ".join(tables))
        for key, value in entries.items():
            if key not in tables[table]:
                raise ConfigError(
                    f"{path}: [{table}] {key}", value, "keys " + ", ".join(sorted(tables[table]))
                )
            setting = next(s for s in SETTINGS if (s.table, s.key) == (table, key))
            values[setting.dest] = _typed(setting, value, f"{path}: [{table}] {key}")
    return values, Path(path)


def _typed(setting: Setting, value: object, where: str) -> object:
    if setting.kind is int:
        try:
            if isinstance(value, (bool, float)):
                raise ValueError
            value = int(value)
        except ValueError:
            raise ConfigError(where, value, "an integer") from None
    elif not isinstance(value, str):
        raise ConfigError(where, value, "a string")
    if setting.choices and value not in setting.choices:
        raise ConfigError(where, value, ", ".join(setting.choices))
    return value


def add_setting_option(parser, dest: str, help: str, show_default: bool = True) -> None:
    """Declare on ``parser`` (or an argument group) the option of the setting ``dest``, with
    the default None, so that ``resolve`` tells an option given from one left out and fills
    it from the environment, twin.toml or the setting's default. That default, when there is
    one, ends the help as "(default X)" unless ``show_default`` is false."""
    setting = _BY_DEST[dest]
    if setting.option is None:
        raise ValueError(f"setting {dest} has no option: environment or twin.toml only")
    extra: dict[str, object] = {}
    if setting.choices:
        extra["choices"] = setting.choices
    if setting.kind is int:
        extra["type"] = int
    if show_default and setting.default not in (None, ""):
        help = f"{help} (default {setting.default})"
    parser.add_argument(setting.option, dest=dest, default=None, help=help, **extra)


def resolve(args: argparse.Namespace, file_values: dict, every: bool = False) -> dict[str, str]:
    """Fill the settings ``args`` has options for (``every``: all settings) but lacks from
    the environment, the file, then the defaults; returns each setting's source ("option",
    "environment", "twin.toml", "default"). A settings option left out is None (see
    ``add_setting_option``); an option that is not a setting has a ``dest`` of its own."""
    sources = {}
    for s in SETTINGS:
        given = getattr(args, s.dest, None)
        if given is not None:
            sources[s.dest] = "option"
            continue
        if os.environ.get(s.env):
            value, source = _typed(s, os.environ[s.env], s.env), "environment"
        elif s.dest in file_values:
            value, source = file_values[s.dest], CONFIG_FILE
        else:
            value, source = s.default, "default"
        if every or s.dest in vars(args):
            setattr(args, s.dest, value)
        sources[s.dest] = source
    return sources


def shown(setting: Setting, value: object) -> str:
    """A value for display: URLs without their password, secrets as ***."""
    if value is None or value == "":
        return "(not set)"
    if setting.secret:
        return mask_url(str(value)) if "://" in str(value) else "***"
    return str(value)


def effective(args: argparse.Namespace, sources: dict[str, str]) -> list[tuple[str, str, str]]:
    """(setting, shown value, source) of every setting."""
    rows = []
    for s in SETTINGS:
        value = getattr(args, s.dest, None)
        source = sources.get(s.dest, "default")
        if s.option is None and s.table is None:  # a password: NAME, or a NAME_FILE
            value = os.environ.get(s.env) or os.environ.get(f"{s.env}_FILE")
            source = "environment" if value else source
        if s.dest == "data_dir" and value is None:  # the directory the embedded store uses
            from ingest.store.embedded import default_data_dir

            value, source = str(default_data_dir()), "default (when no --database is given)"
        rows.append((s.option or s.env, shown(s, value), source))
    return rows
