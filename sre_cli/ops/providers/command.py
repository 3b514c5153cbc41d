"""What ``exec`` and ``top`` share between the stack and Kubernetes: the environment a
read-only command runs under, and how its output and a usage row are reported."""

from __future__ import annotations

import shlex
from collections.abc import Callable

from sre_cli.ops.operations import ExecOp
from sre_cli.ops.outcome import Change, Observation

__all__ = ["MAX_LINES", "exec_change", "exec_env", "exec_observation", "usage_row"]

#: an ``exec`` step reports at most this many lines of output (the last ones)
MAX_LINES = 200
_MI = 1024 * 1024


def exec_env(op: ExecOp) -> dict[str, str]:
    """Variables that keep a read-only program read-only: psql's transactions are read-only,
    so PostgreSQL itself refuses a write the allow-list could not see in the SQL."""
    if op.program == "psql" and not op.destructive:
        return {"PGOPTIONS": "-c default_transaction_read_only=on"}
    return {}


def exec_observation(what: ExecOp | str, where: str, code: int | None, output: str) -> Observation:
    """A command's exit and its last output lines; ``what`` is an ``exec`` step or the words
    naming a command, ``where`` where it ran (empty: on this machine)."""
    lines = output.splitlines()
    cut = len(lines) - MAX_LINES
    shown = ([f"({cut} earlier lines left out)"] if cut > 0 else []) + lines[-MAX_LINES:]
    how = "timed out" if code is None else f"exited {code}"
    name = f"`{shlex.join(what.command)}`" if isinstance(what, ExecOp) else what
    at = f" in {where}" if where else ""
    return Observation(None, f"{name}{at} {how}", tuple(shown))


def exec_change(op: ExecOp, where: str, run: Callable[[], Observation]) -> Change:
    """A destructive ``exec`` as the one change of an action."""

    def apply() -> str:
        seen = run()
        return "; ".join((seen.summary, *seen.details[-3:]))

    return Change(f"run `{shlex.join(op.command)}` in {where}", apply)


def usage_row(name: str, memory_bytes: float, cpu_cores: float, limits: str = "") -> str:
    """``api-1  rss=123.4Mi  cpu=0.012 cores  (24% of the 512Mi limit)``."""
    return f"{name:<36} memory={memory_bytes / _MI:8.1f}Mi  cpu={cpu_cores:6.3f} cores{limits}"
