"""Run a typer app in-process as ``aqua`` would: output captured, AquaError as its exit code."""

from __future__ import annotations

import io
from collections.abc import Sequence

import typer
from rich.console import Console
from typer.testing import CliRunner

from sre_cli.console import use_console
from sre_cli.errors import AquaError


def invoke(app: typer.Typer, argv: Sequence[str], width: int = 200) -> tuple[int, str]:
    """Exit code and everything printed (console, stdout, the error message)."""
    out = io.StringIO()
    with use_console(Console(file=out, width=width, color_system=None, markup=False)):
        result = CliRunner().invoke(app, list(argv))
    exc = result.exception
    if isinstance(exc, AquaError):
        return exc.exit_code, out.getvalue() + result.output + exc.message
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return result.exit_code, out.getvalue() + result.output
