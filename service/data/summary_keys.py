"""Where pond summaries are cached in Redis, and how a write forgets them.

A cached summary belongs to one organisation and one pond (a :data:`PondRef`): the key names
both, so a lookup made for one tenant can never find another tenant's entry. The API's
read-through cache (:mod:`service.api.cache`) stores a summary under :func:`summary_key`;
whatever writes readings (the API itself, or the worker) calls :func:`invalidate_summaries`,
and every API process drops its local copy when the refs arrive on
:data:`INVALIDATIONS_CHANNEL`::

    await invalidate_summaries(redis_client, [(org_id, pond_id)])   # any process: API or worker
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

# (organisation id, pond id)
PondRef = tuple[int, int]

INVALIDATIONS_CHANNEL = "aqua:summary:v2:invalidated"


def summary_key(ref: PondRef) -> str:
    """The Redis key of a pond's cached summary, as its organisation sees it."""
    org_id, pond_id = ref
    return f"aqua:summary:v2:org:{org_id}:pond:{pond_id}"


def encode_refs(refs: Iterable[PondRef]) -> str:
    """The invalidation message: ``org:pond`` pairs, comma-separated."""
    return ",".join(f"{org}:{pond}" for org, pond in refs)


def decode_refs(data: object) -> list[PondRef]:
    """The refs of an invalidation message; malformed parts are skipped."""
    text = data.decode() if isinstance(data, bytes) else str(data)
    refs = []
    for part in text.split(","):
        org, _, pond = part.strip().partition(":")
        if org.isdigit() and pond.isdigit():
            refs.append((int(org), int(pond)))
    return refs


async def invalidate_summaries(redis: Redis, refs: Iterable[PondRef]) -> None:
    """Forget the cached summaries of ``refs`` in Redis and in every API process.

    One round trip (``DEL`` then ``PUBLISH``, pipelined). Redis errors propagate: the caller
    decides whether a lost invalidation matters (the TTLs bound it either way).
    """
    ordered = sorted(set(refs))
    if not ordered:
        return
    pipe = redis.pipeline(transaction=False)
    pipe.delete(*(summary_key(ref) for ref in ordered))
    pipe.publish(INVALIDATIONS_CHANNEL, encode_refs(ordered))
    await pipe.execute()
