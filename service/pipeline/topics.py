"""The Kafka topics of the pipeline, their settings, and idempotent creation at start.

=========================  ==========  ==========  ===========================================
topic                      partitions  retention   what it carries
=========================  ==========  ==========  ===========================================
``sensor-readings``        8           7 days      one API batch of readings, keyed by pond id
``forecast-requests``      4           7 days      one forecast job, keyed by pond id
``sensor-readings.dlq``    1           30 days     messages that failed N times, error headers
``forecast-requests.dlq``  1           30 days     idem for forecast jobs
=========================  ==========  ==========  ===========================================

Why these numbers: partitions cap how many workers of one group consume in parallel
(``aqua stack`` runs at most 8); keying by pond keeps each pond's batches in order on one
partition. Seven days of retention lets a worker fleet be down over a long weekend and replay;
dead letters are kept a month for a human to look at. ``min.insync.replicas`` is 2 with a
replication factor of 3 or more (with ``acks=all`` an acknowledged write then survives the loss
of one broker while the topic stays writable); smaller clusters get 1.
``message.timestamp.type=CreateTime`` keeps the producer's enqueue time, which the worker uses
for the end-to-end delay.

Creation is idempotent and safe when several processes start together::

    ensure_topics("127.0.0.1:9092", replication_factor=1)   # creates what is missing
    ensure_topics("127.0.0.1:9092", replication_factor=1)   # no-op

A prefix (``AQUA_KAFKA_TOPIC_PREFIX``) puts several deployments, or test runs, on one
cluster: ``ensure_topics(..., prefix="staging.")`` creates ``staging.sensor-readings`` etc.

An existing topic with fewer partitions than specified is grown (never shrunk); configs of
existing topics are left alone (an operator may have tuned them) and differences are logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("aqua.topics")

READINGS = "sensor-readings"
FORECASTS = "forecast-requests"
DLQ_SUFFIX = ".dlq"
DAY_MS = 24 * 3600 * 1000


def dlq(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    description: str
    extra: dict[str, str] = field(default_factory=dict)

    def configs(self, replication_factor: int) -> dict[str, str]:
        return {
            "cleanup.policy": "delete",
            "retention.ms": str(self.retention_ms),
            "min.insync.replicas": "2" if replication_factor >= 3 else "1",
            "message.timestamp.type": "CreateTime",
            **self.extra,
        }


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(READINGS, 8, 7 * DAY_MS, "sensor readings, one API batch per message, key pond id"),
    TopicSpec(FORECASTS, 4, 7 * DAY_MS, "forecast jobs, one per message, key pond id"),
    TopicSpec(dlq(READINGS), 1, 30 * DAY_MS, "readings messages that failed N times"),
    TopicSpec(dlq(FORECASTS), 1, 30 * DAY_MS, "forecast jobs that failed N times"),
)


def spec(name: str) -> TopicSpec:
    for t in TOPICS:
        if t.name == name:
            return t
    raise KeyError(name)


def ensure_topics(
    bootstrap: str,
    replication_factor: int = 1,
    topics: tuple[TopicSpec, ...] = TOPICS,
    timeout_s: float = 30.0,
    prefix: str = "",
) -> list[str]:
    """Create missing topics and grow short ones; return the names created by this call.

    Raises ``kafka.errors.KafkaError`` (e.g. ``NoBrokersAvailable``) when the broker is down.
    """
    from kafka.admin import NewPartitions, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from service.pipeline.kafka_admin import open_admin

    # open_admin: callers retry this while the broker is down, and a failed plain
    # KafkaAdminClient leaves its IO thread behind.
    admin = open_admin(bootstrap, "aqua-topics", timeout_s)
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        for t in topics:
            name = prefix + t.name
            if name in existing:
                continue
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            t.partitions,
                            replication_factor,
                            topic_configs=t.configs(replication_factor),
                        )
                    ],
                    timeout_ms=int(timeout_s * 1000),
                )
                created.append(name)
                log.info("topic created", extra={"topic": name, "partitions": t.partitions})
            except TopicAlreadyExistsError:
                pass  # another process won the race
        wanted = {prefix + t.name: t for t in topics}
        described: list[dict[str, Any]] = admin.describe_topics(list(wanted))
        grow: dict[str, Any] = {}
        for d in described:
            t = wanted[d["name"]]
            have = len(d.get("partitions") or [])
            if 0 < have < t.partitions:
                grow[d["name"]] = NewPartitions(total_count=t.partitions)
        if grow:
            admin.create_partitions(grow, timeout_ms=int(timeout_s * 1000))
            log.warning("topic partitions grown", extra={"topics": sorted(grow)})
    finally:
        admin.close()
    return created
