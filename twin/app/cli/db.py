"""``twin db``: database administration. ``migrate`` applies the pending schema migrations (or
with ``--status`` lists them) and changes a TimescaleDB store's policies; ``fleet`` registers a
fleet's satellites and the ground stations, which ingest then accepts; ``retain`` drops a plain
PostgreSQL store's old telemetry partitions."""

from __future__ import annotations

import argparse
from dataclasses import fields

from twin.app.cli.options import database_option, embedded_store, fleet_options, store_option
from twin.app.output import say
from twin.core.clock import NS_PER_S, parse_duration_ns, parse_start
from twin.core.settings import InputError, database_url


def add_parsers(sub) -> None:
    from ingest.store.migrate import StoreSettings
    from twin.app import config

    db = sub.add_parser("db", help="database administration").add_subparsers(
        dest="db_command", required=True
    )
    mig = db.add_parser("migrate", help="apply pending schema migrations (idempotent)")
    database_option(mig)
    store_option(mig)
    mig.add_argument(
        "--status",
        action="store_true",
        help="list the migrations, applied (when) or pending, and change nothing (exit 1 "
        "when any is pending)",
    )
    mig.add_argument(
        "--sql",
        action="store_true",
        help="print the SQL the pending migrations would run on this database (with the "
        "intervals given), and change nothing",
    )
    for f in fields(StoreSettings):
        mig.add_argument(
            f"--{f.name.replace('_', '-')}",
            help=f"interval like 30d or '30 days' (new store: {f.default!r}); on an existing "
            "TimescaleDB store, changes its policy",
        )
    mig.set_defaults(func=cmd_db_migrate)
    retain = db.add_parser(
        "retain", help="plain PostgreSQL: drop the daily telemetry partitions older than N"
    )
    database_option(retain)
    retain.add_argument(
        "--older-than", required=True, help="whole days or weeks, e.g. 90d, 12w, '90 days'"
    )
    retain.set_defaults(func=cmd_db_retain)
    reg = db.add_parser("fleet", help="register a fleet's satellites (ingest accepts only these)")
    database_option(reg)
    fleet_options(reg)
    reg.add_argument("--start", default="now", help="element epoch: 'now' or ISO-8601 UTC")
    config.add_setting_option(
        reg, "step", help="expected seconds between orbit samples", show_default=False
    )
    reg.add_argument("--stations", help="ground stations TOML (default: the bundled list)")
    reg.set_defaults(func=cmd_db_fleet)
    for name, help_text, func in (
        ("url", "start the embedded store if it is not running, and print its URL (it keeps "
         "running: twin db stop)", cmd_db_url),
        ("stop", "stop the embedded store", cmd_db_stop),
        ("shell", "psql on the store (the embedded one unless --database is given)", cmd_db_shell),
    ):  # fmt: skip
        command = db.add_parser(name, help=help_text)
        if name == "shell":
            database_option(command)
        config.add_setting_option(command, "data_dir", help="the embedded store's directory")
        command.set_defaults(func=func)


def cmd_db_fleet(args: argparse.Namespace) -> int:
    from ingest.store.dimensions import register_fleet, register_stations
    from twin.app.cli.run import fleet_name, load_fleet
    from twin.payload.ground import load_stations

    url = database_url(args.database)
    try:
        start_ns = parse_start(args.start)
        step_ns = parse_duration_ns("--step", args.step)
        fleet, hw, shells = load_fleet(args, start_ns)
        stations = load_stations(args.stations)
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(str(exc)) from None
    name = fleet_name(args)
    written = register_fleet(url, fleet, hw, name, shells, step_ns / NS_PER_S)
    stored = register_stations(url, stations)
    say(f"twin db fleet: {written} satellites registered as {name!r}, {stored} ground stations")
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from ingest.store.db import connect, refuse_superuser
    from ingest.store.migrate import StoreSettings, migrate, pending_sql, store_name
    from ingest.store.policies import change_policies, interval
    from ingest.store.roles import configured_logins

    url = database_url(args.database)
    if args.status:
        return _migration_status(url)
    given = {
        f.name: interval(f"--{f.name.replace('_', '-')}", getattr(args, f.name))
        for f in fields(StoreSettings)
        if getattr(args, f.name) is not None
    }
    settings = StoreSettings(**given)
    if args.sql:
        try:
            print(pending_sql(url, settings, store=args.store), end="")
        except OperationalError as exc:
            raise InputError(f"--database: {exc.orig}".splitlines()[0]) from None
        return 0
    logins = configured_logins()
    try:
        with connect(url, autocommit=True, application_name="twin-migrate") as conn:
            # The owner needs no superuser; a superuser owner (a Docker image's default
            # user) still migrates, warned: the components that run all day refuse one.
            refuse_superuser(
                conn, "twin db migrate", "migrate as a schema owner without it", warn_only=True
            )
        applied = migrate(url, settings, logins, store=args.store)
        path = store_name(url)
        changed = []
        if given and path == "TimescaleDB" and 1 not in applied:  # a new store has them
            changed = change_policies(url, settings, given)
    except OperationalError as exc:
        raise InputError(f"--database: {exc.orig}".splitlines()[0]) from None
    say(f"twin db migrate: applied {applied or 'nothing (up to date)'} ({path})")
    for line in changed:
        say(f"twin db migrate: policy changed: {line}")
    if given and path != "TimescaleDB":
        say(
            "twin db migrate: plain PostgreSQL runs no policies: drop old telemetry with "
            "twin db retain --older-than N (on a schedule)"
        )
    for role, (_, where) in logins.items():
        say(f"twin db migrate: {role} may log in (password from {where})")
    return 0


def _migration_status(url: str) -> int:
    """Print each migration, applied (when) or pending; exit 1 when any is pending."""
    from ingest.store.migrate import status

    rows = status(url)
    for version, description, applied_at in rows:
        print(f"{version:3d}  {applied_at or 'pending':32}  {description}")
    pending = sum(applied_at is None for _, _, applied_at in rows)
    say(f"twin db migrate --status: {len(rows) - pending} applied, {pending} pending")
    return 1 if pending else 0


def cmd_db_retain(args: argparse.Namespace) -> int:
    from ingest.store.migrate import store_name
    from ingest.store.policies import drop_old_partitions, interval

    url = database_url(args.database)
    older_than = interval("--older-than", args.older_than)
    if store_name(url) == "TimescaleDB":
        raise InputError(
            "twin db retain: this store is on TimescaleDB, whose retention policy drops old "
            "chunks by itself; change it with twin db migrate --retain-telemetry N"
        )
    dropped = drop_old_partitions(url, older_than)
    say(
        f"twin db retain: dropped {len(dropped)} telemetry partitions older than {older_than}"
        + (f" ({dropped[0]} .. {dropped[-1]})" if dropped else "")
    )
    return 0


def cmd_db_url(args: argparse.Namespace) -> int:
    """Print the embedded store's URL, the server left running for other tools."""
    print(embedded_store(args, create=False).start())
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    stopped = embedded_store(args, create=False).stop(running=True)
    say(f"twin db stop: {'stopped' if stopped else 'not running'}")
    return 0


def cmd_db_shell(args: argparse.Namespace) -> int:
    """psql on the store, with this terminal; its exit code is the command's."""
    import shutil
    import subprocess

    from ingest.store.embedded import server_bindir
    from twin.app.cli.options import open_store

    psql = shutil.which("psql") or str(server_bindir() / "psql")
    with open_store(args, create=False) as (url, _, _):
        return subprocess.run([psql, url], check=False).returncode
