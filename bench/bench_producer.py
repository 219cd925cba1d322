"""Producer throughput into the real broker: columnar frames vs one record per satellite.

For ``threebody-2800`` at ``--speed max`` (frames of every channel group each tick), in one
run against the broker at ``$TWIN_KAFKA_BOOTSTRAP``:
- frames (one message per tick and frame group of whole planes, the twin's way) encoded,
  sent and acknowledged, in satellite-samples per second; the same with the simulation
  included (``twin run``'s whole loop);
- the same samples as one JSON record per satellite per tick (the reference);
- bytes per sample stored by the broker for lz4, zstd and no compression, read with
  DescribeLogDirs.

Run: ``eval "$(scripts/stack up)"; python bench/bench_producer.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

import numpy as np
from kafka import KafkaAdminClient

from twin.core.clock import NS_PER_S, parse_start
from twin.sim.engine import FramesTo, RunPlan, run
from twin.sim.presets import build, load_preset
from twin.stream.broker import Producer, TopicSpec, ensure_topics
from twin.wire import telemetry

START_NS = parse_start("2026-03-20T12:00:00Z")


def topic_bytes(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench")
    try:
        total = 0
        for broker in admin.describe_log_dirs():
            for log_dir in broker["log_dirs"]:
                for t in log_dir["topics"]:
                    if t["name"] == topic:
                        total += sum(p["partition_size"] for p in t["partitions"])
        return total
    finally:
        admin.close()


def fresh_topic(bootstrap: str, partitions: int = 12) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}.twin.telemetry"
    ensure_topics(bootstrap, [TopicSpec(name, partitions, 1, {"max.message.bytes": "4194304"})])
    return name


def send_all(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], compression: str
) -> float:
    producer = Producer(bootstrap, client_id="bench", compression_type=compression)
    producer.send(topic, b"warm-up", b"{}")  # connect before timing
    producer.flush()
    t0 = time.perf_counter()
    for key, value in messages:
        producer.send(topic, key, value)
    producer.flush()
    elapsed = time.perf_counter() - t0
    producer.close()
    return elapsed


def per_satellite_records(frames: list[telemetry.Frame]) -> list[tuple[bytes, bytes]]:
    """The reference encoding: one JSON object per satellite per tick."""
    records = []
    for frame in frames:
        columns = {name: values.tolist() for name, values in frame.channels.items()}
        for i, sat in enumerate(frame.sat_id.tolist()):
            body = {
                "time_unix_ns": frame.time_unix_ns,
                "sat_id": sat,
                **{name: column[i] for name, column in columns.items()},
            }
            records.append((str(sat).encode(), json.dumps(body, separators=(",", ":")).encode()))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--preset", default="threebody-2800")
    args = parser.parse_args()
    bootstrap = os.environ["TWIN_KAFKA_BOOTSTRAP"]
    fleet, hw = build(load_preset(args.preset), START_NS)
    plan = RunPlan(START_NS, NS_PER_S, args.ticks)
    frames: list[telemetry.Frame] = []
    run(fleet, hw, plan, FramesTo(frames.append))
    samples = args.ticks * fleet.n_sat

    t0 = time.perf_counter()
    framed = [(f.group.encode(), telemetry.encode(f)) for f in frames]
    encode_s = time.perf_counter() - t0
    frame_s = {}
    for compression in ("lz4", "zstd", None):
        topic = fresh_topic(bootstrap)
        frame_s[compression] = encode_s + send_all(bootstrap, topic, framed, compression)
        per_sample = topic_bytes(bootstrap, topic) / samples
        print(
            f"frames, {compression!s:>4}: {samples / frame_s[compression]:>9,.0f} samples/s, "
            f"{per_sample:6.1f} bytes/sample on the broker "
            f"({len(framed)} messages, {samples} samples)"
        )

    t0 = time.perf_counter()
    records = per_satellite_records(frames)
    record_s = (
        time.perf_counter() - t0 + send_all(bootstrap, fresh_topic(bootstrap), records, "zstd")
    )
    print(
        f"per-satellite records, zstd: {samples / record_s:>9,.0f} samples/s "
        f"({len(records)} messages)"
    )
    print(f"frames are {record_s / frame_s['zstd']:.1f}x faster than per-satellite records")

    topic = fresh_topic(bootstrap)
    producer = Producer(bootstrap, client_id="bench-run")
    t0 = time.perf_counter()
    stats = run(
        fleet,
        hw,
        plan,
        FramesTo(lambda f: producer.send(topic, f.group.encode(), telemetry.encode(f))),
    )
    producer.flush()
    whole_s = time.perf_counter() - t0
    producer.close()
    print(
        f"twin run loop (simulate + encode + send, zstd): "
        f"{stats.samples / whole_s:>9,.0f} samples/s, {whole_s / args.ticks * 1e3:.0f} ms "
        f"per tick of {fleet.n_sat} satellites "
        f"({np.mean([len(v) for _, v in framed]) / 1024:.0f} KiB per frame before compression)"
    )


if __name__ == "__main__":
    main()
