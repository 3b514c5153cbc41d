"""What a load test will do, and the rules that keep it safe.

Safety rules, checked before anything is sent:

* the target is on this machine: its host is a loopback address (127.0.0.0/8, ``::1``) or
  ``localhost`` resolving only to loopback addresses; anything else is a :class:`UsageError`;
* the run stops by itself: a duration of at most :data:`MAX_DURATION_S` is always set.

The default target is the front door of the local stack (its ``plan.json`` in the state
dir), else :data:`DEFAULT_TARGET`; the default credentials are the stack's bootstrap admin
(``secrets.json`` in the state dir).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sre_cli import timespec
from sre_cli.errors import ConfigError, UsageError
from sre_cli.loadtest.schedule import MAX_DURATION_S, Schedule

__all__ = [
    "DEFAULT_TARGET",
    "MAX_DURATION_S",
    "Credentials",
    "Limits",
    "LoadPlan",
    "check_loopback",
    "parse_duration",
    "resolve_credentials",
    "resolve_prometheus",
    "resolve_target",
    "stack_api_replicas",
]

DEFAULT_TARGET = "http://127.0.0.1:8080"
REFERENCE = "reference"


def parse_duration(text: str, flag: str = "--duration") -> float:
    """Seconds in ``30s``, ``5m``, ``1m30s`` or ``45`` (seconds); at most 10 minutes."""
    try:
        seconds = timespec.parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if seconds > MAX_DURATION_S:
        raise UsageError(
            f"{flag} {text} is longer than {MAX_DURATION_S / 60:.0f} minutes",
            hint="a load test always stops by itself; run several shorter ones",
        )
    return seconds


def check_loopback(url: str, flag: str = "--target") -> str:
    """``url`` without a trailing slash when it points at this machine; else a UsageError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{flag} {url!r} is not an http(s) URL", hint="e.g. http://127.0.0.1:8080")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise UsageError(f"{flag} {url!r} has an invalid port") from exc
    host = parts.hostname
    refused = UsageError(
        f"refusing to load {host}: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed",
        hint="aqua loadtest only generates load against this machine",
    )
    if host == "localhost":
        try:
            infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise UsageError(f"localhost does not resolve: {exc}") from exc
        addresses = {str(info[4][0]).split("%", 1)[0] for info in infos}
        if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise refused
    else:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise refused from None
        if not address.is_loopback:
            raise refused
    return url.strip().rstrip("/")


def resolve_target(target: str | None, state_dir: Path) -> tuple[str, str]:
    """The target URL and where it came from: ``--target``, the stack's plan, or the default."""
    if target:
        return target, "--target"
    from sre_cli.stack.spec import StackPlan, StateLayout

    plan_file = StateLayout(state_dir).plan_file
    try:
        plan = StackPlan.model_validate_json(plan_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_TARGET, "default"
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the stack plan {plan_file}: {exc}") from exc
    if plan.entry_url:
        return plan.entry_url, f"the stack in {state_dir}"
    return DEFAULT_TARGET, "default"


def resolve_prometheus(url: str | None, state_dir: Path) -> str | None:
    """``--prometheus`` (loopback only), else the stack's Prometheus when its plan has one."""
    if url:
        return check_loopback(url, flag="--prometheus")
    from sre_cli.stack.spec import StackPlan, StateLayout

    try:
        text = StateLayout(state_dir).plan_file.read_text(encoding="utf-8")
        plan = StackPlan.model_validate_json(text)
    except (OSError, ValueError):
        return None
    for component in plan.components:
        if component.kind == "prometheus":
            return component.url.rstrip("/")
    return None


def stack_api_replicas(state_dir: Path) -> int | None:
    """How many API replicas the stack in ``state_dir`` runs; None without a stack plan."""
    from sre_cli.stack.spec import StackPlan, StateLayout

    try:
        text = StateLayout(state_dir).plan_file.read_text(encoding="utf-8")
        plan = StackPlan.model_validate_json(text)
    except (OSError, ValueError):
        return None
    return sum(1 for c in plan.components if c.kind == "api") or None


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    source: str


def resolve_credentials(
    username: str | None, password_file: Path | None, state_dir: Path
) -> Credentials:
    """``--username`` with ``--password-file``, else the stack's bootstrap admin."""
    if username or password_file:
        if not (username and password_file):
            raise UsageError("--username and --password-file go together")
        try:
            password = password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UsageError(
                f"cannot read --password-file {password_file}: {exc.strerror}"
            ) from exc
        if not password:
            raise UsageError(f"--password-file {password_file} is empty")
        return Credentials(username, password, str(password_file))
    from sre_cli.stack.spec import StateLayout
    from sre_cli.stack.state import StackSecrets

    secrets_file = StateLayout(state_dir).secrets_file
    try:
        secrets = StackSecrets.model_validate_json(secrets_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"no credentials: {secrets_file} does not exist",
            hint="pass --username and --password-file, or --state-dir of a running stack",
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {secrets_file}: {exc}") from exc
    return Credentials(secrets.admin_username, secrets.admin_password, str(secrets_file))


@dataclass(frozen=True)
class Limits:
    """The thresholds of the verdict; ``None`` is not checked."""

    p95_ms: float
    max_error_rate: float
    min_rps: float | None = None

    def rows(self) -> list[tuple[str, float]]:
        rows = [("p95_ms", self.p95_ms), ("error_rate", self.max_error_rate)]
        if self.min_rps is not None:
            rows.append(("min_rps", self.min_rps))
        return rows


@dataclass(frozen=True)
class LoadPlan:
    target: str
    target_source: str
    users: int
    spawn_rate: float
    duration_s: float
    scenario: str
    limits: Limits
    credentials: Credentials | None
    schedule: Schedule | None = None
    endpoint: str | None = None
    max_in_flight: int = 1000
    connections: int = 100
    logins: tuple[Credentials, ...] = ()

    @property
    def is_reference(self) -> bool:
        return self.scenario == REFERENCE and self.endpoint is None

    @property
    def model(self) -> str:
        return "closed" if self.schedule is None else "open"

    @property
    def accounts(self) -> tuple[Credentials, ...]:
        """Every login the load uses: the extra load users, else the one credential."""
        if self.logins:
            return self.logins
        return (self.credentials,) if self.credentials else ()

    def describe(self) -> list[str]:
        limits = [
            f"p95 ≤ {self.limits.p95_ms:g} ms",
            f"error rate ≤ {self.limits.max_error_rate:g}",
        ]
        if self.limits.min_rps is not None:
            limits.append(f"rps ≥ {self.limits.min_rps:g}")
        names = [c.username for c in self.accounts]
        if len(names) > 3:
            names = [*names[:2], "...", names[-1]]
        who = f"as {', '.join(names)}" if names else "(the locustfile logs in)"
        if self.endpoint is not None:
            who = f"as {', '.join(names)}" if names else "without credentials"
        mix = (
            "log in once per user; pond summaries 50 %, pond lists 30 %, reading queries 15 %, "
            "POST 500 readings 5 %"
            if self.is_reference
            else f"GET {self.endpoint} only"
            if self.endpoint is not None
            else f"locustfile {self.scenario}"
        )
        if self.schedule is not None:
            load = [
                f"model      open: {self.schedule.describe()}, whatever the latency "
                f"(at most {self.max_in_flight} in flight "
                f"on {min(self.connections, self.max_in_flight)} connections)",
                f"duration   {self.schedule.duration_s:g} s, then nothing new is sent",
            ]
        else:
            load = [
                f"users      {self.users}, spawned at {self.spawn_rate:g}/s",
                f"duration   {self.duration_s:g} s, then every user stops",
            ]
        scenario = self.scenario if self.endpoint is None else "endpoint"
        return [
            f"target     {self.target} ({self.target_source})",
            *load,
            f"scenario   {scenario} {who}",
            f"mix        {mix}",
            f"thresholds {', '.join(limits)}",
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "target": self.target,
            "users": self.users,
            "spawn_rate": self.spawn_rate,
            "duration_s": self.duration_s,
            "scenario": self.scenario if self.endpoint is None else None,
            "endpoint": self.endpoint,
            "username": self.credentials.username if self.credentials else None,
            "logins": [c.username for c in self.accounts],
            "model": self.model,
            "schedule": self.schedule.to_json() if self.schedule else None,
            "intended_rps": round(self.schedule.intended_rps, 3) if self.schedule else None,
            "thresholds": [{"name": n, "limit": v} for n, v in self.limits.rows()],
        }
