"""The process's phases: starting → serving → draining → stopped.

Shutdown is ordered so that no request fails: on SIGTERM the phase becomes ``draining`` and
``/ready`` answers 503 (load balancers stop sending), requests keep being served for
``AQUA_DRAIN_SECONDS``, then the server stops accepting, lets in-flight requests finish within
``AQUA_SHUTDOWN_TIMEOUT_SECONDS``, and closes the pools. The signal handling lives in
:mod:`service.api.serve`; this module holds the state everything else reads.
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum

log = logging.getLogger("aqua.api.lifecycle")


class Phase(StrEnum):
    starting = "starting"
    serving = "serving"
    draining = "draining"
    stopped = "stopped"


class Lifecycle:
    def __init__(self) -> None:
        self.phase = Phase.starting
        self.started_at = time.time()
        self.drain_started_at: float | None = None

    @property
    def draining(self) -> bool:
        return self.phase in (Phase.draining, Phase.stopped)

    def serving(self) -> None:
        if self.phase is Phase.starting:
            self.phase = Phase.serving

    def begin_drain(self, reason: str) -> bool:
        """Flip readiness off; False when already draining."""
        if self.draining:
            return False
        self.phase = Phase.draining
        self.drain_started_at = time.time()
        log.warning("draining: readiness now 503", extra={"reason": reason})
        return True

    def stopped(self) -> None:
        self.phase = Phase.stopped
