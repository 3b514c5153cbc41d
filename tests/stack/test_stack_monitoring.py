"""Monitoring as code: rules, rule unit tests, configs and dashboards, checked by the real tools.

The shipped files and the copies ``aqua stack up`` renders from them both go through
``promtool`` and ``amtool``; every dashboard query is parsed by promtool too (the live test of
their data is in test_stack_full.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from infra_harness import require_binary
from stack.fake_env import FakeEnv

from sre_cli.stack.configs import (
    alertmanager_yaml,
    monitoring_dir,
    nginx_http_body,
    prometheus_yaml,
)
from sre_cli.stack.plan import StackOptions, build_plan
from sre_cli.stack.spec import Ports, SLOServeTarget, StateLayout

MON = monitoring_dir()
DASHBOARDS = sorted((MON / "dashboards").glob("*.json"))


def _run(argv: list[str | Path], cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, timeout=60
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def test_rules_pass_promtool_check() -> None:
    out = _run(
        [require_binary("promtool"), "check", "rules", *sorted((MON / "rules").glob("*.yml"))]
    )
    assert "SUCCESS" in out


@pytest.mark.parametrize(
    "tests_file", sorted((MON / "tests").glob("*_test.yml")), ids=lambda p: p.name
)
def test_rule_unit_tests_pass(tests_file: Path) -> None:
    out = _run(
        [require_binary("promtool"), "test", "rules", tests_file.name], cwd=tests_file.parent
    )
    assert "SUCCESS" in out


def test_rule_unit_tests_fail_when_an_alert_is_broken(tmp_path: Path) -> None:
    # The unit tests must be able to fail: raise HighErrorRate's threshold and they do.
    (tmp_path / "rules").mkdir()
    for f in (MON / "rules").glob("*.yml"):
        text = f.read_text().replace(
            'job:http_requests_error_ratio:rate2m{job="api"} > 0.05',
            'job:http_requests_error_ratio:rate2m{job="api"} > 0.5',
        )
        (tmp_path / "rules" / f.name).write_text(text)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "alerts_test.yml").write_text(
        (MON / "tests" / "alerts_test.yml").read_text()
    )
    done = subprocess.run(
        [str(require_binary("promtool")), "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path / "tests",
        timeout=60,
    )
    assert done.returncode != 0
    assert "HighErrorRate" in done.stdout + done.stderr


def test_required_alerts_exist_with_their_thresholds() -> None:
    rules = {
        r["alert"]: r
        for g in yaml.safe_load((MON / "rules" / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    assert {"HighErrorRate", "APIDown", "KafkaConsumerLagHigh", "DissolvedOxygenCrashRisk"} <= set(
        rules
    )
    assert rules["HighErrorRate"]["for"] == "2m"
    assert "> 0.05" in rules["HighErrorRate"]["expr"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["runbook"]


def test_shipped_configs_pass_promtool_and_amtool() -> None:
    assert "SUCCESS" in _run(
        [require_binary("promtool"), "check", "config", "prometheus.yml"], cwd=MON
    )
    assert "SUCCESS" in _run(
        [require_binary("amtool"), "check-config", "alertmanager.yml"], cwd=MON
    )


def test_alerts_with_a_team_route_to_that_teams_receiver() -> None:
    amtool = require_binary("amtool")
    rules = yaml.safe_load((MON / "rules" / "alerts.yml").read_text())
    teams = {
        (r["alert"], r["labels"]["team"], r["labels"]["severity"])
        for g in rules["groups"]
        for r in g["rules"]
        if "team" in r.get("labels", {})
    }
    assert {t for _, t, _ in teams} == {"dba", "on-call"}
    for alert, team, severity in sorted(teams):
        argv: list[str | Path] = [
            amtool,
            "config",
            "routes",
            "test",
            "--config.file=alertmanager.yml",
        ]
        labels = [f"alertname={alert}", f"team={team}", f"severity={severity}"]
        assert _run([*argv, *labels], cwd=MON).split("\n")[0].strip() == team, alert


def test_rendered_configs_pass_promtool_and_amtool(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path)
    layout.create()
    plan = build_plan(StackOptions(ports=Ports.from_base(23000), workers=2), FakeEnv(), layout)
    prom = tmp_path / "config" / "prometheus.yml"
    prom.write_text(prometheus_yaml(plan, layout))
    am = tmp_path / "config" / "alertmanager.yml"
    am.write_text(alertmanager_yaml(plan))
    _run([require_binary("promtool"), "check", "config", prom])
    _run([require_binary("amtool"), "check-config", am])
    config = yaml.safe_load(prom.read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert targets["api"] == ["127.0.0.1:23010", "127.0.0.1:23011"]
    assert targets["worker"] == ["127.0.0.1:23002", "127.0.0.1:23003"]
    assert targets["stack"] == ["127.0.0.1:23022"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:23021"
    ]
    hook = yaml.safe_load(am.read_text())["receivers"][0]["webhook_configs"][0]["url"]
    assert hook == "http://127.0.0.1:23022/alerts"


def test_rendered_prometheus_config_drops_jobs_the_stack_does_not_run(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path)
    layout.create()
    env = FakeEnv(binaries={"prometheus"}, modules={"service.api.app"})
    plan = build_plan(StackOptions(lite=True), env, layout)
    config = yaml.safe_load(prometheus_yaml(plan, layout))
    assert {j["job_name"] for j in config["scrape_configs"]} == {"api", "stack", "prometheus"}
    assert "alerting" not in config


def test_nginx_config_is_valid_and_balances_every_replica(tmp_path: Path) -> None:
    require_binary("nginx")
    from sre_cli.infra.nginx import NginxServer

    layout = StateLayout(tmp_path)
    plan = build_plan(StackOptions(ports=Ports.from_base(23000), api_replicas=3), FakeEnv(), layout)
    body = nginx_http_body(plan, 23000)
    for port in (23010, 23011, 23012):
        assert f"server 127.0.0.1:{port} max_fails=1" in body
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in body
    assert "keepalive 32;" in body
    server = NginxServer(tmp_path / "nginx", lambda p: nginx_http_body(plan, p), 23000)
    server.prefix.mkdir(parents=True)
    server._write_conf()  # the library's own rendering, then `nginx -t`
    server.check()


def test_dashboards_cover_red_budget_pipeline_and_ml() -> None:
    names = {p.stem for p in DASHBOARDS}
    assert {"api-red", "error-budget", "pipeline", "ml"} <= names
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        assert dash["panels"], path.name
        for panel in dash["panels"]:
            assert panel["title"], (path.name, panel.get("title"))
            assert panel["targets"], (path.name, panel.get("title"))
            assert all(t["expr"].strip() for t in panel["targets"])


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    # promtool has no bare PromQL check: wrap each query in a recording rule and check those.
    rules: list[dict[str, str]] = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for t in panel["targets"]:
                rules.append({"record": f"dashboard:q{len(rules)}", "expr": t["expr"]})
    (tmp_path / "q.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})
    )
    out = _run([require_binary("promtool"), "check", "rules", tmp_path / "q.yml"])
    assert f"{len(rules)} rules found" in out


def test_slo_serve_is_scraped_with_its_token_when_asked(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path)
    layout.create()
    token = tmp_path / "slo-token"
    token.write_text("t0ken\n")
    options = StackOptions(
        ports=Ports.from_base(23000), slo_serve=SLOServeTarget(port=23099, token_file=token)
    )
    prom = tmp_path / "config" / "prometheus.yml"
    prom.write_text(prometheus_yaml(build_plan(options, FakeEnv(), layout), layout))
    _run([require_binary("promtool"), "check", "config", prom])
    jobs = {j["job_name"]: j for j in yaml.safe_load(prom.read_text())["scrape_configs"]}
    assert jobs["slo"]["static_configs"] == [{"targets": ["127.0.0.1:23099"]}]
    assert jobs["slo"]["authorization"] == {"credentials_file": str(token)}
    without = prometheus_yaml(build_plan(StackOptions(), FakeEnv(), layout), layout)
    assert "slo" not in {j["job_name"] for j in yaml.safe_load(without)["scrape_configs"]}
