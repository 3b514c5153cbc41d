"""The Kafka side of the worker: one consumer loop per topic, and a producer for dead letters
and nightly jobs.

kafka-python is synchronous, so every call on a consumer runs in that consumer's own thread
(one thread per consumer: the client is not thread-safe) and the asyncio loop awaits it. The
loop of one :class:`TopicConsumer`:

1. poll up to ``max_messages`` (manual offsets, ``enable.auto.commit=false``);
2. :func:`~service.pipeline.handlers.process` the batch: the database commit happens there;
3. commit the batch's offsets — only now, after the database commit;
4. on :class:`~service.pipeline.handlers.DependencyDown`: seek back to the batch's first
   offsets, wait with backoff (polling continues, so the group keeps us), and do it again.

A crash anywhere before step 3 means the batch is fetched again by whoever owns the partition
next; the handlers are idempotent, so it is stored once. On stop (SIGTERM) the loop finishes
the batch in hand, commits it and closes the consumer, which leaves the group at once instead
of waiting for the session timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from service.common import otel
from service.pipeline.handlers import DependencyDown, Handler, MessageFailure, RetryPolicy, process
from service.pipeline.messages import Envelope
from service.pipeline.metrics import WorkerMetrics
from service.pipeline.producer import KAFKA_API_VERSION, idempotent_producer
from service.pipeline.topics import dlq

log = logging.getLogger("aqua.worker.consumer")

T = TypeVar("T")
LAG_REFRESH_S = 1.0
#: Kafka record headers: (name, value) pairs, names may repeat
Headers = list[tuple[str, bytes]]


@dataclass
class ConsumerHealth:
    """What /ready reads: is the consumer in its group, did Kafka answer lately."""

    kafka_ok: bool = False
    assigned: int = 0
    last_error: str | None = None
    dependency_down: dict[str, bool] = field(default_factory=dict)


class Producer:
    """An idempotent ``acks=all`` producer whose sends wait for the acknowledgement."""

    def __init__(self, bootstrap: str, client_id: str, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._producer = idempotent_producer(bootstrap, client_id, timeout_s)

    def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None:
        """Blocking: returns once the broker acknowledged, raises ``KafkaError`` otherwise."""
        self._producer.send(topic, key=key, value=value, headers=headers).get(self.timeout_s + 1)

    async def asend(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None:
        await asyncio.to_thread(self.send, topic, key, value, headers)

    def close(self) -> None:
        self._producer.close(self.timeout_s)


def dead_letter_headers(
    envelope: Envelope, failure: MessageFailure, attempts: int, group: str
) -> Headers:
    """The error and the message's origin, as headers of its dead-letter copy."""
    values = {
        "aqua-error": failure.error,
        "aqua-error-type": failure.error_type,
        "aqua-attempts": str(attempts),
        "aqua-source-topic": envelope.topic,
        "aqua-source-partition": str(envelope.partition),
        "aqua-source-offset": str(envelope.offset),
        "aqua-consumer-group": group,
        "aqua-failed-at": datetime.now(UTC).isoformat(),
    }
    return [*envelope.headers, *((k, v.encode()) for k, v in values.items())]


class TopicConsumer:
    """Consume one topic in one consumer group until ``stopping`` is set."""

    def __init__(
        self,
        handler: Handler,
        *,
        bootstrap: str,
        group: str,
        producer: Producer,
        metrics: WorkerMetrics,
        policy: RetryPolicy,
        stopping: asyncio.Event,
        max_messages: int = 200,
        poll_timeout_ms: int = 200,
        session_timeout_ms: int = 10_000,
        client_id: str = "aqua-worker",
        topic_prefix: str = "",
    ) -> None:
        self.handler = handler
        self.topic = handler.topic  # metric label: the topic's name without the prefix
        self.kafka_topic = topic_prefix + handler.topic
        self.dlq_topic = topic_prefix + dlq(handler.topic)
        self.bootstrap = bootstrap
        self.group = group
        self.producer = producer
        self.metrics = metrics
        self.policy = policy
        self.stopping = stopping
        self.max_messages = max_messages
        self.poll_timeout_ms = poll_timeout_ms
        self.session_timeout_ms = session_timeout_ms
        self.client_id = client_id
        self.health = ConsumerHealth()
        metrics.init_topic(self.topic)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"kafka-{self.topic}")
        self._consumer: Any = None
        self._lag_at = 0.0
        self._lag_labels: set[int] = set()
        self._committed: dict[int, int] = {}  # partition -> committed offset, ours or fetched

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def _open(self) -> Any:
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_messages,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.session_timeout_ms // 4),
            api_version=KAFKA_API_VERSION,
        )
        outer = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                for tp in revoked:
                    outer._committed.pop(tp.partition, None)
                log.info(
                    "partitions revoked",
                    extra={
                        "topic": outer.topic,
                        "partitions": sorted(tp.partition for tp in revoked),
                    },
                )

            def on_partitions_assigned(self, assigned: Any) -> None:
                outer.health.assigned = len(assigned)
                outer.metrics.assigned.labels(outer.topic).set(len(assigned))
                log.info(
                    "partitions assigned",
                    extra={
                        "topic": outer.topic,
                        "partitions": sorted(tp.partition for tp in assigned),
                    },
                )

        consumer.subscribe([self.kafka_topic], listener=Listener())
        return consumer

    def _poll(self) -> list[Envelope]:
        records = self._consumer.poll(
            timeout_ms=self.poll_timeout_ms, max_records=self.max_messages
        )
        batch: list[Envelope] = []
        for tp in sorted(records, key=lambda t: t.partition):
            for r in records[tp]:
                batch.append(
                    Envelope(
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        key=r.key,
                        value=r.value if r.value is not None else b"",
                        timestamp_ms=r.timestamp
                        if r.timestamp and r.timestamp > 0
                        else int(time.time() * 1000),
                        headers=tuple((k, v or b"") for k, v in (r.headers or ())),
                    )
                )
        return batch

    def _commit(self, batch: list[Envelope]) -> None:
        from kafka import OffsetAndMetadata, TopicPartition

        last: dict[int, int] = {}
        for e in batch:
            last[e.partition] = max(last.get(e.partition, -1), e.offset)
        self._consumer.commit(
            {
                TopicPartition(self.kafka_topic, p): OffsetAndMetadata(o + 1, "", -1)
                for p, o in last.items()
            }
        )
        for p, o in last.items():
            self._committed[p] = o + 1

    def _rewind(self, batch: list[Envelope]) -> None:
        from kafka import TopicPartition

        first: dict[int, int] = {}
        for e in batch:
            first[e.partition] = min(first.get(e.partition, e.offset), e.offset)
        assigned = self._consumer.assignment()
        for p, o in first.items():
            tp = TopicPartition(self.kafka_topic, p)
            if tp in assigned:
                self._consumer.seek(tp, o)

    def _refresh_lag(self) -> None:
        assigned = list(self._consumer.assignment())
        self.health.assigned = len(assigned)
        self.metrics.assigned.labels(self.topic).set(len(assigned))
        current = {tp.partition for tp in assigned}
        for p in self._lag_labels - current:
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(self.topic, str(p))
        self._lag_labels = current
        if not assigned:
            return
        ends = self._consumer.end_offsets(assigned, timeout_ms=2000)
        for tp in assigned:
            committed = self._committed.get(tp.partition)
            if committed is None:  # ask the group once; afterwards our own commits tell
                committed = self._consumer.committed(tp)
                if committed is not None:
                    self._committed[tp.partition] = committed
            position = committed if committed is not None else 0
            self.metrics.lag.labels(self.topic, str(tp.partition)).set(max(0, ends[tp] - position))

    async def _maybe_refresh_lag(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._lag_at < LAG_REFRESH_S:
            return
        self._lag_at = now
        try:
            await self._call(self._refresh_lag)
            self.health.kafka_ok = True
        except Exception as exc:  # broker down or group rebalancing
            self.health.kafka_ok = False
            self.health.last_error = f"{type(exc).__name__}: {exc}"[:300]

    async def _dead_letter(
        self, envelope: Envelope, failure: MessageFailure, attempts: int
    ) -> None:
        headers = dead_letter_headers(envelope, failure, attempts, self.group)
        try:
            await self.producer.asend(self.dlq_topic, envelope.key, envelope.value, headers)
        except Exception as exc:  # Kafka down: redo the batch later rather than lose it
            raise DependencyDown("kafka", exc) from exc

    async def run(self) -> None:
        """Consume until stopped; never raises for outages (it waits and retries)."""
        try:
            self._consumer = await self._call(self._open)
            outage = 0
            while not self.stopping.is_set():
                try:
                    batch = await self._call(self._poll)
                except Exception as exc:  # e.g. broker gone mid-poll
                    self.health.kafka_ok = False
                    log.warning("poll failed", extra={"topic": self.topic, "error": str(exc)[:300]})
                    await self._wait(self.policy.delay(1))
                    continue
                if not batch:
                    await self._maybe_refresh_lag()
                    continue
                fetched = time.perf_counter()
                self.metrics.consumed.labels(self.topic).inc(len(batch))
                try:
                    with otel.consumed([e.headers for e in batch], self.topic):
                        await process(
                            self.handler, batch, self.policy, self._dead_letter, self.metrics
                        )
                except DependencyDown as exc:
                    outage += 1
                    self.health.dependency_down[exc.dependency] = True
                    self.metrics.retries.labels(self.topic, "dependency").inc(len(batch))
                    delay = self.policy.delay(outage)
                    log.warning(
                        "dependency down; batch will be retried",
                        extra={"topic": self.topic, "error": str(exc), "retry_in_s": delay},
                    )
                    await self._call(self._rewind, batch)
                    await self._wait(delay)
                    continue
                except Exception:  # a bug must not end consumption: log, back off, redo
                    outage += 1
                    self.metrics.retries.labels(self.topic, "error").inc(len(batch))
                    log.exception(
                        "batch failed unexpectedly; it will be retried", extra={"topic": self.topic}
                    )
                    await self._call(self._rewind, batch)
                    await self._wait(self.policy.delay(outage))
                    continue
                outage = 0
                self.health.dependency_down.clear()
                try:
                    await self._call(self._commit, batch)
                except Exception as exc:  # rebalanced away: the new owner redoes the batch
                    log.warning(
                        "offset commit failed; batch will be redone",
                        extra={"topic": self.topic, "error": f"{type(exc).__name__}: {exc}"[:300]},
                    )
                    continue
                self._observe(batch, fetched)
                await self._maybe_refresh_lag()
        finally:
            await self._close()

    def _observe(self, batch: list[Envelope], fetched: float) -> None:
        now = time.time()
        self.metrics.processed.labels(self.topic).inc(len(batch))
        self.metrics.batch_seconds.labels(self.topic).observe(time.perf_counter() - fetched)
        self.metrics.batch_messages.labels(self.topic).observe(len(batch))
        e2e = self.metrics.end_to_end.labels(self.topic)
        for envelope in batch:
            e2e.observe(max(0.0, now - self.handler.started_at(envelope)))

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await self._call(consumer.close, False)
            except Exception as exc:
                log.warning("consumer close failed", extra={"error": str(exc)[:300]})
        self._pool.shutdown(wait=False)
        log.info(
            "consumer closed; left the group", extra={"topic": self.topic, "group": self.group}
        )
