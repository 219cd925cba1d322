"""Checkpoints: the twin's state at a block boundary, as bytes for a compacted topic.

A checkpoint holds every state array (batteries, temperatures, modes, last sunlit flags),
the next tick to simulate and the identity of the run it belongs to. It is written only after
every frame before it has been acknowledged, so a run resumed from it re-sends at most what
came after it; consumers absorb those repeats by (satellite, time).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from twin.state import FleetState, state_arrays

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    run_id: str
    next_tick: int
    sat_id: np.ndarray
    state: FleetState


def encode(checkpoint: Checkpoint) -> bytes:
    """Arrays in an ``.npz`` container (exact float64) plus a JSON header."""
    header = {
        "format": FORMAT_VERSION,
        "run_id": checkpoint.run_id,
        "next_tick": checkpoint.next_tick,
    }
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        header=np.frombuffer(json.dumps(header).encode(), np.uint8),
        sat_id=checkpoint.sat_id,
        **state_arrays(checkpoint.state),
    )
    return buffer.getvalue()


def decode(payload: bytes) -> Checkpoint:
    """Raise ``ValueError`` naming the problem when the payload is not a checkpoint."""
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            header = json.loads(data["header"].tobytes())
            arrays = {name: data[name] for name in FleetState.__dataclass_fields__}
            sat_id = data["sat_id"]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"checkpoint: unreadable ({type(exc).__name__}: {exc})") from None
    if header.get("format") != FORMAT_VERSION:
        raise ValueError(f"checkpoint: format {header.get('format')!r}, expected {FORMAT_VERSION}")
    return Checkpoint(header["run_id"], int(header["next_tick"]), sat_id, FleetState(**arrays))
