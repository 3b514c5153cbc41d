"""The one exception hierarchy of aqua.

Every expected failure raised by aqua is an :class:`AquaError`. The CLI catches the root once,
prints the message (and hint, when there is one) without a traceback, and exits with the
error's ``exit_code``::

    AquaError                  exit 2  something stopped aqua from doing its job
    ├── UsageError             exit 2  bad input: flags, arguments, spec files
    │   └── SpecError          exit 2  a spec file failed to parse or validate (file and line)
    ├── ConfigError            exit 2  configuration is missing or inconsistent
    ├── MissingDependency      exit 2  a binary or package aqua needs is not installed
    ├── Unavailable            exit 2  a server aqua talks to did not answer, or had no data
    ├── ComponentError         exit 2  a server aqua started failed to become ready
    ├── Aborted                exit 3  the user declined a confirmation
    └── CheckFailed            exit 1  the check ran and its verdict is "fail"

Exit 1 is reserved for a verdict, so CI can tell "the gate said no" from "the gate could not
decide" (exit 2).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "Aborted",
    "AquaError",
    "CheckFailed",
    "ComponentError",
    "ConfigError",
    "MissingDependency",
    "SpecError",
    "Unavailable",
    "UsageError",
]


class AquaError(Exception):
    """Root of every expected aqua failure."""

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(AquaError):
    """Bad input: an unknown option value, a malformed argument."""


class SpecError(UsageError):
    """A spec file (SLO, runbook, experiment) failed to parse or validate."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = path or ""
        if path and line:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.path = path
        self.line = line
        self.problems: tuple[SpecError, ...] = (self,)

    @classmethod
    def every(cls, problems: Sequence[SpecError]) -> SpecError:
        """One error for all ``problems`` of a spec, each on its own line with its file and
        line (the first leads, as ``aqua slo`` lists them); the first hint given is kept."""
        flat = [one for p in problems for one in p.problems]
        if len(flat) == 1:
            return flat[0]
        text = flat[0].message + "".join(f"\n  {p.message}" for p in flat[1:])
        error = cls(text, hint=next((p.hint for p in flat if p.hint), None))
        error.path, error.line, error.problems = flat[0].path, flat[0].line, tuple(flat)
        return error


class ConfigError(AquaError):
    """Configuration is missing or inconsistent."""


class MissingDependency(AquaError):
    """A binary or optional package aqua needs is not installed."""


class Unavailable(AquaError):
    """A server aqua talks to did not answer, or answered without the data needed."""


class ComponentError(AquaError):
    """A server that aqua started did not become ready, or died."""


class Aborted(AquaError):
    """The user declined a confirmation for a destructive action."""

    exit_code = 3


class CheckFailed(AquaError):
    """A check ran to completion and its verdict is failure (an SLO gate, a chaos hypothesis)."""

    exit_code = 1
