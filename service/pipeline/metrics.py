"""Prometheus metrics of the worker, in a registry of its own.

Message counters are per topic. ``worker_messages_processed_total`` counts every message the
worker finished with, stored or dead-lettered; ``worker_messages_failed_total`` counts those
that failed for good (dead-lettered), so failed/processed is the worker-success SLI.
``worker_retries_total`` counts attempts that failed and will be retried.

``pipeline_end_to_end_seconds`` is observed once per message when its offset is committed,
from its start: the newest reading's timestamp for a readings batch measured live (at most
five minutes before it was enqueued), otherwise the enqueue time (backfills, forecast jobs).
Its 60 s bucket is the freshness SLO's threshold.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

E2E_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.consumed = Counter(
            "worker_messages_consumed_total",
            "Messages fetched from the queue.",
            ["topic"],
            registry=r,
        )
        self.processed = Counter(
            "worker_messages_processed_total",
            "Messages finished with (stored or dead-lettered), offsets committed.",
            ["topic"],
            registry=r,
        )
        self.failed = Counter(
            "worker_messages_failed_total",
            "Messages that failed for good (dead-lettered).",
            ["topic"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "worker_messages_dead_lettered_total",
            "Messages sent to the dead-letter topic.",
            ["topic"],
            registry=r,
        )
        self.retries = Counter(
            "worker_retries_total",
            "Failed attempts that will be retried: reason=message (this message failed) or "
            "dependency (database, ML service or Kafka down; the whole batch waits) or error "
            "(an unexpected failure of the batch, logged with its traceback).",
            ["topic", "reason"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "worker_batch_processing_seconds",
            "Time from a batch's fetch to its offset commit.",
            ["topic"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_messages = Histogram(
            "worker_batch_messages",
            "Messages per processed batch.",
            ["topic"],
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=r,
        )
        self.end_to_end = Histogram(
            "pipeline_end_to_end_seconds",
            "From a reading's time (or the enqueue time) to the commit of its message.",
            ["topic"],
            buckets=E2E_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "worker_consumer_lag",
            "Messages in the partition not yet committed by this worker's group.",
            ["topic", "partition"],
            registry=r,
        )
        self.readings_stored = Counter(
            "worker_readings_stored_total", "Distinct readings upserted.", registry=r
        )
        self.forecasts = Counter(
            "worker_forecast_tasks_total",
            "Forecast tasks finished, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.ml_calls = Histogram(
            "worker_ml_call_seconds",
            "Duration of one batched ML call.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.nightly_enqueued = Counter(
            "worker_nightly_jobs_enqueued_total", "Nightly forecast jobs enqueued.", registry=r
        )
        self.cache_invalidations = Counter(
            "worker_cache_invalidations_total",
            "Ponds whose cached summaries were invalidated after storing readings: ok, failed "
            "(Redis down), skipped (Redis recently failed).",
            ["outcome"],
            registry=r,
        )
        self.dependency_up = Gauge(
            "worker_dependency_up",
            "1 when the dependency answered its last check.",
            ["dependency"],
            registry=r,
        )
        self.crash_risk = Gauge(
            "aqua_pond_crash_risk",
            "Probability that tonight's minimum dissolved oxygen falls below the pond's "
            "threshold without aeration (latest nightly forecast).",
            ["pond_id"],
            registry=r,
        )
        self.assigned = Gauge(
            "worker_assigned_partitions",
            "Partitions assigned to this worker.",
            ["topic"],
            registry=r,
        )

    def init_topic(self, topic: str) -> None:
        """Create a topic's series at 0, so rate() and ratios work before the first failure."""
        for counter in (self.consumed, self.processed, self.failed, self.dead_lettered):
            counter.labels(topic)
        for reason in ("message", "dependency"):
            self.retries.labels(topic, reason)
        self.assigned.labels(topic).set(0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
