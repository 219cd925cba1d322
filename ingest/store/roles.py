"""Least-privilege roles and the logins the components use.

- The **schema owner** (the role that runs ``twin db migrate``; the stack's ``twin``, never a
  superuser there) owns every table: it migrates, registers fleets and stores scores.
- ``twin_ingest`` inserts new rows, its offsets, rule state and anomalies; it cannot update,
  delete or truncate history, change the schema, or read the fault truth and scores.
- ``twin_reader`` reads (Grafana, auditors).

Migrations create both ``NOLOGIN``; ``twin db migrate`` gives one a login when its password
is configured (``TWIN_INGEST_PASSWORD`` / ``TWIN_READER_PASSWORD``, or ``..._FILE`` naming a
file outside the repository). Ingest — ``twin ingest``, the ingest side of ``twin score`` and
of ``twin run``'s local pipeline, ``twin rules check`` — always acts as ``twin_ingest``:

1. logged in as ``twin_ingest``: ``TWIN_INGEST_DATABASE_URL`` (``--ingest-database``), else
   ``TWIN_INGEST_PASSWORD`` with the ``--database`` URL's host, port and database;
2. otherwise (the fallback for stores set up before this login existed) logged in as the
   ``--database`` role, which migration version 4 made a member of ``twin_ingest``, switched
   with ``SET ROLE``: every statement has ``twin_ingest``'s privileges, but the session could
   ``RESET ROLE``, so this is logged as a warning.

Whatever the way, a superuser login is refused (``ingest.store.db.refuse_superuser``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from psycopg import sql

from ingest.store.db import connect
from twin.core.settings import (
    ENV_DATABASE,
    ENV_INGEST_DATABASE,
    ENV_INGEST_PASSWORD,
    ENV_READER_PASSWORD,
    INGEST_ROLE,
    READER_ROLE,
    ConfigError,
    database_url,
    env_secret,
    mask_url,
)

log = logging.getLogger(__name__)

PASSWORD_VARIABLES = {INGEST_ROLE: ENV_INGEST_PASSWORD, READER_ROLE: ENV_READER_PASSWORD}


def configured_logins(env: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """``role -> (password, where it came from)`` for each role whose password is set."""
    found = {}
    for role, variable in PASSWORD_VARIABLES.items():
        secret = env_secret(variable, env)
        if secret is not None:
            found[role] = secret
    return found


def allow_login(database_url: str, role: str, password: str) -> None:
    """Let ``role`` log in with ``password`` (run as the schema owner, after migrating)."""
    with connect(database_url, autocommit=True, application_name="twin-migrate") as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )


def ingest_url(
    ingest: str | None, database: str | None, env: Mapping[str, str] | None = None
) -> str:
    """The URL ingest connects with (it then acts as ``twin_ingest``; module docstring):
    ``ingest`` (``--ingest-database`` / ``TWIN_INGEST_DATABASE_URL``) when given, else
    ``database`` (``--database`` / ``TWIN_DATABASE_URL``) logged in as ``twin_ingest`` when its
    password is configured, else ``database`` itself (the ``SET ROLE`` fallback, warned)."""
    if ingest:
        url = database_url(ingest, "--ingest-database", ENV_INGEST_DATABASE)
        if database and _database_name(database) != _database_name(url):
            raise ConfigError(
                f"--ingest-database / {ENV_INGEST_DATABASE}",
                mask_url(url),
                f"the database of --database / {ENV_DATABASE} "
                f"({_database_name(database)!r}), or only one of the two",
            )
        return url
    url = database_url(database)
    secret = env_secret(ENV_INGEST_PASSWORD, env)
    if secret is not None:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        login = f"{INGEST_ROLE}:{quote(secret[0], safe='')}@{host}"
        log.debug("ingest logs in as %s (password from %s)", INGEST_ROLE, secret[1])
        return urlunsplit(parts._replace(netloc=login))
    log.warning(
        "ingest logs in as %r and acts as %s through SET ROLE, which the session could undo; "
        "give %s its own login: set %s (or %s_FILE) for `twin db migrate` and for ingest",
        urlsplit(url).username,
        INGEST_ROLE,
        INGEST_ROLE,
        ENV_INGEST_PASSWORD,
        ENV_INGEST_PASSWORD,
    )
    return url


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")
