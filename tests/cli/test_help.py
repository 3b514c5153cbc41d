"""Help and usage errors read in words: no Python type names, no cut summaries, bad values
named with what would be accepted, and ``--format`` spelled one way (``-f`` a hidden alias)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sre_cli import cli
from sre_cli.commands.reference import cli_reference


@pytest.fixture(scope="module")
def reference() -> str:
    return cli_reference()


def test_help_names_no_python_type(reference: str) -> None:
    labels = set(re.findall(r"<([^<>\s]+)>", reference))
    assert labels, "no value labels found: the check would pass on anything"
    python = {"str", "int", "float", "bool", "Path", "int range", "float range"}
    assert not labels & python
    assert not [label for label in labels if "[" in label]


def test_usage_lines_spell_arguments_in_capitals(reference: str) -> None:
    usages = [line for line in reference.splitlines() if line.startswith("Usage: ")]
    assert len(usages) > 40
    assert [u for u in usages if "{" in u or re.search(r"\[[a-z_]+\]", u)] == []


def test_command_summaries_are_whole(reference: str) -> None:
    sections = re.findall(r"Commands:\n((?:  .*\n?)+)", reference)
    assert len(sections) > 8
    assert [
        line for s in sections for line in s.splitlines() if line.rstrip().endswith("...")
    ] == []


def _run(argv: list[str]) -> tuple[int, str, str]:
    runner = CliRunner()
    with runner.isolation(env={"COLUMNS": "100", "NO_COLOR": "1"}) as streams:
        code = 0
        try:
            cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        err = streams[1].getvalue().decode() if len(streams) > 1 and streams[1] else ""
        return code, streams[0].getvalue().decode(), err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["slo", "report", "--format", "yaml"],
            "--format must be table, json, markdown or html, not 'yaml'",
        ),
        (["doctor", "--format", "yaml"], "--format must be table or json, not 'yaml'"),
        (
            ["runbook", "run", "api-down", "--target", "moon"],
            "--target must be stack or kubernetes, not 'moon'",
        ),
        (["slo", "serve", "--port", "abc"], "--port must be a whole number"),
        (["slo", "serve", "--interval", "0"], "--interval must be at least 1"),
        (["trace", "slowest", "--count", "0"], "--count must be at least 1"),
        (["loadtest", "run", "--max-error-rate", "x"], "--max-error-rate must be a number"),
    ],
)  # fmt: skip
def test_bad_values_are_said_in_words(argv: list[str], said: str) -> None:
    code, _, err = _run(argv)
    assert code == 2
    assert f"Error: {said}\n" in err
    assert "Value error" not in err
    assert "Input should" not in err


def test_a_missing_argument_is_named() -> None:
    code, _, err = _run(["runbook", "show"])
    assert code == 2
    assert "Error: Missing argument NAME.\n" in err


def test_short_f_is_a_hidden_alias_of_format(tmp_path: Path) -> None:
    code, out, err = _run(["init", str(tmp_path / "x"), "--dry-run", "-f", "json"])
    assert code == 0, err
    assert json.loads(out)["dry_run"] is True
    code, out, _ = _run(["init", str(tmp_path / "x"), "--dry-run", "-fjson"])
    assert json.loads(out)["dry_run"] is True
    code, _, err = _run(["slo", "backtest", "--from", "0", "--to", "60", "-f", "yaml"])
    assert code == 2
    assert "--format must be table or json, not 'yaml'" in err
    # -f keeps its own meaning where a command has one (stack logs --follow).
    code, out, _ = _run(["stack", "logs", "-h"])
    assert "-f, --follow" in out


def test_short_f_stays_hidden(reference: str) -> None:
    assert "-f, --format" not in reference
