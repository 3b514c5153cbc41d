"""An experiment: a versioned YAML file in ``chaos/``, validated with file and line.

::

    version: 1
    title: Losing one API replica does not interrupt service
    target: stack                      # stack | kubernetes
    duration: 2m                       # the whole run, rollbacks excepted
    blast_radius: {max_pods: 1, max_percent: 50}
    load: {url: "{entry_url}/live", rate: 5}      # optional light load during the method
    steady_state_hypothesis:
      title: nginx answers and every replica is ready
      probes: [...]                    # see hypothesis.py
    method: [...]                      # see method.py
    rollbacks: [...]                   # always run, even after a failure or Ctrl-C
    abort: [{alert_firing: NAME}]      # see abort.py

Strings may use ``{entry_url}`` (the stack's, or ``--entry-url`` on kubernetes) and
``{namespace}`` (kubernetes), filled in at run time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sre_cli.chaos.abort import AbortWhen
from sre_cli.chaos.blast import BlastRadius
from sre_cli.chaos.hypothesis import Hypothesis, Probe
from sre_cli.chaos.method import Action
from sre_cli.chaos.preflight import Preflight
from sre_cli.defaults import editable_dir
from sre_cli.errors import SpecError, UsageError
from sre_cli.ops.operations import Duration, TargetName
from sre_cli.spec_yaml import find_named, load_documents, worded

__all__ = ["DIR_ENV", "Experiment", "Load", "default_dir", "find_experiment", "load_experiment"]

DIR_ENV = "AQUA_CHAOS_DIR"
_REF = re.compile(r"\{(entry_url|namespace)\}")


class Load(BaseModel):
    """Light background load while the method runs: GETs at a steady rate, failures counted;
    more than ``max_failed`` (a share of the requests) deviates the hypothesis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1)
    rate: float = Field(default=5.0, gt=0, le=100)
    max_failed: float = Field(default=0.0, ge=0, le=1)


class Experiment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    title: str = Field(min_length=1)
    description: str = ""
    target: TargetName
    duration: Duration = 300.0
    blast_radius: BlastRadius = BlastRadius()
    load: Load | None = None
    steady_state_hypothesis: Hypothesis
    method: tuple[Action, ...] = Field(min_length=1)
    rollbacks: tuple[Action, ...] = ()
    #: stop the method and roll back when one holds (checked every 2 s, abort.py)
    abort: tuple[AbortWhen, ...] = ()
    #: refuse to start on a spent budget or during a page (preflight.py)
    preflight: Preflight | None = None

    @model_validator(mode="after")
    def _waits_fit(self) -> Experiment:
        waited = sum(
            a.wait
            or (a.expect_oom_kill.within if a.expect_oom_kill else 0.0)
            or (a.wait_until.timeout if a.wait_until else 0.0)
            for a in self.method
        )
        if waited >= self.duration:
            raise ValueError(
                f"the method waits {waited:g}s, not less than the duration of {self.duration:g}s"
            )
        return self

    def target_mismatches(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Probes and actions that need the other target: (location, message) of each."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        groups: tuple[tuple[tuple[str | int, ...], str, tuple[Probe | Action, ...]], ...] = (
            (("steady_state_hypothesis", "probes"), "probe", self.steady_state_hypothesis.probes),
            (("method",), "action", self.method),
            (("rollbacks",), "rollback", self.rollbacks),
        )
        for loc, what, items in groups:
            for i, item in enumerate(items):
                needed = item.target
                if needed is not None and needed != self.target:
                    found.append(
                        (
                            (*loc, i),
                            f"{what} {item.describe()!r} needs target {needed}; "
                            f"the experiment targets {self.target}",
                        )
                    )
        return found

    def filled(self, values: dict[str, str]) -> Experiment:
        """A copy with ``{entry_url}`` / ``{namespace}`` replaced by ``values``;
        :class:`UsageError` when one is used but has no value (``--entry-url``)."""
        missing: set[str] = set()

        def value(m: re.Match[str]) -> str:
            if m.group(1) not in values:
                missing.add(m.group(1))
            return values.get(m.group(1), m.group(0))

        def sub(node: Any) -> Any:
            if isinstance(node, str):
                return _REF.sub(value, node)
            if isinstance(node, dict):
                return {k: sub(v) for k, v in node.items()}
            if isinstance(node, list | tuple):
                return [sub(v) for v in node]
            return node

        data = sub(self.model_dump(by_alias=True, exclude_none=True))
        if missing:
            raise UsageError(
                f"the experiment uses {{{', '.join(sorted(missing))}}}, which target "
                f"{self.target} has no value for",
                hint="pass --entry-url URL (the API's base URL)",
            )
        return Experiment.model_validate(data)


def _loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    # pydantic puts the model class of a union member and validator names into the location
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p[:1].isupper())))


def load_experiment(path: Path) -> Experiment:
    """Parse and validate one experiment file; :class:`SpecError` lists every problem, each
    with its file and line."""
    docs = load_documents(path)
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise SpecError("an experiment is one YAML mapping", path=str(path), line=1)
    doc = docs[0]
    try:
        exp = Experiment.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        errors = exc.errors()
        for err in errors:
            loc = _loc(tuple(err["loc"]))
            if err["type"] == "too_short" and any(
                o is not err and _loc(tuple(o["loc"]))[: len(loc)] == loc for o in errors
            ):
                continue  # "no item" only because an item of it is in error, reported
            where = ".".join(map(str, loc)) or "(top)"
            problems.append(doc.error(loc, f"{where}: {worded(err)}"))
        raise SpecError.every(sorted(problems, key=lambda p: p.line or 0)) from None
    mismatches = [
        doc.error(loc, f"{'.'.join(map(str, loc))}: {message}")
        for loc, message in exp.target_mismatches()
    ]
    if mismatches:
        raise SpecError.every(mismatches)
    return exp


def default_dir() -> Path:
    """``$AQUA_CHAOS_DIR``, else ``./chaos``, else the shipped experiments."""
    return editable_dir("chaos", DIR_ENV)


def find_experiment(name: str, directory: Path | None = None) -> Path:
    """The file of experiment ``name`` (or ``name`` itself when it is a path to a file)."""
    return find_named(name, directory or default_dir(), "experiment")
