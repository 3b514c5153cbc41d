"""Progress of long work (a stack coming up or going down, a cluster, image builds, a load
test), always on stderr: stdout holds the result alone, so ``--format json`` stays clean.

On a terminal a spinner names the work under way and each finished step is a ``✓`` line
above it; in a pipe or a CI log (no terminal) each step is one plain line, no spinner and no
escape codes. Engines only take a ``progress(message)`` callback; commands pass a
:class:`Steps`::

    with steps("starting the stack") as step:
        result = ctl.up(options, progress=step)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sre_cli.console import get_err_console

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Steps", "is_live", "steps"]


def is_live(console: Console) -> bool:
    """Whether ``console`` is a terminal that can redraw a spinner (not a pipe, a file, a
    dumb terminal or a CI log)."""
    return console.is_terminal and not console.is_dumb_terminal


class Steps:
    """The callback an engine reports its steps to: one line per finished step.

    In a pipe the title of the work comes first, once, with the first step (so work that
    turns out to have nothing to do prints nothing)."""

    def __init__(self, console: Console, title: str, live: bool) -> None:
        self.console = console
        self.title = title
        self.live = live
        self.count = 0

    def __call__(self, message: str) -> None:
        from rich.text import Text

        if self.live:
            line = Text.assemble("  ", ("✓", "green"), " ", message)
        else:
            if not self.count:
                self.console.print(Text(self.title), soft_wrap=True)
            line = Text(f"  {message}")
        self.count += 1
        self.console.print(line, soft_wrap=True)


@contextmanager
def steps(title: str, console: Console | None = None) -> Iterator[Steps]:
    """Report the steps of the work in the block (see the module's docstring)."""
    err = console or get_err_console()
    live = is_live(err)
    if not live:
        yield Steps(err, title, live=False)
        return
    with err.status(title):
        yield Steps(err, title, live=True)
