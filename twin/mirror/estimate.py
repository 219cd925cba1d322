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
- **Radiator emissivity**: the radiator node's heat balance (``twin.physics.thermal``)
  over each unbroken run of samples, integrated so that the noise of the temperatures enters
  only at the run's ends: C_r·T_r − ∫[G·(T_p − T_r) + absorbed sunlight and albedo] dt =
  ε·∫[A·Earth infrared − σA(T_r⁴ − T_sink⁴)] dt + a constant per run, fitted by least squares
  pooled over the runs of a satellite (the trapezoid rule between samples). The payload's own
  dissipation never enters, so what the accelerators do need not be known. Satellites with
  a heat pump get none: the heat it delivers to the radiator is not observed.

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
from twin.physics import power, thermal
from twin.physics.state import environment

FULL_SUN = 0.999  # illumination above which a sample counts for the array
MIN_SAMPLES = 20  # fewer: no estimate
GAP_FACTOR = 1.5  # a step longer than this × the satellite's usual step breaks a run
MAX_PAIRS_PER_CALL = 1_000_000  # satellite × time pairs propagated in one environment call
MIN_SOC_SPAN = 0.03  # a battery seen over less of its charge gives no capacity
# A run shorter than this is left out of the battery fit: over a few samples the state of
# charge moves less than its noise, which would bias the slope towards zero.
MIN_RUN_SAMPLES = 30
BLOCK_S = 1800  # the batch means' block of a satellite's samples, s
MIN_BLOCKS = 4  # fewer blocks: the residuals' standard error alone
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


@dataclass(frozen=True)
class SampleEnvironment:
    """The mirror's own orbit and Sun at each sample: ``r_km``, ``sun_km`` (3, m) TEME km;
    ``illumination`` (0..1) and ``flux_w_m2`` (m,)."""

    r_km: np.ndarray
    sun_km: np.ndarray
    illumination: np.ndarray
    flux_w_m2: np.ndarray

    def at(self, mask: np.ndarray) -> SampleEnvironment:
        """The samples where ``mask`` (m,) bool holds."""
        return SampleEnvironment(
            self.r_km[:, mask], self.sun_km[:, mask], self.illumination[mask], self.flux_w_m2[mask]
        )


def sample_environment(fleet: Fleet, rows: np.ndarray, t_ns: np.ndarray) -> SampleEnvironment:
    """Orbit, Sun and shadow of fleet row ``rows[i]`` at ``t_ns[i]``, (m,) each, propagated
    over the distinct times in chunks of at most ``MAX_PAIRS_PER_CALL`` satellite-time pairs."""
    m = rows.shape[0]
    out = SampleEnvironment(np.zeros((3, m)), np.zeros((3, m)), np.zeros(m), np.zeros(m))
    times, t_index = np.unique(t_ns, return_inverse=True)
    per_call = max(1, MAX_PAIRS_PER_CALL // max(fleet.n_sat, 1))
    for a in range(0, times.shape[0], per_call):  # over chunks of times
        chunk = times[a : a + per_call]
        env = environment(fleet, chunk)
        mine = (t_index >= a) & (t_index < a + chunk.shape[0])
        r, k = rows[mine], t_index[mine] - a
        out.r_km[:, mine] = env.orbit.r_teme_km[:, r, k]
        out.sun_km[:, mine] = env.sun_teme_km[:, 0, k]
        out.illumination[mine] = env.illumination[r, k]
        out.flux_w_m2[mine] = env.flux_w_m2[r, k]
    return out


def _channel(samples: Samples, name: str) -> np.ndarray:
    """One observed channel, (m,); all NaN where it was never sampled."""
    return samples.channels.get(name, np.full(samples.row.shape, np.nan))


def _environment_at(
    fleet: Fleet, samples: Samples, ok: np.ndarray, env: SampleEnvironment | None
) -> SampleEnvironment:
    """The environment of the samples where ``ok`` holds: from ``env`` (of every sample)
    when given, else propagated for those samples only."""
    if env is not None:
        return env.at(ok)
    return sample_environment(fleet, samples.row[ok], samples.t_ns[ok])


def array_efficiency(
    fleet: Fleet, hw: Hardware, samples: Samples, env: SampleEnvironment | None = None
) -> Estimate:
    """Array efficiency against the preset's (sun-tracking or zenith-fixed arrays alike).
    ``env``: ``sample_environment`` of every sample, when the caller has it."""
    observed_w = _channel(samples, "array_w")
    ok = np.isfinite(observed_w)
    rows, observed_w = samples.row[ok], observed_w[ok]
    env = _environment_at(fleet, samples, ok, env)
    sats = hw.subset(rows)
    cos_inc = power.array_cos_incidence(sats, env.r_km, env.sun_km)
    nominal = power.array_power_w(sats, env.flux_w_m2, env.illumination, cos_inc)
    use = (env.illumination >= FULL_SUN) & (nominal > 0) & np.isfinite(nominal)
    return _per_row(observed_w[use] / nominal[use], rows[use], fleet.n_sat)


def _runs(row: np.ndarray, t_ns: np.ndarray, n_sat: int) -> tuple[np.ndarray, ...]:
    """Unbroken runs of samples sorted by (row, time): the same satellite, steps no longer
    than ``GAP_FACTOR`` × its usual one. Returns (joined (m-1,) bool: sample i+1 continues
    sample i's run; run (m,) run id of each sample; dt_s (m-1,) the steps)."""
    dt_s = np.diff(t_ns) / NS_PER_S
    same = row[1:] == row[:-1]
    usual = np.full(n_sat, np.inf)
    if same.any():
        usual = median_per_group(dt_s[same], row[1:][same], n_sat)
    joined = same & (dt_s <= GAP_FACTOR * usual[row[1:]])
    return joined, np.r_[0, np.cumsum(~joined)], dt_s


def _since_run_start(step: np.ndarray, joined: np.ndarray, run: np.ndarray) -> np.ndarray:
    """(m,) the sum of ``step`` (m-1,) from each run's first sample to each sample (0 at
    the first; a step that does not join two samples counts nothing)."""
    cumulative = np.r_[0.0, np.cumsum(np.where(joined, step, 0.0))]
    return cumulative - cumulative[np.r_[0, np.flatnonzero(~joined) + 1]][run]


def _long_runs(run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The samples in runs of at least ``MIN_RUN_SAMPLES`` (m,) bool, and their runs
    renumbered from 0."""
    long_run = np.bincount(run)[run] >= MIN_RUN_SAMPLES
    return long_run, np.unique(run[long_run], return_inverse=True)[1]


def _withheld(n_sat: int, row: np.ndarray) -> Estimate:
    nan = np.full(n_sat, np.nan)
    return Estimate(nan, nan.copy(), np.bincount(row, minlength=n_sat))


def battery_capacity(hw: Hardware, samples: Samples) -> Estimate:
    """Battery capacity against the preset's (see the module docstring)."""
    n_sat = hw.arrays["battery_capacity_wh"].shape[0]
    volts, amps = _channel(samples, "battery_v"), _channel(samples, "battery_a")
    ok = np.isfinite(volts) & np.isfinite(amps)
    row, t_ns, volts, amps = samples.row[ok], samples.t_ns[ok], volts[ok], amps[ok]
    nominal_wh = hw.battery_capacity_wh
    if row.shape[0] < 2:
        return _withheld(n_sat, row)
    joined, run, dt_s = _runs(row, t_ns, n_sat)
    watts = volts * amps
    stored_w = np.where(
        watts > 0,
        watts * hw.battery_charge_efficiency[row],
        watts / hw.battery_discharge_efficiency[row],
    )
    # Energy stored since the run's first sample: the power of each sample over its step.
    energy_wh = _since_run_start(stored_w[:-1] * dt_s / 3600.0, joined, run)
    # State of charge without the resistance's part: the pack's voltage taken as open
    # circuit; the I·R part is fitted per satellite beside the capacity (the pack's
    # resistance is not known any better than its capacity).
    soc = power.state_of_charge(volts, np.zeros_like(amps), nominal_wh[row])
    long_run, run_kept = _long_runs(run)
    if not long_run.any():
        return _withheld(n_sat, row)
    coefficients, stderr = _pooled_fit(
        energy_wh[long_run],
        (soc[long_run], amps[long_run]),
        run_kept,
        row[long_run],
        n_sat,
    )
    multiplier, stderr = coefficients[:, 0] / nominal_wh, stderr[:, 0] / nominal_wh
    count = np.bincount(row, minlength=n_sat)
    low, high = np.full(n_sat, np.inf), np.full(n_sat, -np.inf)
    np.minimum.at(low, row, soc)
    np.maximum.at(high, row, soc)
    enough = (count >= MIN_SAMPLES) & (high - low >= MIN_SOC_SPAN) & (stderr <= MAX_STDERR)
    return Estimate(np.where(enough, multiplier, np.nan), np.where(enough, stderr, np.nan), count)


def radiator_emissivity(
    fleet: Fleet, hw: Hardware, samples: Samples, env: SampleEnvironment | None = None
) -> Estimate:
    """Radiator emissivity against the preset's (see the module docstring). ``env``:
    ``sample_environment`` of every sample, when the caller has it."""
    n_sat = fleet.n_sat
    payload_c = _channel(samples, "temp_payload_c")
    radiator_c = _channel(samples, "temp_radiator_c")
    ok = np.isfinite(payload_c) & np.isfinite(radiator_c)
    ok &= hw.heat_pump_max_w[samples.row] <= 0.0  # the pump's heat to the radiator is unseen
    row, t_ns = samples.row[ok], samples.t_ns[ok]
    if row.shape[0] < 2:
        return _withheld(n_sat, row)
    t_payload_k = payload_c[ok] + thermal.KELVIN
    t_radiator_k = radiator_c[ok] + thermal.KELVIN
    env = _environment_at(fleet, samples, ok, env)
    sats = hw.subset(row)
    absorbed_rest_w, infrared_w = thermal.radiator_absorbed_parts_w(
        sats, env.flux_w_m2, env.illumination, env.r_km, env.sun_km
    )
    infrared_w = infrared_w / sats.radiator_emissivity  # per unit of emissivity
    sigma_a = thermal.STEFAN_BOLTZMANN_W_M2_K4 * sats.radiator_area_m2
    per_emissivity_w = infrared_w - sigma_a * (t_radiator_k**4 - thermal.T_SINK_K**4)
    known_w = sats.payload_radiator_conductance_w_k * (t_payload_k - t_radiator_k)
    known_w = known_w + absorbed_rest_w
    joined, run, dt_s = _runs(row, t_ns, n_sat)

    def integral_j(watts):  # the trapezoid rule between samples, from each run's start
        return _since_run_start(0.5 * (watts[1:] + watts[:-1]) * dt_s, joined, run)

    heat_j = sats.radiator_heat_capacity_j_k * t_radiator_k - integral_j(known_w)
    long_run, run_kept = _long_runs(run)
    if not long_run.any():
        return _withheld(n_sat, row)
    fit = (
        heat_j[long_run],
        (integral_j(per_emissivity_w)[long_run],),
        run_kept,
        row[long_run],
        n_sat,
    )
    coefficients, stderr = _pooled_fit(*fit)
    # The temperatures' noise enters through integrals: the residuals understate the error.
    stderr = np.maximum(stderr, _batch_stderr(*fit, t_ns[long_run]))
    nominal = hw.radiator_emissivity
    multiplier, stderr = coefficients[:, 0] / nominal, stderr[:, 0] / nominal
    count = np.bincount(row, minlength=n_sat)
    enough = (count >= MIN_SAMPLES) & (stderr <= MAX_STDERR)
    return Estimate(np.where(enough, multiplier, np.nan), np.where(enough, stderr, np.nan), count)


def _pooled_fit(y, xs, run, row, n_sat):
    """Least squares of ``y`` (m,) on the regressors ``xs`` (k of (m,)) within runs, pooled
    per satellite: y = Σ b_j·x_j + a constant per run. Returns the coefficients b and their
    standard errors from the residuals, (n_sat, k) each; NaN where the regressors cannot be
    told apart."""
    return _fit(y, np.stack(xs), run, row, n_sat)


def _batch_stderr(y, xs, run, row, n_sat, t_ns):
    """The standard error of ``_pooled_fit``'s coefficients by batch means, (n_sat, k): the
    same fit in each ``BLOCK_S`` of a satellite's samples, the blocks' spread over √blocks
    (0 with fewer than ``MIN_BLOCKS`` blocks). For integrals, whose errors drift together
    over a run rather than average out sample by sample, the residuals understate it."""
    block = (t_ns - t_ns.min()) // (BLOCK_S * NS_PER_S)
    n_block = int(block.max()) + 1
    group = row * n_block + block  # each satellite's blocks, in (row, time) order already
    run_block = np.r_[0, np.cumsum((run[1:] != run[:-1]) | (group[1:] != group[:-1]))]
    per_block = _fit(y, np.stack(xs), run_block, group, n_sat * n_block)[0]
    per_block = per_block.reshape(n_sat, n_block, -1)
    blocks = np.isfinite(per_block).sum(axis=1)
    spread = np.nanstd(np.where(blocks[:, None, :] >= 2, per_block, 0.0), axis=1, ddof=1)
    return np.where(blocks >= MIN_BLOCKS, spread / np.sqrt(np.maximum(blocks, 1)), 0.0)


def _fit(y, x, run, group, n_group):
    """``_pooled_fit``'s least squares per group, ``x`` (k, m): (coefficients, residual
    standard errors), (n_group, k) each."""
    n_run = int(run[-1]) + 1
    size = np.bincount(run, minlength=n_run)

    def within(v):  # deviations from each run's mean
        return v - (np.bincount(run, v, n_run) / size)[run]

    x = np.stack([within(v) for v in x])  # (k, m)
    y = within(y)
    k = x.shape[0]
    normal = np.stack(
        [
            np.stack([np.bincount(group, x[a] * x[b], n_group) for b in range(k)], -1)
            for a in range(k)
        ],
        -2,
    )  # (n_group, k, k)
    moment = np.stack([np.bincount(group, x[a] * y, n_group) for a in range(k)], -1)
    scale = np.sqrt(np.einsum("sii->si", normal))  # conditioning: unit diagonal
    good = (scale > 0).all(axis=1)
    safe = np.where(good[:, None], scale, 1.0)
    unit = normal / (safe[:, :, None] * safe[:, None, :])
    good &= np.abs(np.linalg.det(np.where(good[:, None, None], unit, np.eye(k)))) > 1e-12
    unit = np.where(good[:, None, None], unit, np.eye(k))
    inverse = np.linalg.inv(unit) / (safe[:, :, None] * safe[:, None, :])
    coefficients = np.einsum("sij,sj->si", inverse, moment)
    residual = y - np.einsum("km,mk->m", x, coefficients[group])
    runs_of_group = np.bincount(group[np.r_[True, run[1:] != run[:-1]]], minlength=n_group)
    dof = np.bincount(group, minlength=n_group) - runs_of_group - k
    good &= dof > 0
    sigma2 = np.bincount(group, residual * residual, n_group) / np.maximum(dof, 1)
    stderr = np.sqrt(sigma2[:, None] * np.einsum("sii->si", inverse))
    return (
        np.where(good[:, None], coefficients, np.nan),
        np.where(good[:, None], stderr, np.nan),
    )
