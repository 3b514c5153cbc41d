"""Request counters of a canary and its stable pods, four phases of 300 s, backfilled.

The series are those the API exports (``http_requests_total``, the duration histogram) with
the labels the cluster's Prometheus adds (``job``, ``track``). Each track answers 20 requests
a second on ``/api/v1/farms``, plus probes on ``/live`` that the SLOs leave out:

====================  ===============================  ============================
phase (from T0)       canary                           stable
====================  ===============================  ============================
good   [0, 300)       all 200 within 25 ms             the same
errors [300, 600)     5 % answered 500                 all 200
slow   [600, 900)     all 200 in 250 ms (> 100 ms)     within 25 ms
idle   [900, 1200)    1 request every 10 s             within 25 ms
====================  ===============================  ============================
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import promtool_backfill

T0 = 1_735_689_600  # 2025-01-01T00:00:00Z
STEP = 2
PHASE = 300
PHASES = ("good", "errors", "slow", "idle")
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "+Inf")
VERSION = "1"


def phase_start(name: str) -> int:
    return T0 + PHASES.index(name) * PHASE


def _rates(phase: str, track: str) -> tuple[float, float, float]:
    """(ok per s, errors per s, duration of each request in s) of ``track`` in ``phase``."""
    if track == "stable":
        return 20.0, 0.0, 0.02
    return {
        "good": (20.0, 0.0, 0.02),
        "errors": (19.0, 1.0, 0.02),
        "slow": (20.0, 0.0, 0.25),
        "idle": (0.1, 0.0, 0.02),
    }[phase]


def openmetrics() -> str:
    values: dict[str, float] = defaultdict(float)
    order: list[str] = []
    samples: dict[str, list[str]] = defaultdict(list)
    route = 'job="api",method="GET",route="/api/v1/farms"'
    for t in range(T0, T0 + len(PHASES) * PHASE + 1, STEP):
        phase = PHASES[min((t - T0) // PHASE, len(PHASES) - 1)]
        for track in ("canary", "stable"):
            ok, errors, seconds = _rates(phase, track)
            n = (ok + errors) * STEP
            incs = {
                f'http_requests_total{{{route},status="200",track="{track}"}}': ok * STEP,
                f'http_requests_total{{{route},status="500",track="{track}"}}': errors * STEP,
                f'http_requests_total{{job="api",method="GET",route="/live",status="200",track="{track}"}}': 2.0,  # noqa: E501
                f'http_request_duration_seconds_count{{{route},track="{track}"}}': n,
                f'http_request_duration_seconds_sum{{{route},track="{track}"}}': n * seconds,
            }
            for le in BUCKETS:
                inside = le == "+Inf" or float(le) >= seconds
                key = f'http_request_duration_seconds_bucket{{{route},le="{le}",track="{track}"}}'
                incs[key] = n if inside else 0.0
            for series, inc in incs.items():
                if series not in values:
                    order.append(series)
                values[series] += inc
                samples[series].append(f"{series} {values[series]:g} {t}")
    lines = [line for series in order for line in samples[series]]
    return "\n".join([*lines, "# EOF"]) + "\n"


def blocks(promtool: Path) -> Path:
    key = hashlib.sha256(Path(__file__).read_bytes() + VERSION.encode()).hexdigest()[:16]
    return promtool_backfill.blocks(promtool, "rollout-fixtures", key, openmetrics)
