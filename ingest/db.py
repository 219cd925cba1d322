"""Database connections, made in one place.

Server-side prepared statements are off: the PGlite TimescaleDB server runs every client in
one backend session, where a second connection's automatically prepared ``_pg3_0`` collides
with the first one's. Our statements are few and batch-sized, so nothing is lost elsewhere.

PGlite also serves one connection at a time and frees its slot a moment after a client has
gone, so a connection refused at once is retried for a short while before the error stands.
Its one session keeps a ``SET ROLE`` across clients, so every connection starts with the
role it asks for: ``RESET ROLE`` (the login's own), or ``SET ROLE`` to a least-privilege role
after refusing a superuser login (``ingest.roles``).
"""

from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from twin.settings import ENV_ALLOW_SUPERUSER, InputError, allow_superuser, libpq_url, mask_url

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
CONNECT_RETRY_S = 3.0


def connect(
    url: str, autocommit: bool = False, application_name: str = "twin", role: str | None = None
) -> psycopg.Connection:
    """A psycopg connection to ``url`` with the project's session settings.

    ``role``: act as this role (``SET ROLE``) after refusing a superuser login (see
    ``refuse_superuser``); a login that may not act as it is an ``InputError``. Without
    ``role`` the session acts as its login.
    """
    deadline = time.monotonic() + CONNECT_RETRY_S
    while True:
        try:
            conn = psycopg.connect(
                libpq_url(url),
                autocommit=autocommit,
                prepare_threshold=None,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name=application_name,
            )
            break
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise psycopg.OperationalError(f"cannot connect to {mask_url(url)}: {exc}") from exc
            time.sleep(0.1)
    try:
        if role is None:
            conn.execute("RESET ROLE")
        else:
            refuse_superuser(conn, application_name, f"log in as {role}")
            _act_as(conn, role, url)
        if not autocommit:
            conn.commit()
    except BaseException:
        conn.close()
        raise
    return conn


def _act_as(conn: psycopg.Connection, role: str, url: str) -> None:
    """``SET ROLE role``; a login that may not is told what grants it."""
    try:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.InvalidParameterValue) as exc:
        login = conn.info.user
        raise InputError(
            f"{mask_url(url)}: the login {login!r} may not act as {role} "
            f"({str(exc).splitlines()[0]}); run `twin db migrate` as the schema owner (it "
            f"creates {role} and lets the owner act as it), or log in as {role}"
        ) from None


def refuse_superuser(
    conn: psycopg.Connection, component: str, instead: str, warn_only: bool = False
) -> str:
    """Refuse a session whose login is a superuser (it could alter or drop any history, and
    ``RESET ROLE`` undoes a ``SET ROLE``), naming ``instead``, what to do; with
    ``TWIN_ALLOW_SUPERUSER=1`` (or ``warn_only``) warn instead. Returns the login's name."""
    login, superuser = conn.execute(
        "SELECT session_user, rolsuper FROM pg_roles WHERE rolname = session_user"
    ).fetchone()
    if superuser:
        if not (warn_only or allow_superuser()):
            raise InputError(
                f"{component}: refusing to work as {login!r}, a database superuser, which may "
                f"alter or drop any history; {instead} (or set {ENV_ALLOW_SUPERUSER}=1 to run "
                "anyway, e.g. on a single-user test server)"
            )
        log.warning(
            "%s works as %r, a database SUPERUSER: nothing stops it altering or dropping "
            "history; %s",
            component,
            login,
            instead,
        )
    return login


def engine(url: str) -> Engine:
    """A SQLAlchemy engine for schema work; no pool (one connection at a time on PGlite)."""
    return create_engine(
        "postgresql+psycopg://",
        poolclass=NullPool,
        creator=lambda: connect(url, application_name="twin-migrate"),
    )
