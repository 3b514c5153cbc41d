"""What the stack's components use: process memory and CPU, PostgreSQL sessions.

The stack agent exports these at scrape time so the resource alerts of
``manifests/monitoring/rules/alerts.yml`` have series on the stack as on Kubernetes:

- per supervised process, from ``/proc/PID``: resident memory and CPU seconds (user + system),
  and for the services the memory and CPU limits their Deployments have in ``manifests/base/``
  (``KUBERNETES_LIMITS``; a test keeps them equal), so "near its limit" means on the stack
  what it means on Kubernetes: the process would be OOMKilled or throttled there;
- from PostgreSQL's ``pg_stat_activity`` through ``psql`` over TCP, under the metric names
  postgres_exporter uses, so one rule reads both: ``pg_stat_activity_count{state}``,
  ``pg_stat_activity_max_tx_duration{state}`` (seconds since the oldest open transaction of
  that state began) and ``pg_settings_max_connections``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "KUBERNETES_LIMITS",
    "PostgresActivity",
    "ProcessUsage",
    "postgres_activity",
    "process_usage",
]

_MI = 1024 * 1024
#: kind -> (memory limit in bytes, CPU limit in cores) of its Deployment in manifests/base/.
KUBERNETES_LIMITS: dict[str, tuple[int, float]] = {
    "api": (512 * _MI, 0.5),
    "ml": (2048 * _MI, 2.0),
    "worker": (512 * _MI, 0.5),
}

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")

# Other sessions only (not this one), client backends only (not autovacuum or walwriter).
_ACTIVITY_SQL = (
    "SELECT coalesce(state, 'unknown'), count(*), "
    "coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0) "
    "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
    "GROUP BY 1 UNION ALL SELECT 'max_connections', current_setting('max_connections')::int, 0"
)


@dataclass(frozen=True)
class ProcessUsage:
    rss_bytes: int
    cpu_seconds: float


def process_usage(pid: int, proc: Path = Path("/proc")) -> ProcessUsage | None:
    """Resident memory and CPU time of ``pid``; None when it is gone or unreadable."""
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="ascii")
        statm = (proc / str(pid) / "statm").read_text(encoding="ascii")
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may hold spaces.
    rest = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(rest[11]), int(rest[12])
    return ProcessUsage(
        rss_bytes=int(statm.split()[1]) * _PAGE, cpu_seconds=(utime + stime) / _TICKS
    )


@dataclass
class PostgresActivity:
    max_connections: int
    count: dict[str, int] = field(default_factory=dict)
    max_tx_duration: dict[str, float] = field(default_factory=dict)


def postgres_activity(
    psql: Path,
    port: int,
    *,
    user: str = "aqua",
    password: str | None = None,
    database: str = "aqua",
    timeout: float = 3.0,
) -> PostgresActivity | None:
    """Sessions per state and the oldest transaction per state; None when PostgreSQL is down
    or refuses ``user`` (a role in ``pg_monitor`` sees every session)."""
    argv = [str(psql), "-XAtqw", "-F", "\t", "-h", "127.0.0.1", "-p", str(port), "-U", user]
    argv += ["-d", database, "-c", _ACTIVITY_SQL]
    env = {**os.environ, "PGCONNECT_TIMEOUT": str(max(1, int(timeout)))}
    if password is not None:
        env["PGPASSWORD"] = password  # the child's environment only, never its argv
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    activity = PostgresActivity(max_connections=0)
    for line in done.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        state, count, oldest = parts[0], int(parts[1]), float(parts[2])
        if state == "max_connections":
            activity.max_connections = count
        else:
            activity.count[state] = count
            activity.max_tx_duration[state] = oldest
    return activity
