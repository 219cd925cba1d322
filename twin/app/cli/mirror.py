"""``twin elements``: element sets of a real fleet onto ``twin.elements``."""

from __future__ import annotations

import argparse
from pathlib import Path

from twin.app.cli.options import kafka_options, topics_of
from twin.app.output import say
from twin.core.settings import kafka_bootstrap, kafka_security, topic_prefix


def add_parsers(sub) -> None:
    elements = sub.add_parser(
        "elements", help="element sets of a real fleet (TLE or OMM) onto twin.elements"
    ).add_subparsers(dest="elements_command", required=True)
    publish = elements.add_parser(
        "publish",
        help="check every element set of the files (SGP4 must fly it) and publish each, "
        "keyed by its catalogue number; a bad file publishes nothing",
    )
    publish.add_argument("files", nargs="+", help="TLE (.tle/.txt/.3le) or OMM (.csv/.xml/.json)")
    publish.add_argument(
        "--format", dest="elements_format", help="tle, omm-csv, omm-xml or omm-json (default: "
        "from each file's suffix)"
    )  # fmt: skip
    publish.add_argument("--topics", help="topics TOML (default: the bundled topics.toml)")
    kafka_options(publish)
    publish.set_defaults(func=cmd_elements_publish)


def cmd_elements_publish(args: argparse.Namespace) -> int:
    from sgp4.exporter import export_tle

    from twin.fleet.elements import detect_format, read_elements
    from twin.stream.broker import Producer, schema_headers
    from twin.wire import elements

    # Every file is read and checked before anything is sent; a TLE file's sets go as TLEs.
    messages = []
    for name in args.files:
        path = Path(name)
        fmt = args.elements_format or detect_format(path)
        sats, names = read_elements(path, fmt)
        for sat, sat_name in zip(sats, names, strict=True):
            value = (
                elements.encode_tle(*export_tle(sat), sat_name)
                if fmt == "tle"
                else elements.encode(sat, sat_name)
            )
            messages.append((sat.satnum, value))
    topic = topics_of(args, topic_prefix(args.topic_prefix))[elements.ELEMENTS_TOPIC].name
    producer = Producer(
        kafka_bootstrap(args.kafka), client_id="twin-elements", security=kafka_security(vars(args))
    )
    headers = schema_headers(elements.SCHEMA_ID, elements.SCHEMA_VERSION)
    try:
        for satnum, value in messages:
            producer.send(topic, str(satnum).encode(), value, headers)
        producer.flush()
    finally:
        producer.close()
    say(f"twin elements publish: {len(messages)} element sets sent to {topic}")
    return 0
