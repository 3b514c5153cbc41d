"""What commands ask of the operator: a yes/no confirmation (printing goes through
:mod:`sre_cli.output`)."""

from __future__ import annotations

import typer

__all__ = ["ask", "interactive"]


def interactive() -> bool:
    """Whether there is an operator at a terminal to confirm a ``mutate`` step."""
    import sys

    return sys.stdin.isatty()


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
