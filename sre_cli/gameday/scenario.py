"""A game-day scenario: one chaos experiment, the alert it must raise, the runbook that must
fix it. Versioned YAML files in ``chaos/gameday/``, validated on load::

    version: 1
    title: Every API replica stops
    experiment: api-outage        # chaos/api-outage.yaml (or a path): the fault
    alert: APIDown                # must fire at Alertmanager: MTTD
    runbook: api-down             # runbooks/api-down.md (or a path): must fix it
    params: {}                    # the runbook's --param NAME=VALUE
    load: {rate: 10}              # the open-model reference mix, requests per second
    # load: {rate: 10, burst: 1100}  # and 1100 readings batches POSTed right after the fault
    sli:                          # watched from before the fault until it recovers: MTTR
      load: {window: 5s}          # the share of the load's requests that failed, or
      # prometheus: 'max(...)'    # an instant query giving one number
      recovered: "< 0.01"         # the SLI is within its objective
    slo: {file: slo/api.yaml, name: availability}   # the error budget the incident spends
    timeouts: {alert: 3m, recovery: 5m}
    kubernetes:                   # optional: the same incident on a cluster (--target kubernetes)
      experiment: api-outage-kubernetes   # an experiment with target kubernetes
      alert: APIDown              # default: the alert above
      sli: {prometheus: '...', recovered: "< 1"}   # default: the sli above
      params: {max_pods: "2"}     # default: the params above

A scenario without ``kubernetes:`` runs on the stack only; ``--target kubernetes`` refuses it.

:func:`load_scenario` reports every problem at once, each with its file and line: the schema,
and what the scenario refers to (an experiment that is not there or not for the stack, a
runbook that is not there or does not list the alert, an SLO that is not in its file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sre_cli.defaults import editable_dir, shipped
from sre_cli.errors import AquaError, SpecError, UsageError
from sre_cli.ops.operations import Duration, parse_expectation
from sre_cli.spec_yaml import find_named, load_documents, worded

if TYPE_CHECKING:
    from sre_cli.chaos.experiment import Experiment
    from sre_cli.runbook.spec import Runbook
    from sre_cli.slo.spec import SLO

__all__ = [
    "DIR_ENV",
    "Catalog",
    "Resolved",
    "Scenario",
    "check_dir",
    "default_dir",
    "find_scenario",
    "load_scenario",
    "resolve",
]

DIR_ENV = "AQUA_GAMEDAY_DIR"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoadSpec(_Model):
    """The open-model reference mix (``aqua loadtest run --arrival-rate``) during the run."""

    rate: float = Field(default=10.0, gt=0, le=500)
    #: batches of one reading POSTed through the API's ingestion endpoint right after the
    #: fault, one Kafka message each (burst.py): a backlog within seconds, not half an hour
    burst: int = Field(default=0, ge=0, le=20_000)


class LoadWindow(_Model):
    window: Duration = 5.0


class SliSpec(_Model):
    """What recovery means: one number, from the load (the share of its requests that failed
    over the last ``window``) or from Prometheus (an instant query), within ``recovered``."""

    load: LoadWindow | None = None
    prometheus: str | None = Field(default=None, min_length=1)
    recovered: str

    @field_validator("recovered")
    @classmethod
    def _comparison(cls, value: str) -> str:
        parse_expectation(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SliSpec:
        if (self.load is None) == (self.prometheus is None):
            raise ValueError("sli takes exactly one of load, prometheus")
        return self

    def describe(self) -> str:
        if self.load is not None:
            what = f"failed share of the load over {self.load.window:g}s"
        else:
            what = f"{self.prometheus}"
        return f"{what} {self.recovered}"


class SloRef(_Model):
    file: str = Field(min_length=1)
    name: str = Field(min_length=1)


class Timeouts(_Model):
    #: from the injection until the alert must have fired
    alert: Duration = 180.0
    #: from the runbook's end until the SLI must be back within its objective
    recovery: Duration = 300.0


class KubernetesVariant(_Model):
    """What changes when the scenario runs on a cluster: the fault (an experiment with target
    kubernetes) and, when given, the alert, the SLI and the runbook's parameters."""

    experiment: str = Field(min_length=1)
    alert: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    sli: SliSpec | None = None
    params: dict[str, str] | None = None


class Scenario(_Model):
    version: Literal[1] = 1
    title: str = Field(min_length=1)
    description: str = ""
    experiment: str = Field(min_length=1)
    alert: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    runbook: str = Field(min_length=1)
    params: dict[str, str] = Field(default_factory=dict)
    load: LoadSpec = LoadSpec()
    sli: SliSpec
    slo: SloRef
    timeouts: Timeouts = Timeouts()
    kubernetes: KubernetesVariant | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return ("stack", "kubernetes") if self.kubernetes is not None else ("stack",)

    def on(self, target: str) -> Scenario:
        """This scenario as it runs on ``target`` (the kubernetes variant folded in)."""
        k = self.kubernetes
        if target == "stack" or k is None:
            return self
        return self.model_copy(
            update={
                "experiment": k.experiment,
                "alert": k.alert or self.alert,
                "sli": k.sli or self.sli,
                "params": self.params if k.params is None else k.params,
            }
        )


@dataclass(frozen=True)
class Resolved:
    """A scenario with what it refers to, loaded, for one target."""

    name: str
    path: Path
    scenario: Scenario
    experiment: Experiment
    experiment_path: Path
    runbook: Runbook
    slo: SLO
    target: str = "stack"


def default_dir() -> Path:
    """``$AQUA_GAMEDAY_DIR``, else ``./chaos/gameday``, else the shipped scenarios."""
    return editable_dir("chaos/gameday", DIR_ENV)


def find_scenario(name: str, directory: Path | None = None) -> Path:
    """The file of scenario ``name`` (or ``name`` itself when it is a path to a file)."""
    return find_named(name, directory or default_dir(), "game-day scenario")


def _relative(ref: str, base: Path) -> Path:
    """A path named in a scenario: as given, else next to the scenario, else shipped."""
    given = Path(ref)
    for candidate in (given, base / given):
        if candidate.exists():
            return candidate
    return shipped(ref)


def _experiment(ref: str, path: Path) -> tuple[Path, Experiment]:
    from sre_cli.chaos.experiment import default_dir as chaos_dir
    from sre_cli.chaos.experiment import find_experiment, load_experiment

    if ref.endswith((".yaml", ".yml")):
        found = _relative(ref, path.parent)
    else:
        # next to the scenarios' folder (chaos/gameday -> chaos), else the usual folder
        beside = path.parent.parent
        found = beside / f"{ref}.yaml"
        if not found.is_file():
            found = find_experiment(ref, chaos_dir())
    return found, load_experiment(found)


def _runbook(ref: str, path: Path) -> Runbook:
    from sre_cli.runbook.loader import default_dir as runbook_dir
    from sre_cli.runbook.loader import find_runbook, load_runbook

    if ref.endswith(".md"):
        return load_runbook(_relative(ref, path.parent))
    return load_runbook(find_runbook(ref, runbook_dir()))


def _slo(ref: SloRef, path: Path) -> SLO:
    from sre_cli.slo.loader import load_slos

    slos = load_slos([_relative(ref.file, path.parent)])
    for slo in slos:
        if slo.name == ref.name:
            return slo
    known = ", ".join(s.name for s in slos)
    raise UsageError(f"no SLO named {ref.name!r} in {ref.file} (it has: {known})")


def load_scenario(path: Path) -> Scenario:
    """Parse and validate one scenario file (the schema only); :class:`SpecError` lists every
    problem, each with its file and line."""
    docs = load_documents(path)
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise SpecError("a scenario is one YAML mapping", path=str(path), line=1)
    doc = docs[0]
    try:
        return Scenario.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(map(str, loc)) or "(top)"
            problems.append(doc.error(loc, f"{where}: {worded(err)}"))
        raise SpecError.every(sorted(problems, key=lambda p: p.line or 0)) from None


def resolve(path: Path, target: str = "stack") -> Resolved:
    """The scenario of ``path`` with its experiment, runbook and SLO loaded, as it runs on
    ``target``; every problem of the file and of what it refers to in one
    :class:`SpecError`. :class:`UsageError` when the scenario has no variant for ``target``."""
    docs = load_documents(path)
    problems: list[SpecError] = []
    scenario: Scenario | None = None
    try:
        scenario = load_scenario(path)
    except SpecError as exc:
        problems.extend(exc.problems)
    doc = docs[0]
    raw = doc.data if isinstance(doc.data, dict) else {}
    exp_key: tuple[str, ...] = ("experiment",)
    if target != "stack":
        variant = raw.get("kubernetes")
        if not isinstance(variant, dict):
            raise UsageError(
                f"game day {path.stem} runs on the stack only: it has no kubernetes variant",
                hint="`aqua gameday list` shows where each scenario runs",
            )
        raw = {
            **raw,
            "experiment": variant.get("experiment"),
            "alert": variant.get("alert") or raw.get("alert"),
        }
        exp_key = ("kubernetes", "experiment")

    def problem(key: str, message: str, loc: tuple[str, ...] | None = None) -> None:
        problems.append(doc.error(loc or (key,), f"{key}: {message}"))

    def text(key: str) -> str | None:
        value = raw.get(key)
        return value if isinstance(value, str) and value else None

    experiment = exp_path = runbook = slo = None
    if (exp_ref := text("experiment")) is not None:
        try:
            exp_path, experiment = _experiment(exp_ref, path)
            if experiment.target != target:
                problem(
                    ".".join(exp_key),
                    f"{exp_path.stem} targets {experiment.target}, not {target}",
                    exp_key,
                )
        except AquaError as exc:
            problem(".".join(exp_key), exc.message, exp_key)
    if (book_ref := text("runbook")) is not None:
        try:
            runbook = _runbook(book_ref, path)
            alert = text("alert")
            if alert is not None and alert not in runbook.meta.alerts:
                problem(
                    "alert",
                    f"runbook {runbook.name} does not list {alert} in its alerts "
                    f"({', '.join(runbook.meta.alerts) or 'none'})",
                )
            if target not in runbook.meta.targets:
                problem("runbook", f"runbook {runbook.name} does not run on {target}")
        except AquaError as exc:
            problem("runbook", exc.message)
    ref = raw.get("slo")
    if isinstance(ref, dict):
        try:
            slo = _slo(SloRef.model_validate(ref), path)
        except (AquaError, ValidationError) as exc:
            problem("slo", exc.message if isinstance(exc, AquaError) else "needs file and name")
    if problems:
        raise SpecError.every(sorted(problems, key=lambda p: p.line or 0))
    assert scenario is not None
    assert experiment is not None
    assert exp_path is not None
    assert runbook is not None
    assert slo is not None
    on = scenario.on(target)
    return Resolved(path.stem, path, on, experiment, exp_path, runbook, slo, target)


@dataclass
class Catalog:
    """Every scenario of a folder, and the problems of those that did not load."""

    scenarios: list[Resolved]
    problems: list[SpecError]

    def to_json(self) -> dict[str, object]:
        return {
            "scenarios": [
                {
                    "name": r.name,
                    "title": r.scenario.title,
                    "experiment": r.experiment_path.stem,
                    "alert": r.scenario.alert,
                    "runbook": r.runbook.name,
                    "slo": f"{r.slo.service}/{r.slo.name}",
                    "targets": list(r.scenario.targets),
                    "file": str(r.path),
                }
                for r in self.scenarios
            ],
            "problems": [p.message for p in self.problems],
        }


def check_dir(directory: Path) -> Catalog:
    """Every scenario of ``directory``, resolved; the problems of those that did not load."""
    if not directory.is_dir():
        raise UsageError(f"no game-day folder at {directory}", hint=f"pass --dir or set {DIR_ENV}")
    found: list[Resolved] = []
    problems: list[SpecError] = []
    for path in sorted(directory.glob("*.y*ml")):
        try:
            found.append(resolve(path))
            if found[-1].scenario.kubernetes is not None:
                resolve(path, "kubernetes")  # its problems count too
        except SpecError as exc:
            problems.append(exc)
        except AquaError as exc:
            problems.append(SpecError(exc.message, path=str(path)))
    return Catalog(found, problems)
