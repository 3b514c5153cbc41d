"""``aqua doctor``: a table of every real component the toolkit and the stack use."""

from __future__ import annotations

from typing import Annotated

import typer

from sre_cli.commands.options import group
from sre_cli.console import get_console
from sre_cli.output import emit

app = group(
    "Check every component aqua and the stack use.",
    no_args_is_help=False,
    rich_markup_mode="rich",
)


@app.callback(invoke_without_command=True)
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the components as JSON.")] = False,
) -> None:
    """Check every component aqua and the stack use; exit 1 when a required one is missing."""
    from sre_cli.doctor import run_checks

    report = run_checks()
    emit(report, "json" if as_json else "table")
    if not report.healthy:
        missing = ", ".join(c.name for c in report.components if c.status != "ok")
        if not as_json:
            from rich.text import Text

            get_console().print(
                Text.assemble(("missing or broken:", "red"), f" {missing}; run scripts/provision")
            )
        raise typer.Exit(1)
