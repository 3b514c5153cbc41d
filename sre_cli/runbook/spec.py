"""A runbook as data: front matter, and the document as headings, prose and numbered steps.

A runbook is a markdown file in ``runbooks/``::

    ---
    title: API down
    alerts: [APIDown, APIReplicaDown]
    severity: page
    targets: [stack, kubernetes]
    parameters:
      deployment: {default: api-service, description: The API Deployment}
    ---
    # API down
    Prose for the operator ...

    ## Is the API reachable?
    ```aqua check
    http: {url: "{entry_url}/ready", expect_status: 200}
    on_fail: continue
    ```

Fenced blocks whose info string is ``aqua check``, ``aqua diagnose`` or ``aqua action`` are
steps (:class:`~sre_cli.runbook.steps.StepBody`), numbered from 1 in file order; every other
fence (``sh``, ``yaml``) is prose, shown and never run. ``check`` gives a verdict,
``diagnose`` only shows (logs, pods, events, a query), ``action`` changes something and is
confirmed first. Built-in parameters: ``entry_url`` (stack), ``namespace`` (kubernetes) and
``target``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sre_cli.errors import UsageError
from sre_cli.ops.operations import Duration, TargetName
from sre_cli.runbook.steps import StepBody

__all__ = [
    "BUILTINS",
    "Block",
    "Escalation",
    "FrontMatter",
    "Heading",
    "Parameter",
    "Prose",
    "Runbook",
    "SloVerification",
    "Step",
    "StepKind",
    "choose_target",
]

StepKind = Literal["check", "diagnose", "action"]

#: parameters every run knows, per target
BUILTINS: dict[str, frozenset[str]] = {
    "target": frozenset({"stack", "kubernetes"}),
    "entry_url": frozenset({"stack"}),
    "namespace": frozenset({"kubernetes"}),
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Parameter(_Model):
    """A value the operator may override with ``--param NAME=VALUE``."""

    #: ``None``: the operator must pass it
    default: str | None = None
    description: str = ""

    @field_validator("default", mode="before")
    @classmethod
    def _scalar(cls, value: object) -> object:
        if isinstance(value, bool):
            return str(value).lower()
        return str(value) if isinstance(value, int | float) else value


_TEAM = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Escalation(_Model):
    """Not resolved ``after`` the run's start: page ``team`` (``RunbookEscalation``)."""

    after: Duration = 900.0
    team: str = Field(default="on-call", pattern=_TEAM)


class SloVerification(_Model):
    """After the resolution, the SLO's error ratio over ``window`` must be back under what its
    objective allows (1 - objective) within ``within``; otherwise the run pages ``team``
    (``RunbookEscalation``) and fails::

        verify: {slo: api-availability, within: 5m, window: 5m}
    """

    #: the SLO's id, SERVICE-NAME as ``aqua slo report`` shows it (``api-availability``)
    slo: str = Field(min_length=1)
    #: the SLO spec file or folder, relative to the runbook's folder [default: the SLO folder:
    #: ``./slo``, else the shipped specs]
    file: str | None = Field(default=None, min_length=1)
    within: Duration = 300.0
    #: the error ratio's range (a Prometheus duration)
    window: str = Field(default="5m", pattern=r"^[0-9]+[smhd]$")
    interval: Duration = 10.0
    #: who is paged when it does not recover [default: ``escalation.team``]
    team: str | None = Field(default=None, pattern=_TEAM)
    #: the verdict when the window saw no traffic at all
    no_traffic: Literal["pass", "fail"] = "pass"


class FrontMatter(_Model):
    title: str = Field(min_length=1)
    #: names of the alerts this runbook answers (their ``runbook`` annotation points here)
    alerts: tuple[str, ...] = ()
    severity: Literal["page", "ticket"] = "ticket"
    targets: tuple[TargetName, ...] = Field(min_length=1)
    parameters: dict[str, Parameter] = {}
    summary: str = ""
    escalation: Escalation = Escalation()
    #: after the resolution: the SLO's error ratio back under its objective, else escalate
    verify: SloVerification | None = None
    #: opt in to ``shell`` steps (each destructive unless it declares a lower risk)
    shell: bool = False

    @field_validator("targets")
    @classmethod
    def _unique(cls, value: tuple[TargetName, ...]) -> tuple[TargetName, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a target is listed twice")
        return value

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"parameter name {name!r} is not an identifier")
            if name in BUILTINS:
                raise ValueError(f"parameter {name!r} shadows a built-in parameter")
        return value


@dataclass(frozen=True)
class Heading:
    line: int
    level: int
    text: str


@dataclass(frozen=True)
class Prose:
    line: int
    text: str


@dataclass(frozen=True)
class Step:
    number: int
    kind: StepKind
    body: StepBody
    line: int
    #: the heading of the section the step is in
    section: str
    #: the YAML as written, for ``show``
    source: str

    @property
    def title(self) -> str:
        return self.body.describe()

    def runs_on(self, target: str) -> bool:
        return not self.body.targets or target in self.body.targets


Block = Heading | Prose | Step


@dataclass(frozen=True)
class Runbook:
    name: str
    path: Path
    meta: FrontMatter
    blocks: tuple[Block, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Step))

    def blocks_for(self, target: str) -> list[Block]:
        """The document as ``target`` sees it: steps of other targets left out, and whole
        sections (a heading with its prose and subsections) whose steps are all for another
        target."""
        blocks = self.blocks
        hidden = [isinstance(b, Step) and not b.runs_on(target) for b in blocks]
        for i, head in enumerate(blocks):
            if not isinstance(head, Heading):
                continue
            end = next(
                (
                    j
                    for j in range(i + 1, len(blocks))
                    if isinstance(b := blocks[j], Heading) and b.level <= head.level
                ),
                len(blocks),
            )
            steps = [s for s in blocks[i + 1 : end] if isinstance(s, Step)]
            if steps and not any(s.runs_on(target) for s in steps):
                hidden[i:end] = [True] * (end - i)
        return [b for b, hide in zip(blocks, hidden, strict=True) if not hide]


def choose_target(book: Runbook, requested: str | None, *, kube: bool) -> TargetName:
    """``--target`` if given; kubernetes when kubeconfig options are; else the runbook's first."""
    wanted = requested or ("kubernetes" if kube else None)
    if wanted is None:
        return book.meta.targets[0]
    for target in book.meta.targets:
        if target == wanted:
            return target
    raise UsageError(
        f"runbook {book.name} does not support target {wanted}",
        hint=f"its targets: {', '.join(book.meta.targets)}",
    )
