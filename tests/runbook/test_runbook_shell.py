"""``shell`` steps, run for real by ``/bin/sh`` on this machine: opt-in per runbook,
destructive unless declared lower, output captured, killed whole at the timeout, parameters
quoted so a value cannot run as a command."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sre_cli.errors import SpecError
from sre_cli.ops.context import RunContext
from sre_cli.runbook.engine import RunOptions, RunReport, run
from sre_cli.runbook.loader import parse_runbook
from sre_cli.runbook.render import QuietReporter

HEAD = """\
---
title: Shell
targets: [stack]
shell: true
parameters:
  word: {default: hello}
---
# Shell

"""


def run_book(tmp_path: Path, body: str, **options: object) -> RunReport:
    book = parse_runbook(HEAD + body, tmp_path / "shell-book.md")
    params = options.pop("params", {})
    assert isinstance(params, dict)
    opts = RunOptions("stack", params, **options)  # type: ignore[arg-type]
    ctx = RunContext("stack")
    return run(book, opts, lambda: ctx, QuietReporter(lambda q: False), tmp_path / "t.jsonl")


def test_a_runbook_must_opt_in_to_shell_steps(tmp_path: Path) -> None:
    text = (
        HEAD.replace("shell: true\n", "")
        + '```aqua diagnose\nshell: {command: "id", risk: read}\n```\n'
    )
    with pytest.raises(SpecError) as err:
        parse_runbook(text, tmp_path / "no-opt-in.md")
    assert "a shell step runs only in a runbook that opts in" in err.value.message
    assert err.value.hint == "add `shell: true` to the front matter"


def test_a_shell_step_is_destructive_unless_it_says_otherwise(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        parse_runbook(HEAD + '```aqua diagnose\nshell: {command: "id"}\n```\n', tmp_path / "x.md")
    assert "changes state: make it an `aqua action`" in err.value.message
    marker = tmp_path / "made"
    body = (
        f'```aqua action\nshell: {{command: "touch {marker}"}}\n```\n\n'
        '```aqua check\nhttp: {url: "http://127.0.0.1:1/"}\n```\n'
    )
    refused = run_book(tmp_path, body)
    assert refused.exit_code == 3
    assert refused.records[0].risk == "destructive"
    assert refused.records[0].status == "declined"
    assert "is destructive and runs only with --yes" in refused.records[0].summary
    assert not marker.exists()
    done = run_book(tmp_path, body, yes=True)
    assert done.records[0].status == "done", done.records[0]
    assert marker.exists()


def test_a_read_shell_step_shows_its_output_and_exit(tmp_path: Path) -> None:
    body = (
        "```aqua diagnose\n"
        'shell: {command: "echo out {word}; echo err >&2; echo $AQUA_TARGET; exit 3", '
        "risk: read}\n```\n"
    )
    report = run_book(tmp_path, body)
    assert report.exit_code == 0, report.error
    record = report.records[0]
    assert record.risk == "read"
    assert (
        record.summary == "shell `echo out hello; echo err >&2; echo $AQUA_TARGET; exit 3` exited 3"
    )
    assert record.details == ("out hello", "err", "stack")


def test_a_parameter_is_one_word_of_the_command_whatever_it_holds(tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    body = '```aqua diagnose\nshell: {command: "echo {word}", risk: read}\n```\n'
    report = run_book(tmp_path, body, params={"word": f"x; touch {marker}"})
    assert report.records[0].details == (f"x; touch {marker}",)
    assert not marker.exists()


def test_the_timeout_kills_the_whole_session(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    body = (
        "```aqua diagnose\n"
        f'shell: {{command: "sleep 120 & echo $! > {pidfile}; echo started; wait", '
        "risk: read, timeout: 1s}\n```\n"
    )
    report = run_book(tmp_path, body)
    record = report.records[0]
    assert record.summary.endswith("timed out"), record
    assert record.details == ("started",)
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists():  # the background sleep went with its shell
        stat = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()
        if stat[0] == "Z":
            break
        assert time.monotonic() < deadline, f"sleep {child} outlived the timeout"
        time.sleep(0.1)


def test_a_failing_shell_action_fails_the_run(tmp_path: Path) -> None:
    body = (
        '```aqua action\nshell: {command: "echo no such thing; exit 4", risk: mutate}\n```\n\n'
        '```aqua check\nhttp: {url: "http://127.0.0.1:1/"}\n```\n'
    )
    report = run_book(tmp_path, body, yes=True)
    assert report.exit_code == 1
    assert report.records[0].status == "error"
    assert "exited 4" in report.records[0].summary
    assert "no such thing" in report.records[0].summary
    assert len(report.records) == 1  # the run stopped there
    assert os.environ.get("AQUA_TARGET") is None  # the variable was the child's only
