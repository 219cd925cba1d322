"""An embedded PostgreSQL: a real server the program initialises, starts and stops itself.

Server binaries: the system's (``/usr/lib/postgresql/<version>/bin``, or ``pg_ctl`` on the
``PATH``) when present — they get the distribution's security updates — otherwise the ones
the ``pgserver`` wheel ships (PostgreSQL 16), so a machine with Python alone works too.

The cluster lives in ``<data dir>/postgres`` (default: the user's data directory,
``platformdirs.user_data_dir("orbital-twin")``). The server listens on a Unix socket in
``<data dir>/run`` only — no TCP port, nothing to clash with or reach from outside — and
trusts its own user there. PostgreSQL refuses to run as root; under root the cluster belongs
to the ``postgres`` user (or ``nobody``) and the default data directory is the site one,
which that user can reach. ``synchronous_commit`` is off: a crash may lose the last
transactions, never half of one, and ingest then reads them again from its stored offsets.
Where the server binaries have the TimescaleDB extension, the cluster preloads it, so a new
store takes the TimescaleDB path (``ingest.store.migrate.choose_store``).

The cluster's only password-less login is its bootstrap superuser ``twin``, which owns the
schema (migrations, fleet registration, the report). Ingest logs in as ``twin_ingest``
(``login_url``), trusted on the socket like ``twin``: the twin's least-privilege roles hold
in the embedded store too.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from twin.core.settings import ConfigError, InputError

log = logging.getLogger(__name__)

APP = "orbital-twin"
DATABASE = "twin"
SOCKET_PORT = 5432  # names the socket file only: no TCP port is opened
MAX_SOCKET_PATH = 100  # Unix socket paths are limited to 107 bytes


def default_data_dir() -> Path:
    """Where the embedded store lives unless ``--data-dir`` / ``TWIN_DATA_DIR`` says."""
    import platformdirs

    if os.geteuid() == 0:
        return Path(platformdirs.site_data_dir(APP))
    return Path(platformdirs.user_data_dir(APP))


def server_bindir() -> Path:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres``: the system's, else pgserver's."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).parent / "initdb").exists():
        return Path(on_path).parent
    try:
        import pgserver
    except ImportError:
        raise InputError(
            "no PostgreSQL server binaries: install the system's (apt-get install postgresql) "
            "or the pgserver wheel (pip install pgserver)"
        ) from None
    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def has_timescaledb(bindir: Path) -> bool:
    """True when the server in ``bindir`` can load TimescaleDB (its library is installed)."""
    lib = bindir.parent / "lib"
    return any((d / "timescaledb.so").exists() for d in (lib, lib / "postgresql"))


def _server_user() -> str | None:
    """The unprivileged user the server runs as when we are root (None otherwise)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise InputError("running as root with neither a 'postgres' nor a 'nobody' user")


class LocalPostgres:
    """Start (initialising on first use) and stop a PostgreSQL cluster in ``data_dir``;
    a server already running there is reused and left running."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.cluster = self.data_dir / "postgres"
        self.socket_dir = self.data_dir / "run"
        self._started = False
        self._user = _server_user()
        self._bindir: Path | None = None

    @property
    def url(self) -> str:
        """The libpq URL of the store's database (Unix socket)."""
        return f"postgresql://{DATABASE}@/{DATABASE}?host={self.socket_dir}&port={SOCKET_PORT}"

    def login_url(self, role: str) -> str:
        """The URL of ``role`` (made by the migrations), given a login on this private server:
        the socket trusts its users, as it trusts the owner."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))
        return self.url.replace(f"//{DATABASE}@", f"//{role}@", 1)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self._bindir / args[0]), *args[1:]]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def _prepare(self) -> None:
        """Make the directories; a data directory we may not write is a clear error."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.data_dir):
                pass
        except OSError as exc:
            raise ConfigError(
                "--data-dir / TWIN_DATA_DIR",
                str(self.data_dir),
                f"a directory this user can write ({exc.strerror})",
            ) from None
        if len(str(self.socket_dir)) > MAX_SOCKET_PATH:
            self.socket_dir = Path(tempfile.mkdtemp(prefix="twin-pg-"))
        for path in (self.cluster, self.socket_dir):
            path.mkdir(mode=0o700, exist_ok=True)
            if self._user:
                shutil.chown(path, self._user)
        if self._user:  # the server's user must reach its directories below ours
            os.chmod(self.data_dir, 0o755)
            reach = ["runuser", "-u", self._user, "--", "test", "-w", str(self.cluster)]
            if subprocess.run(reach, capture_output=True).returncode != 0:
                raise ConfigError(
                    "--data-dir / TWIN_DATA_DIR",
                    str(self.data_dir),
                    f"a directory the server's user {self._user!r} can reach (PostgreSQL "
                    "does not run as root; every parent directory must be searchable)",
                )

    def start(self) -> str:
        """Initialise the cluster if new, start it if not running; return the URL."""
        self._bindir = server_bindir()
        self._prepare()
        if not (self.cluster / "PG_VERSION").exists():
            log.info("initialising an embedded PostgreSQL in %s", self.cluster)
            done = self._run(
                "initdb", "-D", str(self.cluster), "-U", DATABASE, "--auth=trust",
                "-E", "UTF8", "--locale=C.UTF-8", check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise InputError(f"initdb in {self.cluster} failed: {done.stderr.strip()}")
        if self._run("pg_ctl", "status", "-D", str(self.cluster), check=False).returncode != 0:
            options = (
                f"-c listen_addresses='' -k {self.socket_dir} -p {SOCKET_PORT} "
                "-c synchronous_commit=off -c max_connections=20"
            )
            if has_timescaledb(self._bindir):
                options += (
                    " -c shared_preload_libraries=timescaledb"
                    " -c timescaledb.telemetry_level=off"  # it would call out to the internet
                )
            done = self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.cluster),
                "-l", str(self.cluster / "server.log"), "-o", options, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise InputError(
                    f"the embedded PostgreSQL in {self.cluster} did not start: "
                    f"{done.stderr.strip() or done.stdout.strip()} (see its server.log)"
                )
            self._started = True
        self._create_database()
        return self.url

    def _create_database(self) -> None:
        import psycopg
        from psycopg import sql

        admin = self.url.replace(f"/{DATABASE}?", "/postgres?")
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    def stop(self, running: bool = False) -> bool:
        """Stop the server if this object started it (with ``running``: if it runs at all,
        whoever started it); returns whether it was stopped."""
        if running and (self.cluster / "postmaster.pid").exists():
            self._bindir = self._bindir or server_bindir()
            self._started = True
        if not self._started:
            return False
        self._run("pg_ctl", "stop", "-D", str(self.cluster), "-m", "fast", "-w", check=False)
        self._started = False
        return True

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
