"""docs/cli.md is the --help of every command, as `python -m sre_cli.commands.reference` prints."""

from __future__ import annotations

from pathlib import Path

from sre_cli import cli
from sre_cli.commands.reference import cli_reference, command_paths

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_the_reference_matches_help() -> None:
    assert DOC.read_text() == cli_reference(), (
        "docs/cli.md is stale: python -m sre_cli.commands.reference > docs/cli.md"
    )


def test_the_reference_covers_every_group_and_command() -> None:
    titles = {line[3:] for line in cli_reference().splitlines() if line.startswith("## ")}
    paths = {" ".join(["aqua", *path]) for path, _ in command_paths()}
    assert titles == paths
    assert {f"aqua {g.name}" for g in cli.available_groups()} <= titles
