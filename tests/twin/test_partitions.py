"""Frame groups spread evenly over the telemetry partitions: no partition empty while there
are groups for it, loads within one group of each other, the same placement for every shard,
and the sink sends each group's frames to its partition."""

import numpy as np
import pytest

from twin.core.clock import NS_PER_S, parse_start
from twin.fleet.constellation import frame_groups, group_partitions, shard_rows, subset
from twin.sim.engine import RunPlan, run
from twin.sim.presets import build, load_preset
from twin.stream.broker import DEFAULT_TOPICS_FILE, LocalBus, load_topics
from twin.stream.sink import TopicSink
from twin.wire import telemetry

T0 = parse_start("2026-03-20T12:00:00Z")


@pytest.mark.parametrize("n_partitions", [1, 5, 12, 14, 40])
def test_every_partition_gets_a_group_and_loads_differ_by_at_most_one_group(n_partitions):
    fleet, _ = build(load_preset("threebody-2800"), T0)
    groups = frame_groups(fleet)
    placed = group_partitions(groups, n_partitions)
    sizes = np.diff(groups.bounds)
    load = np.zeros(n_partitions, np.int64)
    for g, name in enumerate(groups.names):
        load[placed[name]] += sizes[g]
    assert sorted(placed) == sorted(groups.names)
    assert (load > 0).sum() == min(n_partitions, len(groups.names))
    assert load.max() - load[load > 0].min() <= sizes.max()


def test_every_shard_places_a_group_where_the_whole_fleet_does():
    fleet, _ = build(load_preset("threebody-2800"), T0)
    whole = group_partitions(frame_groups(fleet), 12)
    for shard in range(3):
        part = subset(fleet, shard_rows(fleet, shard, 3))
        for name in frame_groups(part).names:
            assert name in whole  # shards hold whole groups: the same names, the same places


def test_the_sink_sends_each_groups_frames_to_its_partition():
    fleet, hw = build(load_preset("threebody-2800"), T0)
    topics = load_topics(DEFAULT_TOPICS_FILE)
    bus = LocalBus(topics)
    spec = topics[telemetry.TELEMETRY_TOPIC]
    placed = group_partitions(frame_groups(fleet), spec.partitions)
    names = {name: s.name for name, s in topics.items()}
    sink = TopicSink(bus, names, jobs_key=b"test", frame_partitions=placed)
    run(fleet, hw, RunPlan(T0, 10 * NS_PER_S, 2), sink, seed=1)
    sent = {p: v for (topic, p), v in bus.drain().items() if topic == spec.name}
    assert sorted(sent) == list(range(spec.partitions))  # every partition used
    for partition, messages in sent.items():
        for _, value in messages:
            assert placed[telemetry.decode(value).group] == partition
