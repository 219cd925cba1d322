"""``twin.whatif.requests`` and ``twin.whatif.results``: what-ifs asked and answered over
Kafka, for systems that cannot run ``twin whatif``.

A request names the fork (``from``: ``latest`` or ``start``, the ``run_id`` of the run
forked), the ``horizon_s``, optionally one ``shell``, and carries the change file's TOML text
in ``change``. Every request read gets one result, keyed like the request: ``done`` with the
verdict and both runs' figures, ``refused`` with a reason (bounded, printable) when the
request or its change cannot be flown, or ``failed`` when flying it failed; ``exit_code`` is
what ``twin whatif`` would exit with (0 or 3 done, 2 refused, 1 failed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from twin.core.errors import ContractError, printable, shown
from twin.wire.messages import open_envelope

REQUESTS_TOPIC = "twin.whatif.requests"
RESULTS_TOPIC = "twin.whatif.results"
REQUEST_SCHEMA_ID = REQUESTS_TOPIC
RESULT_SCHEMA_ID = RESULTS_TOPIC
SCHEMA_VERSION = 1
REQUEST_FIELDS = {"schema", "version", "request_id", "from", "run_id", "horizon_s", "shell"}
REQUEST_FIELDS |= {"change"}
REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
RUN_ID = re.compile(r"[A-Za-z0-9._:+\-]{1,200}")
MAX_HORIZON_S = 7 * 86_400.0  # a week ahead at most
MAX_CHANGE_CHARS = 256 * 1024
FORKS = ("latest", "start")
DONE, REFUSED, FAILED = "done", "refused", "failed"


@dataclass(frozen=True)
class Request:
    """A validated what-if request."""

    request_id: str
    fork_from: str  # "latest" or "start"
    run_id: str | None
    horizon_s: float
    shell: str | None
    change: str  # TOML text of a change file ("" for none)


class RequestError(ContractError):
    """A request that cannot be read; ``request_id`` is its id when that could be read."""

    def __init__(self, reason: str, request_id: str | None = None):
        super().__init__(printable(reason))
        self.request_id = request_id


def decode_request(payload: bytes | None) -> Request:
    """Validate a ``twin.whatif.requests`` message; raise ``RequestError`` with the reason."""
    body = open_envelope(
        payload, REQUEST_SCHEMA_ID, SCHEMA_VERSION, "request", REQUEST_FIELDS, RequestError
    )
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
        raise RequestError(
            f"request_id: {shown(request_id)} is not 1-64 characters of letters, digits and . _ : -"
        )
    fork_from = body.get("from", "latest")
    if fork_from not in FORKS:
        raise RequestError(f"from: {shown(fork_from)} is not 'latest' or 'start'", request_id)
    run_id = body.get("run_id")
    if run_id is not None and (not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id)):
        raise RequestError(f"run_id: {shown(run_id)} is not a run id", request_id)
    horizon_s = body.get("horizon_s", 6 * 3600.0)
    if type(horizon_s) not in (int, float) or not 0 < horizon_s <= MAX_HORIZON_S:
        raise RequestError(
            f"horizon_s: {shown(horizon_s)} is not a number in (0, {MAX_HORIZON_S:g}]", request_id
        )
    shell = body.get("shell")
    if shell is not None and (not isinstance(shell, str) or not 0 < len(shell) <= 200):
        raise RequestError(f"shell: {shown(shell)} is not a shell name", request_id)
    change = body.get("change", "")
    if not isinstance(change, str) or len(change) > MAX_CHANGE_CHARS:
        raise RequestError(
            f"change: not the text of a change file of at most {MAX_CHANGE_CHARS} characters",
            request_id,
        )
    return Request(request_id, fork_from, run_id, float(horizon_s), shell, change)


def encode_request(**fields_: object) -> bytes:
    """A ``twin.whatif.requests`` message with the given fields (for clients and tests)."""
    return orjson.dumps({"schema": REQUEST_SCHEMA_ID, "version": SCHEMA_VERSION, **fields_})


def encode_result(
    request_id: str | None,
    status: str,
    exit_code: int,
    reason: str = "",
    answer: dict | None = None,
) -> bytes:
    """A ``twin.whatif.results`` message: ``answer`` holds a done what-if's figures
    (``whatif_id``, ``fork_time_unix_ns``, ``violates``, ``baseline``, ``branch``,
    ``new_violations``, ``added_jobs``)."""
    return orjson.dumps(
        {
            "schema": RESULT_SCHEMA_ID,
            "version": SCHEMA_VERSION,
            "request_id": request_id,
            "status": status,
            "exit_code": exit_code,
            "reason": printable(reason),
            **(answer or {}),
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
