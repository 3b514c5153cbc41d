"""Every alert names a runbook that exists and answers it, and every runbook answers real alerts.

The alerts are those of ``manifests/monitoring/rules/alerts.yml`` and the SLO burn-rate alerts
``aqua slo rules slo/`` generates.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sre_cli.runbook.loader import check_dir, load_runbook
from sre_cli.slo.loader import load_slos
from sre_cli.slo.rules import rules_yaml

ROOT = Path(__file__).resolve().parents[2]
ALERT_FILE = ROOT / "manifests" / "monitoring" / "rules" / "alerts.yml"
LINK_KEYS = ("runbook", "runbook_url")


def _alert_rules() -> list[tuple[str, dict[str, object]]]:
    """(where, rule) for every alerting rule, shipped and generated."""
    shipped = yaml.safe_load(ALERT_FILE.read_text(encoding="utf-8"))
    generated = yaml.safe_load(rules_yaml(load_slos([ROOT / "slo"])))
    rules = []
    for where, doc in (("alerts.yml", shipped), ("slo rules", generated)):
        for group in doc["groups"]:
            rules.extend((where, r) for r in group["rules"] if "alert" in r)
    return rules


RULES = _alert_rules()
ALERTS = {str(rule["alert"]) for _, rule in RULES}


def _links() -> list[tuple[str, str]]:
    out = []
    for _, rule in RULES:
        annotations = rule.get("annotations") or {}
        assert isinstance(annotations, dict)
        for key in LINK_KEYS:
            if key in annotations:
                out.append((str(rule["alert"]), str(annotations[key])))
    return sorted(set(out))


def test_every_shipped_alert_names_a_runbook() -> None:
    for where, rule in RULES:
        if where == "alerts.yml":
            annotations = rule.get("annotations") or {}
            assert isinstance(annotations, dict)
            assert any(k in annotations for k in LINK_KEYS), rule["alert"]


@pytest.mark.parametrize(("alert", "link"), _links())
def test_runbook_link_points_at_a_runbook_that_answers_the_alert(alert: str, link: str) -> None:
    assert link.startswith("runbooks/"), link
    assert link.endswith(".md"), link
    path = ROOT / link
    assert path.is_file(), f"{alert}: {link} does not exist"
    book = load_runbook(path)
    assert alert in book.meta.alerts, f"{link} does not list {alert} in its alerts"


def test_every_runbook_answers_alerts_that_exist() -> None:
    books, problems = check_dir(ROOT / "runbooks")
    assert problems == []
    for book in books:
        unknown = set(book.meta.alerts) - ALERTS
        assert not unknown, f"{book.path}: no alert named {sorted(unknown)}"


def test_the_links_cover_the_runbooks_the_alerts_need() -> None:
    linked = {link for _, link in _links()}
    assert {
        "runbooks/api-down.md",
        "runbooks/high-error-rate.md",
        "runbooks/kafka-consumer-lag.md",
        "runbooks/do-crash-risk.md",
    } <= linked
