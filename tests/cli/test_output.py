"""emit_text: a finished document reaches stdout whole, with no control code for the terminal."""

from __future__ import annotations

import io

from rich.console import Console

from sre_cli.console import use_console
from sre_cli.output import emit_text


def test_a_document_is_written_as_is_without_control_codes() -> None:
    out = io.StringIO()
    long_line = "x" * 500  # wider than the console: not wrapped
    with use_console(Console(file=out, width=80)):
        emit_text(f'{{"name": "a\bb\rc\x07"}}\n{long_line}\n\n')
    assert out.getvalue() == f'{{"name": "abc"}}\n{long_line}\n'
