"""Forks of one run: its state at the newest checkpoint, or its initial state, for one
shell or the whole fleet (``fork_of``), flown ahead by state forecasts (``twin forecast
states``) and by what-ifs asked by command (``twin whatif``) or over Kafka (``twin whatif
--serve``): the change flown beside the baseline, and the answer.

The service reads ``twin.whatif.requests`` in a consumer group and answers every request on
``twin.whatif.results``, keyed like the request, before it commits the request's offset: a
crash in between answers that request again (results are keyed by ``request_id``; a
consumer keeps the last). A request that cannot be read or flown is answered ``refused``
with the reason; nothing a request holds stops the service.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata

from twin.core import shutdown
from twin.core.clock import NS_PER_S, iso
from twin.core.errors import InputError, TwinError, printable
from twin.fleet.constellation import Fleet, subset
from twin.fleet.hardware import Hardware
from twin.forecast import whatif
from twin.payload import schedule as payload
from twin.physics.sun import EPHEMERIS_FIRST_NS, EPHEMERIS_LAST_NS
from twin.sim import engine
from twin.stream.broker import Producer, caught_up, ensure_topics, open_client, schema_headers
from twin.stream.runner import RunConfig, run_context, run_id_of, saved_checkpoint
from twin.wire import whatif as contract

log = logging.getLogger(__name__)

Keep = Callable[[str, whatif.WhatIf, str, str | None], None]
# The most satellite-ticks a request over Kafka may ask for, each of the two runs: about
# 3 minutes of CPU at the engine's ~120k samples/s (a 6-hour what-if of 1,000 satellites at
# 1 s); the service answers one request at a time, so one request must not hold it for hours.
MAX_REQUEST_SAMPLES = 25_000_000
# Violations and added jobs listed in one answer at most (the first by time and by job id;
# the totals say how many there were): an answer stays well under a Kafka message's 1 MB.
MAX_LISTED = 1000


@dataclass(frozen=True)
class Setup:
    """The run what-ifs fork: its configuration (Kafka, start, tick, seed, stations,
    targets, run id), its whole fleet and hardware, its shells' names and its preset's."""

    config: RunConfig
    fleet: Fleet
    hw: Hardware
    shells: Sequence[str]
    preset: str


def fork_of(
    setup: Setup, fork_from: str, run_id: str | None, shell: str | None, horizon_ns: int
) -> tuple[Fleet, payload.Context, whatif.Fork, str | None]:
    """The fleet flown (one ``shell`` of it, or all), its context, the fork (``fork_from``
    ``latest``: the newest checkpoint of ``run_id`` or the setup's run; ``start``: the
    initial state) and the run id forked (None from the initial state). Raises
    ``InputError`` when there is no such checkpoint or shell, or the horizon leaves DE421."""
    config = replace(setup.config, run_id=run_id or setup.config.run_id)
    fleet, hw = setup.fleet, setup.hw
    if horizon_ns < config.step_ns:
        raise InputError(f"horizon: {horizon_ns / NS_PER_S:g} s is shorter than one tick")
    state, tick, forked = None, 0, None
    if fork_from == "latest":
        saved = saved_checkpoint(config, fleet.sat_id)
        if saved is None:
            raise InputError(f"--run-id: no checkpoint of {run_id_of(config)!r} on Kafka")
        state, tick, forked = saved.state, saved.next_tick, run_id_of(config)
    if shell is not None:
        if shell not in setup.shells:
            raise InputError(
                f"--shell: {printable(shell, 80)!r} is not a shell of the fleet: "
                f"{', '.join(setup.shells)}"
            )
        rows = np.flatnonzero(fleet.shell == list(setup.shells).index(shell))
        fleet, hw = subset(fleet, rows), hw.subset(rows)
        state = None if state is None else state.take(rows)
    ctx = run_context(config, fleet, hw)
    state = engine.initial_twin(ctx) if state is None else state
    fork = whatif.Fork(config.start_ns, config.step_ns, tick, state, config.seed)
    end_ns = fork.time_ns + horizon_ns
    if fork.time_ns < EPHEMERIS_FIRST_NS or end_ns > EPHEMERIS_LAST_NS:
        raise InputError(
            f"horizon: {iso(fork.time_ns)} .. {iso(end_ns)} is outside the DE421 ephemeris "
            f"({iso(EPHEMERIS_FIRST_NS)} .. {iso(EPHEMERIS_LAST_NS)})"
        )
    return fleet, ctx, fork, forked


def fly_request(
    setup: Setup, request: contract.Request, source: str = "change"
) -> tuple[whatif.WhatIf, str | None]:
    """Fork and fly ``request``; return the what-if and the run id forked (None: from the
    initial state). Raises ``InputError`` (a ``ChangeError`` naming ``source`` for the
    change) when the request cannot be flown."""
    horizon_ns = round(request.horizon_s * NS_PER_S)
    fleet, ctx, fork, run_id = fork_of(
        setup, request.fork_from, request.run_id, request.shell, horizon_ns
    )
    change = whatif.Change()
    if request.change:
        change = whatif.parse_change(
            request.change, source, fleet, setup.shells, setup.preset, horizon_ns
        )
    return whatif.fly(fleet, ctx, fork, horizon_ns, change), run_id


def answer_of(whatif_id: str, result: whatif.WhatIf) -> dict:
    """A done what-if's figures for its result message."""

    def violation(v: whatif.Violation) -> dict:
        return {
            "sat_id": v.sat_id,
            "constraint": v.constraint,
            "first_unix_ns": v.first_ns,
            "worst": v.worst if isinstance(v.worst, str) or np.isfinite(v.worst) else None,
        }

    return {
        "whatif_id": whatif_id,
        "fork_time_unix_ns": result.fork.time_ns,
        "fork_tick": result.fork.tick,
        "horizon_s": result.horizon_ns / NS_PER_S,
        "violates": result.violates,
        "baseline": result.baseline.totals(),
        "branch": result.branch.totals(),
        "new_violations": [violation(v) for v in result.new_violations[:MAX_LISTED]],
        "new_violations_total": len(result.new_violations),
        "added_jobs_total": len(result.added_jobs),
        "added_jobs": {
            job_id: {
                "step": fate.step,
                "sat_id": fate.sat_id,
                "time_unix_ns": fate.time_ns,
                "reason": fate.reason,
                "energy_j": None if np.isnan(fate.energy_j) else fate.energy_j,
            }
            for job_id, fate in list(result.added_jobs.items())[:MAX_LISTED]
        },
    }


def answer(
    setup: Setup,
    payload: bytes | None,
    keep: Keep | None = None,
    max_samples: int = MAX_REQUEST_SAMPLES,
) -> tuple[bytes, str]:
    """The result message for one request's bytes, and its status; never raises for
    anything the request holds. A request over ``max_samples`` satellite-ticks a run is
    refused before anything is flown."""
    try:
        request = contract.decode_request(payload)
        n_sat = setup.fleet.n_sat
        if request.shell in setup.shells:
            n_sat = int((setup.fleet.shell == list(setup.shells).index(request.shell)).sum())
        samples = n_sat * request.horizon_s * NS_PER_S / setup.config.step_ns
        if samples > max_samples:
            raise contract.RequestError(
                f"horizon_s: {request.horizon_s:g} s of {n_sat} satellites at "
                f"{setup.config.step_ns / NS_PER_S:g} s ticks is {samples:,.0f} samples a run, "
                f"over the {max_samples:,} this service flies for one request",
                request.request_id,
            )
    except contract.RequestError as exc:
        reason = str(exc)
        return contract.encode_result(exc.request_id, contract.REFUSED, 2, reason), contract.REFUSED
    try:
        result, run_id = fly_request(setup, request)
    except InputError as exc:
        reason = str(exc)
        refused = contract.encode_result(request.request_id, contract.REFUSED, 2, reason)
        return refused, contract.REFUSED
    except Exception as exc:  # one request's failure is answered; the service goes on
        log.exception("what-if request %s failed", request.request_id)
        kind = "" if isinstance(exc, TwinError) else f"{type(exc).__name__}: "
        failed = contract.encode_result(request.request_id, contract.FAILED, 1, f"{kind}{exc}")
        return failed, contract.FAILED
    whatif_id = f"{request.request_id}-{secrets.token_hex(3)}"
    if keep is not None:
        keep(whatif_id, result, request.change, run_id)
    code = 3 if result.violates else 0
    done = contract.encode_result(
        request.request_id, contract.DONE, code, answer=answer_of(whatif_id, result)
    )
    return done, contract.DONE


def serve(
    setup: Setup,
    group: str = "twin-whatif",
    keep: Keep | None = None,
    stop_when_caught_up: bool = False,
) -> dict[str, int]:
    """Answer requests until stopped (or, with ``stop_when_caught_up``, until every
    request sent so far is answered); return the counts answered by status."""
    config = setup.config
    topics = [config.topics[contract.REQUESTS_TOPIC], config.topics[contract.RESULTS_TOPIC]]
    ensure_topics(config.bootstrap, topics, config.security)
    requests_topic, results_topic = (t.name for t in topics)
    consumer = open_client(
        KafkaConsumer,
        config.bootstrap,
        config.security,
        client_id="twin-whatif",
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_interval_ms=30 * 60 * 1000,  # one long what-if between polls
    )
    producer = Producer(config.bootstrap, client_id="twin-whatif", security=config.security)
    headers = schema_headers(contract.RESULT_SCHEMA_ID, contract.SCHEMA_VERSION)
    counts = {contract.DONE: 0, contract.REFUSED: 0, contract.FAILED: 0}
    consumer.subscribe([requests_topic])
    try:
        while not shutdown.requested():
            batch = consumer.poll(timeout_ms=500, max_records=1)
            if not batch:
                if stop_when_caught_up and caught_up(consumer):
                    break
                continue
            for tp, records in batch.items():
                for record in records:
                    message, status = answer(setup, record.value, keep)
                    producer.send(results_topic, record.key or b"", message, headers)
                    producer.flush()  # answered before the request counts as read
                    consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})
                    counts[status] += 1
                    log.info("what-if request at %s:%d: %s", tp.partition, record.offset, status)
    finally:
        consumer.close(autocommit=False)
        producer.close()
    return counts
