"""Satellite hardware: typed specifications from presets, and per-satellite arrays.

A ``HardwareSpec`` describes one satellite model (field names carry units). ``Hardware``
holds every field as an ``(n_sat,)`` array so that physics can index nothing and loop over
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from itertools import pairwise

import numpy as np

ARRAY_POINTING = ("sun-tracking", "zenith")
BACKGROUND_KINDS = ("inference", "training_step")
MAX_THROTTLE_STATES = 8


@dataclass(frozen=True)
class HardwareSpec:
    """One satellite model. Fractions are 0..1; efficiencies are one-way."""

    # Solar array
    array_area_m2: float
    array_cell_efficiency: float
    array_packing_factor: float
    array_pointing: str  # "sun-tracking" (normal on the Sun) or "zenith" (body-fixed, up)
    array_degradation_per_year: float
    array_age_years: float
    # Battery
    battery_capacity_wh: float
    battery_soc_min: float
    battery_soc_max: float
    battery_soc_initial: float
    battery_charge_efficiency: float
    battery_discharge_efficiency: float
    battery_max_charge_w: float
    battery_max_discharge_w: float
    battery_fade_per_cycle: float  # capacity lost per equivalent full cycle, fraction of BOL
    safe_mode_enter_soc: float
    safe_mode_exit_soc: float
    # Loads
    bus_load_w: float
    heater_w: float
    heater_on_c: float
    heater_off_c: float
    laser_terminals: int
    laser_terminal_w: float
    accelerator_peak_tops: float
    accelerator_idle_w: float
    accelerator_peak_w: float
    payload_utilisation: float  # mean load of the background workload, share of peak TOPS
    background_kind: str  # kind of the background jobs: "inference" or "training_step"
    imagery_per_pass: float  # chance that a pass over a target region makes an imagery task
    # Accelerator throttle states, fastest first: share of peak TOPS and of dynamic power
    throttle_clock_fractions: tuple[float, ...]
    throttle_power_fractions: tuple[float, ...]
    throttle_above_c: float  # payload temperature above which the clock steps down a state
    throttle_below_c: float  # ... below which it steps back up
    compute_soc_floor: float  # no job starts below this state of charge
    eclipse_compute_w: float  # dynamic accelerator power allowed in eclipse
    # Radiation
    upset_rate_per_day: float  # accelerator upsets outside the South Atlantic Anomaly
    saa_upset_factor: float  # upset rate multiplier at the anomaly's centre
    upset_reset_fraction: float  # share of upsets that hang the accelerator until a reset
    accelerator_reset_s: float
    max_job_retries: int  # restarts after upsets before a job fails
    # Links
    downlink_mbps: float  # the satellite's downlink radio (the station may be slower)
    isl_rate_gbps: float  # laser terminal data rate
    isl_range_km: float  # longest laser link
    isl_setup_s: float  # acquisition and pointing before a link carries data
    # Thermal
    radiator_area_m2: float
    radiator_emissivity: float
    radiator_absorptivity: float
    radiator_sun_view_factor: float  # fraction of the radiator's area facing the Sun
    radiator_earth_view_factor: float  # view factor from the radiator to the Earth
    payload_heat_capacity_j_k: float
    radiator_heat_capacity_j_k: float
    payload_radiator_conductance_w_k: float
    temp_initial_c: float
    # Heat pump from the payload to the radiator (MW-class modules): it lifts heat so that
    # the radiator runs hotter than the payload and rejects more per square metre (σT⁴).
    # 0: none, conduction alone.
    heat_pump_max_w: float = 0.0  # heat lifted out of the payload at most, W (thermal)
    heat_pump_carnot_fraction: float = 0.5  # share of the Carnot coefficient achieved
    heat_pump_max_cop: float = 10.0  # coefficient ceiling when the lift is small or negative
    heat_pump_setpoint_c: float = 45.0  # payload temperature it holds
    # Input link: jobs' input data sent up by client satellites or the ground, received
    # before a job can start (imagery is captured on board). 0: input is on board on arrival.
    input_link_mbps: float = 0.0
    # Work of one background job, tera-operations; 0: its kind's default (a MW-class module
    # takes jobs sized to it, not thousands of a small satellite's).
    background_job_tera_ops: float = 0.0


# Accepted ranges, checked when a preset is loaded: (low, high) inclusive.
RANGES: dict[str, tuple[float, float]] = {
    "array_area_m2": (0.0, 1e6),
    "array_cell_efficiency": (0.01, 0.5),
    "array_packing_factor": (0.1, 1.0),
    "array_degradation_per_year": (0.0, 0.2),
    "array_age_years": (0.0, 30.0),
    "battery_capacity_wh": (1.0, 1e7),
    "battery_soc_min": (0.0, 1.0),
    "battery_soc_max": (0.0, 1.0),
    "battery_soc_initial": (0.0, 1.0),
    "battery_charge_efficiency": (0.5, 1.0),
    "battery_discharge_efficiency": (0.5, 1.0),
    "battery_max_charge_w": (0.0, 1e7),
    "battery_max_discharge_w": (0.0, 1e7),
    "battery_fade_per_cycle": (0.0, 0.01),
    "safe_mode_enter_soc": (0.0, 1.0),
    "safe_mode_exit_soc": (0.0, 1.0),
    "bus_load_w": (0.0, 1e6),
    "heater_w": (0.0, 1e5),
    "heater_on_c": (-100.0, 100.0),
    "heater_off_c": (-100.0, 100.0),
    "laser_terminals": (0, 16),
    "laser_terminal_w": (0.0, 1e4),
    "accelerator_peak_tops": (0.0, 1e7),
    "accelerator_idle_w": (0.0, 1e7),
    "accelerator_peak_w": (0.0, 1e7),
    "payload_utilisation": (0.0, 1.0),
    "imagery_per_pass": (0.0, 1.0),
    "throttle_above_c": (-50.0, 200.0),
    "throttle_below_c": (-50.0, 200.0),
    "compute_soc_floor": (0.0, 1.0),
    "eclipse_compute_w": (0.0, 1e7),
    "upset_rate_per_day": (0.0, 1e4),
    "saa_upset_factor": (1.0, 1e4),
    "upset_reset_fraction": (0.0, 1.0),
    "accelerator_reset_s": (0.0, 86_400.0),
    "max_job_retries": (0, 100),
    "downlink_mbps": (0.0, 1e6),
    "isl_rate_gbps": (0.0, 1e5),
    "isl_range_km": (0.0, 1e5),
    "isl_setup_s": (0.0, 3_600.0),
    "radiator_area_m2": (0.01, 1e6),
    "radiator_emissivity": (0.01, 1.0),
    "radiator_absorptivity": (0.0, 1.0),
    "radiator_sun_view_factor": (0.0, 1.0),
    "radiator_earth_view_factor": (0.0, 1.0),
    "payload_heat_capacity_j_k": (1.0, 1e9),
    "radiator_heat_capacity_j_k": (1.0, 1e9),
    "payload_radiator_conductance_w_k": (0.01, 1e6),
    "temp_initial_c": (-100.0, 100.0),
    "heat_pump_max_w": (0.0, 1e8),
    "heat_pump_carnot_fraction": (0.05, 1.0),
    "heat_pump_max_cop": (1.0, 100.0),
    "heat_pump_setpoint_c": (-50.0, 150.0),
    "input_link_mbps": (0.0, 1e6),
    "background_job_tera_ops": (0.0, 1e10),
}


def check_spec(spec: HardwareSpec, where: str) -> None:
    """Raise ``ValueError`` naming ``where.field``, the value and the accepted range."""
    for name, (low, high) in RANGES.items():
        value = getattr(spec, name)
        if not low <= value <= high:
            raise ValueError(f"{where}.{name}: {value!r} is outside the accepted {low}..{high}")
    if spec.array_pointing not in ARRAY_POINTING:
        raise ValueError(
            f"{where}.array_pointing: {spec.array_pointing!r} is not one of "
            f"{', '.join(ARRAY_POINTING)}"
        )
    if spec.background_kind not in BACKGROUND_KINDS:
        raise ValueError(
            f"{where}.background_kind: {spec.background_kind!r} is not one of "
            f"{', '.join(BACKGROUND_KINDS)}"
        )
    _check_throttle(spec, where)
    pairs = [
        ("throttle_below_c", "throttle_above_c"),
        ("battery_soc_min", "battery_soc_max"),
        ("battery_soc_min", "safe_mode_enter_soc"),
        ("safe_mode_enter_soc", "safe_mode_exit_soc"),
        ("heater_on_c", "heater_off_c"),
        ("accelerator_idle_w", "accelerator_peak_w"),
        ("battery_soc_min", "battery_soc_initial"),
        ("battery_soc_initial", "battery_soc_max"),
    ]
    for low_name, high_name in pairs:
        if getattr(spec, low_name) > getattr(spec, high_name):
            raise ValueError(
                f"{where}: {low_name} ({getattr(spec, low_name)}) must not exceed "
                f"{high_name} ({getattr(spec, high_name)})"
            )


def _check_throttle(spec: HardwareSpec, where: str) -> None:
    clock, power = spec.throttle_clock_fractions, spec.throttle_power_fractions
    for name, values in (("throttle_clock_fractions", clock), ("throttle_power_fractions", power)):
        ok = 1 <= len(values) <= MAX_THROTTLE_STATES and values[0] == 1.0
        ok = ok and all(0.0 < b < a for a, b in pairwise(values))
        if not ok or not all(0.0 < v <= 1.0 for v in values):
            raise ValueError(
                f"{where}.{name}: {list(values)!r} must hold 1 to {MAX_THROTTLE_STATES} "
                "fractions in (0, 1], starting at 1.0 and strictly decreasing"
            )
    if len(clock) != len(power):
        raise ValueError(
            f"{where}: throttle_clock_fractions ({len(clock)} states) and "
            f"throttle_power_fractions ({len(power)} states) must have the same length"
        )


class _Rows(Mapping):
    """The arrays of ``arrays`` at ``rows``, each gathered when first read: a subset of
    millions of rows (one per sample) costs only the fields a caller uses."""

    def __init__(self, arrays: Mapping[str, np.ndarray], rows: np.ndarray) -> None:
        self._arrays, self._rows, self._gathered = arrays, rows, {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._gathered:
            self._gathered[name] = self._arrays[name][self._rows]
        return self._gathered[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)


@dataclass(frozen=True)
class Hardware:
    """Every ``HardwareSpec`` field as an (n_sat,) array; ``array_tracking`` is boolean."""

    arrays: Mapping[str, np.ndarray]

    def subset(self, rows: np.ndarray) -> Hardware:
        """The hardware of the satellites at ``rows`` (each field gathered when read)."""
        return Hardware(_Rows(self.arrays, rows))

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.arrays[name]
        except KeyError:
            raise AttributeError(name) from None


def hardware_arrays(specs: list[HardwareSpec], counts: list[int]) -> Hardware:
    """Expand one spec per shell into per-satellite arrays (shell k repeated counts[k] times).

    Throttle tables become (n_sat, k) arrays, shorter tables padded with their last state;
    ``background_kind`` becomes ``background_training`` (bool).
    """
    arrays: dict[str, np.ndarray] = {}
    for f in fields(HardwareSpec):
        values = [getattr(s, f.name) for s in specs]
        if f.name == "array_pointing":
            arrays["array_tracking"] = np.repeat([v == "sun-tracking" for v in values], counts)
        elif f.name == "background_kind":
            training = [v == "training_step" for v in values]
            arrays["background_training"] = np.repeat(training, counts)
        elif f.name.startswith("throttle_") and f.name.endswith("_fractions"):
            k = max(len(v) for v in values)
            padded = [list(v) + [v[-1]] * (k - len(v)) for v in values]
            arrays[f.name] = np.repeat(np.asarray(padded, np.float64), counts, axis=0)
        else:
            arrays[f.name] = np.repeat(np.asarray(values, dtype=np.float64), counts)
    return Hardware(arrays)
