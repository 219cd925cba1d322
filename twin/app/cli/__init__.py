"""The ``twin`` command: ``main`` parses the command line, resolves the settings
(``twin.app.config``: option, environment, twin.toml, default), sets up logging (text, or one
JSON object per line) and runs the command, turning a configuration error, an unreachable
database or undelivered Kafka messages into one line and an exit code. Each command group is a
module of this package that adds its subcommands to the parser (``add_parsers``): ``run``,
``ingest``, ``db``, ``rules`` (with ``score``), ``ops`` (config, report, grafana, topics,
scenario), ``mirror`` (elements) and ``forecast``; ``options`` holds what several of them share.
Nothing outside this package imports it but the ``twin`` entry points."""

from __future__ import annotations

import argparse
import logging
import sys

from twin import __version__
from twin.app.cli import db, forecast, ingest, mirror, ops, rules, run, whatif
from twin.app.cli.options import EXIT_CONFIG
from twin.app.output import JsonLogFormatter, use_json
from twin.core import shutdown
from twin.core.settings import InputError, mask_url

DESCRIPTION = "The twin command: run the twin, ingest telemetry, manage topics and the database."


def build_parser() -> argparse.ArgumentParser:
    from twin.app import config

    parser = argparse.ArgumentParser(prog="twin", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"twin {__version__}")
    config.add_setting_option(parser, "log_level", help="$TWIN_LOG_LEVEL, twin.toml [log] level")
    config.add_setting_option(
        parser, "log_format", help="text or json, one object per line, for services"
    )
    parser.add_argument("--config", help="settings TOML (default: ./twin.toml when present)")
    sub = parser.add_subparsers(dest="command", required=True)
    run.add_parsers(sub)
    ops.add_config_parser(sub)
    ingest.add_parsers(sub)
    rules.add_parsers(sub)
    db.add_parsers(sub)
    ops.add_parsers(sub)
    mirror.add_parsers(sub)
    forecast.add_parsers(sub)
    whatif.add_parsers(sub)
    return parser


def _logging(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler(sys.stderr)
    use_json(args.log_format == "json")
    handler.setFormatter(
        JsonLogFormatter()
        if args.log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    level = (
        "WARNING" if getattr(args, "quiet", False) and args.log_level == "INFO" else args.log_level
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # kafka-python logs every reconnect attempt; the twin reports what failed itself.
    logging.getLogger("kafka").setLevel(
        logging.DEBUG if args.log_level == "DEBUG" else logging.CRITICAL
    )


def main(argv: list[str] | None = None) -> int:
    from twin.app import config

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        file_values, args.config_path = config.read_file(args.config)
        args.sources = config.resolve(args, file_values, every=args.command == "config")
    except InputError as exc:
        print(f"twin: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _logging(args)
    if args.command in ("run", "ingest", "score"):
        shutdown.install()
    try:
        return shutdown.exit_code(args.func(args))
    except InputError as exc:
        print(f"twin: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        import psycopg
        import sqlalchemy.exc

        from twin.stream.broker import DeliveryError

        if isinstance(exc, sqlalchemy.exc.OperationalError):
            exc = exc.orig if exc.orig is not None else exc
        if isinstance(exc, psycopg.OperationalError | sqlalchemy.exc.OperationalError):
            tried = getattr(args, "database", None)
            where = f" at {mask_url(tried)}" if tried else ""
            print(f"twin: database unreachable{where}: {str(exc).splitlines()[0]}", file=sys.stderr)
            return EXIT_CONFIG
        if isinstance(exc, DeliveryError):
            print(f"twin: Kafka did not take the messages: {exc}", file=sys.stderr)
            return 1
        raise
