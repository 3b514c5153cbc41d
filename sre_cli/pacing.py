"""A paced loop: one call every ``interval`` seconds in a thread, until told to stop.

Shared by the load that judges a blue-green's green pods (:mod:`sre_cli.rollout.preview`)
and the real-node tests' load::

    stop = threading.Event()
    threading.Thread(target=paced, args=(send_one,), kwargs={"interval": 0.2, "stop": stop})
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["paced"]


def paced(
    step: Callable[[], None],
    *,
    interval: float,
    stop: threading.Event,
    offset: float = 0.0,
    until: float = math.inf,
) -> None:
    """Call ``step`` every ``interval`` s from ``offset`` s on, until ``stop`` is set or the
    monotonic clock passes ``until``. A late call moves the schedule on instead of bunching
    the calls that were due."""
    next_at = time.monotonic() + offset
    while not stop.is_set() and time.monotonic() < until:
        step()
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            next_at = time.monotonic()
