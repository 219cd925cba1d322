"""Local service stack for development and CI: Kafka (KRaft), PostgreSQL, TimescaleDB.

Usage: ``scripts/stack up|down|status|env|restart-postgres|kill-kafka|kill-postgres|
kill-timescaledb``

Two PostgreSQL clusters of the system's server: a plain one, and one that preloads
TimescaleDB, built from the vendored source the first time a machine needs it (see
``timescaledb_install``).

Everything listens on 127.0.0.1 only. ``up`` is idempotent: a service whose process is
alive is left alone. ``down`` stops exactly the processes ``up`` recorded in the stack
directory. Connection settings are printed as ``export`` lines for the shell.

Settings (environment): ``TWIN_STACK_DIR`` (default ``$TMPDIR/twin-stack-$UID``),
``TWIN_STACK_KAFKA_PORT`` (19092; the controller takes the next port, the SASL_SSL
listener with SCRAM-SHA-512 the one after), ``TWIN_STACK_PG_PORT`` (15432),
``TWIN_STACK_TSDB_PORT`` (15433), ``TWIN_TIMESCALEDB_SOURCE`` (the TimescaleDB source
archive; default ``../shared/vendor``), ``TWIN_STACK_BUILD_CACHE`` (where built TimescaleDB
is kept; default ``/var/cache/orbital-twin`` as root).
"""

from __future__ import annotations

import base64
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STACK_SRC = REPO / "stack"
STACK_DIR = Path(
    os.environ.get("TWIN_STACK_DIR") or Path(tempfile.gettempdir()) / f"twin-stack-{os.getuid()}"
)
KAFKA_PORT = int(os.environ.get("TWIN_STACK_KAFKA_PORT", "19092"))
KAFKA_SASL_PORT = KAFKA_PORT + 2  # SASL_SSL listener: TLS + SCRAM-SHA-512
KAFKA_SASL_USER = "twin"
KAFKA_SCRAM = "SCRAM-SHA-512"
PG_PORT = int(os.environ.get("TWIN_STACK_PG_PORT", "15432"))
TSDB_PORT = int(os.environ.get("TWIN_STACK_TSDB_PORT", "15433"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orbital-twin"
KAFKA_HEAP = "-Xms256m -Xmx768m"
READY_TIMEOUT_S = 120.0


def log(message: str) -> None:
    """Progress goes to stderr so that stdout carries only the export lines."""
    print(f"stack: {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check, what: str, log_file: Path) -> float:
    """Poll ``check()`` until it returns True; return the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < READY_TIMEOUT_S:
        try:
            if check():
                return time.monotonic() - start
        except Exception:  # any failure means "not ready yet"
            pass
        time.sleep(0.25)
    tail = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else ""
    raise SystemExit(f"stack: {what} not ready after {READY_TIMEOUT_S:.0f} s; log tail:\n{tail}")


def wait_while(busy, within_s: float = 30.0) -> bool:
    """Poll ``busy()`` until it is false; False if it still is after ``within_s``."""
    deadline = time.monotonic() + within_s
    while busy():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


PORTS = {"kafka": KAFKA_PORT, "postgres": PG_PORT, "timescaledb": TSDB_PORT}
# What each service's command line contains: a recorded pid reused by another program
# after a reboot is not mistaken for the service.
SIGNATURES = {"kafka": "kafka.Kafka", "postgres": "postgres", "timescaledb": "postgres"}
# Signal for a prompt, clean stop (SIGINT is PostgreSQL's "fast" shutdown).
STOP_SIGNALS = {"kafka": signal.SIGTERM, "postgres": signal.SIGINT, "timescaledb": signal.SIGINT}


def pid_alive(name: str) -> int | None:
    pid_file = STACK_DIR / f"{name}.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        cmdline = ""
    if SIGNATURES[name] not in cmdline:
        pid_file.unlink()
        return None
    return pid


def ensure_port_free(name: str, port: int) -> None:
    """Refuse to start a service whose port another process already holds."""
    if port_open(port):
        raise SystemExit(
            f"stack: cannot start {name}: 127.0.0.1:{port} is already in use by "
            "a process this stack did not start; stop it or choose another port "
            "(TWIN_STACK_KAFKA_PORT, TWIN_STACK_PG_PORT, TWIN_STACK_TSDB_PORT)"
        )


def spawn(name: str, cmd: list[str], cwd: Path | None = None, user: str | None = None) -> None:
    log_file = STACK_DIR / f"{name}.log"
    out = open(log_file, "ab")  # noqa: SIM115 - handed to the child process
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    (STACK_DIR / f"{name}.pid").write_text(str(proc.pid))


def secret(name: str) -> str:
    """A password generated once per stack directory, kept in a 0600 file."""
    path = STACK_DIR / f"{name}.secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(18))
    return path.read_text().strip()


# ---------------------------------------------------------------- Kafka
def kafka_version() -> str:
    pom = (STACK_SRC / "pom.xml").read_text()
    return pom.split("<kafka.version>")[1].split("<")[0]


def kafka_classpath() -> Path:
    libs = CACHE / f"kafka-libs-{kafka_version()}"
    marker = libs / ".complete"
    if not marker.exists():
        log(f"resolving Kafka {kafka_version()} jars from Maven Central into {libs}")
        shutil.rmtree(libs, ignore_errors=True)
        run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(STACK_SRC / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
            ],
            stdout=sys.stderr,
        )
        marker.touch()
    return libs


def kafka_up() -> None:
    if pid_alive("kafka"):
        log(f"kafka already running on 127.0.0.1:{KAFKA_PORT}")
        if not kafka_has_sasl():
            log(
                "kafka was started without the SASL_SSL listener; to get it: "
                "scripts/stack down && scripts/stack up"
            )
        return
    controller = KAFKA_PORT + 1
    ensure_port_free("kafka", KAFKA_PORT)
    ensure_port_free("kafka controller", controller)
    ensure_port_free("kafka SASL_SSL listener", KAFKA_SASL_PORT)
    libs = kafka_classpath()
    keystore = kafka_keystore()
    keystore_pw = secret("kafka-keystore")
    data = STACK_DIR / "kafka-data"
    props = STACK_DIR / "kafka-server.properties"
    sasl_ssl = "listener.name.sasl_ssl."
    write_private(
        props,
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{controller},"
                f"SASL_SSL://127.0.0.1:{KAFKA_SASL_PORT}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{KAFKA_PORT},"
                f"SASL_SSL://127.0.0.1:{KAFKA_SASL_PORT}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                "SASL_SSL:SASL_SSL",
                # Brokers and the controller talk PLAINTEXT; clients may use either listener.
                "inter.broker.listener.name=PLAINTEXT",
                f"sasl.enabled.mechanisms={KAFKA_SCRAM}",
                f"{sasl_ssl}{KAFKA_SCRAM.lower()}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                f"{sasl_ssl}ssl.keystore.type=PKCS12",
                f"{sasl_ssl}ssl.keystore.location={keystore}",
                f"{sasl_ssl}ssl.keystore.password={keystore_pw}",
                f"{sasl_ssl}ssl.key.password={keystore_pw}",
                f"{sasl_ssl}ssl.enabled.protocols=TLSv1.3,TLSv1.2",
                f"log.dirs={data}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "auto.create.topics.enable=false",
                "group.initial.rebalance.delay.ms=0",
                "",
            ]
        ),
    )
    java = [
        "java",
        *KAFKA_HEAP.split(),
        f"-Dlog4j2.configurationFile={STACK_SRC / 'kafka-log4j2.properties'}",
        "-cp",
        f"{libs}/*",
    ]
    if not (data / "meta.properties").exists():
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        run(
            [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
            stdout=subprocess.DEVNULL,
        )
    start = time.monotonic()
    spawn("kafka", [*java, "kafka.Kafka", str(props)])
    wait_until(kafka_ready, "kafka", STACK_DIR / "kafka.log")
    kafka_scram_user(java)
    log(
        f"kafka ready on 127.0.0.1:{KAFKA_PORT} (SASL_SSL on {KAFKA_SASL_PORT}) "
        f"in {time.monotonic() - start:.1f} s"
    )


def kafka_ready() -> bool:
    """Ready when the broker answers a DescribeCluster request through the Kafka protocol."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=f"127.0.0.1:{KAFKA_PORT}", request_timeout_ms=3000, client_id="twin-stack"
    )
    try:
        cluster = admin.describe_cluster()
        return bool(cluster["brokers"]) and cluster["controller_id"] is not None
    finally:
        admin.close()


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner may read (it holds a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left by an older stack may be world-readable
    with os.fdopen(fd, "w") as f:
        f.write(text)


def kafka_ca_file() -> Path:
    """The PEM certificate of the stack's CA, which clients of the SASL_SSL listener trust."""
    return STACK_DIR / "kafka-tls" / "ca.pem"


def kafka_keystore() -> Path:
    """The broker's PKCS12 keystore, made once per stack directory with the JDK's keytool:
    a self-signed CA (exported as PEM for clients, ``kafka_ca_file()``) signs the broker's
    certificate for IP:127.0.0.1 and localhost, so clients check the hostname."""
    tls = STACK_DIR / "kafka-tls"
    keystore = tls / "broker.p12"
    if keystore.exists() and kafka_ca_file().exists():
        return keystore
    log(f"making a CA and the broker's TLS keystore in {tls}")
    work = STACK_DIR / "kafka-tls.new"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    env = {**os.environ, "TWIN_STACK_KEYSTORE_PASSWORD": secret("kafka-keystore")}
    store = ["-storetype", "PKCS12", "-storepass:env", "TWIN_STACK_KEYSTORE_PASSWORD"]
    ca, broker = (
        ["-keystore", str(work / "ca.p12"), *store],
        ["-keystore", str(work / "broker.p12"), *store],
    )
    san = "SAN=IP:127.0.0.1,DNS:localhost"
    key = ["-keyalg", "RSA", "-keysize", "2048", "-validity", "3650"]
    steps = [
        ["-genkeypair", "-alias", "ca", *key, "-dname", "CN=orbital-twin stack CA",
         "-ext", "BC:critical=ca:true", "-ext", "KU:critical=keyCertSign,cRLSign", *ca],
        ["-exportcert", "-rfc", "-alias", "ca", "-file", str(work / "ca.pem"), *ca],
        ["-genkeypair", "-alias", "broker", *key, "-dname", "CN=127.0.0.1", "-ext", san, *broker],
        ["-certreq", "-alias", "broker", "-file", str(work / "broker.csr"), *broker],
        ["-gencert", "-alias", "ca", "-rfc", "-validity", "3650", "-ext", san,
         "-ext", "KU:critical=digitalSignature,keyEncipherment", "-ext", "EKU=serverAuth",
         "-infile", str(work / "broker.csr"), "-outfile", str(work / "broker.pem"), *ca],
        ["-importcert", "-noprompt", "-alias", "ca", "-file", str(work / "ca.pem"), *broker],
        ["-importcert", "-alias", "broker", "-file", str(work / "broker.pem"), *broker],
    ]  # fmt: skip
    for step in steps:
        run(["keytool", *step], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(tls, ignore_errors=True)
    work.rename(tls)  # complete or absent
    return keystore


def kafka_has_sasl() -> bool:
    """Whether the broker's properties (of its last start) have the SASL_SSL listener."""
    props = STACK_DIR / "kafka-server.properties"
    return props.exists() and f"SASL_SSL://127.0.0.1:{KAFKA_SASL_PORT}" in props.read_text()


def kafka_sasl_ready() -> bool:
    """True when the stack's user logs in on the SASL_SSL listener (TLS checked against the
    stack's CA, hostname included); False when the broker refuses its credentials."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"127.0.0.1:{KAFKA_SASL_PORT}",
            security_protocol="SASL_SSL",
            sasl_mechanism=KAFKA_SCRAM,
            sasl_plain_username=KAFKA_SASL_USER,
            sasl_plain_password=secret("kafka-twin"),
            ssl_cafile=str(kafka_ca_file()),
            ssl_check_hostname=True,
            request_timeout_ms=3000,
            bootstrap_timeout_ms=5000,  # a refused login is only seen as a timeout
            client_id="twin-stack",
        )
    except KafkaError:
        return False
    try:
        return bool(admin.describe_cluster()["brokers"])
    finally:
        admin.close()


def kafka_scram_user(java: list[str]) -> None:
    """Give the stack's user its SCRAM-SHA-512 credential unless it already logs in (a new
    data directory, or one made before the SASL_SSL listener existed): the broker's own
    ConfigCommand over the PLAINTEXT listener, the password in a 0600 file, not argv."""
    if kafka_sasl_ready():
        return
    log(f"creating the SCRAM user {KAFKA_SASL_USER!r}")
    password = secret("kafka-twin")
    config = STACK_DIR / "kafka-scram.properties"
    # From a file the value takes no brackets: ConfigCommand reads "[iterations=N,]password=P".
    write_private(config, f"{KAFKA_SCRAM}=password={password}\n")
    try:
        done = subprocess.run(
            [
                *java,
                "kafka.admin.ConfigCommand",
                "--bootstrap-server",
                f"127.0.0.1:{KAFKA_PORT}",
                "--alter",
                "--entity-type",
                "users",
                "--entity-name",
                KAFKA_SASL_USER,
                "--add-config-file",
                str(config),
            ],
            capture_output=True,
            text=True,
        )
    finally:
        config.unlink()
    if done.returncode != 0:  # its messages may quote the password
        said = (done.stderr or done.stdout).replace(password, "***")[-2000:]
        raise SystemExit(f"stack: could not create the SCRAM user {KAFKA_SASL_USER!r}:\n{said}")
    wait_until(kafka_sasl_ready, "kafka SASL_SSL listener", STACK_DIR / "kafka.log")


# ---------------------------------------------------------------- PostgreSQL
def pg_bindir() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    if not found:
        if os.geteuid() != 0:
            raise SystemExit(
                "stack: PostgreSQL server not found; install it: sudo apt-get install -y postgresql"
            )
        log("installing the Debian PostgreSQL server")
        apt_install("postgresql")
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
        )
    return found[-1].parent


def apt_install(*packages: str) -> None:
    run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
    run(
        ["apt-get", "install", "-y", "-q", *packages],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def pg_user() -> str | None:
    """initdb refuses to run as root: the cluster then belongs to the ``postgres`` user."""
    return "postgres" if os.geteuid() == 0 else None


# One cluster per service: (port, data directory, superuser secret, extra server settings).
# The TimescaleDB cluster preloads the extension; the plain one does not, so on it
# ``CREATE EXTENSION timescaledb`` fails with "must be preloaded", as on a server whose
# package is installed but not configured.
CLUSTERS = {
    "postgres": (PG_PORT, "pg-data", "pg-superuser", []),
    "timescaledb": (
        TSDB_PORT,
        "tsdb-data",
        "tsdb-superuser",
        [
            "shared_preload_libraries=timescaledb",
            "timescaledb.telemetry_level=off",  # nothing outside is reachable
            "max_worker_processes=24",
            "timescaledb.max_background_workers=16",
        ],
    ),
}


def cluster_up(name: str) -> None:
    """Start (initialising on first use) one of ``CLUSTERS``; a running one is left alone."""
    port, data_name, superuser_secret, settings = CLUSTERS[name]
    if pid_alive(name):
        log(f"{name} already running on 127.0.0.1:{port}")
        return
    ensure_port_free(name, port)
    bindir = pg_bindir()
    if name == "timescaledb":
        timescaledb_install(bindir)
    data = STACK_DIR / data_name
    user = pg_user()
    superuser_pw = secret(superuser_secret)
    if not (data / "PG_VERSION").exists():
        pwfile = STACK_DIR / f"{name}-pwfile"
        pwfile.unlink(missing_ok=True)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(superuser_pw + "\n")
        shutil.rmtree(data, ignore_errors=True)  # what a failed initdb may have left
        data.mkdir(mode=0o700)
        if user:
            shutil.chown(pwfile, user)
            shutil.chown(data, user)
        cmd = [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
        if user:
            cmd = ["runuser", "-u", user, "--", *cmd]
        run(cmd, stdout=subprocess.DEVNULL)
        pwfile.unlink()
    base = [
        "listen_addresses=127.0.0.1",
        "unix_socket_directories=",
        "fsync=off",
        "max_connections=100",
        "shared_buffers=256MB",
    ]
    options = [arg for setting in (*base, *settings) for arg in ("-c", setting)]
    start = time.monotonic()
    spawn(name, [str(bindir / "postgres"), "-D", str(data), "-p", str(port), *options], user=user)
    wait_until(
        lambda: pg_query(port, "postgres", superuser_pw, "SELECT 1"),
        name,
        STACK_DIR / f"{name}.log",
    )
    pg_bootstrap(port, superuser_pw)
    log(f"{name} ready on 127.0.0.1:{port} in {time.monotonic() - start:.1f} s")


def pg_query(port: int, user: str, password: str, sql: str, dbname: str = "postgres"):
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=user,
        password=password,
        dbname=dbname,
        sslmode="disable",
        connect_timeout=3,
        autocommit=True,
    ) as conn:
        return conn.execute(sql).fetchall()


def pg_bootstrap(port: int, superuser_pw: str) -> None:
    """Create the ``twin`` owner role and database once (the owner runs migrations; on the
    TimescaleDB cluster it creates the extension, which is a trusted one)."""
    import psycopg
    from psycopg import sql

    owner_pw = secret("pg-twin")
    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="postgres",
        password=superuser_pw,
        dbname="postgres",
        sslmode="disable",
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'twin'").fetchone():
            conn.execute(
                sql.SQL("CREATE ROLE twin LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
                    sql.Literal(owner_pw)
                )
            )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'twin'").fetchone():
            conn.execute("CREATE DATABASE twin OWNER twin")


# ---------------------------------------------------------------- TimescaleDB (native)
# The unmodified TimescaleDB source the project builds (``shared/vendor`` beside the
# checkout, or TWIN_TIMESCALEDB_SOURCE), with its ``.sha256`` file beside it.
TIMESCALEDB_VERSION = "2.28.3"
TIMESCALEDB_SOURCE = Path(
    os.environ.get("TWIN_TIMESCALEDB_SOURCE")
    or REPO.parent / "shared" / "vendor" / f"timescaledb-{TIMESCALEDB_VERSION}.tar.xz"
)
# Built results outlive the checkout and the stack directory: a machine builds once.
BUILD_CACHE = Path(
    os.environ.get("TWIN_STACK_BUILD_CACHE")
    or ("/var/cache/orbital-twin" if os.geteuid() == 0 else CACHE)
)


def timescaledb_installed(bindir: Path) -> bool:
    """True when this PostgreSQL has the extension's library and install script."""
    lib = bindir.parent / "lib" / f"timescaledb-{TIMESCALEDB_VERSION}.so"
    major = bindir.parent.name
    script = Path(f"/usr/share/postgresql/{major}/extension/timescaledb--{TIMESCALEDB_VERSION}.sql")
    return lib.exists() and script.exists()


def timescaledb_install(bindir: Path) -> None:
    """Install TimescaleDB into the system's PostgreSQL unless it is there: from the build
    cache (keyed by the source's checksum and the PostgreSQL major version), else built from
    the vendored source with the recipe of its README, staged, cached, then installed."""
    if timescaledb_installed(bindir):
        return
    if os.geteuid() != 0:
        raise SystemExit(
            f"stack: TimescaleDB {TIMESCALEDB_VERSION} is not installed in "
            f"{bindir.parent}; run `scripts/stack up` once as root to build and install it"
        )
    if not TIMESCALEDB_SOURCE.exists():
        raise SystemExit(
            f"stack: no TimescaleDB source at {TIMESCALEDB_SOURCE}; "
            "set TWIN_TIMESCALEDB_SOURCE to the timescaledb-<version>.tar.xz archive"
        )
    expected = Path(f"{TIMESCALEDB_SOURCE}.sha256").read_text().split()[0]
    digest = subprocess.run(
        ["sha256sum", str(TIMESCALEDB_SOURCE)], check=True, capture_output=True, text=True
    ).stdout.split()[0]
    if digest != expected:
        raise SystemExit(f"stack: {TIMESCALEDB_SOURCE} does not match its .sha256 file")
    major = bindir.parent.name
    cached = BUILD_CACHE / f"timescaledb-{TIMESCALEDB_VERSION}-{digest[:16]}-pg{major}"
    if not (cached / ".complete").exists():
        timescaledb_build(bindir, cached)
    log(f"installing TimescaleDB {TIMESCALEDB_VERSION} from {cached}")
    run(["cp", "-a", f"{cached / 'root'}/.", "/"])
    if not timescaledb_installed(bindir):
        raise SystemExit(f"stack: {cached} did not install TimescaleDB into {bindir.parent}")


def timescaledb_build(bindir: Path, cached: Path) -> None:
    """Build TimescaleDB from source into ``cached/root`` (a DESTDIR install tree)."""
    major = bindir.parent.name
    config = Path(f"/usr/lib/postgresql/{major}/bin/pg_config")  # postgresql-client-<major>
    # pg_config comes with the client; the server's headers only with the -dev package.
    headers = Path(f"/usr/include/postgresql/{major}/server/postgres.h")
    if not (config.exists() and headers.exists()):
        log(f"installing postgresql-server-dev-{major} to build TimescaleDB")
        apt_install(f"postgresql-server-dev-{major}")
    missing = [tool for tool in ("cmake", "make", "cc") if not shutil.which(tool)]
    if missing:
        log(f"installing {', '.join(missing)} to build TimescaleDB")
        apt_install(*(("gcc" if tool == "cc" else tool) for tool in missing))
    start = time.monotonic()
    log(f"building TimescaleDB {TIMESCALEDB_VERSION} for PostgreSQL {major} (once a machine)")
    work = Path(tempfile.mkdtemp(prefix="timescaledb-build-"))
    try:
        run(["tar", "-xJf", str(TIMESCALEDB_SOURCE), "-C", str(work)])
        src = work / f"timescaledb-{TIMESCALEDB_VERSION}"
        staging = work / "root"
        steps = [
            (src, ["./bootstrap", "-DREGRESS_CHECKS=OFF", "-DTAP_CHECKS=OFF",
                   "-DWARNINGS_AS_ERRORS=OFF", "-DCMAKE_BUILD_TYPE=Release",
                   f"-DPG_CONFIG={config}"]),
            (src / "build", ["make", f"-j{os.cpu_count() or 2}"]),
            (src / "build", ["make", "install", f"DESTDIR={staging}"]),
        ]  # fmt: skip
        build_log = STACK_DIR / "timescaledb-build.log"  # the compiler's warnings go here
        with open(build_log, "w") as out:
            for cwd, cmd in steps:
                if subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT).returncode:
                    tail = build_log.read_text(errors="replace")[-3000:]
                    raise SystemExit(f"stack: TimescaleDB build failed: {' '.join(cmd)}\n{tail}")
        shutil.rmtree(cached, ignore_errors=True)
        cached.mkdir(parents=True)
        shutil.move(str(staging), str(cached / "root"))
        (cached / ".complete").write_text(f"built in {time.monotonic() - start:.0f} s\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"TimescaleDB built in {time.monotonic() - start:.0f} s, cached in {cached}")


# ---------------------------------------------------------------- commands
def env_lines() -> list[str]:
    owner_pw = secret("pg-twin")
    secret("pg-ingest")  # made here: the file is exported, not its content
    # The SASL_SSL listener as TWIN_STACK_* (not TWIN_KAFKA_*): plain runs stay PLAINTEXT.
    sasl = [
        f"export TWIN_STACK_KAFKA_SASL_BOOTSTRAP=127.0.0.1:{KAFKA_SASL_PORT}",
        f"export TWIN_STACK_KAFKA_SASL_MECHANISM={KAFKA_SCRAM}",
        f"export TWIN_STACK_KAFKA_SASL_USERNAME={KAFKA_SASL_USER}",
        f"export TWIN_STACK_KAFKA_SASL_PASSWORD_FILE={STACK_DIR / 'kafka-twin.secret'}",
        f"export TWIN_STACK_KAFKA_CAFILE={kafka_ca_file()}",
    ]
    return [
        f"export TWIN_KAFKA_BOOTSTRAP=127.0.0.1:{KAFKA_PORT}",
        *(sasl if kafka_has_sasl() else []),
        f"export TWIN_DATABASE_URL=postgresql://twin:{owner_pw}@127.0.0.1:{PG_PORT}/twin",
        # twin_ingest's password: migrations give the role this login, and ingest logs in
        # with it at TWIN_DATABASE_URL's host and database (never as the owner).
        f"export TWIN_INGEST_PASSWORD_FILE={STACK_DIR / 'pg-ingest.secret'}",
        # The same owner role and password on the cluster that preloads TimescaleDB.
        f"export TWIN_TIMESCALE_URL=postgresql://twin:{owner_pw}@127.0.0.1:{TSDB_PORT}/twin",
    ]


def up() -> None:
    STACK_DIR.mkdir(parents=True, exist_ok=True)
    STACK_DIR.chmod(0o755)  # the postgres user must reach its data directory
    start = time.monotonic()
    kafka_up()
    cluster_up("postgres")
    cluster_up("timescaledb")
    log(f"stack up in {time.monotonic() - start:.1f} s (logs in {STACK_DIR})")
    print("\n".join(env_lines()))


def stop(name: str, sig: signal.Signals | None = None) -> None:
    """Stop one service this stack started, and forget its pid: its clean-stop signal
    (SIGKILL after 30 s), or ``sig`` to its whole process group."""
    pid = pid_alive(name)
    if pid is None:
        return
    os.killpg(pid, sig or STOP_SIGNALS[name])
    if not wait_while(lambda: process_exists(pid)):
        os.killpg(pid, signal.SIGKILL)
    (STACK_DIR / f"{name}.pid").unlink(missing_ok=True)
    if sig is None:
        log(f"{name} stopped (pid {pid})")
    else:
        log(f"{name} killed ({sig.name} to process group {pid})")


def down() -> None:
    for name in ("timescaledb", "postgres", "kafka"):
        stop(name)


def restart_postgres() -> None:
    """Stop PostgreSQL (fast shutdown: clients are cut off) and start it again."""
    stop("postgres")
    cluster_up("postgres")


def crash(name: str) -> None:
    """SIGKILL one service's whole process group, as a crash would (for chaos tests); the
    next ``up`` starts it again, and it recovers from what it left on disk."""
    if pid_alive(name) is None:
        raise SystemExit(f"stack: {name} is not running")
    stop(name, signal.SIGKILL)


def status() -> int:
    missing = 0
    for name, port in PORTS.items():
        pid = pid_alive(name)
        state = f"running, pid {pid}" if pid else "stopped"
        missing += pid is None
        print(f"{name:12} 127.0.0.1:{port:<6} {state}")
    return 1 if missing else 0


def print_env() -> None:
    print("\n".join(env_lines()))


def main(argv: list[str]) -> int:
    commands = {
        "up": up,
        "down": down,
        "status": status,
        "env": print_env,
        "restart-postgres": restart_postgres,
        "kill-kafka": lambda: crash("kafka"),
        "kill-postgres": lambda: crash("postgres"),
        "kill-timescaledb": lambda: crash("timescaledb"),
    }
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: stack {{{'|'.join(commands)}}}", file=sys.stderr)
        return 2
    if argv[0] == "up" and pwd.getpwuid(os.getuid()).pw_name == "postgres":
        print("stack: run as your own user or root, not as postgres", file=sys.stderr)
        return 2
    return commands[argv[0]]() or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
