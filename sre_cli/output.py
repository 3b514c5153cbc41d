"""Where every command's result reaches the terminal.

An engine returns a plain result dataclass with a ``to_json`` mapping; a render module turns
it into something rich can draw; the command hands both to :func:`emit`, which prints the one
or the other for ``--format table|json`` (and :func:`emit_text` for a document a render module
already wrote out: markdown, HTML, rule YAML)::

    report = evaluate(slos, prom)                   # engine -> result
    emit(report, fmt, render.ReportView)            # render -> output

The data flows one way: nothing here or in a render module calls back into an engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from sre_cli.console import get_console

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["Result", "emit", "emit_text"]


@runtime_checkable
class Result(Protocol):
    """A command's result: ``to_json`` is its JSON form, always a mapping."""

    def to_json(self) -> Mapping[str, object]: ...


T = TypeVar("T")


def emit(
    result: T, fmt: str = "table", render: Callable[[T], RenderableType] | None = None
) -> None:
    """Print ``result`` on stdout: as JSON for ``fmt == "json"`` (it must be a
    :class:`Result`), else drawn by ``render`` (or by rich, when the result draws itself)."""
    console = get_console()
    if fmt == "json":
        import json  # not at import time: every group's --help loads this module

        if not isinstance(result, Result):
            raise TypeError(f"{type(result).__name__} has no to_json")
        console.print_json(json.dumps(result.to_json()))
    else:
        # Not cropped at the console's width: a renderable keeps a path whole on its own
        # line (overflow "ignore") rather than cut it; everything else fits the width already.
        console.print(result if render is None else render(result), crop=False)


def emit_text(text: str, output: Path | None = None) -> None:
    """Print a finished document on stdout as is, or write it to ``output`` and say so."""
    console = get_console()
    if output is not None:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}", highlight=False)
    else:
        # Written at once: rich's line-by-line `out` costs a second for a 1,000-SLO report.
        # Its one safety stays: control codes (bell, carriage return ...) never reach the
        # terminal.
        from rich.control import strip_control_codes

        console.file.write(strip_control_codes(text.rstrip("\n")) + "\n")
        console.file.flush()
