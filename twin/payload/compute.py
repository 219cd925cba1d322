"""Onboard accelerators: throttle states, capacity under power and heat, radiation upsets.

Every function takes and returns ``(n_sat,)`` arrays (throttle tables are ``(n_sat, k)``)
and loops over nothing. Work is in tera-operations (TOPS × s), power in W, energy in J.

An accelerator in throttle state ``k`` delivers at most ``peak_tops × clock_fraction[k]``
and draws ``idle_w + u × (peak_w − idle_w) × power_fraction[k]`` at utilisation ``u`` of that
throttled capacity, so the energy of one tera-operation in state ``k`` is the constant
``(peak_w − idle_w) × power_fraction[k] / (peak_tops × clock_fraction[k])``: per-job energies
sum exactly to the accelerator's dynamic energy.
"""

from __future__ import annotations

import numpy as np

from twin.core.dice import Dice
from twin.fleet.hardware import Hardware

# The South Atlantic Anomaly at low-Earth-orbit altitudes: proton flux peaks near 26° S,
# 50° W and covers roughly 50° S–0° and 90° W–40° E (Heirtzler 2002, J. Atmos. Sol.-Terr.
# Phys. 64, "The future of the South Atlantic anomaly"; AP-8 maps at 500 km). A Gaussian
# bump with these centre and widths is the bundled coarse model.
SAA_CENTRE_LAT_DEG = -26.0
SAA_CENTRE_LON_DEG = -50.0
SAA_SIGMA_LAT_DEG = 12.0
SAA_SIGMA_LON_DEG = 30.0
SECONDS_PER_DAY = 86_400.0


def saa_weight(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Relative proton flux of the South Atlantic Anomaly, 1 at its centre, → 0 far away.

    ``lat_deg``, ``lon_deg``: geodetic sub-satellite point, any shape; NaN gives 0.
    """
    dlon = (lon_deg - SAA_CENTRE_LON_DEG + 180.0) % 360.0 - 180.0
    z2 = ((lat_deg - SAA_CENTRE_LAT_DEG) / SAA_SIGMA_LAT_DEG) ** 2 + (dlon / SAA_SIGMA_LON_DEG) ** 2
    return np.nan_to_num(np.exp(-0.5 * z2), nan=0.0)


def upset_rate_per_s(hw: Hardware, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Accelerator upset rate (1/s): the quiet rate raised up to ``saa_upset_factor`` times
    inside the South Atlantic Anomaly. (n_sat,)."""
    boost = 1.0 + (hw.saa_upset_factor - 1.0) * saa_weight(lat_deg, lon_deg)
    return hw.upset_rate_per_day / SECONDS_PER_DAY * boost


def draw_upsets(
    hw: Hardware, lat_deg: np.ndarray, lon_deg: np.ndarray, dt_s: float, dice: Dice
) -> tuple[np.ndarray, np.ndarray]:
    """Upsets during one tick as a Poisson process: (upset, reset), each (n_sat,) bool.

    At most one upset per satellite per tick (ticks are short against the mean time between
    upsets); a share ``upset_reset_fraction`` of upsets hangs the accelerator until a reset.
    """
    p_upset = -np.expm1(-upset_rate_per_s(hw, lat_deg, lon_deg) * dt_s)
    upset = dice.uniform("upset") < p_upset
    return upset, upset & (dice.uniform("reset") < hw.upset_reset_fraction)


def next_throttle(hw: Hardware, level: np.ndarray, temp_payload_c: np.ndarray) -> np.ndarray:
    """Throttle state after one tick: one state slower above ``throttle_above_c``, one faster
    below ``throttle_below_c``, held in between (hysteresis). ``level``: (n_sat,) int8."""
    deepest = hw.throttle_clock_fractions.shape[1] - 1
    hot = temp_payload_c > hw.throttle_above_c
    cool = temp_payload_c < hw.throttle_below_c
    return np.clip(level + hot.astype(np.int8) - cool.astype(np.int8), 0, deepest).astype(np.int8)


def _at_level(table: np.ndarray, level: np.ndarray) -> np.ndarray:
    """``table[i, level[i]]`` for every satellite ``i``; table (n_sat, k)."""
    return table[np.arange(table.shape[0]), level]


def full_clock_tops(hw: Hardware, level: np.ndarray) -> np.ndarray:
    """The most the accelerator delivers in throttle state ``level``, TOPS, (n_sat,)."""
    return hw.accelerator_peak_tops * _at_level(hw.throttle_clock_fractions, level)


def capacity_tops(
    hw: Hardware, level: np.ndarray, sunlit: np.ndarray, available: np.ndarray
) -> np.ndarray:
    """Throughput the accelerator may deliver this tick, TOPS, (n_sat,).

    The throttle state bounds it; in eclipse the dynamic power is further capped at
    ``eclipse_compute_w`` (the eclipse energy budget); ``available`` is False in safe mode
    or while the accelerator is being reset.
    """
    full_tops = full_clock_tops(hw, level)
    dynamic_w = dynamic_power_w(hw, level, full_tops)
    eclipse_share = np.minimum(1.0, hw.eclipse_compute_w / np.where(dynamic_w > 0, dynamic_w, 1.0))
    return np.where(available, full_tops * np.where(sunlit, 1.0, eclipse_share), 0.0)


def joules_per_tera_op(hw: Hardware, level: np.ndarray) -> np.ndarray:
    """Dynamic energy of one tera-operation in throttle state ``level``, J, (n_sat,)."""
    dynamic_peak_w = (hw.accelerator_peak_w - hw.accelerator_idle_w) * _at_level(
        hw.throttle_power_fractions, level
    )
    tops = full_clock_tops(hw, level)
    return np.where(tops > 0, dynamic_peak_w / np.where(tops > 0, tops, 1.0), 0.0)


def dynamic_power_w(hw: Hardware, level: np.ndarray, delivered_tops: np.ndarray) -> np.ndarray:
    """Accelerator power above idle while delivering ``delivered_tops``, W, (n_sat,)."""
    return joules_per_tera_op(hw, level) * delivered_tops


def allocate_in_order(group: np.ndarray, demand: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Share each group's capacity among its items in order, first come first served.

    Parameters
    ----------
    group : (m,) intp, the group of each item, sorted ascending; items of a group are in
        service order.
    demand : (m,) float, what each item asks for.
    capacity : (n_group,) float, what each group can give.

    Returns
    -------
    (m,) float: what each item gets; an item gets all it asks for (exactly) while its
    group's capacity lasts, then a part, then nothing.
    """
    if group.shape[0] == 0:
        return np.zeros(0)
    # One running sum over all groups, in extended precision so that what an item gets
    # does not depend (beyond float64 rounding) on how much work other groups hold.
    wide = demand.astype(np.longdouble)
    total = np.cumsum(wide)
    first = np.r_[True, group[1:] != group[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(group.shape[0]), 0))
    before = (total - wide - (total[start] - wide[start])).astype(np.float64)
    return np.clip(capacity[group] - before, 0.0, demand)
