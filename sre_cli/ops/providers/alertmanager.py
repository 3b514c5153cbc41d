"""Escalation: a ``RunbookEscalation`` alert posted to Alertmanager's API (``/api/v2/alerts``).

Alertmanager routes it like any alert, on its labels: ``team`` picks the receiver
(``manifests/monitoring/alertmanager.yml``: ``dba``, ``on-call``), ``severity: page``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sre_cli.errors import Unavailable

__all__ = ["ESCALATION_ALERT", "active_alerts", "post_escalation"]

ESCALATION_ALERT = "RunbookEscalation"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def active_alerts(url: str, matcher: str, *, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The alerts active (not silenced) in the Alertmanager at ``url`` that match ``matcher``
    (``severity="page"``), as its API gives them (labels, ``startsAt``, ...)."""
    import httpx

    try:
        r = httpx.get(
            f"{url.rstrip('/')}/api/v2/alerts",
            params={"filter": matcher, "active": "true", "silenced": "false"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise Unavailable(f"Alertmanager {url}: {type(exc).__name__}: {exc}") from exc
    if r.status_code != 200:
        raise Unavailable(f"Alertmanager {url}: answered {r.status_code}")
    return [
        a for a in r.json() if isinstance(a, dict) and a.get("status", {}).get("state") == "active"
    ]


def post_escalation(
    url: str | None,
    team: str,
    reason: str,
    labels: dict[str, str],
    *,
    hold_s: float = 3600.0,
    timeout: float = 10.0,
) -> str:
    """Post the alert (firing for ``hold_s``); what was done, or :class:`Unavailable`."""
    if not url:
        raise Unavailable(
            "escalation posts to Alertmanager, and there is none to post to",
            hint="pass --alertmanager URL (a stack that runs Alertmanager is used by default)",
        )
    import httpx

    now = time.time()
    alert = {
        "labels": {**labels, "alertname": ESCALATION_ALERT, "team": team, "severity": "page"},
        "annotations": {"summary": f"escalated to {team}: {reason}", "description": reason},
        "startsAt": _iso(now),
        "endsAt": _iso(now + hold_s),
    }
    try:
        answer = httpx.post(f"{url.rstrip('/')}/api/v2/alerts", json=[alert], timeout=timeout)
    except httpx.HTTPError as exc:
        raise Unavailable(f"Alertmanager at {url} did not take the escalation: {exc}") from exc
    if answer.status_code != 200:
        raise Unavailable(
            f"Alertmanager at {url} refused the escalation: {answer.status_code} {answer.text}"
        )
    return f"escalated to {team} ({ESCALATION_ALERT} posted to {url})"
