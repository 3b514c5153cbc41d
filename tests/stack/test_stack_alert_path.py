"""A fault's whole path to the team that must act, on real servers: a slow query in a real
PostgreSQL, the stack agent's scrape, Prometheus evaluating the shipped alert rules (their
``for:`` shortened for the test), Alertmanager routing with the shipped config, and the
notification arriving at the DBA team's receiver.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from infra_harness import PrometheusFactory, require_binary
from stack.fake_env import FakeEnv
from webhook_receiver import Receiver

from sre_cli.errors import AquaError
from sre_cli.infra.alertmanager import AlertmanagerServer
from sre_cli.infra.postgres import PostgresServer
from sre_cli.stack.agent import Agent, agent_handler
from sre_cli.stack.configs import monitoring_dir, shorten_rules
from sre_cli.stack.plan import StackOptions, build_plan
from sre_cli.stack.spec import Ports, StateLayout
from sre_cli.stack.state import atomic_write, load_or_create_secrets

pytestmark = pytest.mark.integration

MON = monitoring_dir()


def test_shorten_rules_caps_every_for_and_keeps_the_rest() -> None:
    shipped = yaml.safe_load((MON / "rules" / "alerts.yml").read_text())
    short = yaml.safe_load(shorten_rules((MON / "rules" / "alerts.yml").read_text(), 5))
    pairs = [
        (a, b)
        for ga, gb in zip(shipped["groups"], short["groups"], strict=True)
        for a, b in zip(ga["rules"], gb["rules"], strict=True)
    ]
    assert any(a.get("for") == "10m" for a, _ in pairs)
    for a, b in pairs:
        assert b.get("for") in (None, "5s", a.get("for"))
        assert (a["expr"], a.get("labels"), a.get("annotations")) == (
            b["expr"],
            b.get("labels"),
            b.get("annotations"),
        )


@pytest.fixture
def agent_url(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[str]:
    """The stack agent, in this process, for a plan whose PostgreSQL is the harness's."""
    layout = StateLayout(tmp_path / "stack")
    layout.create()
    ports = Ports.from_base(23000).model_copy(update={"postgres": postgres_server.port})
    plan = build_plan(StackOptions(ports=ports), FakeEnv(), layout)
    atomic_write(layout.plan_file, plan.model_dump_json())
    postgres_server.provision(load_or_create_secrets(layout.secrets_file).database_roles())
    server = ThreadingHTTPServer(("127.0.0.1", 0), agent_handler(Agent(layout)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


def test_a_slow_query_reaches_the_dba_receiver(
    postgres_server: PostgresServer,
    prometheus_factory: PrometheusFactory,
    tmp_workdir: Path,
    agent_url: str,
) -> None:
    require_binary("alertmanager")
    receiver = Receiver()
    am_config = yaml.safe_load((MON / "alertmanager.yml").read_text())
    for r in am_config["receivers"]:
        for hook in r.get("webhook_configs", []):
            hook["url"] = f"{receiver.url}/alerts"
    am_dir = Path(tempfile.mkdtemp(prefix="am-path-", dir=tmp_workdir))
    rules = Path(tempfile.mkdtemp(prefix="rules-", dir=tmp_workdir)) / "alerts.yml"
    rules.write_text(shorten_rules((MON / "rules" / "alerts.yml").read_text(), 3))

    def fault() -> None:
        # The fault: a query that holds a session for 90 s (cancelled at the end).
        with contextlib.suppress(AquaError, subprocess.SubprocessError):
            postgres_server.psql("select pg_sleep(90)", timeout=120)

    slow = threading.Thread(target=fault)
    try:
        with AlertmanagerServer(am_dir, yaml.safe_dump(am_config)) as am:
            config = {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [am.url.split("//")[1]]}]}]
                },
                "scrape_configs": [
                    {"job_name": "stack", "static_configs": [{"targets": [agent_url]}]}
                ],
            }
            prometheus_factory(yaml.safe_dump(config))
            assert receiver.alerts("dba") == []  # no fault yet, no page
            slow.start()
            alert = receiver.wait_for("dba", deadline_s=180, alertname="PostgresSlowQueries")
            assert alert["labels"]["team"] == "dba"
            assert alert["annotations"]["runbook"] == "runbooks/database-outage.md"
    finally:
        postgres_server.psql(
            "select pg_cancel_backend(pid) from pg_stat_activity "
            "where query = 'select pg_sleep(90)'"
        )
        if slow.is_alive():
            slow.join(timeout=60)
        receiver.close()
