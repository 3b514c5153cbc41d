"""Consumer lag measured at the broker, as kafka_exporter measures it.

The workers export their own lag (``worker_consumer_lag``), which vanishes with them: a worker
fleet that is stopped reports nothing, so an alert on it never fires. The broker still knows
both halves: every consumer group's committed offsets and every partition's end offset. Their
difference is the lag, whether the group's members are alive or not::

    reader = BrokerLag("127.0.0.1:9092")
    for row in reader.read():        # raises KafkaError when the broker does not answer
        row.group, row.topic, row.partition, row.lag
    reader.close()

    lag_lines(reader.read())         # the text exposition, under kafka_exporter's names:
    # kafka_consumergroup_lag{consumergroup="aqua-worker-readings",topic="sensor-readings",
    #                         partition="0"} 12
    # kafka_consumergroup_lag_sum{consumergroup="aqua-worker-readings",topic="sensor-readings"} 40

A partition the group never committed on counts from the partition's start (its whole log is
unread), as kafka_exporter does when it has no offset to compare with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["BrokerLag", "GroupLag", "lag_lines"]


class BrokerLag:
    """Committed offsets of every consumer group against the end offsets of their topics'
    partitions, through one long-lived admin client (rebuilt after any failure)."""

    def __init__(
        self, bootstrap: str, *, timeout_s: float = 1.0, client_id: str = "aqua-stack-lag"
    ) -> None:
        from service.pipeline.kafka_admin import KafkaProbe

        self._client = KafkaProbe(bootstrap, timeout_s=timeout_s, client_id=client_id)

    def read(self) -> list[GroupLag]:
        """Every group's lag per partition; raises when the broker did not answer."""
        return self._client.run(_read)

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class GroupLag:
    """One partition of a topic a consumer group committed on."""

    group: str
    topic: str
    partition: int
    #: the group's next offset to read (0 when it never committed on the partition)
    committed: int
    #: the partition's end offset: where the next message published will go
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


def _read(admin: Any) -> list[GroupLag]:
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec

    groups = sorted(str(g["group_id"]) for g in admin.list_groups())
    if not groups:
        return []
    committed: dict[str, dict[Any, Any]] = admin.list_group_offsets(groups)
    topics = sorted({tp.topic for offsets in committed.values() for tp in offsets})
    if not topics:
        return []
    partitions = {
        TopicPartition(t["name"], p["partition_index"])
        for t in admin.describe_topics(topics)
        for p in t.get("partitions") or []
    }
    ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
    rows: list[GroupLag] = []
    for group in groups:
        offsets = committed.get(group, {})
        mine = {tp.topic for tp in offsets}
        for tp in sorted(partitions, key=lambda tp: (tp.topic, tp.partition)):
            if tp.topic not in mine or tp not in ends:
                continue
            meta = offsets.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            rows.append(GroupLag(group, tp.topic, tp.partition, done, ends[tp].offset))
    return rows


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def lag_lines(rows: Iterable[GroupLag] | None) -> list[str]:
    """``kafka_consumergroup_lag`` per partition and ``kafka_consumergroup_lag_sum`` per
    (group, topic); ``aqua_stack_kafka_lag_up`` says whether the broker answered (``None``)."""
    out = [
        "# HELP aqua_stack_kafka_lag_up 1 when the broker answered the consumer lag queries.",
        "# TYPE aqua_stack_kafka_lag_up gauge",
        f"aqua_stack_kafka_lag_up {int(rows is not None)}",
    ]
    if rows is None:
        return out
    rows = list(rows)
    sums: dict[tuple[str, str], int] = {}
    for r in rows:
        sums[(r.group, r.topic)] = sums.get((r.group, r.topic), 0) + r.lag
    out += [
        "# HELP kafka_consumergroup_lag Messages the group has not committed yet, per partition.",
        "# TYPE kafka_consumergroup_lag gauge",
        *(
            f'kafka_consumergroup_lag{{consumergroup="{_esc(r.group)}",topic="{_esc(r.topic)}",'
            f'partition="{r.partition}"}} {r.lag}'
            for r in rows
        ),
        "# HELP kafka_consumergroup_lag_sum Messages the group has not committed yet, per topic.",
        "# TYPE kafka_consumergroup_lag_sum gauge",
        *(
            f'kafka_consumergroup_lag_sum{{consumergroup="{_esc(g)}",topic="{_esc(t)}"}} {n}'
            for (g, t), n in sorted(sums.items())
        ),
    ]
    return out
