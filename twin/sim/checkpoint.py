"""Checkpoints: the twin's state at a block boundary, as bytes for a compacted topic.

A checkpoint holds every state array (batteries, temperatures, modes, last sunlit flags,
the payload's jobs, throttle states, laser links and station visibility, the values stuck
sensors hold), the next tick to simulate, the identity of the run it belongs to and how far
it had read the job submissions.
It is written only after every frame before it has been acknowledged, so a run resumed from
it re-sends at most what came after it; consumers absorb those repeats by (satellite, time).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, fields

import numpy as np

from twin.payload.schedule import PayloadState
from twin.physics.state import FleetState, state_arrays
from twin.sim.engine import TwinState
from twin.sim.faults import Held
from twin.wire.jobs import Jobs

FORMAT_VERSION = 3  # 3: the values stuck sensors hold
_PAYLOAD_ARRAYS = ("seq", "throttle_level", "reset_left_s", "over_target", "link_acquired_s")
_PAYLOAD_ARRAYS += ("visible", "totals")


@dataclass(frozen=True)
class Checkpoint:
    run_id: str
    next_tick: int
    sat_id: np.ndarray
    state: TwinState
    submit_offsets: dict[int, int] = field(default_factory=dict)  # partition -> next offset


def encode(checkpoint: Checkpoint) -> bytes:
    """Arrays in an ``.npz`` container (exact float64) plus a JSON header."""
    pay = checkpoint.state.payload
    header = {
        "format": FORMAT_VERSION,
        "run_id": checkpoint.run_id,
        "next_tick": checkpoint.next_tick,
        "contacts_known": pay.contacts_known,
        "submitted_ids": list(pay.submitted_ids),
        "submit_offsets": {str(k): v for k, v in checkpoint.submit_offsets.items()},
    }
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        header=np.frombuffer(json.dumps(header).encode(), np.uint8),
        sat_id=checkpoint.sat_id,
        **state_arrays(checkpoint.state.physical),
        **{f"payload.{name}": getattr(pay, name) for name in _PAYLOAD_ARRAYS},
        **{f"jobs.{f.name}": getattr(pay.jobs, f.name) for f in fields(Jobs)},
        **_held_arrays(checkpoint.state.held),
    )
    return buffer.getvalue()


def _held_arrays(held: Held | None) -> dict[str, np.ndarray]:
    return {} if held is None else {"held.value": held.value, "held.held": held.held}


def decode(payload: bytes) -> Checkpoint:
    """Raise ``ValueError`` naming the problem when the payload is not a checkpoint."""
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            header = json.loads(data["header"].tobytes())
            if header.get("format") != FORMAT_VERSION:
                raise ValueError(
                    f"format {header.get('format')!r}, expected {FORMAT_VERSION} "
                    "(written by another version: start a new --run-id)"
                )
            physical = FleetState(**{n: data[n] for n in FleetState.__dataclass_fields__})
            columns = {f.name: data[k] for f in fields(Jobs) if (k := f"jobs.{f.name}") in data}
            # Written before jobs had input to receive: every input was on board.
            columns.setdefault("input_left_mb", np.zeros(columns["key"].shape[0]))
            table = Jobs(**columns)
            arrays = {name: data[f"payload.{name}"] for name in _PAYLOAD_ARRAYS}
            sat_id = data["sat_id"]
            held = Held(data["held.value"], data["held.held"]) if "held.value" in data else None
            pay = PayloadState(
                jobs=table,
                contacts_known=bool(header["contacts_known"]),
                submitted_ids=tuple(header["submitted_ids"]),
                **arrays,
            )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint: unreadable ({type(exc).__name__}: {exc})") from None
    return Checkpoint(
        header["run_id"],
        int(header["next_tick"]),
        sat_id,
        TwinState(physical, pay, held),
        {int(k): int(v) for k, v in header.get("submit_offsets", {}).items()},
    )
