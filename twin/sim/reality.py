"""The reality emulator: a truth fleet that differs from the nominal model in hidden
per-satellite parameters, seen only as an operator sees a real one.

``hidden_parameters`` draws each satellite's departures from its preset (battery capacity,
array efficiency, radiator emissivity) from the seed and a salt the mirror never sees;
``truth_hardware`` applies them. ``Recorder`` turns the truth run's frames into what a ground
segment receives: engineering values (the battery as pack voltage and current by
``twin.physics.power``'s pack model, no state of charge) with sensor noise and
quantisation, kept in each satellite's onboard recorder and dumped when it is in contact, as
``twin.observed`` packets. ``ElementFeed`` publishes fresh element sets of the truth orbits
at a cadence, each with the fit error of a set determined from tracking.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sgp4.api import WGS72, Satrec

from twin.core.clock import julian
from twin.core.dice import Dice
from twin.fleet.constellation import JD_SGP4_EPOCH, R_EARTH_WGS72_KM
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
# A published element set's fit error at its epoch, 1 σ: a low orbit fitted from tracking is
# known to ~0.5 km along-track and a tenth of that across [E].
FIT_ALONG_KM = 0.5
FIT_CROSS_KM = 0.1


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


def refit_elements(truth: Satrec, epoch_ns: int, along_km: float, cross_km: float) -> Satrec:
    """An element set of ``truth``'s orbit at a new epoch ``epoch_ns``: the SGP4 mean
    elements there (which fly the same orbit as ``truth``, exactly so without drag), the
    mean anomaly moved by ``along_km`` and the inclination by ``cross_km`` over the
    semi-major axis, as a fit from tracking would miss them."""
    times = julian(epoch_ns)
    jd, fraction = float(times.jd_utc), float(times.fr_utc)
    truth.sgp4(truth.jdsatepoch, truth.jdsatepochF)  # mean motion at epoch, for Kozai's ratio
    kozai = truth.no_kozai / truth.nm
    truth.sgp4(jd, fraction)  # leaves the mean elements at the new epoch on the record
    a_km = truth.am * R_EARTH_WGS72_KM
    two_pi = 2.0 * math.pi
    sat = Satrec()
    sat.sgp4init(
        WGS72,
        "i",
        truth.satnum,
        jd - JD_SGP4_EPOCH + fraction,
        truth.bstar,
        0.0,
        0.0,
        truth.em,
        truth.om % two_pi,
        truth.im + cross_km / a_km,
        (truth.mm + along_km / a_km) % two_pi,
        truth.nm * kozai,
        truth.Om % two_pi,
    )
    return sat


class ElementFeed:
    """Fresh element sets of the truth orbits ``elements`` (one Satrec per satellite of
    ``sat_id``): every satellite's first at ``start_ns``, then one every ``every_ns``,
    phased per satellite from the seed; each set refitted at its epoch with a fit error
    drawn from N(0, ``FIT_ALONG_KM``) along track and N(0, ``FIT_CROSS_KM``) across."""

    def __init__(self, elements, sat_id: np.ndarray, start_ns: int, every_ns: int, seed: int):
        self.elements = tuple(elements)
        self.sat_id = np.asarray(sat_id)
        self.start_ns = start_ns
        self.every_ns = every_ns
        self.seed = seed
        self._phase = Dice(seed, 0, self.sat_id).uniform("elements_phase")
        self._count = np.zeros(self.sat_id.shape[0], np.int64)  # sets published so far
        self._due_ns = np.full(self.sat_id.shape[0], start_ns, np.int64)

    def due(self, now_ns: int) -> list[tuple[int, Satrec]]:
        """(sat_id, element set with epoch ``now_ns``) of each satellite whose next set is
        due at or before ``now_ns``."""
        rows = np.flatnonzero(self._due_ns <= now_ns)
        if rows.size == 0:
            return []
        along = np.empty(rows.shape[0])
        cross = np.empty(rows.shape[0])
        for count in np.unique(self._count[rows]).tolist():  # over set numbers: one or two
            mine = self._count[rows] == count
            dice = Dice(self.seed, count, self.sat_id[rows[mine]])
            along[mine] = FIT_ALONG_KM * dice.normal("fit_along")
            cross[mine] = FIT_CROSS_KM * dice.normal("fit_cross")
        # Set k (k >= 1) is due at start + (k - 1 + phase) × every: the first one later.
        phase = self._phase[rows]
        later = np.floor((now_ns - self.start_ns) / self.every_ns - phase).astype(np.int64) + 2
        self._count[rows] = np.maximum(self._count[rows] + 1, later)
        self._due_ns[rows] = self.start_ns + (
            (self._count[rows] - 1 + phase) * self.every_ns
        ).astype(np.int64)
        # sgp4init initialises one satellite per call: a few sets per satellite per day.
        return [
            (int(self.sat_id[r]), refit_elements(self.elements[r], now_ns, a, c))
            for r, a, c in zip(rows.tolist(), along.tolist(), cross.tolist(), strict=True)
        ]


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


def sensed_run(
    frames: list[Frame], sat_id: np.ndarray, start_ns: int, step_ns: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Every sample of a run's frames as sensed (``sensed``), as if all were delivered:
    (fleet rows (m,), times (m,) int64 ns, name -> (m,) values), sorted by row then time.
    ``sat_id``: the fleet's ids, sorted."""
    rows, times, values = [], [], {}
    for frame in frames:  # over frames: one array operation each
        rows.append(np.searchsorted(sat_id, frame.sat_id))
        times.append(np.full(frame.sat_id.shape, frame.time_unix_ns))
        tick = (frame.time_unix_ns - start_ns) // step_ns
        for name, v in sensed(frame, seed, tick).items():
            values.setdefault(name, []).append(v)
    row, t_ns = np.concatenate(rows), np.concatenate(times)
    order = np.lexsort((t_ns, row))
    return row[order], t_ns[order], {n: np.concatenate(v)[order] for n, v in values.items()}


class Recorder:
    """Every satellite's onboard recorder, a ring of ``capacity`` ticks: samples kept until a
    dump (``flush``) while the satellite is in contact, then sent as packets of at most
    ``observed.MAX_SAMPLES_PER_PACKET`` samples, each satellite's numbered by its own sequence
    count. A satellite out of contact longer than the ring overwrites its oldest samples
    (``overwritten`` counts them), as a real recorder does.

    Storage: one (capacity, n_sat) array per channel; a tick's samples are a row, a
    satellite's recording a column, so a dump gathers every sending satellite's samples in
    one indexing per channel."""

    def __init__(self, sat_id: np.ndarray, capacity: int) -> None:
        self.sat_id = np.asarray(sat_id)
        n_sat = self.sat_id.shape[0]
        self.capacity = capacity
        self._values = {
            name: np.full((capacity, n_sat), np.nan) for name in observed.OBSERVED_CHANNELS
        }
        self._time_ns = np.zeros(capacity, np.int64)
        self._tick = -1  # the latest tick recorded
        self._sent_tick = np.full(n_sat, -1, np.int64)  # each satellite's last tick sent
        self._seq = np.zeros(n_sat, np.int64)
        self._in_contact = np.zeros(n_sat, dtype=bool)  # in contact since the last flush
        self.recorded = 0  # samples recorded
        self.sent = 0  # samples sent in packets
        self.overwritten = 0  # samples lost to the ring before a contact

    def record(self, tick: int, frame: Frame, values: dict[str, np.ndarray]) -> None:
        """Keep one frame's samples at ``tick`` (frames of a tick come together, ticks in
        order); note which satellites are in contact now."""
        rows = np.searchsorted(self.sat_id, frame.sat_id)
        if "in_contact" in frame.channels:
            self._in_contact[rows] |= frame.channels["in_contact"].astype(bool)
        if tick != self._tick:  # a new tick takes the oldest slot of the ring
            slot = tick % self.capacity
            if tick >= self.capacity:  # what that slot held is lost where it was never sent
                old = tick - self.capacity
                self.overwritten += int(self._sampled(slot)[self._sent_tick < old].sum())
            for column in self._values.values():
                column[slot] = np.nan
            self._time_ns[slot] = frame.time_unix_ns
            self._tick = tick
        slot = tick % self.capacity
        for name, v in values.items():
            self._values[name][slot, rows] = v
        if values:
            self.recorded += int(rows.shape[0])

    def _sampled(self, slot) -> np.ndarray:
        """(…, n_sat) bool: which satellites have a sample in ``slot`` (one or many)."""
        return np.logical_or.reduce([~np.isnan(v[slot]) for v in self._values.values()])

    @property
    def latest_tick(self) -> int:
        """The latest tick recorded (-1: none yet)."""
        return self._tick

    @property
    def on_board(self) -> int:
        """Samples recorded and neither sent nor overwritten."""
        return self.recorded - self.sent - self.overwritten

    def flush(self, now_ns: int) -> list[observed.ObservedPacket]:
        """The packets the ground receives at ``now_ns``: every sample still on board of the
        satellites in contact since the last flush (the rest stay on board)."""
        sending = np.flatnonzero(self._in_contact)
        self._in_contact[:] = False
        if sending.size == 0 or self._tick < 0:
            return []
        first = np.maximum(self._sent_tick[sending] + 1, self._tick - self.capacity + 1)
        count = self._tick + 1 - first
        self._sent_tick[sending] = self._tick
        # (satellite, tick) of every sample to send, satellite by satellite, in time order
        sat_rows = np.repeat(sending, count)
        ticks = np.repeat(first - np.cumsum(count) + count, count) + np.arange(count.sum())
        slots = ticks % self.capacity
        present = self._sampled((slots, sat_rows)) if slots.size else np.zeros(0, bool)
        sat_rows, slots = sat_rows[present], slots[present]
        columns = {name: v[slots, sat_rows] for name, v in self._values.items()}
        times = self._time_ns[slots]
        starts = np.flatnonzero(np.r_[True, sat_rows[1:] != sat_rows[:-1]]) if sat_rows.size else []
        bounds = [*np.asarray(starts[1:]).tolist(), sat_rows.shape[0]]
        packets = []
        for a, b in zip(np.asarray(starts).tolist(), bounds, strict=True):  # one dump each
            row = int(sat_rows[a])
            for lo in range(a, b, observed.MAX_SAMPLES_PER_PACKET):
                hi = min(lo + observed.MAX_SAMPLES_PER_PACKET, b)
                sampled = {n: c[lo:hi] for n, c in columns.items() if not np.isnan(c[lo:hi]).all()}
                packets.append(
                    observed.ObservedPacket(
                        int(self.sat_id[row]), int(self._seq[row]), now_ns, times[lo:hi], sampled
                    )
                )
                self._seq[row] += 1
        self.sent += int(sat_rows.shape[0])
        return packets


@dataclass
class EmulatorSink:
    """The truth run's sink (``twin.sim.engine.Sink``): each frame sensed and recorded, the
    recorders of the satellites in contact dumped every ``dump_ns`` of simulated time, each
    packet handed to ``send``; at each tick, the element sets ``feed`` has due handed to
    ``send_elements``; events and job steps are the truth's own, not sent."""

    recorder: Recorder
    start_ns: int
    step_ns: int
    dump_ns: int
    seed: int
    send: Callable[[observed.ObservedPacket], None]
    feed: ElementFeed | None = None
    send_elements: Callable[[int, Satrec], None] | None = None
    packets: int = 0
    element_sets: int = 0
    _next_dump_ns: int | None = None

    def frame(self, frame: Frame) -> None:
        tick = (frame.time_unix_ns - self.start_ns) // self.step_ns
        if self._next_dump_ns is None:
            self._next_dump_ns = self.start_ns + self.dump_ns
        new_tick = tick != self.recorder.latest_tick
        # A dump comes before the first frame of a tick, so every frame group of the ticks
        # it covers is on board (a tick's frames arrive one group at a time).
        if frame.time_unix_ns >= self._next_dump_ns and new_tick:
            self._next_dump_ns = frame.time_unix_ns + self.dump_ns
            self.dump(frame.time_unix_ns)
        if new_tick and self.feed is not None and self.send_elements is not None:
            for sat_id, sat in self.feed.due(frame.time_unix_ns):
                self.send_elements(sat_id, sat)
                self.element_sets += 1
        self.recorder.record(tick, frame, sensed(frame, self.seed, tick))

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
