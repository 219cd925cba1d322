"""Each satellite's parameters estimated from its observed telemetry against the nominal
model, vectorised over the fleet: the result is a multiplier of the preset's value with its
standard error, so the model converges to each real satellite rather than to the preset.

- **Array efficiency**: in full sunlight (the mirror's own orbit and shadow model at each
  sample time), observed array power over the nominal array's; the median of the ratios, its
  error 1.4826·MAD/√n.
- **Battery capacity**: the state of charge each sample implies (the pack's open-circuit
  voltage, its voltage less I·R, inverted by ``twin.physics.power.state_of_charge``)
  against the energy the battery stored between samples (terminal power × the charge
  efficiency, or ÷ the discharge efficiency, × the interval): within each unbroken run of
  samples, stored energy = capacity × state of charge + a constant, fitted by least squares
  pooled over the runs of a satellite (runs broken at a gap, so a sample lost never biases
  it). The pack's resistance is no better known than its capacity, so the state of charge is
  taken at open circuit (the voltage as measured) and the I·R part fitted beside it:
  energy = C·soc_oc − C·R/ΔV·I + a constant per run. Runs shorter than
  ``MIN_RUN_SAMPLES`` are left out (their state of charge moves less than its noise); a
  battery seen over less than ``MIN_SOC_SPAN`` of its charge gets no estimate.

An estimate resting on fewer than ``MIN_SAMPLES`` samples, or with a standard error above
``MAX_STDERR``, is withheld (NaN): no estimate rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.core.clock import NS_PER_S
from twin.core.stats import median_per_group
from twin.fleet.constellation import Fleet
from twin.fleet.hardware import Hardware
from twin.physics import power
from twin.physics.state import environment

FULL_SUN = 0.999  # illumination above which a sample counts for the array
MIN_SAMPLES = 20  # fewer: no estimate
GAP_FACTOR = 1.5  # a step longer than this × the satellite's usual step breaks a run
MAX_PAIRS_PER_CALL = 1_000_000  # satellite × time pairs propagated in one environment call
MIN_SOC_SPAN = 0.03  # a battery seen over less of its charge gives no capacity
# A run shorter than this is left out of the battery fit: over a few samples the state of
# charge moves less than its noise, which would bias the slope towards zero.
MIN_RUN_SAMPLES = 30
MAX_STDERR = 0.02  # an estimate less certain than this (a multiple of the preset) is withheld


@dataclass(frozen=True)
class Samples:
    """Observed samples of many satellites, sorted by (row, time), each (m,).

    ``row`` indexes the fleet; ``t_ns`` int64 sample times; ``channels`` name -> float64
    values in ``twin.wire.observed`` units (NaN: not sampled)."""

    row: np.ndarray
    t_ns: np.ndarray
    channels: dict[str, np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """One parameter for every satellite, each (n_sat,): the multiplier of the preset's
    value, its standard error and the samples it rests on (NaN multiplier: too few)."""

    multiplier: np.ndarray
    stderr: np.ndarray
    samples: np.ndarray


def _per_row(values: np.ndarray, row: np.ndarray, n_sat: int) -> Estimate:
    """Median of ``values`` (k,) per fleet row with its robust standard error."""
    count = np.bincount(row, minlength=n_sat)
    median = median_per_group(values, row, n_sat)
    mad = median_per_group(np.abs(values - median[row]), row, n_sat)
    stderr = 1.4826 * mad / np.sqrt(np.maximum(count, 1))
    enough = (count >= MIN_SAMPLES) & (stderr <= MAX_STDERR)
    return Estimate(np.where(enough, median, np.nan), np.where(enough, stderr, np.nan), count)


def array_efficiency(fleet: Fleet, hw: Hardware, samples: Samples) -> Estimate:
    """Array efficiency against the preset's (sun-tracking or zenith-fixed arrays alike)."""
    ok = np.isfinite(samples.channels.get("array_w", np.full(samples.row.shape, np.nan)))
    rows, t_ns = samples.row[ok], samples.t_ns[ok]
    observed_w = samples.channels["array_w"][ok] if ok.any() else np.zeros(0)
    times, t_index = np.unique(t_ns, return_inverse=True)
    nominal = np.full(rows.shape[0], np.nan)
    lit = np.zeros(rows.shape[0], dtype=bool)
    per_call = max(1, MAX_PAIRS_PER_CALL // max(fleet.n_sat, 1))
    for a in range(0, times.shape[0], per_call):  # over chunks of times
        chunk = times[a : a + per_call]
        env = environment(fleet, chunk)
        mine = (t_index >= a) & (t_index < a + chunk.shape[0])
        r, k = rows[mine], t_index[mine] - a
        r_km = env.orbit.r_teme_km[:, r, k]
        sun_km = env.sun_teme_km[:, 0, k]
        cos_inc = power.array_cos_incidence(hw.subset(r), r_km, sun_km)
        illumination = env.illumination[r, k]
        nominal[mine] = power.array_power_w(
            hw.subset(r), env.flux_w_m2[r, k], illumination, cos_inc
        )
        lit[mine] = illumination >= FULL_SUN
    use = lit & (nominal > 0) & np.isfinite(nominal)
    return _per_row(observed_w[use] / nominal[use], rows[use], fleet.n_sat)


def battery_capacity(hw: Hardware, samples: Samples) -> Estimate:
    """Battery capacity against the preset's (see the module docstring)."""
    n_sat = hw.arrays["battery_capacity_wh"].shape[0]
    volts = samples.channels.get("battery_v", np.full(samples.row.shape, np.nan))
    amps = samples.channels.get("battery_a", np.full(samples.row.shape, np.nan))
    ok = np.isfinite(volts) & np.isfinite(amps)
    row, t_ns, volts, amps = samples.row[ok], samples.t_ns[ok], volts[ok], amps[ok]
    nominal_wh = hw.battery_capacity_wh
    if row.shape[0] < 2:
        nan = np.full(n_sat, np.nan)
        return Estimate(nan, nan.copy(), np.bincount(row, minlength=n_sat))
    # Unbroken runs: the same satellite, steps no longer than GAP_FACTOR × its usual one.
    dt_s = np.diff(t_ns) / NS_PER_S
    same = row[1:] == row[:-1]
    usual = np.full(n_sat, np.inf)
    if same.any():
        usual = median_per_group(dt_s[same], row[1:][same], n_sat)
    joined = same & (dt_s <= GAP_FACTOR * usual[row[1:]])
    run = np.r_[0, np.cumsum(~joined)]  # run id of each sample
    watts = volts * amps
    stored_w = np.where(
        watts > 0,
        watts * hw.battery_charge_efficiency[row],
        watts / hw.battery_discharge_efficiency[row],
    )
    # Energy stored since the run's first sample: the power of each sample over its step.
    step_wh = np.where(joined, stored_w[:-1] * dt_s / 3600.0, 0.0)
    cumulative = np.r_[0.0, np.cumsum(step_wh)]
    energy_wh = cumulative - cumulative[np.r_[0, np.flatnonzero(~joined) + 1]][run]
    # State of charge without the resistance's part: the pack's voltage taken as open
    # circuit; the I·R part is fitted per satellite beside the capacity (the pack's
    # resistance is not known any better than its capacity).
    soc = power.state_of_charge(volts, np.zeros_like(amps), nominal_wh[row])
    long_run = np.bincount(run)[run] >= MIN_RUN_SAMPLES
    if not long_run.any():
        nan = np.full(n_sat, np.nan)
        return Estimate(nan, nan.copy(), np.bincount(row, minlength=n_sat))
    _, run_kept = np.unique(run[long_run], return_inverse=True)
    multiplier, stderr = _pooled_fit(
        soc[long_run], amps[long_run], energy_wh[long_run], run_kept, row[long_run], n_sat
    )
    multiplier, stderr = multiplier / nominal_wh, stderr / nominal_wh
    count = np.bincount(row, minlength=n_sat)
    span = np.zeros(n_sat)
    if row.shape[0]:
        low, high = np.full(n_sat, np.inf), np.full(n_sat, -np.inf)
        np.minimum.at(low, row, soc)
        np.maximum.at(high, row, soc)
        span = high - low
    enough = (count >= MIN_SAMPLES) & (span >= MIN_SOC_SPAN) & (stderr <= MAX_STDERR)
    return Estimate(np.where(enough, multiplier, np.nan), np.where(enough, stderr, np.nan), count)


def _pooled_fit(soc, amps, energy_wh, run, row, n_sat):
    """Least squares of energy on (state of charge at open circuit, current) within runs,
    pooled per satellite: energy = C·soc − C·R/ΔV·I + a constant per run. Returns C (Wh) and
    its standard error, (n_sat,) each; NaN where the two cannot be told apart."""
    n_run = int(run[-1]) + 1
    size = np.bincount(run, minlength=n_run)

    def within(x):  # deviations from each run's mean
        return x - (np.bincount(run, x, n_run) / size)[run]

    x, i, y = within(soc), within(amps), within(energy_wh)
    sxx, sxi, sii = (np.bincount(row, a * b, n_sat) for a, b in ((x, x), (x, i), (i, i)))
    sxy, siy = np.bincount(row, x * y, n_sat), np.bincount(row, i * y, n_sat)
    det = sxx * sii - sxi * sxi
    good = det > 1e-12 * np.maximum(sxx * sii, 1e-300)
    safe = np.where(good, det, 1.0)
    capacity = np.where(good, (sii * sxy - sxi * siy) / safe, np.nan)
    slope_i = np.where(good, (sxx * siy - sxi * sxy) / safe, np.nan)
    residual = y - capacity[row] * x - slope_i[row] * i
    runs_of_row = np.bincount(row[np.r_[True, run[1:] != run[:-1]]], minlength=n_sat)
    dof = np.maximum(np.bincount(row, minlength=n_sat) - runs_of_row - 2, 1)
    sigma2 = np.bincount(row, residual * residual, n_sat) / dof
    stderr = np.sqrt(sigma2 * np.where(good, sii / safe, np.nan))
    return capacity, stderr
