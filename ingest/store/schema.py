"""Table definitions, in one place (SQLAlchemy Core). Column names match message fields.

Time-series tables (telemetry, events, anomalies, job_events) carry their time column in the
primary key, as hypertables and range partitions require. Stored rows carry ``batch_id`` and
``kafka_offset``: with ``ingest_batches`` they trace every row to its Kafka record. There are
no foreign keys from the time-series tables: a key check per row would slow the bulk load,
and the writer fills both columns in the same transaction as the batch row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from twin.wire.observed import OBSERVED_CHANNELS
from twin.wire.telemetry import CHANNELS

_SQL_TYPES = {"float8": Double, "bool": Boolean, "int2": SmallInteger}

metadata = MetaData()


def _ts(name: str = "time") -> Column:
    return Column(name, DateTime(timezone=True), nullable=False)


def _lineage() -> list[Column]:
    return [
        Column(
            "batch_id",
            BigInteger,
            nullable=False,
            comment="ingest_batches.batch_id of the batch that stored the row",
        ),
        Column(
            "kafka_offset",
            BigInteger,
            nullable=False,
            comment="offset of the Kafka record the row came from",
        ),
    ]


satellites = Table(
    "satellites",
    metadata,
    Column("sat_id", Integer, primary_key=True, autoincrement=False),
    Column("fleet", Text, nullable=False, comment="preset or fleet name"),
    Column("shell", Text, nullable=False),
    Column("plane", Integer, nullable=False),
    Column("hardware", JSONB, nullable=False, comment="the preset's hardware model"),
    Column(
        "telemetry_interval_s",
        Double,
        nullable=False,
        comment="expected seconds between orbit samples (for completeness)",
    ),
    Column("registered_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="Satellites known to the store; ingest rejects telemetry of any other id",
)

ground_stations = Table(
    "ground_stations",
    metadata,
    Column("station_id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("lat_deg", Double, nullable=False),
    Column("lon_deg", Double, nullable=False),
    Column("alt_m", Double, nullable=False),
    Column("min_elevation_deg", Double, nullable=False),
    Column("downlink_mbps", Double, comment="rate of one antenna to one satellite"),
    Column("antennas", Integer, comment="satellites served at once"),
    comment="Ground stations for contacts (events.station_id, telemetry.station_id)",
)

channel_limits = Table(
    "channel_limits",
    metadata,
    Column("sat_id", Integer, nullable=False),
    Column("channel", Text, nullable=False),
    Column(
        "unit",
        Text,
        nullable=False,
        comment="the channel's unit (UCUM; 1 for a fraction or count, empty for a flag or code)",
    ),
    Column("red_low", Double, comment="below it the value is red (critical); NULL: no such limit"),
    Column("yellow_low", Double, comment="below it the value is yellow (warning)"),
    Column("yellow_high", Double, comment="above it the value is yellow (warning)"),
    Column(
        "red_high",
        Double,
        comment="above it the value is red (critical); 0.5 on a flag: red when set",
    ),
    PrimaryKeyConstraint("sat_id", "channel", name="channel_limits_pkey"),
    comment="Yellow and red limits of each satellite's channels, from the telemetry dictionary "
    "and its hardware (twin db fleet)",
)

anomaly_acknowledgements = Table(
    "anomaly_acknowledgements",
    metadata,
    Column("anomaly_id", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("by_whom", Text, nullable=False, comment="the operator who acted"),
    Column("reason", Text, nullable=False, comment="why, in the operator's words"),
    Column(
        "shelved_until",
        DateTime(timezone=True),
        comment="a shelved anomaly pages nobody until then",
    ),
    PrimaryKeyConstraint("anomaly_id", "at", name="anomaly_acknowledgements_pkey"),
    comment="Operators' acknowledgements and shelving of anomalies "
    "(twin anomalies ack|shelve|unshelve), kept whole",
)

element_sets = Table(
    "element_sets",
    metadata,
    Column("norad_cat_id", Integer, nullable=False),
    Column("epoch", DateTime(timezone=True), nullable=False),
    Column("object_name", Text, nullable=False),
    Column("object_id", Text, nullable=False),
    Column("mean_motion_rev_day", Double, nullable=False),
    Column("eccentricity", Double, nullable=False),
    Column("inclination_deg", Double, nullable=False),
    Column("ra_of_asc_node_deg", Double, nullable=False),
    Column("arg_of_pericenter_deg", Double, nullable=False),
    Column("mean_anomaly_deg", Double, nullable=False),
    Column("bstar", Double, nullable=False),
    Column(
        "omm",
        JSONB,
        nullable=False,
        comment="the set as CCSDS OMM keys (CelesTrak GP JSON), a TLE converted by sgp4",
    ),
    Column("tle_line1", Text, comment="the TLE's first line when the set came as a TLE"),
    Column("tle_line2", Text),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column(
        "batch_id",
        BigInteger,
        nullable=False,
        comment="lineage: the ingest batch that stored it (ingest_batches)",
    ),
    Column("kafka_offset", BigInteger, nullable=False),
    PrimaryKeyConstraint("norad_cat_id", "epoch", name="element_sets_pkey"),
    comment="Element sets of the real fleet as received on twin.elements, one per satellite "
    "and epoch (a repeat is dropped)",
)

observed = Table(
    "observed",
    metadata,
    Column("time", DateTime(timezone=True), nullable=False),
    Column("sat_id", Integer, nullable=False),
    Column(
        "received_at",
        DateTime(timezone=True),
        nullable=False,
        comment="when the ground received the packet: received_at - time is the sample's lateness",
    ),
    Column(
        "seq",
        BigInteger,
        nullable=False,
        comment="the packet's sequence count on the satellite's link",
    ),
    *(
        Column(
            name, Boolean if c.dtype == "bool" else SmallInteger if c.dtype == "int16" else Double
        )
        for name, c in OBSERVED_CHANNELS.items()
    ),
    Column("batch_id", BigInteger, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
    PrimaryKeyConstraint("sat_id", "time", name="observed_pkey"),
    comment="Housekeeping telemetry of the real fleet as received on twin.observed: one row per "
    "satellite and sample time (a repeat is dropped), NULL where not sampled",
)

truth_parameters = Table(
    "truth_parameters",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("sat_id", Integer, nullable=False),
    Column("parameter", Text, nullable=False),
    Column("multiplier", Double, nullable=False, comment="the truth over the preset's value"),
    Column("value", Double, nullable=False, comment="the truth, in the parameter's unit"),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("run_id", "sat_id", "parameter", name="truth_parameters_pkey"),
    comment="Hidden truth of twin emulate runs: each satellite's parameter against its preset; "
    "no role but the owner may read it (scores do, the mirror never)",
)

truth_elements = Table(
    "truth_elements",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("sat_id", Integer, nullable=False),
    Column(
        "omm",
        JSONB,
        nullable=False,
        comment="the truth orbit as CCSDS OMM keys (SGP4 mean elements)",
    ),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("run_id", "sat_id", name="truth_elements_pkey"),
    comment="Truth orbits of twin emulate runs: the element set each satellite flies, whose "
    "published sets carry a fit error; no role but the owner may read it (scores do, the "
    "mirror never)",
)

forecast_runs = Table(
    "forecast_runs",
    metadata,
    Column("forecast_id", Text, nullable=False),
    Column("made_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column(
        "step_s",
        Double,
        nullable=False,
        comment="the grid the crossings were found on (each refined between grid times)",
    ),
    Column("satellites", Integer, nullable=False),
    Column(
        "element_sets",
        Integer,
        nullable=False,
        comment="satellites flown from an element set received on twin.elements (the rest "
        "from the preset)",
    ),
    Column("newest_epoch", DateTime(timezone=True)),
    PrimaryKeyConstraint("forecast_id", name="forecast_runs_pkey"),
    comment="One row per twin forecast: its span, grid, and the element sets it flew",
)

forecast_windows = Table(
    "forecast_windows",
    metadata,
    Column("forecast_id", Text, nullable=False),
    Column("sat_id", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column(
        "station_id",
        Integer,
        nullable=False,
        comment="the ground station of a contact; 0 for an eclipse",
    ),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column(
        "open_start",
        Boolean,
        nullable=False,
        comment="the window was already open at the forecast's start (starts_at is that start)",
    ),
    Column(
        "open_end",
        Boolean,
        nullable=False,
        comment="the window is still open at the forecast's end (ends_at is that end)",
    ),
    PrimaryKeyConstraint(
        "forecast_id", "kind", "sat_id", "station_id", "starts_at", name="forecast_windows_pkey"
    ),
    CheckConstraint("kind IN ('eclipse', 'contact')", name="forecast_windows_kind"),
    Index("forecast_windows_by_start", "starts_at"),
    comment="Eclipse and contact windows a forecast predicts: one row per satellite, window "
    "(and station for a contact)",
)

forecast_states = Table(
    "forecast_states",
    metadata,
    Column("forecast_id", Text, nullable=False),
    Column("sat_id", Integer, nullable=False),
    Column(
        "orbit",
        Integer,
        nullable=False,
        comment="k: the k-th period of the satellite's mean motion after the forecast's start "
        "(the last one cut by its end)",
    ),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column(
        "min_soc",
        Double,
        comment="the lowest state of charge in the orbit (NULL: no position, nothing flown)",
    ),
    Column("min_soc_at", DateTime(timezone=True)),
    Column("max_temp_payload_c", Double),
    Column("tera_ops", Double, nullable=False, comment="work delivered in the orbit"),
    Column(
        "available_tera_ops",
        Double,
        nullable=False,
        comment="work the accelerator could deliver in the orbit: its peak at the clock of "
        "the throttle state run, none in safe mode",
    ),
    PrimaryKeyConstraint("forecast_id", "sat_id", "orbit", name="forecast_states_pkey"),
    Index("forecast_states_by_min_soc_at", "min_soc_at"),
    comment="What a state forecast (twin forecast states) predicts for each satellite and orbit",
)

whatif_runs = Table(
    "whatif_runs",
    metadata,
    Column("whatif_id", Text, nullable=False),
    Column("made_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column(
        "run_id",
        Text,
        comment="the run whose checkpoint was forked; NULL when forked from the initial state",
    ),
    Column("fork_at", DateTime(timezone=True), nullable=False),
    Column("fork_tick", BigInteger, nullable=False),
    Column("step_s", Double, nullable=False),
    Column("horizon_s", Double, nullable=False),
    Column("satellites", Integer, nullable=False),
    Column("change_toml", Text, nullable=False),
    Column(
        "violates",
        Boolean,
        nullable=False,
        comment="the change breaks a constraint the baseline keeps (twin whatif exits 3)",
    ),
    Column("baseline_compute_energy_j", Double, nullable=False),
    Column("branch_compute_energy_j", Double, nullable=False),
    PrimaryKeyConstraint("whatif_id", name="whatif_runs_pkey"),
    comment="One row per twin whatif: where it forked, how far it flew, the change file and "
    "the verdict",
)

whatif_satellites = Table(
    "whatif_satellites",
    metadata,
    Column("whatif_id", Text, nullable=False),
    Column("branch", Boolean, nullable=False),
    Column("sat_id", Integer, nullable=False),
    Column("min_soc", Double, nullable=False),
    Column("max_temp_payload_c", Double, nullable=False),
    Column(
        "energy_wh", Double, nullable=False, comment="energy drawn by the loads over the horizon"
    ),
    Column(
        "tera_ops",
        Double,
        nullable=False,
        comment="work delivered: throughput integrated over the horizon",
    ),
    Column("jobs_completed", Integer, nullable=False),
    Column("jobs_late", Integer, nullable=False),
    Column("jobs_failed", Integer, nullable=False),
    PrimaryKeyConstraint("whatif_id", "branch", "sat_id", name="whatif_satellites_pkey"),
    comment="Each satellite's outcome over a what-if's horizon, in the baseline (branch false) "
    "and the branch",
)

whatif_violations = Table(
    "whatif_violations",
    metadata,
    Column("whatif_id", Text, nullable=False),
    Column("branch", Boolean, nullable=False),
    Column("sat_id", Integer, nullable=False),
    Column("constraint_name", Text, nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column(
        "worst",
        Text,
        nullable=False,
        comment="the value furthest outside the limit, or a failed job's reason",
    ),
    Column("only_in_branch", Boolean, nullable=False),
    PrimaryKeyConstraint(
        "whatif_id", "branch", "sat_id", "constraint_name", name="whatif_violations_pkey"
    ),
    comment="Constraints a what-if's runs broke: red limits, the change's own constraints and "
    "added jobs that failed",
)

whatif_jobs = Table(
    "whatif_jobs",
    metadata,
    Column("whatif_id", Text, nullable=False),
    Column("job_id", Text, nullable=False),
    Column("step", Text, nullable=False),
    Column("sat_id", Integer, nullable=False),
    Column("stepped_at", DateTime(timezone=True)),
    Column("reason", Text, nullable=False),
    Column(
        "energy_j",
        Double,
        comment="accelerator energy the job took; NULL unless it ended",
    ),
    PrimaryKeyConstraint("whatif_id", "job_id", name="whatif_jobs_pkey"),
    comment="Each job a what-if's change added: its last step by the horizon",
)

mirror_estimates = Table(
    "mirror_estimates",
    metadata,
    Column("estimated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sat_id", Integer, nullable=False),
    Column("parameter", Text, nullable=False),
    Column("multiplier", Double, nullable=False, comment="the estimate over the preset's value"),
    Column("value", Double, nullable=False),
    Column("stderr", Double, nullable=False, comment="standard error of the multiplier"),
    Column("samples", Integer, nullable=False),
    Column(
        "data_from",
        DateTime(timezone=True),
        nullable=False,
        comment="the first observed sample it rests on",
    ),
    Column("data_until", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("sat_id", "parameter", "estimated_at", name="mirror_estimates_pkey"),
    comment="The mirror's estimates of each satellite's parameters from its observed telemetry "
    "(twin mirror estimate), every one kept",
)

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("batch_id", BigInteger, Identity(), primary_key=True),
    Column("consumer_group", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("first_offset", BigInteger, nullable=False),
    Column("last_offset", BigInteger, nullable=False),
    Column("messages", Integer, nullable=False),
    Column(
        "rows",
        Integer,
        nullable=False,
        comment="samples in the valid frames (repeats of stored rows included)",
    ),
    Column("dead_letters", Integer, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="One row per consumed (poll, partition): the lineage of every stored row",
)

telemetry = Table(
    "telemetry",
    metadata,
    _ts(),
    Column("sat_id", Integer, nullable=False),
    *(Column(name, _SQL_TYPES[c.pg_type], comment=c.description) for name, c in CHANNELS.items()),
    *_lineage(),
    # (sat_id, time) identifies a sample: replays are absorbed by ON CONFLICT DO NOTHING.
    PrimaryKeyConstraint("sat_id", "time", name="telemetry_pkey"),
    comment="Per-satellite telemetry samples decoded from twin.telemetry frames",
)

events = Table(
    "events",
    metadata,
    _ts(),
    Column("sat_id", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column(
        "station_id",
        Integer,
        nullable=False,
        server_default="0",
        comment="ground station of contact_aos / contact_los, 0 for other kinds",
    ),
    *_lineage(),
    PrimaryKeyConstraint("sat_id", "time", "kind", "station_id", name="events_pkey"),
    comment="Discrete events from twin.events",
)

anomalies = Table(
    "anomalies",
    metadata,
    _ts(),
    Column("anomaly_id", Text, nullable=False),
    Column("sat_id", Integer, comment="NULL for fleet-level anomalies"),
    Column("rule", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("state", Text, nullable=False, comment="open or closed"),
    Column("value", Double),
    Column("message", Text, nullable=False),
    PrimaryKeyConstraint("anomaly_id", "state", "time", name="anomalies_pkey"),
    comment="Anomalies opened and closed by rules",
)

job_events = Table(
    "job_events",
    metadata,
    _ts(),
    Column("job_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("sat_id", Integer, comment="NULL for a rejected submission"),
    Column("reason", Text),
    Column("kind", Text, comment="inference, training_step or imagery"),
    Column("latency_s", Double, comment="submission to result on the ground (downlinked)"),
    Column("energy_j", Double, comment="accelerator energy spent on the job (when it ended)"),
    *_lineage(),
    PrimaryKeyConstraint("job_id", "state", "time", name="job_events_pkey"),
    comment="Job lifecycle steps from twin.jobs",
)

ingest_offsets = Table(
    "ingest_offsets",
    metadata,
    Column("consumer_group", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer_group", "topic", "partition", name="ingest_offsets_pkey"),
    comment="Next Kafka offset to consume, written in the same transaction as the data",
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column(
        "samples",
        Integer,
        nullable=False,
        comment="satellite-samples the message held, when that could be read (0 otherwise)",
    ),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("topic", "partition", "kafka_offset", name="dead_letters_pkey"),
    comment="Messages rejected by ingest, with the reason; also published to twin.deadletter",
)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("timescaledb", Boolean, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

rule_state = Table(
    "rule_state",
    metadata,
    Column("consumer_group", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column(
        "state",
        LargeBinary,
        nullable=False,
        comment="zstd-compressed npz: per rule and satellite, pending/open times and values",
    ),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer_group", "topic", "partition", name="rule_state_pkey"),
    comment="Streaming rule state of the satellites of each partition, committed with the data",
)

fault_truth = Table(
    "fault_truth",
    metadata,
    Column("score_id", BigInteger, nullable=False),
    Column("fault", Integer, nullable=False, comment="index of the fault in its scenario"),
    Column("kind", Text, nullable=False),
    Column("sat_id", Integer, nullable=False),
    Column("onset", DateTime(timezone=True), nullable=False),
    Column("ends", DateTime(timezone=True), comment="NULL when permanent"),
    Column("magnitude", Double, nullable=False),
    Column("channel", Text, comment="the frozen channel of a stuck sensor"),
    Column("detected_at", DateTime(timezone=True), comment="first anomaly on it after onset"),
    Column("detected_by", Text, comment="rule of that anomaly"),
    Column("latency_s", Double),
    PrimaryKeyConstraint("score_id", "fault", name="fault_truth_pkey"),
    comment="Injected faults of scored runs and their detection; never read by rules",
)

score_runs = Table(
    "score_runs",
    metadata,
    Column("score_id", BigInteger, Identity(), primary_key=True),
    Column("scenario", Text, nullable=False),
    Column("rules", Text, nullable=False, comment="the rule file scored"),
    Column("preset", Text, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("start", DateTime(timezone=True), nullable=False),
    Column("hours", Double, nullable=False),
    Column("satellites", Integer, nullable=False),
    Column("faults", Integer, nullable=False),
    Column("detected", Integer, nullable=False),
    Column("recall", Double, nullable=False),
    Column("median_latency_s", Double),
    Column("false_alarms", Integer, nullable=False),
    Column("false_alarms_per_1000_sat_h", Double, nullable=False),
    Column("fleet_anomalies", Integer, nullable=False, comment="opened by fleet rules"),
    Column("passed", Boolean, nullable=False),
    Column("per_kind", JSONB, nullable=False, comment="kind -> faults, detected, latencies"),
    Column("scored_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="Detection quality of rule sets against injected faults (twin score)",
)

TIME_SERIES = (telemetry, events, anomalies, job_events)
RULES_AND_SCORES = (rule_state, fault_truth, score_runs)
DIMENSIONS = (satellites, ground_stations)
BOOKKEEPING = (ingest_batches, ingest_offsets, dead_letters)
