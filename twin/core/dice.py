"""Counter-based random numbers: one draw per (seed, tick, satellite, stream), no state.

A satellite's draws depend only on the run's seed, the tick's index, its own id and what the
draw is for, never on which other satellites share the process. So a fleet split into shards
draws exactly what the whole fleet does, and a run resumed at any tick draws what an
uninterrupted one does, with no generator state to checkpoint. The mixing function is
SplitMix64's finaliser (Steele, Lea and Flood 2014, "Fast splittable pseudorandom number
generators", OOPSLA), whose outputs pass BigCrush for consecutive inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STREAMS = ("background", "imagery", "upset", "reset")
# the reality emulator's: hidden parameters and sensor noise (appended: earlier draws keep)
STREAMS += ("truth_battery", "truth_array", "truth_radiator")
STREAMS += ("noise_battery_v", "noise_battery_a", "noise_array", "noise_payload", "noise_radiator")
STREAMS += ("elements_phase", "fit_along", "fit_cross")  # the emulator's element-set feed
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_POISSON_TERMS = 12  # enough for a mean of 1 per tick to within 1e-9


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class Dice:
    """The draws of one tick for the satellites ``sat_id`` (n_sat,)."""

    seed: int
    tick: int
    sat_id: np.ndarray

    def _bits(self, stream: str) -> np.ndarray:
        """(n_sat,) uint64 mixed bits, one word per satellite, for ``stream``."""
        key = np.array(
            [self.seed % 2**64, self.tick % 2**64, STREAMS.index(stream)], dtype=np.uint64
        )
        with np.errstate(over="ignore"):
            base = _mix(_mix(_mix(key[0:1] + _GOLDEN) ^ key[1:2]) + _GOLDEN * (key[2:3] + 1))
            return _mix(self.sat_id.astype(np.uint64) * _GOLDEN + base)

    def uniform(self, stream: str) -> np.ndarray:
        """(n_sat,) float64 uniform on [0, 1), one per satellite, for ``stream``."""
        return (self._bits(stream) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def normal(self, stream: str) -> np.ndarray:
        """(n_sat,) float64 standard normal, one per satellite, for ``stream``: Box-Muller on
        two 32-bit halves of one word."""
        z = self._bits(stream)
        u1 = ((z >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32  # (0, 1)
        u2 = (z & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)

    def poisson(self, stream: str, mean: np.ndarray) -> np.ndarray:
        """(n_sat,) int64 Poisson counts of the given means (small: well under 1 a tick),
        by inverting the distribution function with one uniform per satellite."""
        u = self.uniform(stream)
        term = np.exp(-mean)
        cdf = term.copy()
        count = np.zeros(u.shape, np.int64)
        for k in range(1, _POISSON_TERMS):  # over terms of the series, not satellites
            count += u >= cdf
            term = term * mean / k
            cdf = cdf + term
        return count
