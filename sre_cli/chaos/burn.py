"""CPU burn: busy processes on the machine of the stack for a bounded time.

::

    - cpu_burn: {seconds: 30, workers: 1}    # method: start the burners
    - stop_cpu_burn: true                    # rollback (automatic after cpu_burn)

Each worker is a Python process spinning in a loop that ends on its own after ``seconds``
(the bound holds even if aqua dies); the rollback stops every burner this run started, and
reports the CPU time they used (from ``/proc``), the evidence that the load landed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

__all__ = ["BURNERS", "Burners"]

_LOOP = (
    "import sys, time\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end:\n"
    "    pass\n"
)


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Burners:
    """The burners started by this process, until stopped."""

    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, seconds: float, workers: int) -> str:
        for _ in range(workers):
            proc = subprocess.Popen(
                [sys.executable, "-c", _LOOP, f"{seconds:g}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.running.append(proc)
        pids = ", ".join(str(p.pid) for p in self.running[-workers:])
        return f"started {workers} CPU burner(s) for at most {seconds:g}s (pid {pids})"

    def stop(self) -> str:
        if not self.running:
            return "no CPU burner running"
        used = 0.0
        pids = []
        for proc in self.running:
            used += _cpu_seconds(proc.pid)
            pids.append(str(proc.pid))
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        count = len(self.running)
        self.running.clear()
        return f"stopped {count} CPU burner(s) (pid {', '.join(pids)}) after {used:.1f} CPU s"


#: the burners of this process (one run at a time per process)
BURNERS = Burners()
