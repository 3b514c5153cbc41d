"""`aqua capacity rules`: predict_linear alerts, a golden file, `promtool check rules` and
`promtool test rules` on series whose fate is known.

Regenerate the golden output after an intended change with
``AQUA_GOLDEN_UPDATE=1 pytest tests/capacity/test_capacity_rules.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from cli_runner import invoke

from sre_cli.capacity.rules import alert_prefix, rule_groups
from sre_cli.capacity.spec import DEFAULT_VIEW, load_targets
from sre_cli.cli import build_app

GOLDEN = Path(__file__).parent / "golden" / "reference-stack-rules.yml"
DAY = 86400.0

SPEC = """\
forecasts:
  - name: load
    query: sum by (instance) (capacity_test_load)
    limit: 1000
    act: 800
  - name: disk-free
    query: capacity_test_free
    limit: 30
    act: 40
    direction: floor
"""


def _cli(*args: str) -> tuple[int, str]:
    argv = ["capacity", "rules", *args]
    return invoke(build_app(argv), argv, width=200)


def _check(promtool: Path, path: Path) -> None:
    done = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_default_view_rules_match_golden_and_pass_promtool(promtool: Path, tmp_path: Path) -> None:
    out = tmp_path / "capacity-rules.yml"
    code, printed = _cli("-o", str(out))
    assert code == 0
    assert f"wrote {out}" in printed
    text = out.read_text()
    if os.environ.get("AQUA_GOLDEN_UPDATE") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    _check(promtool, out)
    names = [r["alert"] for r in yaml.safe_load(text)["groups"][0]["rules"]]
    targets = load_targets([DEFAULT_VIEW])
    assert names == [f"{alert_prefix(t.name)}{k}" for t in targets for k in ("Critical", "Warning")]
    # Without -o the same file is printed.
    code, printed = _cli()
    assert code == 0
    assert printed.strip() == text.strip()


def test_alert_prefix_is_camel_case() -> None:
    assert alert_prefix("api-request-rate") == "CapacityApiRequestRate"
    assert alert_prefix("prometheus_disk.free") == "CapacityPrometheusDiskFree"


def _alert(rule: dict[str, Any], **labels: str) -> dict[str, Any]:
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": rule["annotations"]}


def test_rules_fire_for_series_that_will_cross_and_only_those(
    promtool: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "capacity.yaml"
    spec.write_text(SPEC)
    rules_file = tmp_path / "rules.yml"
    code, _ = _cli(str(spec), "-o", str(rules_file), "--lookback", "1h", "--for", "10m")
    assert code == 0
    _check(promtool, rules_file)
    [group] = rule_groups(load_targets([spec]), warn=14 * DAY, lookback=3600, hold=600)
    rules = {r["alert"]: r for r in group["rules"]}
    assert yaml.safe_load(rules_file.read_text())["groups"] == [group]
    load_crit, load_warn = rules["CapacityLoadCritical"], rules["CapacityLoadWarning"]
    free_crit, free_warn = rules["CapacityDiskFreeCritical"], rules["CapacityDiskFreeWarning"]
    assert free_crit["expr"].endswith(" < 30")
    assert free_warn["expr"].endswith(" < 40")
    # Per minute: "grow" +1 (1,440/day: the limit within hours), "slow" +20/day (the act level
    # 800 within 30 days, the limit 1,000 not within 14), "flat" stays at 500; free space
    # "full" falls 14.4 %/day from 80 %, "calm" stays at 90 %.
    tests = {
        "rule_files": [rules_file.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'capacity_test_load{instance="grow"}', "values": "0+1x180"},
                    {
                        "series": 'capacity_test_load{instance="slow"}',
                        "values": "500+0.0138888889x180",
                    },
                    {"series": 'capacity_test_load{instance="flat"}', "values": "500x180"},
                    {"series": 'capacity_test_free{volume="full"}', "values": "80-0.01x180"},
                    {"series": 'capacity_test_free{volume="calm"}', "values": "90x180"},
                ],
                "alert_rule_test": [
                    # Not before `for` has passed.
                    {"eval_time": "5m", "alertname": "CapacityLoadCritical", "exp_alerts": []},
                    {
                        "eval_time": "2h",
                        "alertname": "CapacityLoadCritical",
                        "exp_alerts": [_alert(load_crit, instance="grow")],
                    },
                    {
                        "eval_time": "2h",
                        "alertname": "CapacityLoadWarning",
                        "exp_alerts": [
                            _alert(load_warn, instance="grow"),
                            _alert(load_warn, instance="slow"),
                        ],
                    },
                    {
                        "eval_time": "2h",
                        "alertname": "CapacityDiskFreeCritical",
                        "exp_alerts": [_alert(free_crit, volume="full")],
                    },
                    {
                        "eval_time": "2h",
                        "alertname": "CapacityDiskFreeWarning",
                        "exp_alerts": [_alert(free_warn, volume="full")],
                    },
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_bad_durations_exit_2() -> None:
    code, out = _cli("--lookback", "a while")
    assert code == 2
    assert "--lookback" in out
