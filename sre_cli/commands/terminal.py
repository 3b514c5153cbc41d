"""What commands ask of and print to the operator: a yes/no confirmation and a report,
rendered or as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol

import typer

from sre_cli.console import get_console

__all__ = ["Report", "ask", "print_report"]


def ask(question: str) -> bool:
    """Ask a yes/no question on stderr; the default is no."""
    import sys

    try:
        answer = typer.confirm(question, default=False, err=True)
    except typer.Abort:  # end of input or Ctrl-C: no
        answer = False
    if not sys.stdin.isatty():  # the answer was not echoed: end the prompt's line
        typer.echo("yes" if answer else "no", err=True)
    return answer


class Report(Protocol):
    """A result a command prints: rich renders it, ``to_json`` is its JSON form."""

    def to_json(self) -> Mapping[str, object]: ...


def print_report(report: Report, as_json: bool) -> None:
    """Print ``report`` to stdout: rendered, or as JSON."""
    console = get_console()
    if as_json:
        console.print_json(json.dumps(report.to_json()))
    else:
        console.print(report)
