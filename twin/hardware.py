"""Satellite hardware: typed specifications from presets, and per-satellite arrays.

A ``HardwareSpec`` describes one satellite model (field names carry units). ``Hardware``
holds every field as an ``(n_sat,)`` array so that physics can index nothing and loop over
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

ARRAY_POINTING = ("sun-tracking", "zenith")


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
    payload_utilisation: float  # nominal accelerator utilisation outside safe mode
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
    "radiator_area_m2": (0.01, 1e6),
    "radiator_emissivity": (0.01, 1.0),
    "radiator_absorptivity": (0.0, 1.0),
    "radiator_sun_view_factor": (0.0, 1.0),
    "radiator_earth_view_factor": (0.0, 1.0),
    "payload_heat_capacity_j_k": (1.0, 1e9),
    "radiator_heat_capacity_j_k": (1.0, 1e9),
    "payload_radiator_conductance_w_k": (0.01, 1e6),
    "temp_initial_c": (-100.0, 100.0),
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
    pairs = [
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


@dataclass(frozen=True)
class Hardware:
    """Every ``HardwareSpec`` field as an (n_sat,) array; ``array_tracking`` is boolean."""

    arrays: dict[str, np.ndarray]

    def subset(self, rows: np.ndarray) -> Hardware:
        """The hardware of the satellites at ``rows``."""
        return Hardware({name: a[rows] for name, a in self.arrays.items()})

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.arrays[name]
        except KeyError:
            raise AttributeError(name) from None


def hardware_arrays(specs: list[HardwareSpec], counts: list[int]) -> Hardware:
    """Expand one spec per shell into per-satellite arrays (shell k repeated counts[k] times)."""
    arrays: dict[str, np.ndarray] = {}
    for f in fields(HardwareSpec):
        values = [getattr(s, f.name) for s in specs]
        if f.name == "array_pointing":
            arrays["array_tracking"] = np.repeat([v == "sun-tracking" for v in values], counts)
        else:
            arrays[f.name] = np.repeat(np.asarray(values, dtype=np.float64), counts)
    return Hardware(arrays)
