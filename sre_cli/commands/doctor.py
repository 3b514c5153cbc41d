"""``aqua doctor``: a table of every real component the toolkit and the stack use."""

from __future__ import annotations

import typer

from sre_cli.commands.terminal import print_report
from sre_cli.console import get_console

app = typer.Typer(help="Check every component aqua and the stack use.", add_completion=False)


@app.callback(invoke_without_command=True)
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the components as JSON."),
) -> None:
    """Check every component aqua and the stack use; exit 1 when a required one is missing."""
    from sre_cli.doctor import run_checks

    report = run_checks()
    print_report(report, as_json)
    if not report.healthy:
        missing = ", ".join(c.name for c in report.components if c.status != "ok")
        if not as_json:
            get_console().print(
                f"[red]missing or broken:[/] {missing}; run [bold]scripts/provision[/]"
            )
        raise typer.Exit(1)
