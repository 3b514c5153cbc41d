"""Every alert names a runbook that exists and answers it, and every runbook answers real alerts.

The alerts are those Prometheus loads: the rule files ``manifests/monitoring/prometheus.yml``
names (the Kubernetes monitoring config), and the copies ``aqua stack up`` renders for a stack.
The SLO burn-rate alerts among them (``rules/slo.yml``) must be what ``aqua slo rules slo/``
generates today.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from stack.fake_env import FakeEnv

from sre_cli.runbook.loader import check_dir, load_runbook
from sre_cli.slo.loader import load_slos
from sre_cli.slo.rules import rules_yaml
from sre_cli.stack.configs import prometheus_yaml
from sre_cli.stack.plan import StackOptions, build_plan
from sre_cli.stack.spec import Ports, StateLayout

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "manifests" / "monitoring"
LINK_KEYS = ("runbook", "runbook_url")


def _rules_in(files: list[Path]) -> list[tuple[str, dict[str, object]]]:
    rules: list[tuple[str, dict[str, object]]] = []
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            rules.extend((path.name, r) for r in group["rules"] if "alert" in r)
    return rules


def _manifest_rules() -> list[tuple[str, dict[str, object]]]:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    return _rules_in([MONITORING / rel for rel in config["rule_files"]])


def _stack_rules(tmp: Path) -> list[tuple[str, dict[str, object]]]:
    layout = StateLayout(tmp)
    layout.create()
    plan = build_plan(StackOptions(ports=Ports.from_base(23000)), FakeEnv(), layout)
    config = yaml.safe_load(prometheus_yaml(plan, layout))
    files = [Path(f) for f in config["rule_files"] if "*" not in f]
    return _rules_in(files)


def _alert_rules() -> list[tuple[str, dict[str, object]]]:
    """(file, rule) for every alerting rule the Kubernetes monitoring config loads."""
    return _manifest_rules()


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


def test_every_loaded_alert_names_a_runbook() -> None:
    for where, rule in RULES:
        annotations = rule.get("annotations") or {}
        assert isinstance(annotations, dict)
        assert any(k in annotations for k in LINK_KEYS), f"{where}: {rule['alert']}"


def test_the_slo_alerts_loaded_are_those_slo_generates() -> None:
    shipped = (MONITORING / "rules" / "slo.yml").read_text(encoding="utf-8")
    assert shipped == rules_yaml(load_slos([ROOT / "slo"])), (
        "rules/slo.yml is stale: aqua slo rules slo/ -o manifests/monitoring/rules/slo.yml"
    )
    assert {"ApiAvailabilityBudgetBurn", "WorkerSuccessErrorBudgetBurn"} <= ALERTS


def test_the_stack_loads_the_same_alerts_as_the_manifests(tmp_path: Path) -> None:
    stack = {(str(r["alert"]), str(r["expr"])) for _, r in _stack_rules(tmp_path)}
    manifests = {(str(r["alert"]), str(r["expr"])) for _, r in RULES}
    assert stack == manifests
    assert "ApiAvailabilityBudgetBurn" in {name for name, _ in stack}


def test_every_alert_has_a_runbook_that_lists_it() -> None:
    answered = {a for book in check_dir(ROOT / "runbooks")[0] for a in book.meta.alerts}
    assert ALERTS - answered == set()


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


@pytest.mark.parametrize(("alert", "link"), _links())
def test_run_by_alert_finds_the_runbook_the_alert_points_at(alert: str, link: str) -> None:
    from sre_cli.runbook.loader import find_by_alert

    assert find_by_alert(alert, ROOT / "runbooks") == ROOT / link


TEMPLATE = ("Symptoms", "Investigation", "Resolution", "Escalation")
IN_THE_TEMPLATE = ("latency-spike", "memory-leak", "database-outage")


@pytest.mark.parametrize("name", IN_THE_TEMPLATE)
def test_runbook_follows_the_template(name: str) -> None:
    from sre_cli.runbook.spec import Heading

    book = load_runbook(ROOT / "runbooks" / f"{name}.md")
    sections = [b.text for b in book.blocks if isinstance(b, Heading) and b.level == 2]
    assert tuple(sections) == TEMPLATE
    assert book.meta.escalation.team == "on-call"
    assert book.meta.escalation.after == 900
