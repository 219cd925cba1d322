"""What one poll brought from one partition, decoded (``PartitionBatch``, with its dead
letters, events, job steps, element sets and observed packets), and telemetry frames as row columns
(``Columns``), ready for the writer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.core.clock import NS_PER_US
from twin.core.errors import printable
from twin.wire.elements import ElementSet
from twin.wire.observed import ObservedPacket
from twin.wire.telemetry import CHANNELS, Frame, to_stored_resolution


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be stored, with where it came from and why; the reason is
    made safe to store and bounded (``twin.core.errors.printable``): it may quote the message."""

    topic: str
    partition: int
    offset: int
    reason: str
    payload: bytes
    samples: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", printable(self.reason))


@dataclass(frozen=True)
class Event:
    time_unix_ns: int
    sat_id: int
    kind: str
    station_id: int


@dataclass
class PartitionBatch:
    """What one poll brought from one partition, decoded."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    messages: int = 0
    frames: list[tuple[int, Frame]] = field(default_factory=list)  # (offset, frame)
    events: list[tuple[int, Event]] = field(default_factory=list)  # (offset, event)
    # (offset, rows): rows as ``twin.wire.jobs.decode_steps`` gives them
    job_steps: list[tuple[int, list[tuple]]] = field(default_factory=list)
    element_sets: list[tuple[int, ElementSet]] = field(default_factory=list)  # (offset, set)
    observed: list[tuple[int, ObservedPacket]] = field(default_factory=list)  # (offset, packet)
    dead: list[DeadLetter] = field(default_factory=list)
    # offset -> the message as received, kept to dead-letter a record the database refuses
    payloads: dict[int, bytes] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return sum(int(f.sat_id.shape[0]) for _, f in self.frames)

    def offsets(self) -> list[int]:
        """The offsets of the records this batch holds, sorted, each once (a frame some of
        whose samples were rejected is both stored and dead-lettered)."""
        return sorted(self.storing() | {d.offset for d in self.dead})

    def storing(self) -> set[int]:
        """The offsets of the records this batch stores (frames, events, job steps, element
        sets, observed packets)."""
        frames, events = {o for o, _ in self.frames}, {o for o, _ in self.events}
        sets, packets = {o for o, _ in self.element_sets}, {o for o, _ in self.observed}
        return frames | events | {o for o, _ in self.job_steps} | sets | packets

    def split(self) -> tuple[PartitionBatch, PartitionBatch]:
        """Two batches of the records before and from the middle offset (two or more
        records), each with its own offset range."""
        offsets = self.offsets()
        middle = offsets[len(offsets) // 2]
        halves = []
        for keep, first, last in (
            (lambda o: o < middle, self.first_offset, middle - 1),
            (lambda o: o >= middle, middle, self.last_offset),
        ):
            half = PartitionBatch(self.topic, self.partition, first, last)
            half.frames = [(o, f) for o, f in self.frames if keep(o)]
            half.events = [(o, e) for o, e in self.events if keep(o)]
            half.job_steps = [(o, r) for o, r in self.job_steps if keep(o)]
            half.element_sets = [(o, e) for o, e in self.element_sets if keep(o)]
            half.observed = [(o, p) for o, p in self.observed if keep(o)]
            half.dead = [d for d in self.dead if keep(d.offset)]
            half.payloads = {o: v for o, v in self.payloads.items() if keep(o)}
            half.messages = len(half.offsets())
            halves.append(half)
        return halves[0], halves[1]

    def refused(self, reason: str) -> PartitionBatch:
        """This batch with its stored records (one, when bisected down) turned into dead
        letters for ``reason``."""
        letters = [
            DeadLetter(
                self.topic,
                self.partition,
                offset,
                reason,
                self.payloads.get(offset, b""),
                samples=sum(int(f.sat_id.shape[0]) for o, f in self.frames if o == offset),
            )
            for offset in sorted(self.storing())
        ]
        batch = PartitionBatch(self.topic, self.partition, self.first_offset, self.last_offset)
        batch.messages, batch.dead, batch.payloads = self.messages, self.dead + letters, {}
        return batch


@dataclass(frozen=True)
class Columns:
    """Telemetry rows as columns, each (n,): ``time_unix_us`` int64, ``sat_id`` int32,
    ``batch_id`` and ``kafka_offset`` int64, and one float64 array per channel (NaN: none)."""

    time_unix_us: np.ndarray
    sat_id: np.ndarray
    batch_id: np.ndarray
    kafka_offset: np.ndarray
    channels: dict[str, np.ndarray]

    @property
    def n_rows(self) -> int:
        return int(self.sat_id.shape[0])

    def arrays(self) -> list[np.ndarray]:
        return [
            self.time_unix_us,
            self.sat_id,
            self.batch_id,
            self.kafka_offset,
            *(self.channels[c] for c in CHANNELS),
        ]


def frames_to_columns(frames: list[tuple[int, int, Frame]]) -> Columns:
    """Concatenate (batch_id, offset, frame) triples into row columns; row i of a frame is
    satellite sat_id[i]. Channels a frame does not carry become NaN; float values are rounded
    to their channel's stored resolution (``telemetry.to_stored_resolution``)."""
    counts = np.array([f.sat_id.shape[0] for _, _, f in frames], dtype=np.int64)
    n = int(counts.sum())

    def per_frame(values, dtype) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=dtype), counts) if frames else np.empty(0, dtype)

    channels = {}
    for name in CHANNELS:
        parts = [
            f.channels[name].astype(np.float64)
            if name in f.channels
            else np.full(f.sat_id.shape[0], np.nan)
            for _, _, f in frames
        ]
        channels[name] = to_stored_resolution(name, np.concatenate(parts) if parts else np.empty(0))
    return Columns(
        time_unix_us=per_frame([f.time_unix_ns // NS_PER_US for _, _, f in frames], np.int64),
        sat_id=(
            np.concatenate([f.sat_id for _, _, f in frames]).astype(np.int32)
            if n
            else np.empty(0, np.int32)
        ),
        batch_id=per_frame([b for b, _, _ in frames], np.int64),
        kafka_offset=per_frame([o for _, o, _ in frames], np.int64),
        channels=channels,
    )
