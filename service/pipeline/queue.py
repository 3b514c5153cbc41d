"""The API's side of the asynchronous pipeline: publishing to a queue, and answering 503 when
it cannot.

Two backends share one interface, chosen by ``AQUA_QUEUE`` (see :mod:`service.api.settings`):

* :class:`KafkaPublisher` — an idempotent producer with ``acks=all``. ``publish`` returns only
  after every in-sync replica has the message; anything else (broker down, timeout) raises
  :class:`QueueUnavailable`, which the API answers with 503 and ``Retry-After``. The API never
  says "accepted" for a message the broker has not acknowledged, so nothing accepted is lost.
* :class:`EmbeddedQueue` — bounded in-process queues consumed by an in-process worker
  (:mod:`service.pipeline.embedded`). Single process only: each API process has its own queue,
  and what is queued dies with the process. Full → 503 as well.

    queue = KafkaPublisher("127.0.0.1:9092")
    await queue.start()
    await queue.publish("sensor-readings", b"7", msg.encode())   # or raise QueueUnavailable
    await queue.probe(1.0)          # round-trip seconds, for /ready; or raise QueueUnavailable
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from service.common import otel
from service.common.errors import DependencyUnavailable
from service.data.schemas import IngestResult, ReadingIn
from service.pipeline.kafka_admin import KafkaProbe
from service.pipeline.messages import Envelope, ReadingsMessage, pond_key
from service.pipeline.producer import idempotent_producer
from service.pipeline.topics import READINGS, TOPICS, ensure_topics

log = logging.getLogger("aqua.api.queue")

TOPIC_RETRY_SECONDS = 2.0
PROBE_REUSE_SECONDS = 1.0  # /ready polled often shares one round trip per second


class QueueUnavailable(DependencyUnavailable):
    """The queue did not take the message; nothing was accepted. Answer 503."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Publisher(Protocol):
    backend: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, topic: str, key: bytes, value: bytes) -> None: ...

    def healthy(self) -> bool: ...


class KafkaPublisher:
    """Publish with an idempotent, ``acks=all`` producer; wait for the acknowledgement."""

    backend = "kafka"

    def __init__(
        self,
        bootstrap: str,
        *,
        timeout_s: float = 5.0,
        retry_after: int = 5,
        replication_factor: int = 1,
        linger_ms: int = 2,
        client_id: str = "aqua-api",
        topic_prefix: str = "",
        probe_timeout_s: float = 0.8,
        on_health: Callable[[bool], None] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic_prefix = topic_prefix
        self.timeout_s = timeout_s
        self.retry_after = retry_after
        self.replication_factor = replication_factor
        self._linger_ms = linger_ms
        self._client_id = client_id
        self._producer: Any = None
        self._topics_ready = False
        self._topics_tried = 0.0
        self._topics_lock = asyncio.Lock()
        self._last_ok = True
        self._on_health = on_health
        self._reported: bool | None = None
        self._probe = KafkaProbe(
            bootstrap, timeout_s=probe_timeout_s, client_id=f"{client_id}-probe"
        )
        self._probe_task: asyncio.Task[float] | None = None
        self._probe_done_at = 0.0

    def _make_producer(self) -> Any:
        return idempotent_producer(self.bootstrap, self._client_id, self.timeout_s, self._linger_ms)

    async def start(self) -> None:
        self._producer = self._make_producer()
        await self._ensure_topics()
        self._report(self._topics_ready)
        if not self._topics_ready:
            log.warning("kafka unreachable at startup; ingestion answers 503 until it is back")

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.to_thread(producer.close, self.timeout_s)
        if self._probe_task is not None and not self._probe_task.done():
            await asyncio.wait({self._probe_task}, timeout=self.timeout_s)
        await asyncio.to_thread(self._probe.close)

    def healthy(self) -> bool:
        return self._topics_ready and self._last_ok

    def _report(self, up: bool) -> None:
        # Transitions only: publish() calls this on every message.
        if up is not self._reported:
            self._reported = up
            if self._on_health is not None:
                self._on_health(up)

    async def probe(self, timeout_s: float) -> float:
        """Seconds of one round trip to the cluster; :class:`QueueUnavailable` if it failed.

        One check runs at a time and its result is reused for ``PROBE_REUSE_SECONDS``; a
        caller waits at most ``timeout_s`` (the check itself goes on and is reused).
        """
        task = self._probe_task
        stale = time.monotonic() - self._probe_done_at >= PROBE_REUSE_SECONDS
        if task is None or (task.done() and stale):
            task = self._probe_task = asyncio.create_task(self._run_probe())
            # Retrieved here so that a result nobody waited for is not reported as lost.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError as exc:
            self._report(False)
            raise QueueUnavailable(
                f"kafka did not answer within {timeout_s:g} s", self.retry_after
            ) from exc

    async def _run_probe(self) -> float:
        try:
            latency = await asyncio.to_thread(self._probe.check)
        except Exception as exc:  # any failure to answer counts as down
            self._report(False)
            raise QueueUnavailable(
                f"kafka unavailable: {type(exc).__name__}: {exc}"[:200], self.retry_after
            ) from exc
        finally:
            self._probe_done_at = time.monotonic()
        self._report(True)
        return latency

    async def _ensure_topics(self) -> None:
        # Kafka auto-creates a topic on first produce with broker defaults (1 partition):
        # never publish before our topics exist with their settings.
        if self._topics_ready:
            return
        async with self._topics_lock:
            if self._topics_ready or time.monotonic() - self._topics_tried < TOPIC_RETRY_SECONDS:
                return
            self._topics_tried = time.monotonic()
            try:
                await asyncio.to_thread(
                    ensure_topics,
                    self.bootstrap,
                    self.replication_factor,
                    TOPICS,
                    self.timeout_s,
                    self.topic_prefix,
                )
                self._topics_ready = True
            except Exception as exc:  # any failure: broker down or refusing
                log.warning(
                    "kafka topics not ensured",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:300]},
                )

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        from kafka.errors import KafkaError

        await self._ensure_topics()
        if not self._topics_ready or self._producer is None:
            self._last_ok = False
            self._report(False)
            raise QueueUnavailable("kafka unavailable: topics not ready", self.retry_after)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def resolve(error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        try:
            # send() blocks up to max_block_ms when metadata is missing: keep it off the loop.
            with otel.span(f"{topic} publish", {"messaging.system": "kafka"}, kind="producer"):
                headers = otel.kafka_headers()  # the worker's span continues this trace
                future = await asyncio.to_thread(
                    self._producer.send,
                    self.topic_prefix + topic,
                    value=value,
                    key=key,
                    headers=headers or None,
                )
                future.add_callback(lambda _md: loop.call_soon_threadsafe(resolve, None))
                future.add_errback(lambda exc: loop.call_soon_threadsafe(resolve, exc))
                await asyncio.wait_for(done, self.timeout_s + 1.0)
        except (KafkaError, TimeoutError) as exc:
            self._last_ok = False
            self._report(False)
            log.warning(
                "publish failed",
                extra={"topic": topic, "error": f"{type(exc).__name__}: {exc}"[:300]},
            )
            raise QueueUnavailable(
                f"kafka unavailable: {type(exc).__name__}", self.retry_after
            ) from exc
        self._last_ok = True
        self._report(True)


class EmbeddedQueue:
    """Bounded in-process queues, one per topic, for a single API process without Kafka."""

    backend = "embedded"

    def __init__(self, max_messages: int = 10_000, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        self._queues: dict[str, asyncio.Queue[Envelope]] = {
            t.name: asyncio.Queue(maxsize=max_messages) for t in TOPICS
        }
        self._offsets: dict[str, int] = dict.fromkeys(self._queues, 0)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def healthy(self) -> bool:
        return True

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        queue = self._queues[topic]
        envelope = Envelope(
            topic=topic,
            value=value,
            key=key,
            timestamp_ms=int(time.time() * 1000),
            offset=self._offsets[topic],
        )
        try:
            queue.put_nowait(envelope)
        except asyncio.QueueFull as exc:
            raise QueueUnavailable("in-process queue full", self.retry_after) from exc
        self._offsets[topic] += 1

    def depth(self, topic: str) -> int:
        return self._queues[topic].qsize()

    async def take(self, topic: str, max_messages: int, wait_s: float) -> list[Envelope]:
        """Up to ``max_messages``, waiting at most ``wait_s`` for the first one."""
        queue = self._queues[topic]
        try:
            first = await asyncio.wait_for(queue.get(), wait_s)
        except TimeoutError:
            return []
        batch = [first]
        while len(batch) < max_messages and not queue.empty():
            batch.append(queue.get_nowait())
        return batch


class QueueReadingsSink:
    """Publish each batch as one message keyed by pond; stored later by the worker."""

    def __init__(self, queue: Publisher) -> None:
        self.queue = queue

    async def write(self, org_id: int, pond_id: int, readings: Sequence[ReadingIn]) -> IngestResult:
        message = ReadingsMessage(org_id=org_id, pond_id=pond_id, readings=list(readings))
        await self.queue.publish(READINGS, pond_key(pond_id), message.encode())
        accepted = len({(r.sensor, r.ts) for r in readings})
        return IngestResult(pond_id=pond_id, accepted=accepted, durable=False)
