"""``twin whatif``: fork a run's state, fly a change beside the unchanged baseline over a
horizon, print both and the constraints only the change breaks, and say so in the exit code
(``EXIT_VIOLATES``), so that other systems can ask before they commit work."""

from __future__ import annotations

import argparse
import collections
import logging
import math
import secrets
from pathlib import Path

import numpy as np

from twin.app.cli.options import (
    database_option,
    fork_options,
    fork_setup,
    ingest_database_option,
)
from twin.app.output import say
from twin.core.settings import ConfigError

log = logging.getLogger(__name__)

EXIT_VIOLATES = 3  # the change breaks a constraint the baseline keeps
SATELLITE_ROWS = 10  # satellites listed, those whose minimum state of charge moved most


def add_parsers(sub) -> None:

    whatif = sub.add_parser(
        "whatif",
        help="fork a run's state, fly a change file beside the unchanged baseline over "
        f"--horizon and compare; exit {EXIT_VIOLATES} when the change breaks a constraint the "
        "baseline keeps",
    )
    fork_options(whatif, horizon="6h")
    whatif.add_argument("--change", help="change TOML (twin.forecast.whatif); none: baseline only")
    whatif.add_argument("--whatif-id", help="the what-if's name (default: random)")
    whatif.add_argument(
        "--serve",
        action="store_true",
        help="answer requests on twin.whatif.requests on twin.whatif.results instead "
        "(each request names its fork, horizon, shell and change)",
    )
    whatif.add_argument("--group", default="twin-whatif", help="--serve's consumer group")
    whatif.add_argument(
        "--stop-when-caught-up",
        action="store_true",
        help="--serve: exit once every request sent so far is answered",
    )
    database_option(
        whatif,
        help="PostgreSQL URL to keep the what-if in (whatif_runs and its tables, as "
        "twin_ingest; default: $TWIN_DATABASE_URL, else it is printed only)",
    )
    ingest_database_option(whatif)
    whatif.set_defaults(func=cmd_whatif)


def cmd_whatif(args: argparse.Namespace) -> int:
    from twin.core.clock import NS_PER_S, iso, parse_duration_ns
    from twin.stream import forks
    from twin.wire.whatif import Request

    horizon_ns = parse_duration_ns("--horizon", args.horizon)
    if args.fork_from == "observed":
        raise ConfigError("--from", args.fork_from, "'latest' or 'start' for a what-if")
    setup = fork_setup(args, kafka=args.serve or args.fork_from == "latest")
    keep = _keeper(args) if (args.database or args.ingest_database) else None
    if args.serve:
        counts = forks.serve(
            setup, args.group, keep=keep, stop_when_caught_up=args.stop_when_caught_up
        )
        say(
            "twin whatif --serve: "
            + ", ".join(f"{n} {status}" for status, n in counts.items())
            + " requests answered"
        )
        return 0
    request = Request(
        request_id=args.whatif_id or f"whatif-{secrets.token_hex(4)}",
        fork_from=args.fork_from,
        run_id=args.run_id,
        horizon_s=horizon_ns / NS_PER_S,
        shell=args.shell,
        change=_change_text(args.change),
    )
    result, run_id = forks.fly_request(setup, request, source=str(args.change))
    source = f"run {run_id}" if run_id else "the preset's initial state"
    n_sat = result.baseline.sat_id.shape[0]
    say(
        f"twin whatif: {request.request_id}: {n_sat} satellites forked at "
        f"{iso(result.fork.time_ns)} (tick {result.fork.tick}, {source}), "
        f"{horizon_ns / NS_PER_S / 3600:.2f} h ahead"
    )
    print(report(result))
    if keep is not None:
        keep(request.request_id, result, request.change, run_id)
        say(f"twin whatif: {request.request_id} stored in whatif_runs")
    return EXIT_VIOLATES if result.violates else 0


def _change_text(path: str | None) -> str:
    """The change file's text ("" for none); a ``ChangeError`` when it cannot be read."""
    from twin.forecast.whatif import ChangeError

    if path is None:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChangeError(f"{path}: cannot read a change file: {exc}") from None


def _keeper(args: argparse.Namespace):
    """A function that keeps a what-if in the store of ``--database``, as twin_ingest."""
    from ingest.store.db import connect
    from ingest.store.roles import INGEST_ROLE, ingest_url
    from ingest.store.whatif import write_whatif

    url = ingest_url(args.ingest_database, args.database)

    def keep(whatif_id: str, result, change_toml: str, run_id: str | None) -> None:
        with connect(url, role=INGEST_ROLE) as conn:
            write_whatif(conn, whatif_id, result, change_toml, run_id)

    return keep


TOTALS = (  # key, label, scale to the unit shown, format
    ("min_soc", "minimum state of charge (%)", 100.0, "{:.2f}"),
    ("max_temp_payload_c", "peak payload temperature (°C)", 1.0, "{:.2f}"),
    ("jobs_completed", "jobs completed", 1, "{:d}"),
    ("jobs_late", "jobs late", 1, "{:d}"),
    ("jobs_failed", "jobs failed", 1, "{:d}"),
    ("energy_wh", "energy drawn (kWh)", 1e-3, "{:.3f}"),
    ("tera_ops", "delivered (peta-operations)", 1e-3, "{:.1f}"),
    ("compute_energy_j", "accelerator energy above idle (MJ)", 1e-6, "{:.3f}"),
)


def report(result) -> str:
    """The what-if as text: fleet totals of both runs and their difference, the satellites
    whose minimum state of charge moved most, the added jobs' fates, the new violations and
    the verdict."""
    from twin.core.clock import iso

    base, branch = result.baseline.totals(), result.branch.totals()
    lines = [f"{'':<38} {'baseline':>12} {'branch':>12} {'difference':>12}"]
    for key, label, scale, fmt in TOTALS:
        a, b = base[key] * scale, branch[key] * scale
        diff = fmt.format(b - a)
        lines.append(
            f"{label:<38} {fmt.format(a):>12} {fmt.format(b):>12} "
            f"{diff if diff.startswith('-') else '+' + diff:>12}"
        )
    moved = result.branch.min_soc - result.baseline.min_soc
    order = np.argsort(moved, kind="stable")[:SATELLITE_ROWS]
    order = order[moved[order] < 0]
    if order.size:
        lines += ["", "satellites whose minimum state of charge fell most:"]
        lines.append(f"  {'sat_id':>7} {'baseline %':>11} {'branch %':>9} {'peak °C':>8}")
        for row in order.tolist():
            lines.append(
                f"  {int(result.branch.sat_id[row]):>7} "
                f"{100 * result.baseline.min_soc[row]:>11.2f} "
                f"{100 * result.branch.min_soc[row]:>9.2f} "
                f"{result.branch.max_temp_payload_c[row]:>8.2f}"
            )
    if result.added_jobs:
        steps = collections.Counter(f.step for f in result.added_jobs.values())
        energy_j = sum(f.energy_j for f in result.added_jobs.values() if not math.isnan(f.energy_j))
        lines += [
            "",
            f"added jobs: {len(result.added_jobs)}, last step by the horizon: "
            + ", ".join(f"{n} {step}" for step, n in sorted(steps.items()))
            + f"; accelerator energy of those that ended {energy_j / 1e6:.3f} MJ",
        ]
    lines.append("")
    if result.new_violations:
        lines.append(f"constraints only the branch breaks: {len(result.new_violations)}")
        lines.append(f"  {'sat_id':>7} {'constraint':<24} {'first at':<30} worst")
        for v in result.new_violations:
            worst = f"{v.worst:.4g}" if isinstance(v.worst, float) else v.worst
            lines.append(f"  {v.sat_id:>7} {v.constraint:<24} {iso(v.first_ns):<30} {worst}")
        lines.append(
            f"verdict: the change breaks a constraint the baseline keeps (exit {EXIT_VIOLATES})"
        )
    else:
        kept = len(result.baseline.violations())
        lines.append(
            "verdict: the change breaks no constraint the baseline keeps (exit 0; the "
            f"baseline itself breaks {kept})"
        )
    return "\n".join(lines)
