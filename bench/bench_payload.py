"""Compute, contacts and ISL step cost for 2,800 and 30,000 satellites with 50 stations, as a
ratio to the orbit step of the same fleet in the same run.

For each fleet size (a Walker 53° shell at 550 km with threebody-12 hardware; 40 planes up
to 10,000 satellites, 100 above) and 50 synthetic stations spread over the globe (seeded),
the payload is first warmed up by 120 ticks of the real loop (``twin.sim.engine.run``) so that
jobs are queued, results are on board and laser links are acquired. Then, for the next tick,
it prints the best of ``--repeats`` wall times of:

- the reference: the orbit step of one tick, ``twin.physics.orbit.propagate`` (SGP4, TEME → ITRS,
  geodetic) for the whole fleet;
- plan: ``twin.payload.schedule.plan`` (arrivals, throttle, scheduling the accelerators);
- contacts: ``schedule.contacts_at`` (the cone prefilter, ``ground.visible_pairs`` and
  ``assign_pairs``; part of settle);
- ISL: ``links.feasible`` + ``step_links`` + ``hops_to_ground`` (part of settle);
- settle: the whole ``twin.payload.schedule.settle`` (work done, upsets, contacts, links, transfers,
  deadlines, lifecycle steps);
- payload total: plan then settle, timed together;

each in ms and as a ratio to the orbit step. Every figure calls the engine's own functions
with the inputs ``twin.sim.engine.run`` gives them.

Run: ``python bench/bench_payload.py`` (options: ``--sizes 2800 30000 --repeats 10
--stations 50``).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from timing import best_of  # bench/ is on the path when a benchmark runs

from twin.core.clock import NS_PER_S, parse_start
from twin.core.dice import Dice
from twin.fleet.constellation import walker_delta
from twin.fleet.hardware import hardware_arrays
from twin.payload import ground
from twin.payload import schedule as payload
from twin.payload.workload import load_targets
from twin.physics import links
from twin.physics.orbit import propagate
from twin.physics.state import environment, step
from twin.physics.thermal import KELVIN
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import load_preset

START_NS = parse_start("2026-03-20T12:00:00Z")
WARM_TICKS = 120  # ticks of the real loop before the measured one: jobs exist, links are up
DT_S = 1.0
STATION_SEED = 2026
STATION_MAX_LAT_DEG = 75.0  # synthetic stations between 75° S and 75° N
SEED = 0  # the run's dice seed, as ``twin run`` defaults to


def planes_for(n_sat: int) -> int:
    """Planes of the benchmark shell: 40 up to 10,000 satellites, else 100 (or the largest
    common divisor with ``n_sat``, so any size builds)."""
    return math.gcd(n_sat, 40 if n_sat <= 10_000 else 100)


def synthetic_stations(n_st: int) -> ground.Stations:
    """``n_st`` stations uniform in area between ±``STATION_MAX_LAT_DEG`` (seeded)."""
    rng = np.random.default_rng(STATION_SEED)
    sin_max = math.sin(math.radians(STATION_MAX_LAT_DEG))
    lat_deg = np.degrees(np.arcsin(rng.uniform(-sin_max, sin_max, n_st)))
    lon_deg = rng.uniform(-180.0, 180.0, n_st)
    return ground.stations_from_arrays(lat_deg, lon_deg)


def bench(n_sat: int, n_st: int, repeats: int) -> None:
    fleet = walker_delta(n_sat, planes_for(n_sat), 1, 550.0, 53.0, START_NS)
    spec = next(iter(load_preset("threebody-12").hardware.values()))
    hw = hardware_arrays([spec], [n_sat])
    ctx = payload.make_context(fleet, hw, START_NS, synthetic_stations(n_st), load_targets())

    warm = run(
        fleet, hw, RunPlan(START_NS, NS_PER_S, WARM_TICKS), FramesTo(lambda frame: None), ctx=ctx
    )
    physical, pay_state = warm.final_state.physical, warm.final_state.payload

    # The inputs twin.sim.engine.run gives the payload at tick WARM_TICKS.
    t_ns = START_NS + WARM_TICKS * NS_PER_S
    t_one = np.array([t_ns], dtype=np.int64)
    env = environment(fleet, t_one).at(0)
    o = env.orbit
    lat, lon = o.lat_deg[:, 0], o.lon_deg[:, 0]
    r_teme, r_itrs = o.r_teme_km[:, :, 0], o.r_itrs_km[:, :, 0]
    safe_mode = physical.safe_mode
    dice = Dice(SEED, WARM_TICKS, fleet.sat_id)

    def plan() -> payload.Plan:
        return payload.plan(
            ctx,
            pay_state,
            physical.battery_wh / physical.battery_capacity_wh,
            safe_mode,
            physical.temp_payload_k - KELVIN,
            lat,
            lon,
            env.sunlit[:, 0],
            t_ns,
            DT_S,
            dice,
        )

    served_share = step(physical, hw, env, DT_S, plan().compute_w)[1].served_share

    def settle(p: payload.Plan):
        return payload.settle(
            ctx, p, served_share, safe_mode, r_teme, r_itrs, lat, lon, t_ns, DT_S, dice
        )

    contacts = ground.assign_contacts(ground.elevation_deg(r_itrs, ctx.stations), ctx.stations)
    downlink_mbps = np.minimum(contacts.downlink_mbps, hw.downlink_mbps)
    in_contact = (contacts.station_row >= 0) & (downlink_mbps > 0)  # as settle decides it

    def contacts_step():
        payload.contacts_at(ctx, r_itrs)

    def isl_step():
        ok = links.feasible(ctx.grid, r_teme, hw.isl_range_km, payload.GRAZING_ALTITUDE_KM)
        setup_s = links.per_link(ctx.grid, hw.isl_setup_s, np.maximum)
        _, up = links.step_links(links.LinkState(pay_state.link_acquired_s), ok, setup_s, DT_S)
        links.hops_to_ground(ctx.grid, up, in_contact, payload.MAX_RELAY_HOPS)

    # settle appends to its plan's step log: each timed call gets a plan of its own.
    plans = iter([plan() for _ in range(repeats)])

    orbit_s = best_of(lambda: propagate(fleet.satrecs, t_one), repeats)
    plan_s = best_of(plan, repeats)
    contacts_s = best_of(contacts_step, repeats)
    isl_s = best_of(isl_step, repeats)
    settle_s = best_of(lambda: settle(next(plans)), repeats)
    total_s = best_of(lambda: settle(plan()), repeats)

    new_state, tick, _ = settle(plan())
    print(
        f"{n_sat:>6} sats × {n_st} stations | after {WARM_TICKS} ticks:"
        f" {new_state.jobs.n} jobs in the table, {int(tick.in_contact.sum())} sats in contact,"
        f" {int(tick.isl_up.sum()) // 2} laser links up"
    )

    def part(name: str, seconds: float) -> str:
        return f"{name} {seconds * 1e3:.1f} ms ({seconds / orbit_s:.2f}x)"

    print(
        f"{n_sat:>6} sats × {n_st} stations | orbit step {orbit_s * 1e3:.1f} ms"
        f" | {part('plan', plan_s)} | {part('contacts', contacts_s)} | {part('ISL', isl_s)}"
        f" | {part('settle', settle_s)}"
        f" | payload total {total_s * 1e3:.1f} ms ({total_s / orbit_s:.2f}x orbit)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2800, 30_000])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--stations", type=int, default=50)
    args = parser.parse_args()
    for name in ("repeats", "stations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}: {getattr(args, name)} is not accepted; expected 1 or more")
    for n in args.sizes:
        bench(n, args.stations, args.repeats)


if __name__ == "__main__":
    main()
