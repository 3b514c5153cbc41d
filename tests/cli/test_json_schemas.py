"""Every command's ``--format json`` has a published JSON Schema (``docs/schemas/``), and what
the commands print matches it: the JSON outputs the golden files hold, and live outputs of the
commands that need no server. Commands that need servers are checked where their integration
tests read their JSON (``assert_matches_schema``)."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from json_schema import SCHEMAS, assert_matches_schema, schema_names, validator
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from sre_cli import cli
from sre_cli.commands.reference import command_paths

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "out"


def _json_commands() -> list[str]:
    """``slo-report``, ``doctor``, ...: every command with a json choice for --format."""
    found = []
    for path, command in command_paths():
        for param in getattr(command, "params", []):
            choices = getattr(getattr(param, "type_descriptor", None), "choices", None) or ()
            if "--format" in getattr(param, "opts", ()) and "json" in [str(c) for c in choices]:
                found.append("-".join(path))
    return sorted(found)


def test_every_json_output_has_a_schema() -> None:
    assert _json_commands() == schema_names()


@pytest.mark.parametrize("name", schema_names())
def test_schemas_are_valid(name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"{name}.json"
    assert schema["title"].startswith("aqua ")


def _schema_of(argv: list[str]) -> str:
    words = [a for a in argv if not a.startswith("-")]
    two = "-".join(words[:2])
    return two if (SCHEMAS / f"{two}.json").exists() else words[0]


def _golden_json() -> list[tuple[str, str, Any]]:
    cases = []
    for path in sorted(GOLDEN.glob("*.txt")):
        text = path.read_text()
        command = text.splitlines()[0].removeprefix("$ aqua ")
        if "--format json" not in command:
            continue
        out = text.split("\n", 2)[2].split("[stderr]")[0]
        out = re.sub(r"<SECONDS>", "0", out)
        cases.append((path.stem, _schema_of(shlex.split(command)), json.loads(out)))
    return cases


GOLDEN_JSON = _golden_json()


def test_golden_files_hold_json_outputs() -> None:
    assert len(GOLDEN_JSON) >= 5


@pytest.mark.parametrize(("case", "schema", "data"), GOLDEN_JSON, ids=[c[0] for c in GOLDEN_JSON])
def test_golden_json_matches_its_schema(case: str, schema: str, data: Any) -> None:
    assert_matches_schema(schema, data)


def _live(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    with runner.isolation(env={"COLUMNS": "100", "NO_COLOR": "1"}) as streams:
        with contextlib.suppress(SystemExit):
            cli.main(argv)
        return json.loads(streams[0].getvalue().decode())


LIVE = [
    ["doctor", "--format", "json"],
    ["slo", "validate", "slo", "--format", "json"],
    ["slo", "validate", "tests/slo/fixtures/validate/bad", "--format", "json"],
    ["runbook", "list", "--format", "json"],
    ["init", "{tmp}/mine", "--dry-run", "--format", "json"],
]


@pytest.mark.parametrize("argv", LIVE, ids=[" ".join(a[:2]) for a in LIVE])
def test_live_json_matches_its_schema(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert_matches_schema(_schema_of(argv), _live(argv, monkeypatch))


def test_a_schema_rejects_what_departs_from_it() -> None:
    report = {"evaluated_at": 1709251200, "slos": []}  # a unix number, not RFC 3339
    assert list(validator("slo-report").iter_errors(report))
    with pytest.raises(AssertionError, match="evaluated_at"):
        assert_matches_schema("slo-report", report)
    local = {"evaluated_at": "2024-03-01T01:00:00+01:00", "slos": []}  # not UTC
    assert list(validator("slo-report").iter_errors(local))
