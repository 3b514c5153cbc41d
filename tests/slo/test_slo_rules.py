"""Generated rules: golden files, `promtool check rules`, and rule unit tests with promtool.

Regenerate the golden outputs after an intended change with
``AQUA_GOLDEN_UPDATE=1 pytest tests/slo/test_slo_rules.py``.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from sre_cli.slo.loader import load_slos
from sre_cli.slo.rules import inhibit_rules, rules_yaml
from sre_cli.slo.windows import Tier, load_tiers
from sre_cli.timespec import format_duration

GOLDEN = Path(__file__).parent / "golden"
INPUTS = sorted(GOLDEN.glob("in-*.yaml"))
SHIPPED = Path(__file__).parents[2] / "slo"


@pytest.mark.parametrize("source", INPUTS, ids=[p.stem for p in INPUTS])
def test_rules_match_golden(source: Path) -> None:
    expected = source.with_name(source.name.replace("in-", "out-", 1))
    text = rules_yaml(load_slos([source]))
    if os.environ.get("AQUA_GOLDEN_UPDATE") == "1":
        expected.write_text(text)
    assert expected.exists(), f"missing {expected.name}: run with AQUA_GOLDEN_UPDATE=1"
    assert text == expected.read_text()


def _check(promtool: Path, path: Path) -> None:
    done = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


GOOD = Path(__file__).parent / "fixtures" / "validate" / "good"


@pytest.mark.parametrize(
    "source",
    [*INPUTS, SHIPPED, GOOD],
    ids=[*(p.stem for p in INPUTS), "shipped", "good-fixtures"],
)
def test_generated_rules_pass_promtool_check(promtool: Path, tmp_path: Path, source: Path) -> None:
    out = tmp_path / "rules.yaml"
    out.write_text(rules_yaml(load_slos([source])))
    _check(promtool, out)


def test_shipped_rules_have_sloth_names_and_tiers() -> None:
    data = yaml.safe_load(rules_yaml(load_slos([SHIPPED])))
    names = {g["name"] for g in data["groups"]}
    assert "sloth-slo-sli-recordings-api-availability" in names
    assert "sloth-slo-alerts-api-availability" in names
    records = [
        r
        for g in data["groups"]
        if g["name"] == "sloth-slo-sli-recordings-api-availability"
        for r in g["rules"]
    ]
    assert [r["record"] for r in records] == [
        f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
    ]
    assert {k: records[0]["labels"][k] for k in ("sloth_id", "sloth_service", "sloth_slo")} == {
        "sloth_id": "api-availability",
        "sloth_service": "api",
        "sloth_slo": "availability",
    }
    alerts = [
        r
        for g in data["groups"]
        if g["name"] == "sloth-slo-alerts-api-availability"
        for r in g["rules"]
    ]
    assert [a["labels"]["sloth_severity"] for a in alerts] == ["page", "ticket"]
    assert "(14.4 * 0.001)" in alerts[0]["expr"]
    assert "(6 * 0.001)" in alerts[0]["expr"]
    assert "(3 * 0.001)" in alerts[1]["expr"]
    assert "(1 * 0.001)" in alerts[1]["expr"]


BURN_SPEC = """
version: "prometheus/v1"
service: t
slos:
  - name: burn
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(errors_total{{job="t"}}[{{{{.window}}}}]))
        total_query: sum(rate(requests_total{{job="t"}}[{{{{.window}}}}]))
    alerting:
      name: TBurn
      page_alert: {{disable: {page_off}}}
      ticket_alert: {{disable: {ticket_off}}}
"""


def _alert(severity: str) -> dict[str, object]:
    return {
        "exp_labels": {
            "sloth_id": "t-burn",
            "sloth_service": "t",
            "sloth_slo": "burn",
            "sloth_severity": severity,
        },
        "exp_annotations": {
            "title": f"({severity}) t burn SLO error budget burn rate is too fast.",
            "summary": "t burn SLO error budget burn rate is over expected.",
        },
    }


def _unit_test(
    promtool: Path, tmp: Path, spec: str, errors_per_min: float, checks: dict[str, list[str]]
) -> None:
    """Requests at 1000/min with ``errors_per_min`` errors; ``checks`` maps eval times to the
    severities expected to fire then (and no other)."""
    (tmp / "slo.yaml").write_text(spec)
    (tmp / "rules.yaml").write_text(rules_yaml(load_slos([tmp / "slo.yaml"])))
    _check(promtool, tmp / "rules.yaml")
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'requests_total{job="t"}', "values": "0+1000x4400"},
                    {"series": 'errors_total{job="t"}', "values": f"0+{errors_per_min}x4400"},
                ],
                "alert_rule_test": [
                    {"eval_time": at, "alertname": "TBurn", "exp_alerts": [_alert(s) for s in sev]}
                    for at, sev in checks.items()
                ],
            }
        ],
    }
    (tmp / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", "test.yaml"], cwd=tmp, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


# Each tier on its own. Clean traffic at 3000 requests/min (6 h before page-quick's test, a
# day before page-slow's, two before the ticket tiers'), then 1000/min with errors at
# ``ratio`` × the tier's factor × the 0.1 % budget. The heavier clean traffic before the
# errors keeps the ticket-slow tier (1× over 3d) from firing alongside ticket-quick (3× over
# 1d), which at one steady traffic level it always would: both mean 10 % of the budget spent.
TIER_NAMES = ("page-quick", "page-slow", "ticket-quick", "ticket-slow")


def _tier_condition(tier: Tier, factor: float) -> str:
    """1 when both windows of ``tier`` burn faster than ``factor`` (its alert terms), else 0."""
    threshold = f"({factor!r} * 0.001)"
    terms = [
        f'max(slo:sli_error:ratio_rate{format_duration(w)}{{sloth_id="t-burn"}} > {threshold})'
        " without (sloth_window)"
        for w in (tier.short, tier.long)
    ]
    return f"count({terms[0]} and {terms[1]}) or vector(0)"


def _tier_test(
    promtool: Path, tmp: Path, subject: str, ratio: float, checks: dict[int, bool]
) -> None:
    """Burn at ``ratio`` × the factor of tier ``subject`` after the clean days; ``checks`` maps
    minutes since the errors began to whether the subject fires then. Whenever it does, its
    severity's alert fires; at every check every other tier's condition is false, and the
    other severity's alert is silent."""
    tiers = {t.name: t for t in load_tiers()}
    factors = {name: t.factor(timedelta(days=30)) for name, t in tiers.items()}
    tier = tiers[subject]
    # One sample a minute resolves the 5m window; coarser steps suffice for the longer ones.
    long_minutes = int(tier.long.total_seconds()) // 60
    step = 1 if long_minutes <= 60 else 5 if long_minutes <= 360 else 10
    clean_minutes = {60: 360, 360: 1440}.get(long_minutes, 2880)
    clean = clean_minutes // step
    assert all(minutes % step == 0 for minutes in checks), f"checks on the {step}m grid"
    burning = max(checks) // step + 2
    per_step = 1000 * step
    errors = factors[subject] * ratio * step
    requests = f"0+{3 * per_step}x{clean} {3 * per_step * clean + per_step}+{per_step}x{burning}"
    error_values = f"0x{clean} {errors!r}+{errors!r}x{burning}"
    spec = BURN_SPEC.format(page_off="false", ticket_off="false")
    (tmp / "slo.yaml").write_text(spec)
    (tmp / "rules.yaml").write_text(rules_yaml(load_slos([tmp / "slo.yaml"])))
    _check(promtool, tmp / "rules.yaml")
    start = clean_minutes
    alert_tests = []
    expr_tests = []
    for minutes, fires in checks.items():
        at = f"{start + minutes}m"
        firing = [tier.severity] if fires else []
        alert_tests.append(
            {"eval_time": at, "alertname": "TBurn", "exp_alerts": [_alert(s) for s in firing]}
        )
        for name, other in tiers.items():
            expected = 1 if name == subject and fires else 0
            expr_tests.append(
                {
                    "expr": _tier_condition(other, factors[name]),
                    "eval_time": at,
                    "exp_samples": [{"labels": "{}", "value": expected}],
                }
            )
    # Recordings before alerts at each step, as the file lists them (promtool's default order
    # is by name, which puts the alerts first and one step behind).
    groups = [g["name"] for g in yaml.safe_load((tmp / "rules.yaml").read_text())["groups"]]
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": f"{step}m",
        "group_eval_order": groups,
        "tests": [
            {
                "interval": f"{step}m",
                "input_series": [
                    {"series": 'requests_total{job="t"}', "values": requests},
                    {"series": 'errors_total{job="t"}', "values": error_values},
                ],
                "alert_rule_test": alert_tests,
                "promql_expr_test": expr_tests,
            }
        ],
    }
    (tmp / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", "test.yaml"], cwd=tmp, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _long_minutes(name: str) -> int:
    tier = {t.name: t for t in load_tiers()}[name]
    return int(tier.long.total_seconds()) // 60


@pytest.mark.parametrize("subject", TIER_NAMES)
def test_tier_fires_just_above_its_factor_within_its_long_window(
    promtool: Path, tmp_path: Path, subject: str
) -> None:
    # At 1 % above the factor the long window crosses it at 99 % of its length: silent just
    # before (the last check at which it cannot yet), firing at the end of the window.
    long = _long_minutes(subject)
    before = long * 97 // 100 // 10 * 10
    _tier_test(promtool, tmp_path, subject, 1.01, {0: False, before: False, long: True})


@pytest.mark.parametrize("subject", TIER_NAMES)
def test_tier_stays_silent_just_below_its_factor(
    promtool: Path, tmp_path: Path, subject: str
) -> None:
    long = _long_minutes(subject)
    _tier_test(
        promtool, tmp_path, subject, 0.99, {long: False, long + max(10, long // 100 * 10): False}
    )


def test_1x_burn_never_pages(promtool: Path, tmp_path: Path) -> None:
    spec = BURN_SPEC.format(page_off="false", ticket_off="true")
    checks: dict[str, list[str]] = {at: [] for at in ("5m", "1h", "6h", "1d", "3d")}
    _unit_test(promtool, tmp_path, spec, 1.0, checks)


def test_4x_burn_opens_a_ticket_not_a_page(promtool: Path, tmp_path: Path) -> None:
    spec = BURN_SPEC.format(page_off="false", ticket_off="false")
    _unit_test(promtool, tmp_path, spec, 4.0, {"5m": ["ticket"], "6h": ["ticket"]})


def test_inhibition_snippet_is_valid_alertmanager_config(amtool: Path, tmp_path: Path) -> None:
    snippet = yaml.safe_load(inhibit_rules())
    rule = snippet["inhibit_rules"][0]
    # In the order Alertmanager's documentation writes it: source, target, then what must match.
    assert list(rule) == ["source_matchers", "target_matchers", "equal"]
    assert rule["source_matchers"] == ['sloth_severity="page"']
    assert rule["target_matchers"] == ['sloth_severity="ticket"']
    assert "sloth_id" in rule["equal"]
    config = textwrap.dedent(
        """
        route: {receiver: default}
        receivers: [{name: default}]
        """
    )
    path = tmp_path / "alertmanager.yml"
    path.write_text(config + inhibit_rules())
    done = subprocess.run([amtool, "check-config", path], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
