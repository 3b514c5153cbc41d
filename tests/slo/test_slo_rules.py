"""Generated rules: golden files, `promtool check rules`, and rule unit tests with promtool.

Regenerate the golden outputs after an intended change with
``AQUA_UPDATE_GOLDEN=1 pytest tests/slo/test_slo_rules.py``.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from sre_cli.slo.loader import load_slos
from sre_cli.slo.rules import inhibit_rules, rules_yaml

GOLDEN = Path(__file__).parent / "golden"
INPUTS = sorted(GOLDEN.glob("in-*.yaml"))
SHIPPED = Path(__file__).parents[2] / "slo"


@pytest.mark.parametrize("source", INPUTS, ids=[p.stem for p in INPUTS])
def test_rules_match_golden(source: Path) -> None:
    expected = source.with_name(source.name.replace("in-", "out-", 1))
    text = rules_yaml(load_slos([source]))
    if os.environ.get("AQUA_UPDATE_GOLDEN") == "1":
        expected.write_text(text)
    assert expected.exists(), f"missing {expected.name}: run with AQUA_UPDATE_GOLDEN=1"
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


def test_page_at_14_4x_burn_fires_within_5_minutes(promtool: Path, tmp_path: Path) -> None:
    # 14.4 errors per 1000 requests against a 0.1 % budget, from the first scrape.
    spec = BURN_SPEC.format(page_off="false", ticket_off="true")
    _unit_test(promtool, tmp_path, spec, 14.4, {"5m": ["page"], "1h": ["page"]})


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
