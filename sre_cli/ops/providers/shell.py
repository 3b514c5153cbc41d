"""``shell`` steps: ``/bin/sh -c COMMAND`` on the machine aqua runs on.

The command runs in a session of its own with no stdin; stdout and stderr are captured
together (the last :data:`~sre_cli.ops.providers.command.MAX_LINES` lines reported). At its
``timeout`` the whole session is killed, children included. The run's built-in parameters
are in its environment (``AQUA_TARGET``, ``AQUA_ENTRY_URL`` on the stack, ``AQUA_NAMESPACE``
on Kubernetes). As a diagnostic (declared ``risk: read``) any exit is shown; as an action a
non-zero exit fails the step.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping

from sre_cli.errors import CheckFailed, Unavailable
from sre_cli.ops.operations import ShellOp
from sre_cli.ops.outcome import ActionPlan, Change, Observation
from sre_cli.ops.providers.command import exec_observation

__all__ = ["observe", "plan"]

SHELL = "/bin/sh"


def _env(builtins: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **{f"AQUA_{k.upper()}": v for k, v in builtins.items()}}


def _run(op: ShellOp, builtins: Mapping[str, str]) -> tuple[int | None, str]:
    """The exit code (None: killed at the timeout) and the output."""
    try:
        proc = subprocess.Popen(
            [SHELL, "-c", op.command],
            env=_env(builtins),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise Unavailable(f"cannot run {SHELL}: {exc.strerror or exc}") from None
    try:
        out, _ = proc.communicate(timeout=op.timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out


def observe(op: ShellOp, builtins: Mapping[str, str]) -> Observation:
    code, out = _run(op, builtins)
    return exec_observation(f"shell `{op.command}`", "", code, out)


def plan(op: ShellOp, builtins: Mapping[str, str]) -> ActionPlan:
    def apply() -> str:
        code, out = _run(op, builtins)
        seen = exec_observation(f"shell `{op.command}`", "", code, out)
        if code != 0:
            tail = "; ".join(seen.details[-3:])
            raise CheckFailed(f"{seen.summary}" + (f": {tail}" if tail else ""))
        return "; ".join((seen.summary, *seen.details[-3:]))

    change = Change(f"run shell `{op.command}` (risk {op.risk})", apply)
    return ActionPlan(change.summary, (change,))
