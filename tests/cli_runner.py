"""Run a typer app in-process as ``aqua`` would: output captured, AquaError as its exit code;
or ``aqua`` in a fresh interpreter to see which modules a command imports."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import typer
from rich.console import Console
from typer.testing import CliRunner

from sre_cli.console import use_console
from sre_cli.errors import AquaError

ROOT = Path(__file__).resolve().parents[1]


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


def imported_by(argv: Sequence[str], modules: Sequence[str]) -> list[str]:
    """Which of ``modules`` ``aqua ARGV`` imports, run in a fresh interpreter (its output and
    exit code aside): a lazy-import contract holds when this is empty."""
    code = textwrap.dedent(
        f"""
        import sys
        from sre_cli.cli import main
        try:
            main({list(argv)!r})
        except SystemExit:
            pass
        print("LOADED=" + ",".join(sorted(m for m in {list(modules)!r} if m in sys.modules)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    (marker,) = [line for line in out.stdout.splitlines() if line.startswith("LOADED=")]
    loaded = marker.removeprefix("LOADED=")
    return loaded.split(",") if loaded else []


def run_aqua(
    *argv: str, stdin: str = "", timeout: float = 180, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m sre_cli ARGV`` from the checkout, 200 columns wide (``env`` adds to the
    environment), its output captured as text; whatever the exit code."""
    return subprocess.run(
        [sys.executable, "-m", "sre_cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        check=False,
    )
