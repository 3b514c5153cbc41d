"""Read-through cache of pond summaries: a small in-process tier in front of Redis.

Summaries are stored as the JSON bytes of the response, so a hit is answered without touching
the database or re-serialising. Both tiers are keyed by a :data:`PondRef` (organisation,
pond): a lookup for one tenant never finds another tenant's entry. A lookup tries, in order:

1. the **local tier** of this process: summaries it recently read from Redis, kept for
   ``AQUA_CACHE_LOCAL_TTL_SECONDS`` (a dict lookup, no I/O);
2. **Redis** (``AQUA_CACHE_TTL_SECONDS``), shared by every process;
3. the database; the result is stored in Redis (not locally: the local tier only ever holds
   what Redis held).

Writes call :func:`~service.data.summary_keys.invalidate_summaries`: it deletes the Redis
entries and publishes the refs on ``INVALIDATIONS_CHANNEL``; every API process subscribes
and drops its local copies as the message arrives (a millisecond on a LAN). The local tier is
used only while that subscription is up: it starts empty on every (re)subscription, is switched
off while Redis is unreachable, and its TTL bounds staleness if a message is lost in a way the
subscriber cannot see. A copy read from Redis is kept only if no invalidation of that pond
arrived while the read was in flight, so a delete racing a read cannot leave a stale copy
behind.

With Redis down every lookup is a miss and the summary is computed from the database::

    await invalidate_summaries(redis_client, [(org_id, pond_id)])   # any process: API or worker
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from service.api.metrics import ApiMetrics
from service.api.softredis import RedisUnavailable, SoftRedis
from service.common import otel
from service.data.summary_keys import (
    INVALIDATIONS_CHANNEL,
    PondRef,
    decode_refs,
    invalidate_summaries,
    summary_key,
)

log = logging.getLogger("aqua.api.cache")

CACHE_NAME = "pond_summary"
LOCAL_CACHE_NAME = "pond_summary_local"
STOP_TIMEOUT_SECONDS = 2.0


class LocalTier:
    """Summaries this process read from Redis, valid while the invalidation feed is live.

    Not thread-safe; it lives on the event loop of its process.
    """

    MAX_TRACKED_DROPS = 100_000

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.live = False
        self._entries: dict[PondRef, tuple[bytes, float]] = {}
        self._seq = 0  # bumped by every drop and reset
        self._reset_seq = 0
        self._dropped_seq: dict[PondRef, int] = {}

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, ref: PondRef) -> bytes | None:
        if not self.live:
            return None
        entry = self._entries.get(ref)
        if entry is None:
            return None
        if time.monotonic() >= entry[1]:
            del self._entries[ref]
            return None
        return entry[0]

    def mark(self) -> int:
        """Call before reading from Redis; pass the result to :meth:`put`."""
        return self._seq

    def put(self, ref: PondRef, payload: bytes, since: int) -> None:
        """Keep a copy read from Redis, unless it was invalidated after ``since``."""
        if not self.live or self.invalidated_since(ref, since):
            return
        if ref not in self._entries and len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))  # the oldest insertion
        self._entries[ref] = (payload, time.monotonic() + self.ttl_seconds)

    def drop(self, refs: Iterable[PondRef]) -> None:
        self._seq += 1
        for ref in refs:
            self._entries.pop(ref, None)
            self._dropped_seq[ref] = self._seq
        if len(self._dropped_seq) > self.MAX_TRACKED_DROPS:
            self.reset(live=self.live)
            self._dropped_seq.clear()

    def invalidated_since(self, ref: PondRef, since: int) -> bool:
        """Whether the pond was invalidated (or the tier reset) after ``since`` (:meth:`mark`)."""
        return self._reset_seq > since or self.dropped_since(ref, since)

    def dropped_since(self, ref: PondRef, since: int) -> bool:
        """Whether an invalidation of the pond arrived after ``since`` (:meth:`mark`)."""
        return self._dropped_seq.get(ref, 0) > since

    def reset(self, *, live: bool) -> None:
        """Forget everything; reads in flight will not be kept."""
        self._seq += 1
        self._reset_seq = self._seq
        self._entries.clear()
        self.live = live


class SummaryCache:
    def __init__(
        self,
        redis: SoftRedis,
        *,
        ttl_seconds: int,
        metrics: ApiMetrics,
        local_ttl_seconds: float = 0.0,
        local_max_entries: int = 10_000,
    ) -> None:
        self._redis = redis
        self.ttl_seconds = ttl_seconds
        self._hits = metrics.cache_hits.labels(CACHE_NAME)
        self._misses = metrics.cache_misses.labels(CACHE_NAME)
        self.local = LocalTier(local_ttl_seconds, local_max_entries)
        self.local_hits = metrics.cache_hits.labels(LOCAL_CACHE_NAME)
        self._local_misses = metrics.cache_misses.labels(LOCAL_CACHE_NAME)
        self._listener: asyncio.Task[None] | None = None
        self._flights: dict[PondRef, asyncio.Future[tuple[bytes, bool]]] = {}

    @staticmethod
    def key(ref: PondRef) -> str:
        return summary_key(ref)

    async def read_through(
        self, ref: PondRef, compute: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, bool]:
        """The pond's summary, and whether a cache had it (else ``compute()`` made it).

        Concurrent misses of one pond in this process share one Redis read and at most one
        computation, so an expiry under load sends one request onwards, not all of them. A
        request that gives up (client gone) does not cancel the shared read.
        """
        local = self.local
        if local.enabled:
            payload = local.get(ref)
            if payload is not None:
                self.local_hits.inc()
                return payload, True
            self._local_misses.inc()
        flight = self._flights.get(ref)
        if flight is None:
            flight = asyncio.ensure_future(self._fill(ref, compute))
            self._flights[ref] = flight
            flight.add_done_callback(functools.partial(self._landed, ref))
        return await asyncio.shield(flight)

    def _landed(self, ref: PondRef, flight: asyncio.Future[tuple[bytes, bool]]) -> None:
        if self._flights.get(ref) is flight:
            del self._flights[ref]
        if not flight.cancelled():
            flight.exception()  # retrieved here; each waiting request raises it itself

    async def _fill(
        self, ref: PondRef, compute: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, bool]:
        since = self.local.mark()
        try:
            with otel.span("cache lookup", {"aqua.pond_id": ref[1]}):
                value = await self._redis.call(lambda r: r.get(summary_key(ref)))
        except RedisUnavailable:
            value = None
        if isinstance(value, bytes):
            self._hits.inc()
            if self.local.enabled:
                self.local.put(ref, value, since)
            return value, True
        self._misses.inc()
        payload = await compute()
        await self.put(ref, payload, since)
        return payload, False

    async def put(self, ref: PondRef, payload: bytes, since: int | None = None) -> None:
        """Store a summary computed from the database.

        With ``since`` (:meth:`LocalTier.mark` taken before the database read), a summary whose
        pond was invalidated meanwhile is not stored: it may predate the write. (Invalidations
        missed while unsubscribed cannot be seen here; the Redis TTL bounds those.)
        """
        if since is not None and self.local.dropped_since(ref, since):
            return
        with contextlib.suppress(RedisUnavailable):
            await self._redis.call(lambda r: r.set(summary_key(ref), payload, ex=self.ttl_seconds))

    async def invalidate(self, org_id: int, pond_id: int) -> None:
        await self.invalidate_many([(org_id, pond_id)])

    async def invalidate_many(self, refs: Iterable[PondRef]) -> None:
        listed = list(refs)
        self._drop(listed)  # this process at once; the others through the channel
        with contextlib.suppress(RedisUnavailable):
            await self._redis.call(lambda r: invalidate_summaries(r, listed))

    def _drop(self, refs: list[PondRef]) -> None:
        self.local.drop(refs)
        # A read already under way may return what the write replaced: later requests must
        # not join it.
        for ref in refs:
            self._flights.pop(ref, None)

    async def start(self) -> None:
        if self.local.enabled and self._redis.configured and self._listener is None:
            self._listener = asyncio.create_task(self._follow_invalidations())

    async def stop(self) -> None:
        self.local.reset(live=False)
        if self._listener is not None:
            self._listener.cancel()
            # Bounded: closing a subscription must never hold up the shutdown.
            _, pending = await asyncio.wait({self._listener}, timeout=STOP_TIMEOUT_SECONDS)
            if pending:
                log.warning("summary invalidation subscriber did not stop in time")
            self._listener = None

    async def _follow_invalidations(self) -> None:
        lost = False
        while True:
            client = self._redis.subscriber()
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(INVALIDATIONS_CHANNEL)
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        # (Re)subscribed: whatever was published before is unknown to us.
                        self.local.reset(live=True)
                        if lost:
                            log.info("summary invalidations followed again")
                            lost = False
                    elif message["type"] == "message":
                        self._drop(decode_refs(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.local.reset(live=False)
                if not lost:
                    log.warning(
                        "summary invalidations lost, local cache tier off",
                        extra={"error": repr(exc)[:300]},
                    )
                    lost = True
            finally:
                self.local.reset(live=False)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(self._redis.retry_seconds)
