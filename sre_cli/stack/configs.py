"""Config files of the stack's servers, rendered from the plan into ``ROOT/config/``.

Prometheus and Alertmanager configs start from the monitoring-as-code files shipped in
``manifests/monitoring/`` (``AQUA_MONITORING_DIR`` overrides) and only change what differs per
stack: targets, ports and file paths. Job names, rules and routes stay those of the manifests,
so what the tests check is what runs.

nginx load-balances the API replicas with passive health checks (``max_fails``), retries an
idempotent request on another replica when one fails (``proxy_next_upstream``), and keeps
upstream connections alive.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sre_cli.defaults import shipped
from sre_cli.errors import ConfigError
from sre_cli.stack.spec import StackPlan, StateLayout
from sre_cli.timespec import parse_seconds

__all__ = [
    "GAMEDAY_TIMINGS",
    "GamedayTimings",
    "alertmanager_yaml",
    "copy_rules",
    "monitoring_dir",
    "nginx_http_body",
    "prometheus_yaml",
    "shorten_rules",
]


@dataclass(frozen=True)
class GamedayTimings:
    """The game-day Prometheus config (``aqua stack up --gameday-alerts``): scrapes and rule
    evaluations every ``interval_s``, every alert's ``for:`` capped at ``max_for_s``."""

    interval_s: float = 2.0
    max_for_s: float = 10.0

    def describe(self) -> str:
        return (
            f"shortened game-day alert timings: scrape and evaluation every "
            f"{self.interval_s:g}s, no alert holds longer than {self.max_for_s:g}s before it fires"
        )


GAMEDAY_TIMINGS = GamedayTimings()


def monitoring_dir() -> Path:
    """Where the shipped monitoring manifests are."""
    path = shipped("manifests/monitoring", "AQUA_MONITORING_DIR")
    if not (path / "prometheus.yml").is_file():
        raise ConfigError(
            f"monitoring manifests not found in {path}",
            hint="set AQUA_MONITORING_DIR to a folder with prometheus.yml, alertmanager.yml "
            "and rules/",
        )
    return path


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a YAML mapping")
    return data


def _targets(plan: StackPlan, job: str) -> list[str]:
    kinds = {
        "api": ("api",),
        "ml": ("ml",),
        "worker": ("worker",),
        "stack": ("agent",),
        "alertmanager": ("alertmanager",),
        "prometheus": ("prometheus",),
    }.get(job, ())
    return [f"127.0.0.1:{c.port}" for c in plan.components if c.kind in kinds]


def prometheus_yaml(plan: StackPlan, layout: StateLayout) -> str:
    """``prometheus.yml`` for this stack; rule files are copied next to it."""
    config = _load(monitoring_dir() / "prometheus.yml")
    rule_files = copy_rules(layout.config_dir / "rules", gameday_alerts=plan.gameday_alerts)
    if plan.gameday_alerts:
        every = f"{GAMEDAY_TIMINGS.interval_s:g}s"
        config.setdefault("global", {}).update(
            scrape_interval=every, scrape_timeout=every, evaluation_interval=every
        )
    extra = layout.config_dir / "rules" / "extra"
    if extra.is_dir():  # rules of your own beside the shipped ones (slo.yml among them)
        rule_files.append(str(extra / "*.yml"))
    config["rule_files"] = rule_files
    am = [c for c in plan.components if c.kind == "alertmanager"]
    if am:
        static = {"targets": [f"127.0.0.1:{am[0].port}"]}
        config["alerting"] = {"alertmanagers": [{"static_configs": [static]}]}
    else:
        config.pop("alerting", None)
    jobs = []
    for job in config.get("scrape_configs", []):
        targets = _targets(plan, job["job_name"])
        if not targets:
            continue  # a component this stack does not run is not scraped
        job["static_configs"] = [{"targets": targets}]
        jobs.append(job)
    if plan.slo_serve is not None:  # `aqua stack up --slo-serve PORT`
        jobs.append(
            {
                "job_name": "slo",
                "metrics_path": "/metrics",
                "authorization": {"credentials_file": str(plan.slo_serve.token_file)},
                "static_configs": [{"targets": [f"127.0.0.1:{plan.slo_serve.port}"]}],
            }
        )
    config["scrape_configs"] = jobs
    return yaml.safe_dump(config, sort_keys=False)


def copy_rules(rules_dir: Path, *, gameday_alerts: bool) -> list[str]:
    """The shipped rule files (those ``prometheus.yml`` names) copied into ``rules_dir``,
    every ``for:`` shortened with ``gameday_alerts``; their paths."""
    src = monitoring_dir()
    rules_dir.mkdir(parents=True, exist_ok=True)
    rule_files: list[str] = []
    for rel in _load(src / "prometheus.yml").get("rule_files", []):
        target = rules_dir / Path(rel).name
        if gameday_alerts:
            text = (src / rel).read_text(encoding="utf-8")
            target.write_text(shorten_rules(text, GAMEDAY_TIMINGS.max_for_s), encoding="utf-8")
        else:
            shutil.copyfile(src / rel, target)
        rule_files.append(str(target))
    return rule_files


def shorten_rules(text: str, max_for_s: float) -> str:
    """A rule file whose every ``for:`` is at most ``max_for_s`` seconds.

    For game days: an alert that must hold 5 minutes as shipped fires within seconds, so a
    fault's whole path (fault, alert, runbook, recovery) fits in a test. Expressions, labels
    and annotations stay as shipped."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ConfigError("a rule file is a YAML mapping with groups")
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            held = rule.get("for")
            if held is not None and parse_seconds(str(held)) > max_for_s:
                rule["for"] = f"{max_for_s:g}s"
    return yaml.safe_dump(doc, sort_keys=False)


def alertmanager_yaml(plan: StackPlan) -> str:
    """``alertmanager.yml`` with the webhook pointed at this stack's agent."""
    config = _load(monitoring_dir() / "alertmanager.yml")
    agent = plan.component("agent")
    for receiver in config.get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"http://127.0.0.1:{agent.port}/alerts"
    return yaml.safe_dump(config, sort_keys=False)


MONITORING_USER = "aqua"
MONITORING_PATHS = {"prometheus": "/prometheus/", "alertmanager": "/alertmanager/"}


def monitoring_htpasswd(password: str) -> str:
    """The htpasswd line of the monitoring user: bcrypt, cost 10 (nginx checks it on every
    request; cost 12 took ~0.25 s a request on the shared machine)."""
    import bcrypt

    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    return f"{MONITORING_USER}:{digest}\n"


def _monitoring_locations(plan: StackPlan, htpasswd: Path | None) -> str:
    """Prometheus and Alertmanager under /prometheus/ and /alertmanager/, behind basic auth."""
    if htpasswd is None:
        return ""
    out = []
    for c in plan.components:
        if c.kind in MONITORING_PATHS:
            out.append(f"""\
    location {MONITORING_PATHS[c.kind]} {{
        auth_basic "aqua monitoring";
        auth_basic_user_file {htpasswd};
        proxy_pass http://127.0.0.1:{c.port}/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Authorization "";
        proxy_read_timeout 60s;
    }}
""")
    return "".join(out)


def external_url(plan: StackPlan, kind: str) -> str | None:
    """Where users reach ``kind`` (prometheus, alertmanager) through nginx; None without it."""
    nginx = plan.of_kind("nginx")
    if not nginx or kind not in MONITORING_PATHS:
        return None
    return f"http://127.0.0.1:{nginx[0].port}{MONITORING_PATHS[kind]}"


def nginx_http_body(plan: StackPlan, port: int, htpasswd: Path | None = None) -> str:
    """The ``http {}`` body: ``port`` in front of the API replicas, and of Prometheus and
    Alertmanager behind basic auth when ``htpasswd`` is given (the library adds the rest)."""
    upstreams = "\n".join(
        f"    server 127.0.0.1:{c.port} max_fails=1 fail_timeout=2s;"
        for c in plan.components
        if c.kind == "api"
    )
    return f"""\
access_log off;
server_tokens off;
upstream aqua_api {{
{upstreams}
    keepalive 32;
}}
# nginx's workers drop root privileges and may not enter a private state dir: keep request
# bodies and proxied responses in memory instead of temp files there.
client_body_buffer_size 2m;
proxy_max_temp_file_size 0;
server {{
    listen 127.0.0.1:{port};
    client_max_body_size 2m;
    add_header X-Content-Type-Options nosniff always;
    add_header X-Frame-Options DENY always;
    add_header Referrer-Policy no-referrer always;
    add_header Content-Security-Policy "frame-ancestors 'none'" always;
    location = /nginx/health {{
        default_type text/plain;
        return 200 "ok\\n";
    }}
    location / {{
        proxy_pass http://aqua_api;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        # Overwritten, never appended to: the API trusts this hop (AQUA_TRUSTED_PROXIES) to
        # name the client, so nothing a client sends may reach it in these headers.
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        # Idempotent requests go to the next replica on a connection error or a 502-504;
        # POST and PATCH are retried only when they never reached a replica.
        proxy_next_upstream error timeout http_502 http_503 http_504;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 10s;
        proxy_connect_timeout 1s;
        proxy_read_timeout 30s;
    }}
{_monitoring_locations(plan, htpasswd)}}}
"""
