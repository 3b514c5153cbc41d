"""Verification against the SLO after the resolution (``verify:``), for real: the stack's API
fails on ``/health`` (its fault rules) under load, its Prometheus scrapes the failures, and
the runbook's verification reads the SLO's error ratio from that Prometheus. Recovered (the
runbook's fix clears the fault): the run resolves and pages nobody. Not recovered (the fix
does nothing): the run fails (exit 1) and a ``RunbookEscalation`` for the verification's team
arrives at the stack's Alertmanager.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_runner import run_aqua
from json_schema import assert_matches_schema
from stack.faults_harness import FaultStack, slo_spec

pytestmark = pytest.mark.integration

#: the runbook's fix: clear the API's fault rules (recovered), or do nothing (not recovered)
CLEAR = (
    '{python} -c \'import os, httpx; httpx.delete(os.environ["AQUA_ENTRY_URL"] + '
    '"/api/v1/admin/faults", headers={"Authorization": "Bearer " + '
    'os.environ["AQUA_ADMIN_TOKEN"]}).raise_for_status()\''
)

BOOK = """\
---
title: /health fails ({name})
targets: [stack]
shell: true
parameters:
  python: {{description: the interpreter the fix runs with}}
verify: {{slo: drill-health, file: slo.yaml, within: WITHIN, window: 30s, interval: 2s, team: dba}}
---
# /health fails

```aqua action
shell: {{command: "FIX", risk: mutate, timeout: 30s}}
```

```aqua check
http: {{url: "{{entry_url}}/live", expect_status: 200}}
```
"""


def book(folder: Path, name: str, fix: str, within: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slo.yaml").write_text(slo_spec())
    text = BOOK.format(name=name).replace("WITHIN", within).replace('"FIX"', json.dumps(fix))
    path = folder / f"{name}.md"
    path.write_text(text)
    return path


def run(fs: FaultStack, path: Path) -> tuple[int, dict[str, Any], list[dict[str, Any]], str]:
    transcript = path.with_suffix(".jsonl")
    done = run_aqua(
        "runbook", "run", str(path), "--yes", "--format", "json",
        "--state-dir", str(fs.state_dir), "--transcript", str(transcript),
        "--param", f"python={sys.executable}",
        env={"AQUA_ADMIN_TOKEN": fs.token}, timeout=300,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert_matches_schema("runbook-run", report)
    events = [json.loads(line) for line in transcript.read_text().splitlines()]
    return done.returncode, report, events, done.stderr


ERRORS = 'sum(rate(http_requests_total{job="api",route="/health",status=~"5.."}[30s]))'


def failing(fs: FaultStack) -> None:
    """/health answers 503 and Prometheus has seen it."""
    fs.fault("/health", error_rate=1.0, error_status=503)
    fs.wait_prometheus(ERRORS, lambda v: v > 0, "the 503s in Prometheus")


def escalations(fs: FaultStack, runbook: str) -> list[dict[str, Any]]:
    am = fs.url_of("alertmanager")
    r = httpx.get(f"{am}/api/v2/alerts", params={"filter": f'runbook="{runbook}"'}, timeout=30)
    return [a for a in r.json() if a["labels"].get("alertname") == "RunbookEscalation"]


def test_a_fix_that_works_is_verified_against_the_slo_and_pages_nobody(
    faults_stack: FaultStack, tmp_path: Path
) -> None:
    name = f"verify-ok-{uuid.uuid4().hex[:6]}"
    path = book(tmp_path, name, CLEAR, "120s")
    with faults_stack.load("/health", rate=10) as load:
        failing(faults_stack)
        code, report, events, err = run(faults_stack, path)
    assert code == 0, (report, err)
    assert load.failed > 0  # the SLI really burned before the fix
    verified = report["verification"]
    assert verified["recovered"] is True, verified
    assert verified["slo"] == "drill-health"
    assert "under the 1.0000% the objective (99 %) allows" in verified["summary"]
    assert " of " in verified["summary"]  # measured over real requests, not "no traffic"
    assert verified["seconds"] > 0  # it waited for the 30 s window to leave the 503s behind
    assert report["outcome"] == "resolved"
    assert report["escalations"] == []
    assert [e["event"] for e in events][-2:] == ["verify", "end"]
    assert escalations(faults_stack, name) == []


def test_a_fix_that_does_not_work_escalates_to_the_verification_team(
    faults_stack: FaultStack, tmp_path: Path
) -> None:
    name = f"verify-fail-{uuid.uuid4().hex[:6]}"
    path = book(tmp_path, name, "true", "15s")
    try:
        with faults_stack.load("/health", rate=10):
            failing(faults_stack)
            code, report, events, err = run(faults_stack, path)
    finally:
        faults_stack.clear()
    assert code == 1, (report, err)
    assert report["outcome"] == "check-failed"
    verified = report["verification"]
    assert verified["recovered"] is False, verified
    assert "above the 1.0000% the objective (99 %) allows" in verified["summary"]
    assert "SLO drill-health not recovered 15s after the resolution" in report["error"]
    assert "escalated to dba" in report["error"]
    assert [e["team"] for e in report["escalations"]] == ["dba"]
    assert "escalation" in [e["event"] for e in events]
    deadline = time.monotonic() + 60
    while not (found := escalations(faults_stack, name)):
        assert time.monotonic() < deadline, "no RunbookEscalation reached Alertmanager"
        time.sleep(0.5)
    labels = found[0]["labels"]
    assert (labels["team"], labels["severity"], labels["target"]) == ("dba", "page", "stack")
    assert "drill-health" in found[0]["annotations"]["summary"]


def test_a_verify_naming_no_slo_is_refused_before_any_step(
    faults_stack: FaultStack, tmp_path: Path
) -> None:
    path = book(tmp_path, "verify-unknown", "true", "15s")
    path.write_text(path.read_text().replace("slo: drill-health", "slo: drill-nothing"))
    done = run_aqua(
        "runbook", "run", str(path), "--yes", "--state-dir", str(faults_stack.state_dir),
        "--param", f"python={sys.executable}", "--transcript", str(tmp_path / "t.jsonl"),
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "verify.slo 'drill-nothing' is no SLO of" in done.stderr
    assert "SLOs there: drill-health" in done.stderr
    assert not (tmp_path / "t.jsonl").exists()
