"""Job submissions from Kafka: read ``twin.jobs.submit`` between ticks, validate, route.

A fresh run reads the submissions made since it was launched (found by timestamp, so one
sent while the twin is still connecting is not missed); a resumed run continues from the
offsets saved in its checkpoint. Shards share the topic: a job pinned to a satellite goes
to the shard that flies it, an unpinned one to shard ``crc32(job_id) mod n``; shard 0
answers the submissions no shard can take.
"""

from __future__ import annotations

import logging
import zlib

from kafka import KafkaConsumer

from twin.core.settings import PLAINTEXT, KafkaSecurity
from twin.stream.broker import open_client, topic_partitions
from twin.wire import jobs

log = logging.getLogger(__name__)


class Intake:
    """Polls one topic without a consumer group (positions live in checkpoints)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        my_sat_ids: set[int],
        all_sat_ids: set[int],
        shard: tuple[int, int],
        since_ms: int,
        offsets: dict[int, int] | None = None,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.my_sat_ids, self.all_sat_ids, self.shard = my_sat_ids, all_sat_ids, shard
        self.consumer = open_client(
            KafkaConsumer,
            bootstrap,
            security,
            client_id=f"twin-intake-{shard[0]}of{shard[1]}",
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=1024 * 1024,
        )
        partitions = topic_partitions(self.consumer, topic)
        self.consumer.assign(partitions)
        if offsets:
            for tp in partitions:
                self.consumer.seek(tp, offsets.get(tp.partition, 0))
        else:
            found = self.consumer.offsets_for_times({tp: since_ms for tp in partitions})
            ends = self.consumer.end_offsets(partitions)
            for tp in partitions:
                self.consumer.seek(tp, found[tp].offset if found.get(tp) else ends[tp])

    def offsets(self) -> dict[int, int]:
        """Next offset to read per partition (saved with checkpoints)."""
        return {tp.partition: self.consumer.position(tp) for tp in self.consumer.assignment()}

    def __call__(self, t_ns: int) -> tuple[list[jobs.Submission], list[tuple[str, str]]]:
        """Submissions that reached the topic by now: (mine, rejections to announce)."""
        mine, rejected = [], []
        i, n = self.shard
        for records in self.consumer.poll(timeout_ms=0, max_records=500).values():
            for record in records:
                try:
                    sub = jobs.decode_submission(record.value)
                except jobs.SubmissionError as exc:
                    if i == 0:
                        job_id = exc.job_id or f"submit-{record.partition}-{record.offset}"
                        rejected.append((job_id, str(exc)))
                    continue
                if sub.sat_id is not None:
                    if sub.sat_id in self.my_sat_ids:
                        mine.append(sub)
                    elif sub.sat_id not in self.all_sat_ids and i == 0:
                        rejected.append((sub.job_id, f"sat_id: {sub.sat_id} is not in the fleet"))
                elif zlib.crc32(sub.job_id.encode()) % n == i:
                    mine.append(sub)
        if mine or rejected:
            log.info("job submissions: %d taken, %d rejected", len(mine), len(rejected))
        return mine, rejected

    def close(self) -> None:
        self.consumer.close()
