"""What several ``twin`` command groups share: the option helpers (the fleet options, the
Kafka options, ``--database``, ``--ingest-database``, ``--store``, ``--rules``), the exit code
of a configuration error, the topic settings of a run, and the database a command works on
(``--database``, else an embedded PostgreSQL in ``--data-dir``). Settings options are declared
through ``twin.app.config.add_setting_option``, the one place their defaults live."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from twin.core.settings import InputError, database_url, mask_url

EXIT_CONFIG = 2
FORKS = ("latest", "start", "observed")  # where a fork starts (``observed``: forecasts only)

DATABASE_HELP = "PostgreSQL URL (default: $TWIN_DATABASE_URL)"
RULES_HELP = "rules YAML (default: the bundled ingest/rules/rules.yaml)"


def fleet_options(parser: argparse.ArgumentParser) -> None:
    """The fleet of ``twin run`` and ``twin db fleet``: a preset, or its geometry replaced."""
    from twin.app import config

    config.add_setting_option(
        parser, "preset", help="fleet and hardware preset, a name or a .toml path"
    )
    parser.add_argument(
        "--walker", help="replace the preset's fleet by a Walker-delta TOTAL/PLANES/PHASING"
    )
    parser.add_argument("--altitude-km", type=float, default=500.0, help="with --walker")
    parser.add_argument("--inclination-deg", type=float, default=97.4, help="with --walker")
    parser.add_argument("--elements", help="replace the preset's fleet by a TLE or OMM file")


def fork_options(parser: argparse.ArgumentParser, horizon: str, observed: bool = False) -> None:
    """The run a fork is taken of (fleet, Kafka, ``--start``, ``--step``, ``--seed``,
    ``--run-id``, topics, stations, targets), where (``--from``), which ``--shell`` and how
    far ahead (``--horizon``, default ``horizon``): ``twin whatif`` and ``twin forecast
    states``; ``fork_setup`` reads them."""
    from twin.app import config

    fleet_options(parser)
    kafka_options(parser)
    parser.add_argument("--start", required=True, help="the run's start (ISO-8601 UTC)")
    config.add_setting_option(parser, "step", help="the run's tick")
    config.add_setting_option(parser, "seed", help="the run's seed", show_default=False)
    parser.add_argument(
        "--from",
        dest="fork_from",
        default="latest",
        help="'latest': the newest checkpoint of --run-id on Kafka (default); 'start': the "
        "preset's initial state at --start"
        + (
            "; 'observed': each satellite as its latest observed sample at --start says "
            "(within --max-age)"
            if observed
            else ""
        ),
    )
    parser.add_argument(
        "--run-id", help="the run forked (default: preset, start and shard 0of1, as twin run)"
    )
    parser.add_argument(
        "--shell",
        help="fly this shell alone (faster; jobs relayed to and laser links with other "
        "shells are left out)",
    )
    parser.add_argument("--horizon", default=horizon, help=f"how far ahead (default {horizon})")
    parser.add_argument("--topics", help="topic settings TOML (default: the bundled topics.toml)")
    parser.add_argument("--stations", help="ground stations TOML (the run's)")
    parser.add_argument("--targets", help="imagery target regions TOML (the run's)")


def fork_setup(args: argparse.Namespace, kafka: bool):
    """The run a fork is taken of, from ``fork_options`` (with ``kafka``, the broker and
    topics too): a ``twin.stream.forks.Setup``."""
    import os

    from twin.app.cli.run import load_fleet
    from twin.core.clock import parse_duration_ns, parse_start
    from twin.core.settings import (
        ENV_KAFKA,
        ConfigError,
        kafka_bootstrap,
        kafka_security,
        topic_prefix,
    )
    from twin.sim.presets import load_preset
    from twin.stream import forks, runner

    if args.fork_from not in FORKS:
        raise ConfigError("--from", args.fork_from, " or ".join(repr(f) for f in FORKS))
    if kafka and not (args.kafka or os.environ.get(ENV_KAFKA)):
        raise InputError(
            "--from latest / --serve: needs the run's Kafka (--kafka or $TWIN_KAFKA_BOOTSTRAP)"
        )
    start_ns = parse_start(args.start)
    fleet, hw, shells = load_fleet(args, start_ns)
    config = runner.RunConfig(
        bootstrap=kafka_bootstrap(args.kafka) if kafka else "",
        topics=topics_of(args, topic_prefix(args.topic_prefix)),
        preset_name=Path(args.preset).stem,
        start_ns=start_ns,
        step_ns=parse_duration_ns("--step", args.step),
        n_ticks=1,
        speed=None,
        run_id=args.run_id,
        seed=args.seed,
        stations_path=args.stations,
        targets_path=args.targets,
        **({"security": kafka_security(vars(args))} if kafka else {}),
    )
    preset = "walker" if (args.walker or args.elements) else load_preset(args.preset).name
    return forks.Setup(config, fleet, hw, shells, preset)


def kafka_options(parser: argparse.ArgumentParser) -> None:
    """The broker and topic prefix; the client's TLS and SASL settings come from the
    environment or twin.toml only (``twin.app.config``), with no options."""
    from twin.app import config

    config.add_setting_option(
        parser, "kafka", help="bootstrap servers (default: $TWIN_KAFKA_BOOTSTRAP)"
    )
    config.add_setting_option(
        parser, "topic_prefix", help="prefix for topic names ($TWIN_TOPIC_PREFIX)"
    )
    parser.set_defaults(**{s.dest: None for s in config.SETTINGS if s.dest.startswith("kafka_")})


def database_option(parser, help: str = DATABASE_HELP) -> None:
    from twin.app import config

    config.add_setting_option(parser, "database", help=help)


def ingest_database_option(parser) -> None:
    from twin.app import config

    config.add_setting_option(
        parser,
        "ingest_database",
        help="URL ingest logs in with, as twin_ingest (default: $TWIN_INGEST_DATABASE_URL, "
        "else --database as twin_ingest with $TWIN_INGEST_PASSWORD[_FILE], else --database "
        "switching to twin_ingest)",
    )


def store_option(parser) -> None:
    from twin.app import config

    config.add_setting_option(
        parser,
        "store",
        help="a new store's path: auto (TimescaleDB where the server preloads it, else plain "
        "PostgreSQL), timescaledb, or postgresql ($TWIN_STORE); a migrated store keeps its path",
    )


def rules_option(parser, help: str = RULES_HELP) -> None:
    from twin.app import config

    config.add_setting_option(parser, "rules", help=help)


def satellite_ids(value: str | None) -> list[int] | None:
    """``--satellites 3,7,12`` as ids (None when not given); InputError for anything else."""
    if value is None:
        return None
    try:
        return [int(part) for part in value.split(",")]
    except ValueError:
        raise InputError(f"--satellites: {value!r} is not a list of ids") from None


def topics_of(args: argparse.Namespace, prefix: str):
    """The topic settings of ``--topics``, else the bundled topics.toml, under ``prefix``."""
    from twin.stream.broker import DEFAULT_TOPICS_FILE, load_topics

    return load_topics(Path(args.topics) if args.topics else DEFAULT_TOPICS_FILE, prefix)


def embedded_store(args: argparse.Namespace, create: bool = True):
    """The embedded PostgreSQL of ``--data-dir`` (a ``LocalPostgres``, not started). Without
    ``create``, a directory that holds no store is an ``InputError``: nothing is made there."""
    from ingest.store.embedded import LocalPostgres, default_data_dir

    server = LocalPostgres(Path(args.data_dir) if args.data_dir else default_data_dir())
    if not create and not (server.cluster / "PG_VERSION").exists():
        raise InputError(
            f"--data-dir: no embedded store in {server.data_dir} (twin run makes one; "
            "or give --database / TWIN_DATABASE_URL)"
        )
    return server


@contextlib.contextmanager
def open_store(args: argparse.Namespace, create: bool = True) -> Iterator[tuple[str, str, object]]:
    """``(url, description, None)`` of ``--database``, else ``(url, description, server)``
    of the embedded PostgreSQL in ``--data-dir``, started for the block and stopped after
    it; the URL is the schema owner's. Without ``create``, a data directory that holds no
    store is an ``InputError`` (a reader has nothing to read there; nothing is made)."""
    if args.database:
        yield database_url(args.database), mask_url(args.database), None
        return
    server = embedded_store(args, create)
    url = server.start()
    try:
        yield url, f"embedded PostgreSQL in {server.cluster}", server
    finally:
        server.stop()
