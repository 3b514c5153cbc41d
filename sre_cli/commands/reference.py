"""The CLI reference (``docs/cli.md``), generated from the ``--help`` of every command.

Every group and command of :data:`sre_cli.cli.GROUPS`, in order, each with its help text at 100
columns. ``python -m sre_cli.commands.reference > docs/cli.md`` writes it; a test checks the file is
what this prints, so the reference never drifts from ``--help``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

__all__ = ["cli_reference", "command_paths"]

WIDTH = 100


def _walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, command
    for name in sorted(getattr(command, "commands", {})):
        yield from _walk(command.commands[name], [*path, name])


def command_paths() -> Iterator[tuple[list[str], Any]]:
    """(path, click command) for the root, every group and every command, in help order."""
    import typer

    from sre_cli import cli

    root: Any = typer.main.get_command(cli.build_app([]))
    yield [], root
    for group in cli.available_groups():
        loaded: Any = typer.main.get_command(cli.build_app([group.name]))
        yield from _walk(loaded.commands[group.name], [group.name])


def _help(path: list[str], command: Any) -> str:
    os.environ.setdefault("TERMINAL_WIDTH", str(WIDTH))
    from sre_cli.commands.options import HELP_OPTIONS

    # A command's context inherits -h from its group's at run time; here there is no parent.
    settings = {
        **HELP_OPTIONS,
        **command.context_settings,
        "terminal_width": WIDTH,
        "max_content_width": WIDTH,
    }
    ctx = command.context_class(command, info_name=" ".join(["aqua", *path]), **settings)
    with ctx:
        return str(command.get_help(ctx))


def cli_reference() -> str:
    """The whole reference as markdown."""
    out = [
        "# aqua command reference",
        "",
        "Generated from `--help` by `python -m sre_cli.commands.reference > docs/cli.md`;",
        "a test keeps it in step. Every command also takes `-h`.",
        "",
    ]
    for path, command in command_paths():
        title = " ".join(["aqua", *path])
        out += [f"## {title}", "", "```text", _help(path, command).rstrip(), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(cli_reference(), end="")
