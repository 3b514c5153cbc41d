"""Where aqua's output goes.

Nothing a user wrote is ever read as rich markup: both consoles print strings as they are
(``markup=False``), and the few styled words are ``rich.text.Text`` spans. Diagnostics are
never hard-wrapped (``soft_wrap=True``): an error quoting a path or a query stays one line.

Commands never build a Console at import time; they ask for one here, and tests swap it for a
``Console(file=io.StringIO(), width=80)`` with :func:`use_console`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["get_console", "get_err_console", "use_console"]

_override: Console | None = None
_override_err: Console | None = None


def get_console() -> Console:
    """The console for a command's normal output (stdout)."""
    if _override is not None:
        return _override
    from rich.console import Console

    return Console(soft_wrap=False, markup=False)


def get_err_console() -> Console:
    """The console for diagnostics (stderr)."""
    if _override_err is not None:
        return _override_err
    from rich.console import Console

    return Console(stderr=True, markup=False, soft_wrap=True)


@contextmanager
def use_console(console: Console, err: Console | None = None) -> Iterator[Console]:
    """Send output to ``console`` (diagnostics to ``err``, default the same) in the block."""
    global _override, _override_err
    saved = _override, _override_err
    _override, _override_err = console, err or console
    try:
        yield console
    finally:
        _override, _override_err = saved
