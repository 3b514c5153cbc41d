"""What a run may do without asking: the risk level of each operation decides.

::

    risk         --yes    a terminal, no --yes    no terminal, no --yes
    read         runs     runs                     runs
    mutate       runs     asks                     refused (exit 3)
    destructive  runs     refused (exit 3)         refused (exit 3)

A refusal happens before anything of the step (or, for an experiment, of the method) is done,
and its message says which flag lets it run. Runbooks and chaos experiments both decide here::

    consent = Consent(yes=False, interactive=sys.stdin.isatty())
    consent.decide("mutate")        # "ask" on a terminal, "refuse" in a pipe
    consent.refusal("destructive", "step 5: kill api-1")   # the Aborted to raise
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sre_cli.errors import Aborted
from sre_cli.ops.operations import Risk

__all__ = ["Consent", "Decision", "highest", "risk_note"]

Decision = Literal["run", "ask", "refuse"]

_ORDER: tuple[Risk, ...] = ("read", "mutate", "destructive")


def highest(risks: Iterable[Risk]) -> Risk:
    """The greatest of ``risks`` (``read`` when there are none)."""
    return max(risks, key=_ORDER.index, default="read")


def risk_note(risk: Risk) -> str:
    """The risk level as a plan shows it: ``destructive: runs only with --yes``."""
    match risk:
        case "destructive":
            return "destructive: runs only with --yes"
        case "mutate":
            return "mutate: asks first unless --yes"
    return "read"


@dataclass(frozen=True)
class Consent:
    """What the operator allowed: ``--yes``, and whether there is a terminal to ask on."""

    yes: bool = False
    interactive: bool = False

    def decide(self, risk: Risk) -> Decision:
        if risk == "read" or self.yes:
            return "run"
        if risk == "mutate" and self.interactive:
            return "ask"
        return "refuse"

    def refusal(self, risk: Risk, what: str, *, hint: str | None = None) -> Aborted:
        """The error for ``what`` (``step 5: restart api-1``) refused at ``risk``."""
        if risk == "destructive":
            why = "is destructive and runs only with --yes"
        else:
            why = "changes state and needs --yes (or a confirmation on a terminal)"
        return Aborted(f"{what} {why}; nothing of it was done", hint=hint)
