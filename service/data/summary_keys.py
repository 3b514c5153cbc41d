"""Where pond summaries are cached in Redis, and how a write forgets them.

The API's read-through cache (:mod:`service.api.cache`) stores a summary under
:func:`summary_key`; whatever writes readings (the API itself, or the worker) calls
:func:`invalidate_summaries`, and every API process drops its local copy when the pond ids
arrive on :data:`INVALIDATIONS_CHANNEL`::

    await invalidate_summaries(redis_client, [pond_id])   # any process: API or worker
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

INVALIDATIONS_CHANNEL = "aqua:summary:v1:invalidated"


def summary_key(pond_id: int) -> str:
    """The Redis key of a pond's cached summary."""
    return f"aqua:summary:v1:pond:{pond_id}"


async def invalidate_summaries(redis: Redis, pond_ids: Iterable[int]) -> None:
    """Forget the cached summaries of ``pond_ids`` in Redis and in every API process.

    One round trip (``DEL`` then ``PUBLISH``, pipelined). Redis errors propagate: the caller
    decides whether a lost invalidation matters (the TTLs bound it either way).
    """
    ids = sorted(set(pond_ids))
    if not ids:
        return
    pipe = redis.pipeline(transaction=False)
    pipe.delete(*(summary_key(i) for i in ids))
    pipe.publish(INVALIDATIONS_CHANNEL, ",".join(map(str, ids)))
    await pipe.execute()
