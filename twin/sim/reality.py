"""The reality emulator: a truth fleet that differs from the nominal model in hidden
per-satellite parameters, seen only as an operator sees a real one.

``hidden_parameters`` draws each satellite's departures from its preset (battery capacity,
array efficiency, radiator emissivity) from the seed and a salt the mirror never sees;
``truth_hardware`` applies them. ``Recorder`` turns the truth run's frames into what a ground
segment receives: engineering values (the battery as pack voltage and current by
``twin.physics.power``'s pack model, no state of charge) with sensor noise and
quantisation, kept in each satellite's onboard recorder and dumped when it is in contact, as
``twin.observed`` packets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from twin.core.dice import Dice
from twin.fleet.hardware import Hardware
from twin.physics import power
from twin.wire import events, jobs, observed
from twin.wire.telemetry import Frame

# Spread of each hidden parameter: its truth is the preset's × (1 + spread × u), u uniform
# on [-1, 1) (DOMAIN: ±8 % battery capacity, ±5 % array efficiency, ±5 % emissivity).
SPREAD = {
    "battery_capacity_wh": ("truth_battery", 0.08),
    "array_cell_efficiency": ("truth_array", 0.05),
    "radiator_emissivity": ("truth_radiator", 0.05),
}
# Sensor noise (1 σ) and quantisation step of each observed channel (DOMAIN: battery voltage
# ~10 mV, currents ~10 mA, thermistors 0.1-0.5 K, 12-bit converters) [I].
NOISE = {
    "battery_v": ("noise_battery_v", 0.010, 0.01),
    "battery_a": ("noise_battery_a", 0.010, 0.01),
    "temp_payload_c": ("noise_payload", 0.2, 0.1),
    "temp_radiator_c": ("noise_radiator", 0.2, 0.1),
    "array_w": ("noise_array", 0.0, 0.1),  # plus ARRAY_NOISE_SHARE of the reading
}
ARRAY_NOISE_SHARE = 0.005  # a current-sense shunt's ~0.5 % [E]


def salted_seed(seed: int, salt: str) -> int:
    """The seed of the hidden draws: ``seed`` mixed with ``salt`` (kept from the mirror)."""
    digest = hashlib.sha256(f"{seed}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def hidden_parameters(sat_id: np.ndarray, seed: int, salt: str) -> dict[str, np.ndarray]:
    """Each satellite's truth as a multiple of its preset's value, name -> (n_sat,)."""
    dice = Dice(salted_seed(seed, salt), 0, np.asarray(sat_id))
    return {
        name: 1.0 + spread * (2.0 * dice.uniform(stream) - 1.0)
        for name, (stream, spread) in SPREAD.items()
    }


def truth_hardware(hw: Hardware, multipliers: dict[str, np.ndarray]) -> Hardware:
    """``hw`` with the hidden parameters applied."""
    return Hardware({**hw.arrays, **{n: hw.arrays[n] * m for n, m in multipliers.items()}})


def sensed(frame: Frame, seed: int, tick: int) -> dict[str, np.ndarray]:
    """What the satellites of ``frame`` report, name -> (n,) float64: engineering values with
    noise and quantisation (only the channels the frame sampled)."""
    c = frame.channels
    n = frame.sat_id.shape[0]
    dice = Dice(seed, tick, frame.sat_id)
    values: dict[str, np.ndarray] = {}
    if "soc" in c:
        soc = c["soc"]
        capacity_wh = np.where(soc > 1e-3, c["battery_wh"] / np.maximum(soc, 1e-3), np.nan)
        volts, amps = power.pack_voltage_current(soc, c["battery_w"], capacity_wh)
        values["battery_v"], values["battery_a"] = volts, amps
        values["array_w"] = c["array_w"] * (1.0 + ARRAY_NOISE_SHARE * dice.normal("noise_array"))
        values["safe_mode"] = c["safe_mode"].astype(np.float64)
    if "temp_payload_c" in c:
        values["temp_payload_c"] = c["temp_payload_c"].astype(np.float64)
        values["temp_radiator_c"] = c["temp_radiator_c"].astype(np.float64)
    if "utilisation" in c:
        values["utilisation"] = c["utilisation"].astype(np.float64)
        values["throughput_tops"] = c["throughput_tops"].astype(np.float64)
        values["upsets"] = c["upsets"].astype(np.float64)
    for name, (stream, sigma, step) in NOISE.items():
        if name in values:
            noisy = values[name] + (sigma * dice.normal(stream) if sigma else 0.0)
            values[name] = np.round(noisy / step) * step
    if "array_w" in values:
        values["array_w"] = np.maximum(values["array_w"], 0.0)
    return {name: np.asarray(v, np.float64).reshape(n) for name, v in values.items()}


@dataclass
class Recorder:
    """Every satellite's onboard recorder: samples kept until a dump (``flush``) while the
    satellite is in contact, then sent as packets of at most ``observed.MAX_SAMPLES_PER_PACKET``
    samples, each satellite's numbered by its own sequence count."""

    sat_id: np.ndarray  # (n_sat,) the fleet, sorted
    _chunks: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = field(
        default_factory=list
    )
    _seq: dict[int, int] = field(default_factory=dict)
    _in_contact: np.ndarray | None = None  # (n_sat,) bool: in contact since the last flush
    recorded: int = 0  # samples recorded
    sent: int = 0  # samples sent in packets

    def record(self, frame: Frame, values: dict[str, np.ndarray]) -> None:
        """Keep one frame's samples (none when it sampled no reported channel); note which
        satellites are in contact now."""
        rows = np.searchsorted(self.sat_id, frame.sat_id)
        if self._in_contact is None:
            self._in_contact = np.zeros(self.sat_id.shape[0], dtype=bool)
        if "in_contact" in frame.channels:
            self._in_contact[rows] |= frame.channels["in_contact"].astype(bool)
        if not values:
            return
        times = np.full(rows.shape[0], frame.time_unix_ns, np.int64)
        self._chunks.append((rows, times, values))
        self.recorded += int(rows.shape[0])

    @property
    def on_board(self) -> int:
        """Samples recorded and not yet sent."""
        return self.recorded - self.sent

    def flush(self, now_ns: int) -> list[observed.ObservedPacket]:
        """The packets the ground receives at ``now_ns``: every sample recorded so far by the
        satellites in contact since the last flush (the rest stay on board)."""
        if not self._chunks or self._in_contact is None or not self._in_contact.any():
            return []
        rows = np.concatenate([r for r, _, _ in self._chunks])
        times = np.concatenate([t for _, t, _ in self._chunks])
        names = list(observed.OBSERVED_CHANNELS)
        columns = {
            name: np.concatenate(
                [v.get(name, np.full(r.shape[0], np.nan)) for r, _, v in self._chunks]
            )
            for name in names
        }
        send = self._in_contact[rows]
        keep = ~send
        self._chunks = (
            [(rows[keep], times[keep], {n: columns[n][keep] for n in names})] if keep.any() else []
        )
        self._in_contact[:] = False
        order = np.lexsort((times[send], rows[send]))
        rows, times = rows[send][order], times[send][order]
        columns = {n: columns[n][send][order] for n in names}
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        bounds = [*starts[1:].tolist(), rows.shape[0]]
        packets = []
        for a, b in zip(starts.tolist(), bounds, strict=True):  # one satellite's dump
            sat = int(self.sat_id[rows[a]])
            for first in range(a, b, observed.MAX_SAMPLES_PER_PACKET):
                last = min(first + observed.MAX_SAMPLES_PER_PACKET, b)
                seq = self._seq.get(sat, 0)
                self._seq[sat] = seq + 1
                sampled = {
                    n: columns[n][first:last]
                    for n in names
                    if not np.isnan(columns[n][first:last]).all()
                }
                packets.append(
                    observed.ObservedPacket(sat, seq, now_ns, times[first:last], sampled)
                )
        self.sent += int(rows.shape[0])
        return packets


@dataclass
class EmulatorSink:
    """The truth run's sink (``twin.sim.engine.Sink``): each frame sensed and recorded, the
    recorders of the satellites in contact dumped every ``dump_ns`` of simulated time, each
    packet handed to ``send``; events and job steps are the truth's own, not sent."""

    recorder: Recorder
    start_ns: int
    step_ns: int
    dump_ns: int
    seed: int
    send: Callable[[observed.ObservedPacket], None]
    packets: int = 0
    _next_dump_ns: int | None = None

    def frame(self, frame: Frame) -> None:
        tick = (frame.time_unix_ns - self.start_ns) // self.step_ns
        self.recorder.record(frame, sensed(frame, self.seed, tick))
        if self._next_dump_ns is None:
            self._next_dump_ns = self.start_ns + self.dump_ns
        if frame.time_unix_ns >= self._next_dump_ns:
            self._next_dump_ns = frame.time_unix_ns + self.dump_ns
            self.dump(frame.time_unix_ns)

    def dump(self, now_ns: int) -> None:
        """Send what the satellites in contact since the last dump recorded, received now."""
        for packet in self.recorder.flush(now_ns):
            self.send(packet)
            self.packets += 1

    def events(self, batch: events.Events) -> None:
        pass

    def job_steps(self, steps: jobs.JobSteps) -> None:
        pass

    def block_end(self, next_tick: int, state) -> None:
        pass
