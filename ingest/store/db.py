"""Database connections, made in one place.

Every connection acts as the role it asks for: its login's own, or ``SET ROLE`` to a
least-privilege role after refusing a superuser login (``ingest.store.roles``).
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine

from twin.core.settings import ENV_ALLOW_SUPERUSER, InputError, allow_superuser, libpq_url, mask_url

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
# TCP keepalives: a server or network gone silent is noticed within about a minute instead of
# the kernel's two hours (libpq ignores them on Unix sockets).
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def connect(
    url: str, autocommit: bool = False, application_name: str = "twin", role: str | None = None
) -> psycopg.Connection:
    """A psycopg connection to ``url`` with the project's session settings.

    ``role``: act as this role (``SET ROLE``) after refusing a superuser login (see
    ``refuse_superuser``); a login that may not act as it is an ``InputError``. Without
    ``role`` the session acts as its login.
    """
    try:
        conn = psycopg.connect(
            libpq_url(url),
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=application_name,
            **KEEPALIVES,
        )
    except psycopg.OperationalError as exc:
        raise psycopg.OperationalError(f"cannot connect to {mask_url(url)}: {exc}") from exc
    if role is None:
        return conn
    try:
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
    """A SQLAlchemy engine for schema work (a short-lived pool: dispose of it when done)."""
    return create_engine(
        "postgresql+psycopg://", creator=lambda: connect(url, application_name="twin-migrate")
    )
