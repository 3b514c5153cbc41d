"""Waiting in tests: poll a condition until it holds, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None], what: str, timeout: float = 60.0, *, every: float = 0.2
) -> T:
    """Call ``check`` every ``every`` seconds until it returns something truthy, and return
    that; raise :class:`AssertionError` naming ``what`` once ``timeout`` seconds have passed
    (a failed test, or a try a caller may retry)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
