"""Synthetic Prometheus history with known answers, backfilled with promtool.

The generator draws per-minute event increments from a seeded RNG and keeps them, so every
count the engine reads back through ``increase()`` has an exact expected value
(:meth:`History.count`). Counters start at 0 at :data:`T0` (so PromQL does not extrapolate
before the first sample), one instance restarts mid-history (counter reset) and scrapes stop
for two hours (gap). Blocks are built once per generator version into
``~/.cache/aqua/slo-fixtures/<hash>/`` (tests/promtool_backfill.py) and copied for each server.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import promtool_backfill

VERSION = "1"
STEP = 60
T0 = int(datetime(2024, 2, 27, tzinfo=UTC).timestamp())
T1 = int(datetime(2024, 3, 2, tzinfo=UTC).timestamp())
RESET_AT = T0 + 86400 + 7 * 3600  # instance restarts: counters drop to their new increments
GAP = (T0 + 2 * 86400 + 3 * 3600, T0 + 2 * 86400 + 5 * 3600)  # no scrapes in (start, end)
BURST = (T0 + 2 * 86400 + 12 * 3600, T0 + 2 * 86400 + 12 * 3600 + 10 * 60)  # 10 % errors
WORKER_BURST = (  # failures in the last local hour of Feb in UTC = first hour of March in Oslo
    int(datetime(2024, 2, 29, 23, tzinfo=UTC).timestamp()),
    int(datetime(2024, 3, 1, 0, tzinfo=UTC).timestamp()),
)
BUCKETS = ("0.05", "0.1", "0.25", "+Inf")
RATE = 1000  # API requests per minute


@dataclass
class History:
    """Per-series increments by sample time; a series' value is the running sum."""

    increments: dict[str, dict[int, int]] = field(default_factory=dict)
    resets: dict[str, int] = field(default_factory=dict)

    def count(self, series: str, start: float, end: float) -> int:
        """Events of ``series`` in ``(start, end]``: what ``increase()`` must return."""
        return sum(v for t, v in self.increments[series].items() if start < t <= end)


def generate() -> History:
    rng = random.Random(20240301)
    h = History()

    def add(series: str, t: int, value: int) -> None:
        h.increments.setdefault(series, {})[t] = value

    for t in range(T0, T1 + 1, STEP):
        first = t == T0
        # API availability: ~0.03 % errors, a 10-minute burst of 10 %.
        total = 0 if first else RATE
        error_rate = 0.10 if BURST[0] < t <= BURST[1] else 0.0003
        bad = sum(rng.random() < error_rate for _ in range(total)) if total else 0
        add('http_requests_total{job="api",status="500"}', t, bad)
        add('http_requests_total{job="api",status="200"}', t, total - bad)
        # API latency histogram: cumulative buckets, ~97 % under 100 ms.
        fast = 0 if first else sum(rng.random() < 0.6 for _ in range(total))
        ok = 0 if first else fast + sum(rng.random() < 0.925 for _ in range(total - fast))
        slow = 0 if first else ok + sum(rng.random() < 0.9 for _ in range(total - ok))
        for le, v in zip(BUCKETS, (fast, ok, slow, total), strict=True):
            add(f'http_request_duration_seconds_bucket{{job="api",le="{le}"}}', t, v)
        add('http_request_duration_seconds_count{job="api"}', t, total)
        # Worker: 100 messages/min, 0.2 % failures, 30 % in the hour around local midnight.
        processed = 0 if first else 100
        fail_rate = 0.30 if WORKER_BURST[0] < t <= WORKER_BURST[1] else 0.002
        failed = sum(rng.random() < fail_rate for _ in range(processed))
        add('worker_messages_processed_total{job="worker"}', t, processed)
        add('worker_messages_failed_total{job="worker"}', t, failed)
        # A job that is scraped but never serves a request.
        add('idle_requests_total{job="idle"}', t, 0)
    for series in h.increments:
        if series.startswith("http_requests_total"):
            h.resets[series] = RESET_AT
    return h


def openmetrics(h: History) -> str:
    """The history as OpenMetrics samples, each series contiguous and in time order.

    Values are running sums; at a reset the counter restarts from that minute's increment.
    Inside the gap nothing is written, but events keep counting, so the first sample after
    the gap carries them (as a counter scraped after an outage does).
    """
    lines: list[str] = []
    for series, increments in h.increments.items():
        value = 0
        reset = h.resets.get(series)
        for t in range(T0, T1 + 1, STEP):
            value = increments[t] if t == reset else value + increments[t]
            if not GAP[0] < t < GAP[1]:
                lines.append(f"{series} {value} {t}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _fingerprint() -> str:
    source = Path(__file__).read_bytes()
    return hashlib.sha256(source + VERSION.encode()).hexdigest()[:16]


def blocks(promtool: Path, cache: Path | None = None) -> Path:
    """Build (once, under a file lock) and return the folder of TSDB blocks."""
    return promtool_backfill.blocks(
        promtool, "slo-fixtures", _fingerprint(), lambda: openmetrics(generate()), cache=cache
    )
