"""The payload's tick: schedule jobs on the accelerators, then deliver their results.

A tick has two halves around the power and thermal step (``twin.physics.state.step``):

1. ``plan``: jobs arrive (background, imagery, submissions), the throttle state follows the
   payload temperature, and each satellite's capacity is shared among its jobs by priority
   (no job starts below the state-of-charge floor; eclipse caps the accelerator's power).
   The result is the accelerator power the power model is asked for.
2. ``settle``: the work actually powered is done; radiation upsets restart jobs or hang the
   accelerator; contacts and laser links are found; results move one hop over a laser link
   towards a satellite in contact, or down to the ground; late jobs fail.

Everything is an array over satellites or jobs; the only loops run over the four laser link
directions and a few relay hops inside ``twin.physics.links``.

Length: the two halves share the payload state and its array bookkeeping (job table,
queues, results in flight); split apart they would pass a dozen arrays to each other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from twin.core.dice import Dice
from twin.fleet.constellation import R_EARTH_WGS72_KM, Fleet
from twin.fleet.hardware import Hardware
from twin.payload import compute, ground, workload
from twin.physics import links
from twin.physics.orbit import propagate
from twin.wire import jobs
from twin.wire.jobs import COMPUTED, DOWNLINKED, FAILED, QUEUED, RUNNING, Jobs

GRAZING_ALTITUDE_KM = 80.0  # [E] laser lines of sight pass above the dense atmosphere
MAX_RELAY_HOPS = 4  # results relay over at most this many laser hops to a satellite in contact
MB_PER_MBIT = 1.0 / 8.0
REACH_HEADROOM_KM = 50.0  # above the highest apogee: SGP4's periodic terms, drag's rise
TOTALS = ("accepted", "rejected", "downlinked", "failed", "closed_energy_j")


@dataclass(frozen=True)
class Context:
    """What stays fixed during a run: satellites, hardware, stations, targets, link grid,
    and the cells each station can see satellites in."""

    sat_id: np.ndarray
    hw: Hardware
    stations: ground.Stations
    targets: workload.Targets
    grid: links.Grid
    link_setup_s: np.ndarray  # (n_sat, 4) acquisition time of each link: the slower end's
    reach: ground.Reach


def make_context(
    fleet: Fleet,
    hw: Hardware,
    t0_ns: int,
    stations: ground.Stations | None = None,
    targets: workload.Targets | None = None,
) -> Context:
    """The run's context; the laser grid is built from the orbits at ``t0_ns``."""
    orbit = propagate(fleet.satrecs, np.array([t0_ns], np.int64))
    grid = links.grid_topology(
        fleet, orbit.r_teme_km[:, :, 0], orbit.v_teme_km_s[:, :, 0], hw.laser_terminals
    )
    stations = stations if stations is not None else ground.load_stations()
    # The highest apogee of the fleet (sgp4's ``alta``, Earth radii above the surface), once
    # a run: no satellite climbs out of the stations' reach.
    apogee = np.fromiter((sat.alta for sat in fleet.elements), np.float64, fleet.n_sat)
    highest_km = (1.0 + float(apogee.max(initial=0.0))) * R_EARTH_WGS72_KM
    return Context(
        fleet.sat_id,
        hw,
        stations,
        targets if targets is not None else workload.load_targets(),
        grid,
        links.per_link(grid, hw.isl_setup_s, np.maximum),
        ground.make_reach(stations, highest_km + REACH_HEADROOM_KM),
    )


@dataclass(frozen=True)
class PayloadState:
    """The payload's evolving state: jobs, per-satellite arrays (n_sat,) and run totals."""

    jobs: Jobs
    seq: np.ndarray  # int64: next job number of each satellite
    throttle_level: np.ndarray  # int8: 0 = full clock
    reset_left_s: np.ndarray  # accelerator reset still to wait
    over_target: np.ndarray  # bool: over an imagery target at the last tick
    link_acquired_s: np.ndarray  # (n_sat, 4): how long each laser link has been feasible
    visible: np.ndarray  # (n_sat, n_station) bool at the last tick
    contacts_known: bool  # False before the first tick (no AOS/LOS on it)
    submitted_ids: tuple[str, ...]  # identifiers of submitted jobs, by -(key + 1)
    totals: np.ndarray  # (len(TOTALS),) float64 run totals

    def total(self, name: str) -> float:
        return float(self.totals[TOTALS.index(name)])

    def take(self, rows: np.ndarray) -> PayloadState:
        """The payload state of the satellites at fleet ``rows`` (k,), renumbered 0..k-1:
        the jobs that run on them and whose results are on them; a result on its way to a
        satellite left out is sent nowhere yet (it is routed again). Run totals are kept."""
        rows = np.asarray(rows, np.intp)
        new_row = np.full(self.seq.shape[0], -1, np.intp)
        new_row[rows] = np.arange(rows.shape[0])
        table = self.jobs
        kept = table.take((new_row[table.sat] >= 0) & (new_row[table.holder] >= 0))
        to = kept.sending_to
        peer = to >= 0
        sending_to = np.where(peer, new_row[np.maximum(to, 0)], to)
        sending_to = np.where(peer & (sending_to < 0), jobs.NOWHERE, sending_to)
        return replace(
            self,
            jobs=kept.update(
                sat=new_row[kept.sat], holder=new_row[kept.holder], sending_to=sending_to
            ),
            seq=self.seq[rows],
            throttle_level=self.throttle_level[rows],
            reset_left_s=self.reset_left_s[rows],
            over_target=self.over_target[rows],
            link_acquired_s=self.link_acquired_s[rows],
            visible=self.visible[rows],
        )


def initial_payload(ctx: Context) -> PayloadState:
    n = ctx.sat_id.shape[0]
    return PayloadState(
        jobs=jobs.no_jobs(),
        seq=np.zeros(n, np.int64),
        throttle_level=np.zeros(n, np.int8),
        reset_left_s=np.zeros(n),
        over_target=np.zeros(n, bool),
        link_acquired_s=links.initial_links(n).acquired_s,
        visible=np.zeros((n, ctx.stations.n_st), bool),
        contacts_known=False,
        submitted_ids=(),
        totals=np.zeros(len(TOTALS)),
    )


class StepLog:
    """Lifecycle steps collected during a tick, turned into one ``JobSteps`` at its end."""

    def __init__(self, ctx: Context):
        self.ctx, self.parts = ctx, []
        self.rejected: list[tuple[int, str, str]] = []

    def add(
        self, table: Jobs, rows, step: str, t_ns: int, reason: int = 0, ended=False, latency_s=None
    ) -> None:
        """Record ``step`` for the jobs at ``rows``; ``ended`` jobs report their energy."""
        rows = np.asarray(rows)
        if not (rows.any() if rows.dtype == bool else rows.size):
            return
        picked = table.take(rows)
        if picked.n:
            nan = np.full(picked.n, np.nan)
            self.parts.append(
                (
                    picked,
                    jobs.STEPS.index(step),
                    t_ns,
                    reason,
                    picked.energy_j if ended else nan,
                    nan if latency_s is None else latency_s,
                )
            )

    def reject(self, t_ns: int, job_id: str, reason: str) -> None:
        self.rejected.append((t_ns, job_id, reason[: jobs.MAX_REASON_CHARS]))

    def steps(self, submitted_ids: tuple[str, ...]) -> jobs.JobSteps:
        ids, times, step, sat, kind, reason, latency, energy = [], [], [], [], [], [], [], []
        for table, code, t_ns, why, e, lat in self.parts:
            sat_id = self.ctx.sat_id[table.sat]
            ids += [
                f"{s}-{k}" if k >= 0 else submitted_ids[-k - 1]
                for s, k in zip(sat_id.tolist(), table.key.tolist(), strict=True)
            ]
            times.append(np.full(table.n, t_ns, np.int64))
            step.append(np.full(table.n, code, np.int8))
            sat.append(sat_id.astype(np.int64))
            kind.append(table.kind)
            reason += [jobs.REASONS[why]] * table.n
            latency.append(lat)
            energy.append(e)
        for t_ns, job_id, why in self.rejected:
            ids.append(job_id)
            times.append(np.array([t_ns], np.int64))
            step.append(np.array([jobs.STEPS.index("rejected")], np.int8))
            sat.append(np.array([-1], np.int64))
            kind.append(np.array([-1], np.int8))
            reason.append(why)
            latency.append(np.array([np.nan]))
            energy.append(np.array([np.nan]))

        def cat(parts, dtype):
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        return jobs.JobSteps(
            time_unix_ns=cat(times, np.int64),
            job_id=ids,
            step=cat(step, np.int8),
            sat_id=cat(sat, np.int64),
            kind=cat(kind, np.int8),
            reason=reason,
            latency_s=cat(latency, np.float64),
            energy_j=cat(energy, np.float64),
        )


@dataclass(frozen=True)
class Plan:
    """The first half of a tick: what the accelerators are asked to do."""

    state: PayloadState  # after arrivals and the throttle update
    level_before: np.ndarray  # (n_sat,) throttle state at the end of the last tick
    order: np.ndarray  # (a,) job rows in service order (queued and running jobs)
    planned_tera_ops: np.ndarray  # (a,) work granted to each, if fully powered
    available: np.ndarray  # (n_sat,) accelerator powered and not hung
    full_tops: np.ndarray  # (n_sat,) most the accelerator delivers in its throttle state
    joules_per_tera_op: np.ndarray  # (n_sat,) dynamic energy of work in that state
    compute_w: np.ndarray  # (n_sat,) dynamic accelerator power asked for, W
    log: StepLog


def plan(
    ctx: Context,
    ps: PayloadState,
    soc: np.ndarray,
    safe_mode: np.ndarray,
    temp_payload_c: np.ndarray,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    sunlit: np.ndarray,
    t_ns: int,
    dt_s: float,
    dice: Dice,
    submissions: tuple[list[jobs.Submission], list[tuple[str, str]]] = ([], []),
) -> Plan:
    """Arrivals, throttle and scheduling for the tick starting at ``t_ns``; arrays (n_sat,).

    ``submissions``: accepted-for-this-fleet submissions and ``(job_id, reason)`` rejections.
    """
    hw = ctx.hw
    log = StepLog(ctx)
    over = workload.over_target(lat_deg, lon_deg, ctx.targets)
    # A satellite in safe mode takes no new work of its own (other systems may still pin
    # jobs to it; they wait).
    made, seq = workload.new_jobs(
        hw,
        workload.background_counts(hw, dt_s, dice) * ~safe_mode,
        workload.imagery_tasks(hw, over, ps.over_target, dice) & ~safe_mode,
        ps.seq,
        t_ns,
    )
    table = jobs.concat(ps.jobs, made) if made.n else ps.jobs
    ids = ps.submitted_ids
    accepted = table.n - ps.jobs.n
    new_from = ps.jobs.n
    submitted, rejected = submissions
    for job_id, reason in rejected:
        log.reject(t_ns, job_id, reason)
    if submitted:
        table, ids, turned_down = _admit(ctx, table, ids, submitted, safe_mode, t_ns)
        for job_id, reason in turned_down:
            log.reject(t_ns, job_id, reason)
        accepted = table.n - ps.jobs.n
    log.add(table, np.arange(new_from, table.n), "accepted", t_ns)
    table = _input_to_receive(hw, table, new_from)
    level = compute.next_throttle(hw, ps.throttle_level, temp_payload_c)
    available = ~safe_mode & (ps.reset_left_s <= 0.0)
    start_ok = available & (soc >= hw.compute_soc_floor)
    capacity = compute.capacity_tops(hw, level, sunlit, available) * dt_s
    active = np.nonzero((table.status == QUEUED) | (table.status == RUNNING))[0]
    order = active[jobs.service_order(table, active, table.sat[active])]
    # A job starts once its input is on board (what arrives during this tick waits for it).
    on_board = table.input_left_mb[order] <= 0.0
    eligible = (table.status[order] == RUNNING) | (start_ok[table.sat[order]] & on_board)
    demand = np.where(eligible, table.remaining_tera_ops[order], 0.0)
    planned = compute.allocate_in_order(table.sat[order], demand, capacity)
    planned_tops = np.bincount(table.sat[order], planned, ctx.sat_id.shape[0]) / dt_s
    jpt = compute.joules_per_tera_op(hw, level)
    table = _receive_input(hw, table, ~safe_mode, dt_s)
    totals = ps.totals.copy()
    totals[TOTALS.index("accepted")] += accepted
    totals[TOTALS.index("rejected")] += len(log.rejected)
    state = replace(
        ps,
        jobs=table,
        seq=seq,
        throttle_level=level,
        over_target=over,
        submitted_ids=ids,
        totals=totals,
    )
    return Plan(
        state,
        ps.throttle_level,
        order,
        planned,
        available,
        compute.full_clock_tops(hw, level),
        jpt,
        jpt * planned_tops,
        log,
    )


def _input_to_receive(hw: Hardware, table: Jobs, new_from: int) -> Jobs:
    """The jobs from row ``new_from`` on wait for their input over their satellite's input
    link when it has one (``input_link_mbps`` > 0); imagery is captured on board."""
    new = np.arange(new_from, table.n)
    if new.size == 0:
        return table
    by_link = (hw.input_link_mbps[table.sat[new]] > 0) & (
        table.kind[new] != jobs.KINDS.index("imagery")
    )
    left = table.input_left_mb.copy()
    left[new] = np.where(by_link, table.input_mb[new], 0.0)
    return table.update(input_left_mb=left)


def _receive_input(hw: Hardware, table: Jobs, link_up: np.ndarray, dt_s: float) -> Jobs:
    """Input arriving over each satellite's input link during the tick, ``link_up`` (n_sat,)
    bool, shared among its waiting jobs in service order."""
    rows = np.nonzero((table.status == QUEUED) & (table.input_left_mb > 0.0))[0]
    if rows.size == 0:
        return table
    rows = rows[jobs.service_order(table, rows, table.sat[rows])]
    capacity_mb = np.where(link_up, hw.input_link_mbps, 0.0) * dt_s * MB_PER_MBIT
    got_mb = compute.allocate_in_order(table.sat[rows], table.input_left_mb[rows], capacity_mb)
    left = table.input_left_mb.copy()
    left[rows] = np.maximum(left[rows] - got_mb, 0.0)
    return table.update(input_left_mb=left)


def _admit(ctx, table, ids, submitted, safe_mode, t_ns):
    """Add submitted jobs: on their satellite, or the least loaded one not in safe mode."""
    known = set(ids)
    rows_by_id = {int(s): r for r, s in enumerate(ctx.sat_id.tolist())}
    turned_down, made = [], []
    for sub in submitted:  # submissions are few; this loop runs over them, not satellites
        if sub.job_id in known:
            turned_down.append((sub.job_id, f"job_id: {sub.job_id!r} was already submitted"))
            continue
        if sub.sat_id is not None:
            row = rows_by_id.get(sub.sat_id, -1)
            if row < 0:
                turned_down.append((sub.job_id, f"sat_id: {sub.sat_id} is not in the fleet"))
                continue
        else:
            pending = (table.status == QUEUED) | (table.status == RUNNING)
            load = np.bincount(
                table.sat[pending], table.remaining_tera_ops[pending], ctx.sat_id.shape[0]
            )
            row = workload.least_loaded(load, ctx.hw, ~safe_mode)
            if row < 0:  # every satellite in safe mode: queue where the wait is shortest
                row = workload.least_loaded(load, ctx.hw, np.ones(safe_mode.shape, bool))
        known.add(sub.job_id)
        ids = (*ids, sub.job_id)
        made.append(
            jobs.make_jobs(
                key=-len(ids),
                sat=row,
                kind=sub.kind,
                origin=jobs.ORIGINS.index("submitted"),
                priority=sub.priority,
                work_tera_ops=sub.work_tera_ops,
                input_mb=sub.input_mb,
                result_mb=sub.result_mb,
                submitted_ns=t_ns,
                deadline_ns=t_ns + int(sub.deadline_s * 1e9),
            )
        )
        table = jobs.concat(table, made[-1])
    return table, ids, turned_down


@dataclass(frozen=True)
class PayloadTick:
    """Per-satellite outcomes of a tick, each (n_sat,), for telemetry."""

    utilisation: np.ndarray
    throughput_tops: np.ndarray
    throttle_level: np.ndarray
    queue_depth: np.ndarray
    upsets: np.ndarray
    job_latency_s: np.ndarray  # mean over jobs whose result reached the ground; NaN if none
    job_energy_j: np.ndarray  # mean energy of those jobs; NaN if none
    in_contact: np.ndarray
    station_id: np.ndarray  # -1 when not in contact
    downlink_mbps: np.ndarray
    isl_up: np.ndarray
    hops_to_ground: np.ndarray
    backlog_mb: np.ndarray  # results held on board
    compute_energy_j: float  # dynamic accelerator energy of the tick, the whole fleet
    aos: tuple[np.ndarray, np.ndarray]  # (sat rows, station rows) acquiring a station
    los: tuple[np.ndarray, np.ndarray]  # (sat rows, station rows) losing one


def settle(
    ctx: Context,
    p: Plan,
    served_share: np.ndarray,
    safe_mode: np.ndarray,
    r_teme_km: np.ndarray,
    r_itrs_km: np.ndarray,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    t_ns: int,
    dt_s: float,
    dice: Dice,
) -> tuple[PayloadState, PayloadTick, jobs.JobSteps]:
    """Do the powered work, then upsets, contacts, links, transfers and deadlines.

    ``served_share``: (n_sat,) share of the demanded load the power system served;
    ``r_teme_km``, ``r_itrs_km``: (3, n_sat) positions at the tick.
    """
    hw, ps, log, n_sat = ctx.hw, p.state, p.log, ctx.sat_id.shape[0]
    end_ns = t_ns + round(dt_s * 1e9)
    table = ps.jobs
    level = ps.throttle_level
    jpt = p.joules_per_tera_op

    # Results computed before this tick move first: one hop, or down to the ground.
    contacts, vis = contacts_at(ctx, r_itrs_km)
    link_state, up = links.step_links(
        links.LinkState(ps.link_acquired_s),
        _feasible(ctx, r_teme_km, safe_mode),
        ctx.link_setup_s,
        dt_s,
    )
    downlink_mbps = np.where(
        contacts.station_row >= 0, np.minimum(contacts.downlink_mbps, hw.downlink_mbps), 0.0
    )
    in_contact = downlink_mbps > 0
    hops, next_hop = links.hops_to_ground(ctx.grid, up, in_contact, MAX_RELAY_HOPS)
    table, delivered = _transfer(table, in_contact, downlink_mbps, next_hop, hw, dt_s)
    status = table.status.copy()
    status[delivered] = DOWNLINKED
    table = table.update(status=status)
    latency_s = (end_ns - table.submitted_ns[delivered]) / 1e9
    log.add(table, delivered, "downlinked", end_ns, ended=True, latency_s=latency_s)

    # The powered share of the planned work is done.
    sat = table.sat[p.order]
    given = p.planned_tera_ops * served_share[sat]
    remaining = table.remaining_tera_ops.copy()
    energy = table.energy_j.copy()
    status = table.status.copy()
    remaining[p.order] = np.maximum(remaining[p.order] - given, 0.0)
    energy[p.order] += given * jpt[sat]
    worked = np.zeros(table.n, bool)
    worked[p.order] = given > 0
    started = worked & (status == QUEUED)
    log.add(table, started, "started", t_ns)
    status[started] = RUNNING
    done = (status == RUNNING) & (remaining <= 0.0)
    status[done] = COMPUTED
    table = table.update(
        remaining_tera_ops=remaining,
        energy_j=energy,
        status=status,
        holder=np.where(done, table.sat, table.holder),
        result_left_mb=np.where(done, table.result_mb, table.result_left_mb),
        sending_to=np.where(done, jobs.NOWHERE, table.sending_to),
    )
    log.add(table, done, "completed", end_ns)
    delivered_tops = np.bincount(sat, given, n_sat) / dt_s
    full_tops = p.full_tops
    utilisation = np.where(full_tops > 0, delivered_tops / np.where(full_tops > 0, full_tops, 1), 0)
    hot = level > p.level_before
    log.add(table, (table.status == RUNNING) & hot[table.sat], "throttled", t_ns, jobs.HOT_THROTTLE)

    # Radiation: an upset restarts the running jobs of its satellite; some hang it.
    upset, reset = compute.draw_upsets(hw, lat_deg, lon_deg, dt_s, dice)
    upset &= p.available  # an accelerator that is off or hung cannot be upset
    reset &= p.available
    hit = (table.status == RUNNING) & upset[table.sat]
    retries = table.retries + hit
    exhausted = hit & (retries > hw.max_job_retries[table.sat])
    table = table.update(
        retries=retries.astype(np.int16),
        remaining_tera_ops=np.where(hit, table.work_tera_ops, table.remaining_tera_ops),
        status=np.where(exhausted, FAILED, table.status).astype(np.int8),
    )
    log.add(table, hit & ~exhausted, "retried", end_ns, jobs.UPSET_RETRY)
    log.add(table, exhausted, "failed", end_ns, jobs.UPSETS_EXHAUSTED, ended=True)
    reset_left = np.where(reset, hw.accelerator_reset_s, np.maximum(ps.reset_left_s - dt_s, 0.0))

    # Deadlines: what is not on the ground by its deadline fails.
    late = (table.deadline_ns <= end_ns) & (table.status <= COMPUTED)
    late_compute = late & (table.status != COMPUTED)
    log.add(table, late_compute, "failed", end_ns, jobs.LATE_COMPUTE, ended=True)
    log.add(table, late & ~late_compute, "failed", end_ns, jobs.LATE_DOWNLINK, ended=True)
    status = table.status.copy()
    status[late] = FAILED
    table = table.update(status=status)

    # Per-satellite outcomes, then the ended jobs leave the table.
    ended = status >= DOWNLINKED
    runner = table.sat[delivered]
    count = np.bincount(runner, minlength=n_sat)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_latency = np.bincount(runner, latency_s, n_sat) / count
        mean_energy = np.bincount(runner, table.energy_j[delivered], n_sat) / count
    pending = (status == QUEUED) | (status == RUNNING)
    aboard = status == COMPUTED
    totals = ps.totals.copy()
    totals[TOTALS.index("downlinked")] += int(delivered.shape[0])
    totals[TOTALS.index("failed")] += int((status == FAILED).sum())
    totals[TOTALS.index("closed_energy_j")] += float(table.energy_j[ended].sum())
    aos, los = (np.zeros(0, np.intp),) * 2, (np.zeros(0, np.intp),) * 2
    if ps.contacts_known:
        sat_rows, station_rows, acquired = ground.pass_changes(ps.visible, vis)
        aos = (sat_rows[acquired], station_rows[acquired])
        los = (sat_rows[~acquired], station_rows[~acquired])
    new = replace(
        ps,
        jobs=table.take(~ended),
        reset_left_s=reset_left,
        link_acquired_s=link_state.acquired_s,
        visible=vis,
        contacts_known=True,
        totals=totals,
    )
    tick = PayloadTick(
        utilisation=np.clip(utilisation, 0.0, 1.0),
        throughput_tops=delivered_tops,
        throttle_level=level.astype(np.int16),
        queue_depth=np.bincount(table.sat[pending], minlength=n_sat).astype(np.int16),
        upsets=upset.astype(np.int16),
        job_latency_s=mean_latency,
        job_energy_j=mean_energy,
        in_contact=in_contact,
        station_id=np.where(in_contact, ctx.stations.station_id[contacts.station_row], -1).astype(
            np.int16
        ),
        downlink_mbps=downlink_mbps,
        isl_up=links.link_counts(up).astype(np.int16),
        hops_to_ground=hops.astype(np.int16),
        backlog_mb=np.bincount(table.holder[aboard], table.result_left_mb[aboard], n_sat),
        compute_energy_j=float((given * jpt[sat]).sum()),
        aos=aos,
        los=los,
    )
    return new, tick, log.steps(new.submitted_ids)


def contacts_at(ctx: Context, r_itrs_km: np.ndarray) -> tuple[ground.Contacts, np.ndarray]:
    """The antennas granted, and which satellite sees which station, (n_sat, n_st) bool:
    through the cone prefilter, so the cost grows with the pairs in view."""
    sat, station, elevation = ground.visible_pairs(r_itrs_km, ctx.stations, ctx.reach)
    in_view = np.zeros((r_itrs_km.shape[1], ctx.stations.n_st), dtype=bool)
    in_view[sat, station] = True
    n_sat = r_itrs_km.shape[1]
    return ground.assign_pairs(sat, station, elevation, ctx.stations, n_sat), in_view


def _feasible(ctx: Context, r_teme_km: np.ndarray, safe_mode: np.ndarray) -> np.ndarray:
    """(n_sat, 4) laser links usable this tick: geometry, and both terminals powered."""
    ok = links.feasible(ctx.grid, r_teme_km, ctx.hw.isl_range_km, GRAZING_ALTITUDE_KM)
    neighbour = ctx.grid.neighbour
    powered = ~safe_mode[:, None] & ~np.where(neighbour >= 0, safe_mode[neighbour], True)
    return ok & powered


def _transfer(
    table: Jobs,
    in_contact: np.ndarray,
    downlink_mbps: np.ndarray,
    next_hop: np.ndarray,
    hw: Hardware,
    dt_s: float,
) -> tuple[Jobs, np.ndarray]:
    """Move computed results for one tick: down where the holder is in contact, else one
    laser hop towards a satellite in contact (store and forward: each hop resends the
    whole result). Returns the jobs and the rows whose result reached the ground."""
    rows = np.nonzero(table.status == COMPUTED)[0]
    rows = rows[jobs.service_order(table, rows, table.holder[rows])]
    holder = table.holder[rows]
    capacity_mb = np.where(
        in_contact,
        downlink_mbps * MB_PER_MBIT * dt_s,
        np.where(next_hop >= 0, hw.isl_rate_gbps * 1000.0 * MB_PER_MBIT * dt_s, 0.0),
    )
    # A transfer whose destination changed (route or contact) starts over.
    dest = np.where(in_contact[holder], jobs.GROUND, next_hop[holder])
    left = table.result_left_mb.copy()
    restart = rows[dest != table.sending_to[rows]]
    left[restart] = table.result_mb[restart]
    sent = compute.allocate_in_order(holder, left[rows], capacity_mb)
    left[rows] -= sent
    sending_to = table.sending_to.copy()
    sending_to[rows] = dest
    arrived = rows[(left[rows] <= 0.0) & (dest != jobs.NOWHERE)]
    down = arrived[sending_to[arrived] == jobs.GROUND]
    hop = arrived[sending_to[arrived] >= 0]
    new_holder = table.holder.copy()
    new_holder[hop] = sending_to[hop]
    left[hop] = table.result_mb[hop]
    sending_to[hop] = jobs.NOWHERE
    return (
        table.update(
            result_left_mb=np.maximum(left, 0.0), holder=new_holder, sending_to=sending_to
        ),
        down,
    )
