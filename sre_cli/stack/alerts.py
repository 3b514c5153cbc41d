"""What the stack's alerting shows: alerts active in Alertmanager, notifications received.

Alertmanager's own API (``/api/v2/alerts``) says what is firing now; the stack agent's webhook
receiver wrote every notification Alertmanager sent to ``ROOT/alerts.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sre_cli.errors import Unavailable

if TYPE_CHECKING:
    from rich.console import RenderableType

    from sre_cli.stack.control import StackControl

__all__ = ["Alert", "AlertsReport", "read_alerts"]


@dataclass(frozen=True)
class Alert:
    name: str
    state: str
    severity: str
    summary: str
    labels: dict[str, str]
    since: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "severity": self.severity,
            "summary": self.summary,
            "labels": self.labels,
            "since": self.since,
        }


@dataclass
class AlertsReport:
    alertmanager_url: str | None
    active: list[Alert] = field(default_factory=list)
    received: list[Alert] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "alertmanager": self.alertmanager_url,
            "active": [a.to_json() for a in self.active],
            "received": [a.to_json() for a in self.received],
        }

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        from sre_cli.table import FitTable

        parts: list[RenderableType] = []
        for title, alerts in (
            ("active in Alertmanager", self.active),
            ("notifications received", self.received),
        ):
            if not alerts:
                parts.append(Text(f"{title}: none"))
                continue
            table = FitTable(title=title, title_justify="left")
            for col in ("alert", "state", "severity", "since", "summary"):
                table.add_column(col, wrap=col == "summary")
            for a in alerts:
                table.add_row(a.name, a.state, a.severity, a.since, a.summary)
            parts.append(table)
        return Group(*parts)


def _alert(raw: dict[str, Any], state: str) -> Alert:
    labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
    annotations = raw.get("annotations") or {}
    return Alert(
        name=labels.get("alertname", "?"),
        state=state,
        severity=labels.get("severity", ""),
        summary=str(annotations.get("summary", "")),
        labels=labels,
        since=str(raw.get("startsAt", "")),
    )


def read_alerts(ctl: StackControl, last: int = 50) -> AlertsReport:
    """Active alerts (Alertmanager API) and the last ``last`` received notifications."""
    import httpx

    plan = ctl.plan()
    am = plan.of_kind("alertmanager")
    report = AlertsReport(alertmanager_url=am[0].url if am else None)
    if am:
        try:
            r = httpx.get(f"{am[0].url}/api/v2/alerts", timeout=5.0)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise Unavailable(f"Alertmanager at {am[0].url} did not answer: {exc}") from exc
        report.active = [_alert(a, str((a.get("status") or {}).get("state", ""))) for a in r.json()]
    try:
        lines = ctl.layout.alerts_file.read_text(encoding="utf-8").splitlines()[-last:]
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            note = json.loads(line)
        except ValueError:
            continue
        for a in note.get("alerts", []):
            report.received.append(_alert(a, str(a.get("status", note.get("status", "")))))
    return report
