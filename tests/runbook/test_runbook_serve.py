"""``aqua runbook serve`` as Alertmanager's webhook, for real: a real Alertmanager (the
harness's) routes an alert to the server, with the bearer token from a file
(``http_config.authorization``); the server investigates it on a real stack with the runbook
that lists the alert, read steps only, and serves the transcript.

The runbook also holds a mutate step (restart the API) and a destructive one (a shell command
that would leave a file behind): neither runs. Alertmanager re-sends the group's notification
every second while the investigation runs (``repeat_interval: 1s``); no second one starts. Bad
requests get a 4xx saying why, and SIGTERM stops the server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cli_runner import ROOT, run_aqua
from infra_harness import require_binary
from stack.faults_harness import FaultStack

from sre_cli.infra.alertmanager import AlertmanagerServer

pytestmark = pytest.mark.integration

ALERT = "AquaServeDrill"

BOOK = """\
---
title: Serve drill
alerts: [ALERT]
severity: page
targets: [stack]
shell: true
---
# Serve drill

## Investigation

```aqua diagnose
stack: {status: "*"}
```

```aqua diagnose
describe: {component: "api-*"}
```

```aqua check
http: {url: "{entry_url}/ready", expect_status: 200}
```

```aqua diagnose
prometheus: {query: 'up{job="api"}'}
```

```aqua diagnose
shell: {command: "sleep 6; echo investigated by $AQUA_TARGET", risk: read, timeout: 30s}
```

## Resolution

```aqua action
stack: {restart: "api-*"}
```

```aqua action
shell: {command: "touch MARKER"}
```

```aqua check
stack: {ready: "api-*"}
```
"""


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    token: str
    folder: Path
    lines: list[str] = field(default_factory=list)

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def wait_line(self, needle: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if needle in line:
                    return line
            assert self.proc.poll() is None, "\n".join(self.lines)
            time.sleep(0.2)
        raise AssertionError(f"no {needle!r} in the log:\n" + "\n".join(self.lines))


@pytest.fixture(scope="module")
def server(faults_stack: FaultStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    books = tmp / "runbooks"
    books.mkdir()
    marker = tmp / "marker"
    text = BOOK.replace("ALERT", ALERT).replace("MARKER", str(marker))
    (books / "serve-drill.md").write_text(text)
    token = uuid.uuid4().hex
    token_file = tmp / "token"
    token_file.write_text(token + "\n")
    folder = tmp / "investigations"
    argv = [sys.executable, "-m", "sre_cli", "runbook", "serve", "--port", "0"]
    argv += ["--token-file", str(token_file), "--dir", str(books), "--transcripts", str(folder)]
    argv += ["--state-dir", str(faults_stack.state_dir), "--grace", "20"]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "400"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True).start()
    s = Server(proc, "", token, folder, lines)
    first = s.wait_line("/alerts; transcripts in", timeout=60)
    s.url = first.split(" on ", 1)[1].split("/alerts", 1)[0]
    try:
        yield s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def alertmanager(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_binary("alertmanager")
    token_file = tmp_path_factory.mktemp("am-token") / "token"
    token_file.write_text(server.token)
    config = {
        "route": {
            "receiver": "aqua",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1s",
        },
        "receivers": [
            {
                "name": "aqua",
                "webhook_configs": [
                    {
                        "url": f"{server.url}/alerts",
                        "send_resolved": False,
                        "http_config": {
                            "authorization": {"type": "Bearer", "credentials_file": str(token_file)}
                        },
                    }
                ],
            }
        ],
    }
    workdir = Path(tempfile.mkdtemp(prefix="am-serve-", dir=tmp_path_factory.getbasetemp()))
    with AlertmanagerServer(workdir, yaml.safe_dump(config)) as am:
        yield am.url


def investigation(server: Server, ident: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/investigations/{ident}", headers=server.auth(), timeout=30)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def test_an_alert_through_alertmanager_is_investigated_read_only(
    server: Server, alertmanager: str, faults_stack: FaultStack
) -> None:
    before = faults_stack.stack.status()["api-1"]
    # The investigation's PromQL step reads up{job="api"}: wait until it has been scraped.
    faults_stack.wait_prometheus(
        'count(up{job="api"})', lambda v: v >= 1, "Prometheus to scrape the API"
    )
    alert = [{"labels": {"alertname": ALERT, "severity": "page"}}]
    assert httpx.post(f"{alertmanager}/api/v2/alerts", json=alert, timeout=30).status_code == 200
    started = server.wait_line(f"alert {ALERT} -> runbook serve-drill on stack")
    ident = started.split("investigation ", 1)[1].split(" started", 1)[0]
    assert f"transcript {server.folder / ident}.jsonl" in started
    assert f"{server.url}/investigations/{ident}" in started
    # Alertmanager re-sends the group while the 6 s investigation runs: none starts again
    server.wait_line(f"investigation {ident} still running, no second one started")
    listed = httpx.get(f"{server.url}/investigations", headers=server.auth(), timeout=30).json()
    assert [i["id"] for i in listed["investigations"]] == [ident]
    assert listed["investigations"][0]["status"] == "running"
    server.wait_line(f"investigation {ident} finished: investigated")

    found = investigation(server, ident)
    assert found["status"] == "done"
    assert found["outcome"] == "investigated"
    assert found["alert"] == ALERT
    steps = {e["step"]: e for e in found["events"] if e["event"] == "step"}
    assert steps[1]["status"] == "info"
    assert any(d.startswith("api-1") for d in steps[1]["details"])  # stack status
    described = "\n".join(steps[2]["details"])
    assert f"pid:      {before['pid']}" in described  # describe: the live process
    assert "-m service.api" in described  # its command line, from /proc
    assert steps[3]["status"] == "pass"  # the API answers /ready
    assert steps[4]["summary"] == "1 series"  # up{job="api"}
    assert steps[5]["details"] == ["investigated by stack"]  # the read shell step ran
    for n, risk in ((6, "mutate"), (7, "destructive")):
        assert steps[n]["status"] == "skipped", steps[n]
        assert steps[n]["risk"] == risk
        assert "an investigation runs read steps only" in steps[n]["summary"]
    assert steps[8]["status"] == "pass"
    # what the skipped steps would have done did not happen
    assert not (server.folder.parent / "marker").exists()
    after = faults_stack.stack.status()["api-1"]
    assert (after["pid"], after["restarts"]) == (before["pid"], before["restarts"])
    # stored: the transcript file as served
    stored = (server.folder / f"{ident}.jsonl").read_text()
    r = httpx.get(
        f"{server.url}/investigations/{ident}/transcript", headers=server.auth(), timeout=30
    )
    assert r.status_code == 200
    assert r.text == stored
    assert json.loads(stored.splitlines()[0])["investigate"] is True


def notification(**change: object) -> dict[str, Any]:
    alert = {"status": "firing", "labels": {"alertname": "NoRunbookAnswersThis"}}
    body = {"version": "4", "groupKey": "{}:{}", "status": "firing", "alerts": [alert]}
    return {**body, **change}


@pytest.mark.parametrize(
    ("headers", "body", "status", "words"),
    [
        ({}, json.dumps(notification()), 401, "a bearer token is required"),
        ({"Authorization": "Bearer wrong"}, json.dumps(notification()), 401, "bearer token"),
        (None, "{not json", 400, "the body is not JSON"),
        (None, json.dumps(notification(version="3")), 422, "version"),
        (None, json.dumps(notification(alerts=[{"status": "firing"}])), 422, "alerts.0.labels"),
        (None, json.dumps(notification(groupKey="")), 422, "groupKey"),
        (
            None,
            json.dumps(notification(alerts=[{"status": "firing", "labels": {"x": "y"}}])),
            422,
            "no alertname",
        ),
        (None, "x" * (1024 * 1024 + 1), 413, "larger than"),
    ],
)
def test_a_bad_request_gets_a_4xx_saying_why(
    server: Server, headers: dict[str, str] | None, body: str, status: int, words: str
) -> None:
    r = httpx.post(
        f"{server.url}/alerts",
        content=body,
        headers=server.auth() if headers is None else headers,
        timeout=30,
    )
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_an_alert_no_runbook_answers_is_ignored_and_said_so(server: Server) -> None:
    r = httpx.post(f"{server.url}/alerts", json=notification(), headers=server.auth(), timeout=30)
    assert r.status_code == 202, r.text
    (entry,) = r.json()["investigations"]
    assert entry["status"] == "ignored"
    assert "no runbook in" in entry["reason"]


@pytest.mark.parametrize(
    "path", ["/investigations/nothing-here", "/investigations/..%2F..%2Fetc%2Fpasswd", "/x"]
)
def test_unknown_reads_are_404_and_reads_need_the_token(server: Server, path: str) -> None:
    assert httpx.get(f"{server.url}{path}", headers=server.auth(), timeout=30).status_code == 404
    unauthorized = httpx.get(f"{server.url}/investigations", timeout=30)
    assert unauthorized.status_code == 401


def test_serve_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    done = run_aqua("runbook", "serve", "--port", "0", env={"AQUA_RUNBOOK_SERVE_TOKEN": ""})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "a bearer token is required: the webhook is never served without" in done.stderr


def test_sigterm_lets_a_running_investigation_finish_then_stops(server: Server) -> None:
    note = notification(groupKey=f"sigterm-{uuid.uuid4().hex}")
    note["alerts"] = [{"status": "firing", "labels": {"alertname": ALERT}}]
    r = httpx.post(f"{server.url}/alerts", json=note, headers=server.auth(), timeout=30)
    assert r.status_code == 202, r.text
    (entry,) = r.json()["investigations"]
    assert entry["status"] == "started", entry
    server.proc.send_signal(signal.SIGTERM)  # while its 6 s shell step runs
    assert server.proc.wait(timeout=60) == 0, "\n".join(server.lines)
    deadline = time.monotonic() + 10  # the reader thread takes the last lines
    while not any(line.strip() == "stopped" for line in server.lines):
        assert time.monotonic() < deadline, server.lines
        time.sleep(0.1)
    assert any(line.startswith("stopping: waiting up to 20s") for line in server.lines)
    events = [
        json.loads(x) for x in (server.folder / f"{entry['id']}.jsonl").read_text().splitlines()
    ]
    assert events[-1]["event"] == "end"  # it ran to its end before the server exited
    assert events[-1]["outcome"] == "investigated"
