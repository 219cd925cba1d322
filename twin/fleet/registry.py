"""The registry records of a fleet (``twin.satellites``): each satellite's name, shell, plane,
hardware model, element epoch and, for satellites flown from real element sets, catalogue
number."""

from __future__ import annotations

import numpy as np

from twin.core.clock import NS_PER_S
from twin.fleet.constellation import Fleet
from twin.wire.satellites import Satellite

UNIX_EPOCH_JD = 2_440_587.5
SECONDS_PER_DAY = 86_400


def records(
    fleet: Fleet,
    fleet_name: str,
    shell_names: list[str],
    hardware_names: list[str],
    telemetry_interval_s: float,
    catalogued: bool = False,
) -> list[Satellite]:
    """One record per satellite, in the fleet's order. ``shell_names`` and ``hardware_names``
    are indexed by shell; with ``catalogued`` (element sets of real objects) each record
    carries its elements' catalogue number."""
    jd = np.array([e.jdsatepoch + e.jdsatepochF for e in fleet.elements])
    epoch_ns = np.round((jd - UNIX_EPOCH_JD) * SECONDS_PER_DAY * NS_PER_S).astype(np.int64)
    return [
        Satellite(
            sat_id=int(sat),
            name=f"SAT-{int(sat):05d}",
            fleet=fleet_name,
            shell=shell_names[int(shell)],
            plane=int(plane),
            hardware=hardware_names[int(shell)],
            element_epoch_unix_ns=int(epoch),
            telemetry_interval_s=float(telemetry_interval_s),
            norad_cat_id=int(element.satnum) if catalogued and element.satnum > 0 else None,
        )
        for sat, shell, plane, epoch, element in zip(
            fleet.sat_id, fleet.shell, fleet.plane, epoch_ns, fleet.elements, strict=True
        )
    ]
