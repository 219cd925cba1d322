"""Channel limits resolved for each satellite, and the colour a value gets against them.

The dictionary (``twin.wire.telemetry.CHANNELS``) states each limit as a number or as a
function of a hardware field (``FromHardware``); here they become numbers per satellite from
its ``Hardware`` arrays, in one call for the whole fleet.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from twin.fleet.hardware import Hardware, HardwareSpec
from twin.wire.telemetry import CHANNELS, FromHardware, Limit

GREEN, YELLOW, RED = 0, 1, 2
HARDWARE_FIELDS = frozenset(f.name for f in fields(HardwareSpec))


def limit_values(limit: Limit, hw: Hardware) -> np.ndarray:
    """(n_sat,) float64 values of one limit for the satellites of ``hw`` (NaN: none)."""
    n_sat = hw.arrays["battery_capacity_wh"].shape[0]
    if limit is None:
        return np.full(n_sat, np.nan)
    if isinstance(limit, FromHardware):
        return limit.scale * hw.arrays[limit.field].astype(np.float64) + limit.offset
    return np.full(n_sat, float(limit))


def resolve(hw: Hardware) -> dict[str, np.ndarray]:
    """Channel name -> (n_sat, 4) float64 limits ``red_low, yellow_low, yellow_high,
    red_high`` per satellite, NaN where the channel has no such limit; channels with no limit
    at all are left out."""
    return {
        name: np.stack([limit_values(limit, hw) for _, limit in channel.limits.items()], axis=1)
        for name, channel in CHANNELS.items()
        if any(limit is not None for _, limit in channel.limits.items())
    }


def colour(values: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """(n,) int8 ``GREEN``, ``YELLOW`` or ``RED`` of ``values`` (n,) against ``limits``
    (n, 4) from ``resolve``; a missing value (NaN) is green (not judged)."""
    with np.errstate(invalid="ignore"):
        red = (values < limits[:, 0]) | (values > limits[:, 3])
        yellow = (values < limits[:, 1]) | (values > limits[:, 2])
    return np.where(red, RED, np.where(yellow, YELLOW, GREEN)).astype(np.int8)
