"""Alertmanager from the harness accepts an alert and lists it (API and amtool)."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from infra_harness import require_binary

from sre_cli.infra.alertmanager import AlertmanagerServer
from sre_cli.infra.http import http_request

pytestmark = pytest.mark.integration


def test_accepts_and_lists_an_alert(alertmanager_server: AlertmanagerServer) -> None:
    name = f"SmokeOxygenLow{uuid.uuid4().hex[:6]}"
    alert = [{"labels": {"alertname": name, "pen": "3"}, "annotations": {"summary": "O2 low"}}]
    status, body = http_request(
        f"{alertmanager_server.url}/api/v2/alerts",
        method="POST",
        data=json.dumps(alert).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200, body

    status, body = http_request(f"{alertmanager_server.url}/api/v2/alerts?filter=alertname={name}")
    assert status == 200
    listed = json.loads(body)
    assert [(a["labels"]["alertname"], a["labels"]["pen"]) for a in listed] == [(name, "3")]
    assert listed[0]["status"]["state"] == "active"

    amtool = require_binary("amtool")
    done = subprocess.run(
        [
            str(amtool),
            "alert",
            "query",
            f"alertname={name}",
            f"--alertmanager.url={alertmanager_server.url}",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [a["labels"]["alertname"] for a in json.loads(done.stdout)] == [name]


def test_runs_without_cluster_gossip(alertmanager_server: AlertmanagerServer) -> None:
    status, body = http_request(f"{alertmanager_server.url}/api/v2/status")
    assert status == 200
    assert json.loads(body)["cluster"]["status"] == "disabled"
