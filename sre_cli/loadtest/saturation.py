"""What ran out at the knee: the busiest resource while the load broke the SLO.

Two sources, both read while a step runs:

* **CPU of each stack process**, from the kernel's own accounting (``/proc/PID/stat``,
  utime + stime of the process and its reaped children) of the components in the stack's
  ``state.json``: cores used over the step. An API replica is one Python process, so about
  one core busy means it is saturated whatever the machine has left.
* **From Prometheus** (when there is one): the database pool in use
  (``db_pool_connections{state="checked_out"} / db_pool_size``) and the requests in flight
  per API replica; and the CPU of every scraped process that exports
  ``process_cpu_seconds_total``.

The saturating resource is the one closest to its limit (1 core, a full pool).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient

__all__ = ["ProcSampler", "Resource", "prometheus_resources", "stack_pids"]

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Resource:
    name: str  # e.g. "cpu of api-1"
    utilisation: float  # of its limit: 1.0 is saturated
    detail: str
    source: str  # "proc" or "prometheus"

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.name,
            "utilisation": round(self.utilisation, 3),
            "detail": self.detail,
            "source": self.source,
        }


def stack_pids(state_dir: Path) -> dict[str, int]:
    """Component name -> pid of a running stack (empty when there is none)."""
    try:
        state = json.loads((state_dir / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for name, comp in (state.get("components") or {}).items():
        pid = comp.get("pid") if isinstance(comp, dict) else None
        if isinstance(pid, int) and pid > 0:
            out[str(name)] = pid
    return out


def _cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    # fields[11..14] are utime, stime, cutime, cstime (fields 14-17 of proc(5))
    return sum(int(f) for f in fields[11:15]) / _TICK


class ProcSampler:
    """CPU cores used by each named process between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._t0 = 0.0
        self._c0: dict[str, float] = {}

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._c0 = {n: c for n, p in self.pids.items() if (c := _cpu_seconds(p)) is not None}

    def stop(self) -> list[Resource]:
        elapsed = time.monotonic() - self._t0
        out = []
        for name, before in self._c0.items():
            after = _cpu_seconds(self.pids[name])
            if after is None or elapsed <= 0:
                continue
            cores = (after - before) / elapsed
            out.append(Resource(f"cpu of {name}", cores, f"{cores:.2f} cores", "proc"))
        return out


def prometheus_resources(prom: PrometheusClient, at: float, window_s: int) -> list[Resource]:
    """Pool use, requests in flight and process CPU over the ``window_s`` before ``at``."""
    w = f"{max(window_s, 10)}s"
    out: list[Resource] = []
    pool = (
        f'max by (instance) (max_over_time(db_pool_connections{{state="checked_out"}}[{w}]) '
        f"/ on (instance) max_over_time(db_pool_size[{w}]))"
    )
    for s in prom.query(pool, at):
        inst = s.labels.get("instance", "?")
        out.append(
            Resource(f"db pool of {inst}", s.value, f"{s.value:.0%} checked out", "prometheus")
        )
    flight = f'max by (instance) (max_over_time(http_requests_in_flight{{job="api"}}[{w}]))'
    for s in prom.query(flight, at):
        inst = s.labels.get("instance", "?")
        # not a fraction of a limit: reported, never chosen over a bounded resource
        out.append(
            Resource(f"requests in flight at {inst}", 0.0, f"up to {s.value:.0f}", "prometheus")
        )
    cpu = f"sum by (job, instance) (rate(process_cpu_seconds_total[{w}]))"
    for s in prom.query(cpu, at):
        who = f"{s.labels.get('job', '?')} {s.labels.get('instance', '')}".strip()
        out.append(Resource(f"cpu of {who}", s.value, f"{s.value:.2f} cores", "prometheus"))
    return out
