"""Escalation for real: a runbook pages a team through a real Alertmanager running the shipped
routing (``manifests/monitoring/alertmanager.yml``), and the page arrives at that team's
receiver (a webhook server of this test).

Two ways to escalate: an ``escalate`` step whose ``when`` check finds a cause, and the
front matter's timer firing while the run is still going.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from infra_harness import require_binary
from webhook_receiver import Receiver

from sre_cli.infra.alertmanager import AlertmanagerServer
from sre_cli.ops.context import RunContext
from sre_cli.runbook.engine import RunOptions, RunReport, run
from sre_cli.runbook.loader import parse_runbook
from sre_cli.runbook.render import QuietReporter

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "manifests" / "monitoring" / "alertmanager.yml"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def alertmanager(tmp_workdir: Path, receiver: Receiver) -> Iterator[AlertmanagerServer]:
    require_binary("alertmanager")
    config = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    for r in config["receivers"]:
        for hook in r.get("webhook_configs", []):
            hook["url"] = f"{receiver.url}/alerts"
    workdir = Path(tempfile.mkdtemp(prefix="am-escalation-", dir=tmp_workdir))
    with AlertmanagerServer(workdir, yaml.safe_dump(config)) as server:
        yield server


def _run(
    alertmanager: AlertmanagerServer,
    receiver: Receiver,
    path: Path,
    text: str,
    **options: bool,
) -> tuple[RunReport, Path]:
    """Run the runbook ``text`` (saved as ``path``) on the stack, escalating to the test's
    Alertmanager; the report and the transcript."""
    book = parse_runbook(text, path)
    ctx = RunContext("stack", alertmanager_url=alertmanager.url)
    options_ = RunOptions("stack", {"receiver": receiver.url}, **options)
    transcript = path.with_suffix(".jsonl")
    return run(book, options_, lambda: ctx, QuietReporter(lambda q: True), transcript), transcript


STEP_BOOK = """\
---
title: Database trouble
targets: [stack]
parameters:
  receiver: {default: "http://127.0.0.1:1"}
---
# Database trouble

```aqua action
escalate:
  team: dba
  reason: the cause is in the database
  when: {http: {url: "{receiver}/cause"}}
```

```aqua action
escalate:
  team: on-call
  reason: no such cause
  when: {http: {url: "{receiver}/no-cause"}}
```
"""


def test_a_step_that_finds_a_database_cause_pages_the_dba_team(
    alertmanager: AlertmanagerServer, receiver: Receiver, tmp_path: Path
) -> None:
    report, _ = _run(alertmanager, receiver, tmp_path / "db-escalation.md", STEP_BOOK, yes=True)
    assert report.error is None, report.error
    assert [r.status for r in report.records] == ["done", "nothing"]
    alert = receiver.wait_for("dba", runbook="db-escalation")
    assert alert["labels"]["alertname"] == "RunbookEscalation"
    assert alert["labels"]["team"] == "dba"
    assert "the cause is in the database" in alert["annotations"]["summary"]
    # the step whose check found nothing paged nobody
    assert not [a for a in receiver.alerts("on-call") if a["labels"]["runbook"] == "db-escalation"]


TIMER_BOOK = """\
---
title: Slow to resolve
targets: [stack]
escalation: {after: 300ms, team: on-call}
parameters:
  receiver: {default: "http://127.0.0.1:1"}
---
# Slow to resolve

```aqua check
wait: {until: {http: {url: "{receiver}/no-cause"}}, timeout: 2s, interval: 100ms}
on_fail: continue
```
"""


def test_the_timer_pages_on_call_when_the_run_outlasts_it(
    alertmanager: AlertmanagerServer, receiver: Receiver, tmp_path: Path
) -> None:
    path = tmp_path / "slow-escalation.md"
    report, transcript = _run(alertmanager, receiver, path, TIMER_BOOK, yes=True)
    assert len(report.escalations) == 1
    assert report.escalations[0]["team"] == "on-call"
    alert = receiver.wait_for("on-call", runbook="slow-escalation")
    assert alert["labels"]["alertname"] == "RunbookEscalation"
    kinds = [json.loads(line)["event"] for line in transcript.read_text().splitlines()]
    assert "escalation" in kinds


def test_a_dry_run_pages_nobody(
    alertmanager: AlertmanagerServer, receiver: Receiver, tmp_path: Path
) -> None:
    path = tmp_path / "dry-escalation.md"
    report, _ = _run(alertmanager, receiver, path, TIMER_BOOK, dry_run=True)
    assert report.escalations == []
