"""The `aqua slo` command group: help for every command, and the commands that need no server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_runner import invoke

from sre_cli.commands.slo import app

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
SHIPPED = Path(__file__).parents[2] / "slo"


def _cli(*args: str) -> tuple[int, str]:
    return invoke(app, args)


@pytest.mark.parametrize("command", ["validate", "report", "gate", "rules", "serve", "backtest"])
def test_every_command_has_help(command: str) -> None:
    code, out = _cli(command, "--help")
    assert code == 0
    assert "Usage:" in out


def test_group_help_lists_commands() -> None:
    code, out = _cli("--help")
    assert code == 0
    for command in ("validate", "report", "gate", "rules", "serve", "backtest"):
        assert command in out


def test_validate_good_and_bad() -> None:
    code, out = _cli("validate", str(FIXTURES / "good"))
    assert (code, "9 SLO(s) valid" in out) == (0, True)
    code, out = _cli("validate", str(FIXTURES / "bad" / "objective-100.yaml"))
    assert code == 1
    assert "objective-100.yaml:7: slos.0.objective: must be less than 100" in out


def test_validate_warns_and_strict_fails() -> None:
    lint = FIXTURES / "lint" / "sample-count.yaml"
    code, out = _cli("validate", str(lint))
    assert code == 0, out
    assert "warning: " in out
    assert "error_query counts with neither rate() nor increase()" in out
    assert "1 SLO(s) valid, 2 warning(s)" in out
    code, out = _cli("validate", "--strict", str(lint))
    assert code == 1, out
    assert "2 problem(s) in SLO specs" in out


def test_rules_to_file_with_inhibition(tmp_path: Path) -> None:
    rules, inhibit = tmp_path / "rules.yaml", tmp_path / "inhibit.yaml"
    code, out = _cli("rules", str(SHIPPED), "-o", str(rules), "--inhibit-rules", str(inhibit))
    assert code == 0, out
    groups = yaml.safe_load(rules.read_text())["groups"]
    assert len(groups) == 15  # five SLOs, three groups each
    assert "inhibit_rules" in yaml.safe_load(inhibit.read_text())


def test_report_needs_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AQUA_PROMETHEUS_URL", raising=False)
    code, out = _cli("report", str(SHIPPED))
    assert code == 2
    assert "--prometheus URL is required" in out


def test_bad_at_is_a_usage_error() -> None:
    code, out = _cli("gate", str(SHIPPED), "--prometheus", "http://127.0.0.1:9", "--at", "soon")
    assert code == 2
    assert "not a time" in out


def test_importing_the_group_stays_light() -> None:
    code = (
        "import sys, sre_cli.commands.slo; "
        "heavy = {'httpx', 'pydantic', 'yaml', 'torch', 'sqlalchemy'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
