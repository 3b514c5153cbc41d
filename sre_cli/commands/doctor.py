"""``aqua doctor``: a table of every real component the toolkit and the stack use."""

from __future__ import annotations

import typer

from sre_cli.commands.options import Format, FormatOption, JsonAlias, chosen_format
from sre_cli.console import get_console
from sre_cli.output import emit


def command(
    fmt: FormatOption = Format.table,
    as_json: JsonAlias = False,
) -> None:
    """Check every component aqua and the stack use; exit 1 when a required one is missing."""
    from sre_cli.doctor import run_checks

    report = run_checks()
    fmt_name = chosen_format(fmt, as_json)
    emit(report, fmt_name)
    if not report.healthy:
        missing = ", ".join(c.name for c in report.components if c.status != "ok")
        if fmt_name == "table":
            from rich.text import Text

            get_console().print(
                Text.assemble(("missing or broken:", "red"), f" {missing}; see the hints above")
            )
        raise typer.Exit(1)
