"""A burst of readings through the API's own ingestion endpoint, for a game day whose fault
only shows once messages pile up (workers stopped: the lag grows by what is published).

The reference mix posts 5 % of its requests as one batch of 500 readings, one Kafka message
each: at a game day's 10 requests/s that is 0.5 messages/s, and the lag alert's 1000 messages
would take more than half an hour. A burst posts ``count`` batches of one reading each, as a
sensor gateway catching up would, so the shipped threshold is crossed within seconds::

    summary = publish_burst("http://127.0.0.1:8080", token, 1100)
    # "1100 batches of readings accepted by the API in 9.8s (0 refused)"
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sre_cli.errors import Unavailable

__all__ = ["publish_burst"]

_THREADS = 8


def publish_burst(entry_url: str, token: str, count: int) -> str:
    """POST ``count`` one-reading batches to the first pond; what was accepted, as a sentence.
    :class:`Unavailable` when there is no pond or nothing was accepted."""
    import httpx

    from sre_cli.loadtest.preflight import list_ponds

    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    with httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=_THREADS)) as client:
        pond = list_ponds(client, entry_url, token)[0]
        url = f"{entry_url}/api/v1/ponds/{pond}/readings"

        def post(i: int) -> bool:
            ts = datetime.now(UTC).replace(microsecond=0).isoformat()
            body = {"readings": [{"sensor": "temperature", "ts": ts, "value": 28.0 + i % 10 / 10}]}
            try:
                return client.post(url, json=body, headers=headers).status_code < 300
            except httpx.HTTPError:
                return False

        with ThreadPoolExecutor(_THREADS, thread_name_prefix="gameday-burst") as pool:
            accepted = sum(pool.map(post, range(count)))
    took = time.monotonic() - started
    if not accepted:
        raise Unavailable(f"the API accepted none of {count} batches of readings at {url}")
    return (
        f"{accepted} batches of readings accepted by the API in {took:.1f}s "
        f"({count - accepted} refused)"
    )
