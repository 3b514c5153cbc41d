"""The operations runbooks and chaos experiments share: what can be read or done to a target.

Each operation is a small declarative pydantic model::

    http: {url: "{entry_url}/ready", expect_status: 200}
    prometheus: {query: 'sum(up{job="api"})', expect: "> 0"}
    stack: {restart: "api-*", only: not_ready}
    k8s: {delete_pods: {selector: app=api-service, only: not_ready, max: 1}}
    traces: {service: api, window: 5m, baseline: 1h}
    wait: {until: {k8s: {available: deployment/api-service}}, timeout: 90s}

Each says whether it can give a verdict (``checks``), whether it changes anything
(``mutates``), how much it risks (``risk``: read, mutate, destructive) and which target it
needs (``target``). Strings may hold ``{name}`` references to parameters, filled in just
before the operation runs. A runbook step (:mod:`sre_cli.runbook.steps`) and a chaos action or
probe wrap one of these; the providers (:mod:`sre_cli.ops.providers`) carry them out.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sre_cli.timespec import format_duration, parse_seconds

__all__ = [
    "PARAM_REF",
    "PROBE_KEYS",
    "READ_ONLY_PROGRAMS",
    "BaseOp",
    "DeletePods",
    "DescribeOp",
    "Duration",
    "EscalateOp",
    "Events",
    "ExecOp",
    "FaultsOp",
    "HttpProbe",
    "K8sOp",
    "Operation",
    "PatchResources",
    "PodLogs",
    "PodSelection",
    "Polled",
    "ProbeKeys",
    "PrometheusProbe",
    "Risk",
    "RolloutOp",
    "Scale",
    "ShellOp",
    "StackOp",
    "TargetName",
    "TopOp",
    "TracesOp",
    "VerbOp",
    "WaitOp",
    "compare",
    "exactly_one",
    "number",
    "parse_expectation",
    "span_text",
]

TargetName = Literal["stack", "kubernetes"]
Only = Literal["all", "not_ready"]
#: pods only: ``oom_killed``, those with a container whose last run ended OOMKilled
PodOnly = Literal["all", "not_ready", "oom_killed"]
#: What running an operation risks: ``read`` changes nothing, ``mutate`` changes state that
#: heals itself (a restart), ``destructive`` takes capacity away (stop, kill, delete, scale).
Risk = Literal["read", "mutate", "destructive"]


def _names(value: object) -> object:
    return (value,) if isinstance(value, str) else value


#: A whole-value parameter reference such as ``"{max_pods}"``, filled in before the step runs.
ParamRef = Annotated[str, Field(pattern=r"^\{[A-Za-z_][A-Za-z0-9_]*\}$")]


def number(value: int | str) -> int:
    """The value of an integer field once parameters are filled in."""
    if isinstance(value, str):
        raise ValueError(f"parameter {value} was not filled in")
    return value


#: Seconds, in the grammar of :mod:`sre_cli.timespec` (``500ms``, ``1m30s``) or a bare number.
Duration = Annotated[float, BeforeValidator(parse_seconds), Field(gt=0)]
#: Component names of the stack; shell-style globs (``api-*``) allowed.
Names = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(_names)]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
#: ``{name}``: a reference to a parameter, filled in before the step runs
PARAM_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_EXPECT = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")
_DEPLOYMENT = re.compile(r"^(?:deployment|deploy|deployments)/([A-Za-z0-9.{}_-]+)$")


def parse_expectation(text: str) -> tuple[str, float]:
    """``"> 0.5"`` -> ``(">", 0.5)``; ValueError for anything else."""
    m = _EXPECT.match(text)
    if m is None:
        raise ValueError(f"expected a comparison such as '> 0' or '<= 0.05', got {text!r}")
    return m.group(1), float(m.group(2))


def compare(value: float, expectation: str) -> bool:
    """Whether ``value`` satisfies ``expectation`` (``"< 0.05"``)."""
    op, threshold = parse_expectation(expectation)
    return _OPS[op](value, threshold)


def span_text(seconds: float) -> str:
    """``300.0`` -> ``5m``; a fraction of a second as milliseconds."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return format_duration(timedelta(seconds=round(seconds)))


def _deployment(value: str) -> str:
    m = _DEPLOYMENT.match(value.strip())
    if m is None:
        raise ValueError(f"expected deployment/NAME, got {value!r}")
    return m.group(1)


def _valid_deployment(value: str) -> str:
    _deployment(value)
    return value


#: ``deployment/NAME`` (also ``deploy/NAME``), kept as written; ``_deployment`` gives the name.
DeploymentRef = Annotated[str, AfterValidator(_valid_deployment)]


class BaseOp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def exactly_one(model: BaseModel, verbs: tuple[str, ...], what: str) -> str:
    """The one of ``verbs`` (attribute names; a trailing ``_`` is not part of the name shown)
    that ``model`` holds; ValueError for none or several."""
    present = [v for v in verbs if getattr(model, v) is not None]
    if len(present) != 1:
        found = ", ".join(v.rstrip("_") for v in present) or "none"
        names = ", ".join(v.rstrip("_") for v in verbs)
        raise ValueError(f"{what} takes exactly one of {names} (found: {found})")
    return present[0]


class VerbOp(BaseOp):
    """An operation of several verbs, a field each, of which exactly one is set: ``VERBS`` (in
    the order an error lists them), those that change state (``WRITES``), the destructive ones
    among these (``DESTRUCTIVE``) and the one that gives a verdict (``CHECK``)."""

    KEY: ClassVar[str]
    VERBS: ClassVar[tuple[str, ...]]
    WRITES: ClassVar[tuple[str, ...]]
    DESTRUCTIVE: ClassVar[tuple[str, ...]] = ()
    CHECK: ClassVar[str]

    @model_validator(mode="after")
    def _one_verb(self) -> Self:
        exactly_one(self, self.VERBS, self.KEY)
        return self

    @property
    def verb(self) -> str:
        return exactly_one(self, self.VERBS, self.KEY)

    @property
    def checks(self) -> bool:
        return self.verb == self.CHECK

    @property
    def mutates(self) -> bool:
        return self.verb in self.WRITES

    @property
    def risk(self) -> Risk:
        if self.verb in self.DESTRUCTIVE:
            return "destructive"
        return "mutate" if self.mutates else "read"


# -- http -------------------------------------------------------------------------------------
class HttpProbe(BaseOp):
    """GET (or HEAD) a URL and want a status (and optionally a substring of the body)."""

    url: str = Field(min_length=1)
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: int | tuple[int, ...] = 200
    expect_body: str | None = None
    timeout: Duration = 5.0

    checks: ClassVar[bool] = True
    mutates: ClassVar[bool] = False
    risk: ClassVar[Risk] = "read"
    target: ClassVar[TargetName | None] = None

    @property
    def statuses(self) -> tuple[int, ...]:
        s = self.expect_status
        return (s,) if isinstance(s, int) else s

    def describe(self) -> str:
        want = " or ".join(map(str, self.statuses))
        body = f" containing {self.expect_body!r}" if self.expect_body else ""
        return f"{self.method} {self.url} answers {want}{body}"


# -- prometheus -------------------------------------------------------------------------------
class PrometheusProbe(BaseOp):
    """An instant query; with ``expect`` every sample must satisfy the comparison."""

    query: str = Field(min_length=1)
    expect: str | None = None
    #: the verdict when the query returns no series at all
    empty: Literal["fail", "pass"] = "fail"

    mutates: ClassVar[bool] = False
    risk: ClassVar[Risk] = "read"
    target: ClassVar[TargetName | None] = None

    @field_validator("expect")
    @classmethod
    def _valid_expect(cls, value: str | None) -> str | None:
        if value is not None and not PARAM_REF.search(value):
            parse_expectation(value)
        return value

    @property
    def checks(self) -> bool:
        return self.expect is not None

    def describe(self) -> str:
        return f"{self.query} {self.expect}" if self.expect else f"query {self.query}"


# -- traces -----------------------------------------------------------------------------------
class TracesOp(BaseOp):
    """Which span grew: span self time per request by span name in Jaeger, over the last
    ``window`` against the ``baseline`` before it; the span that grew most is named with what
    it waits on (database, cache, ML, queue). With ``max_growth`` it is a check that fails when
    a span grew by more than that per request."""

    service: str = Field(default="api", min_length=1)
    #: only requests of this route template (``http.route``)
    route: str | None = None
    window: Duration = 300.0
    baseline: Duration = 3600.0
    max_growth: Duration | None = None
    #: rows shown, the biggest growth first
    top: Annotated[int, Field(ge=1, le=50)] = 5

    mutates: ClassVar[bool] = False
    risk: ClassVar[Risk] = "read"
    target: ClassVar[TargetName | None] = None

    @property
    def checks(self) -> bool:
        return self.max_growth is not None

    def describe(self) -> str:
        route = f" {self.route}" if self.route else ""
        limit = f" (none by more than {self.max_growth * 1000:g} ms)" if self.max_growth else ""
        return (
            f"which span of {self.service}{route} grew: the last {span_text(self.window)} "
            f"against the {span_text(self.baseline)} before{limit}"
        )


# -- the local stack --------------------------------------------------------------------------
_STACK_READ = ("ready", "status", "logs")
_STACK_WRITE = ("restart", "start", "stop", "kill", "rollback")


class StackOp(VerbOp):
    """One verb on components of the local stack (``aqua stack``), selected by name or glob."""

    ready: Names | None = None
    status: Names | None = None
    logs: Names | None = None
    restart: Names | None = None
    start: Names | None = None
    stop: Names | None = None
    kill: Names | None = None
    #: put back the release before the current one of these components' services, replica
    #: by replica (stack/releases.py): ``kubectl rollout undo`` on the stack
    rollback: Names | None = None
    #: ``not_ready``: only the selected components that fail their readiness probe now
    only: Only = "all"
    lines: Annotated[int, Field(ge=1, le=1000)] | ParamRef = 20

    target: ClassVar[TargetName] = "stack"
    KEY: ClassVar[str] = "stack"
    VERBS: ClassVar[tuple[str, ...]] = _STACK_READ + _STACK_WRITE
    WRITES: ClassVar[tuple[str, ...]] = _STACK_WRITE
    DESTRUCTIVE: ClassVar[tuple[str, ...]] = ("stop", "kill")
    CHECK: ClassVar[str] = "ready"

    @property
    def names(self) -> tuple[str, ...]:
        names: tuple[str, ...] | None = getattr(self, self.verb)
        return names or ()

    def describe(self) -> str:
        names = ", ".join(self.names)
        only = " (only those not ready)" if self.only == "not_ready" else ""
        match self.verb:
            case "ready":
                return f"stack components {names} are ready"
            case "status":
                return f"status of {names}{only}"
            case "logs":
                return f"last {self.lines} log lines of {names}{only}"
            case "rollback":
                return f"roll back the release of {names}"
            case verb:
                return f"{verb} {names}{only}"


class FaultsOp(BaseOp):
    """The API's injected faults on the stack (``aqua stack up --faults``, an admin token in
    ``$AQUA_ADMIN_TOKEN``): ``clear: true`` removes every rule, e.g. one a game day left."""

    clear: Literal[True]

    checks: ClassVar[bool] = False
    mutates: ClassVar[bool] = True
    risk: ClassVar[Risk] = "mutate"
    target: ClassVar[TargetName] = "stack"

    def describe(self) -> str:
        return "clear every injected API fault"


# -- kubernetes -------------------------------------------------------------------------------
class PodSelection(BaseOp):
    """Pods by label selector (``app=api-service``), optionally only those not Ready, or
    only those with a container the kernel killed at its memory limit (its
    ``lastState.terminated.reason`` is ``OOMKilled``)."""

    selector: str = Field(min_length=1)
    only: PodOnly = "all"

    def describe(self) -> str:
        only = {"not_ready": ", not Ready", "oom_killed": ", OOMKilled"}.get(self.only, "")
        return f"pods {self.selector}{only}"


class PodLogs(PodSelection):
    lines: Annotated[int, Field(ge=1, le=1000)] | ParamRef = 20
    container: str | None = None


class DeletePods(PodSelection):
    only: Only = "not_ready"
    #: never delete more than this many pods in one step
    max: Annotated[int, Field(ge=1, le=50)] | ParamRef = 1


class Events(BaseOp):
    """Recent events of an object and of everything named after it (its ReplicaSets, pods)."""

    for_: str = Field(alias="for", min_length=1)
    limit: int = Field(default=20, ge=1, le=500)


class Scale(BaseOp):
    deployment: str = Field(min_length=1)
    replicas: Annotated[int, Field(ge=0, le=1000)] | ParamRef
    #: only ever up: nothing to do when the Deployment already wants this many or more
    at_least: bool = False


_K8S_READ = ("available", "pods", "events", "logs")
_K8S_WRITE = ("delete_pods", "rollout_restart", "scale")


class K8sOp(VerbOp):
    """One verb against the Kubernetes API in the target namespace."""

    available: DeploymentRef | None = None
    pods: PodSelection | None = None
    events: Events | None = None
    logs: PodLogs | None = None
    delete_pods: DeletePods | None = None
    rollout_restart: DeploymentRef | None = None
    scale: Scale | None = None

    target: ClassVar[TargetName] = "kubernetes"
    KEY: ClassVar[str] = "k8s"
    VERBS: ClassVar[tuple[str, ...]] = _K8S_READ + _K8S_WRITE
    WRITES: ClassVar[tuple[str, ...]] = _K8S_WRITE
    DESTRUCTIVE: ClassVar[tuple[str, ...]] = ("delete_pods", "scale")
    CHECK: ClassVar[str] = "available"

    @property
    def deployment(self) -> str:
        """The deployment name of ``available``/``rollout_restart``/``scale``."""
        if self.scale is not None:
            return self.scale.deployment
        return _deployment(self.available or self.rollout_restart or "")

    def describe(self) -> str:
        match self.verb:
            case "available":
                return f"deployment/{self.deployment} is Available with every replica ready"
            case "pods" if self.pods is not None:
                return f"list {self.pods.describe()}"
            case "events" if self.events is not None:
                return f"last {self.events.limit} events of {self.events.for_}"
            case "logs" if self.logs is not None:
                return f"last {self.logs.lines} log lines of {self.logs.describe()}"
            case "delete_pods" if self.delete_pods is not None:
                d = self.delete_pods
                return f"delete {d.describe()} (at most {d.max})"
            case "rollout_restart":
                return f"rollout restart deployment/{self.deployment}"
            case "scale" if self.scale is not None:
                most = "at least " if self.scale.at_least else ""
                return f"scale deployment/{self.deployment} to {most}{self.scale.replicas}"
        return self.verb  # pragma: no cover - the validator admits nothing else


# -- rollout ----------------------------------------------------------------------------------
_ROLLOUT = ("restart", "undo", "status")


class RolloutOp(VerbOp):
    """A Deployment's rollout, as ``kubectl rollout`` drives it::

        rollout: {restart: deployment/api-service}
        rollout: {undo: deployment/api-service}              # back to the previous revision
        rollout: {undo: deployment/api-service, to_revision: 3}
        rollout: {status: deployment/api-service, timeout: 5m}

    ``status`` is a check a run polls every ``interval`` (as a ``wait``) until every replica
    runs the current template and is available; it fails at ``timeout``.
    """

    restart: DeploymentRef | None = None
    undo: DeploymentRef | None = None
    status: DeploymentRef | None = None
    to_revision: Annotated[int, Field(ge=1)] | ParamRef | None = None
    timeout: Duration = 300.0
    interval: Duration = 2.0

    target: ClassVar[TargetName] = "kubernetes"
    KEY: ClassVar[str] = "rollout"
    VERBS: ClassVar[tuple[str, ...]] = _ROLLOUT
    WRITES: ClassVar[tuple[str, ...]] = ("restart", "undo")
    CHECK: ClassVar[str] = "status"

    @model_validator(mode="after")
    def _one_verb(self) -> Self:
        if exactly_one(self, _ROLLOUT, "rollout") != "undo" and self.to_revision is not None:
            raise ValueError("to_revision applies to undo only")
        return self

    @property
    def deployment(self) -> str:
        return _deployment(self.restart or self.undo or self.status or "")

    @property
    def probe(self) -> RolloutOp:
        """What a run polls for ``status`` (as for a ``wait``): the rollout's state now."""
        return self

    def describe(self) -> str:
        name = f"deployment/{self.deployment}"
        match self.verb:
            case "status":
                return f"wait up to {self.timeout:g}s until the rollout of {name} completes"
            case "undo" if self.to_revision is not None:
                return f"rollout undo {name} to revision {self.to_revision}"
        return f"rollout {self.verb} {name}"


# -- patch a container's resources ------------------------------------------------------------
#: A Kubernetes quantity: ``250m``, ``0.5``, ``512Mi``, ``1G``, ``1e3``.
Quantity = Annotated[
    str,
    Field(
        pattern=r"^([0-9]+(\.[0-9]+)?([numkMGTPE]|[KMGTPE]i|[eE][-+]?[0-9]+)?|\{[A-Za-z_][A-Za-z0-9_]*\})$"
    ),
]


class Resources(BaseOp):
    memory: Quantity | None = None
    cpu: Quantity | None = None

    def items(self) -> dict[str, str]:
        return {k: v for k, v in (("memory", self.memory), ("cpu", self.cpu)) if v is not None}


class PatchResources(BaseOp):
    """Set a container's requests and limits on a Deployment (a rolling restart follows)::

    patch_resources:
      deployment: deployment/api-service
      container: api           # default: the pod's only (or first) container
      limits: {memory: 1Gi}
      requests: {memory: 512Mi, cpu: 250m}
    """

    deployment_ref: DeploymentRef = Field(alias="deployment")
    container: str | None = None
    requests: Resources | None = None
    limits: Resources | None = None

    checks: ClassVar[bool] = False
    mutates: ClassVar[bool] = True
    risk: ClassVar[Risk] = "mutate"
    target: ClassVar[TargetName] = "kubernetes"

    @model_validator(mode="after")
    def _something(self) -> PatchResources:
        if not self.wanted():
            raise ValueError("patch_resources needs requests or limits (memory, cpu)")
        return self

    @property
    def deployment(self) -> str:
        return _deployment(self.deployment_ref)

    def wanted(self) -> dict[str, dict[str, str]]:
        """``{"limits": {"memory": "1Gi"}, ...}``: only what the step sets."""
        out = {
            "requests": self.requests.items() if self.requests else {},
            "limits": self.limits.items() if self.limits else {},
        }
        return {k: v for k, v in out.items() if v}

    def describe(self) -> str:
        what = ", ".join(f"{k}.{r}={q}" for k, rs in self.wanted().items() for r, q in rs.items())
        container = f" container {self.container}" if self.container else ""
        return f"set{container} resources of deployment/{self.deployment}: {what}"


# -- exec a command ---------------------------------------------------------------------------
#: Programs an ``exec`` step may run without being marked destructive: they only read. psql
#: runs in read-only transactions (``default_transaction_read_only``), so PostgreSQL refuses
#: an accidental write; that default can be switched off in SQL, so on the stack a read-only
#: step also connects as the monitoring role, which has no write privilege at all.
READ_ONLY_PROGRAMS = frozenset(
    {
        "cat", "date", "df", "du", "free", "grep", "head", "hostname", "id", "ls", "nproc",
        "pg_isready", "ps", "psql", "tail", "uptime", "wc",
    }
)  # fmt: skip


def _argv(value: object) -> object:
    if isinstance(value, str):
        import shlex

        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise ValueError(f"cannot split the command {value!r}: {exc}") from None
    return value


class ExecOp(BaseOp):
    """Run a command in a pod (Kubernetes) or against a component of the stack::

        exec:
          command: psql -c "SELECT count(*) FROM pg_stat_activity"
          selector: app=postgres      # Kubernetes: the first ready pod
          component: postgres         # stack: psql finds this component through PG* variables

    The program must be on :data:`READ_ONLY_PROGRAMS` unless the step says ``destructive:
    true`` (then it is an action, confirmed before it runs). No shell is involved: the words
    are the program's arguments.
    """

    command: Annotated[
        tuple[Annotated[str, Field(min_length=1)], ...],
        BeforeValidator(_argv),
        Field(min_length=1),
    ]
    selector: str | None = None
    container: str | None = None
    component: str | None = None
    destructive: bool = False
    timeout: Duration = 30.0

    checks: ClassVar[bool] = False
    target: ClassVar[TargetName | None] = None

    @model_validator(mode="after")
    def _allowed(self) -> ExecOp:
        if self.selector is None and self.component is None:
            raise ValueError("exec needs a selector (Kubernetes), a component (stack) or both")
        program = self.command[0]
        if "/" in program:
            raise ValueError(f"exec runs a program by name, not by path: {program!r}")
        if not self.destructive and program not in READ_ONLY_PROGRAMS and "{" not in program:
            allowed = ", ".join(sorted(READ_ONLY_PROGRAMS))
            raise ValueError(
                f"{program} is not a read-only program ({allowed}); "
                "mark the step destructive: true to run it"
            )
        return self

    @property
    def program(self) -> str:
        return self.command[0]

    @property
    def mutates(self) -> bool:
        return self.destructive

    @property
    def risk(self) -> Risk:
        return "destructive" if self.destructive else "read"

    def describe(self) -> str:
        import shlex

        where = " / ".join(
            w for w in (self.component, f"pod {self.selector}" if self.selector else None) if w
        )
        return f"run `{shlex.join(self.command)}` in {where}"


# -- top --------------------------------------------------------------------------------------
class TopOp(BaseOp):
    """Memory and CPU in use now: the pods' metrics from metrics-server (``metrics.k8s.io``) on
    Kubernetes, the processes' resident memory and CPU on the stack::

        top: {selector: app=api-service, component: "api-*"}
    """

    selector: str | None = None
    component: Names | None = None

    checks: ClassVar[bool] = False
    mutates: ClassVar[bool] = False
    risk: ClassVar[Risk] = "read"
    target: ClassVar[TargetName | None] = None

    @model_validator(mode="after")
    def _somewhere(self) -> TopOp:
        if self.selector is None and not self.component:
            raise ValueError("top needs a selector (Kubernetes), a component (stack) or both")
        return self

    def describe(self) -> str:
        where = " / ".join(
            w
            for w in (
                ", ".join(self.component) if self.component else None,
                f"pods {self.selector}" if self.selector else None,
            )
            if w
        )
        return f"memory and CPU of {where}"


# -- describe ---------------------------------------------------------------------------------
class DescribeOp(BaseOp):
    """Everything about an object in one place, as ``kubectl describe`` shows it::

        describe: {deployment: deployment/api-service}   # Kubernetes: replicas, conditions, events
        describe: {selector: app=api-service}            # Kubernetes: each pod, its containers
        describe: {pod: api-service-6d9f-x2x1z}          # Kubernetes: one pod by name
        describe: {component: "api-*"}                   # stack: command, state, pid, ports

    A pod shows its phase, conditions, each container's state (running since, waiting and
    why, terminated with reason and exit code), last state (``OOMKilled``), restarts,
    resources, and its events; a Deployment its replicas, strategy, images, conditions and the
    events of it and its ReplicaSets and pods. On the stack a component shows the command its
    process runs, its state, pid, ports, restarts and uptime.
    """

    deployment: DeploymentRef | None = None
    pod: str | None = Field(default=None, min_length=1)
    selector: str | None = Field(default=None, min_length=1)
    component: Names | None = None
    #: events shown per object (Kubernetes), the latest
    events: Annotated[int, Field(ge=0, le=200)] = 10

    checks: ClassVar[bool] = False
    mutates: ClassVar[bool] = False
    risk: ClassVar[Risk] = "read"
    target: ClassVar[TargetName | None] = None

    @model_validator(mode="after")
    def _something(self) -> DescribeOp:
        if not (self.deployment or self.pod or self.selector or self.component):
            raise ValueError(
                "describe needs a deployment, pod or selector (Kubernetes), a component "
                "(stack), or both"
            )
        return self

    def describe(self) -> str:
        what = [
            f"deployment/{_deployment(self.deployment)}" if self.deployment else None,
            f"pod {self.pod}" if self.pod else None,
            f"pods {self.selector}" if self.selector else None,
            ", ".join(self.component) if self.component else None,
        ]
        return "describe " + " / ".join(w for w in what if w)


# -- shell ------------------------------------------------------------------------------------
class ShellOp(BaseOp):
    """A shell command on the machine aqua runs on (``/bin/sh -c``), for what no typed
    operation does. A runbook opts in with ``shell: true`` in its front matter. It is
    destructive unless the step declares a lower risk explicitly::

        shell: {command: "ss -tnp | grep -c :8000", risk: read, timeout: 10s}

    Output (stdout and stderr, the last lines) is captured; it runs in a session of its own,
    killed whole at ``timeout``. A parameter filled into ``command`` is quoted for the shell.
    """

    command: str = Field(min_length=1)
    declared_risk: Risk = Field(default="destructive", alias="risk")
    timeout: Duration = 60.0

    checks: ClassVar[bool] = False
    target: ClassVar[TargetName | None] = None

    @property
    def risk(self) -> Risk:
        return self.declared_risk

    @property
    def mutates(self) -> bool:
        return self.declared_risk != "read"

    def describe(self) -> str:
        return f"shell `{self.command}`"


#: the keys of :class:`ProbeKeys`, in their order
PROBE_KEYS = ("http", "prometheus", "stack", "k8s", "traces")


# -- wait -------------------------------------------------------------------------------------
class ProbeKeys(BaseOp):
    """The verdict-giving operations, one optional key each: what a ``wait`` polls
    (:class:`Probe`) and the first keys of a runbook step."""

    http: HttpProbe | None = None
    prometheus: PrometheusProbe | None = None
    stack: StackOp | None = None
    k8s: K8sOp | None = None
    traces: TracesOp | None = None


class Probe(ProbeKeys):
    """The check a ``wait`` polls: one verdict-giving operation."""

    @model_validator(mode="after")
    def _one_check(self) -> Probe:
        exactly_one(self, PROBE_KEYS, "until")
        if not self.op.checks:
            raise ValueError(f"until needs a check with a verdict; {self.op.describe()} has none")
        return self

    @property
    def op(self) -> HttpProbe | PrometheusProbe | StackOp | K8sOp | TracesOp:
        key = exactly_one(self, PROBE_KEYS, "until")
        op: HttpProbe | PrometheusProbe | StackOp | K8sOp | TracesOp = getattr(self, key)
        return op


class WaitOp(BaseOp):
    """Poll a check every ``interval`` until it passes; fail after ``timeout``."""

    until: Probe
    timeout: Duration = 60.0
    interval: Duration = 2.0

    checks: ClassVar[bool] = True
    mutates: ClassVar[bool] = False
    risk: ClassVar[Risk] = "read"

    @property
    def target(self) -> TargetName | None:
        return self.until.op.target

    @property
    def probe(self) -> HttpProbe | PrometheusProbe | StackOp | K8sOp | TracesOp:
        """What a run polls until it passes."""
        return self.until.op

    def describe(self) -> str:
        return f"wait up to {self.timeout:g}s until {self.until.op.describe()}"


#: Checks a run polls every ``interval`` until their ``probe`` passes or ``timeout`` passes.
Polled = WaitOp | RolloutOp


# -- escalate ---------------------------------------------------------------------------------
class EscalateOp(BaseOp):
    """Page a team: post a ``RunbookEscalation`` alert to Alertmanager, which routes it on its
    ``team`` label. With ``when``, only if that check passes now (a cause found)::

        escalate:
          team: dba
          reason: a query has run for minutes
          when: {prometheus: {query: max(pg_stat_activity_max_tx_duration), expect: "> 60"}}
    """

    team: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$|^\{[A-Za-z_][A-Za-z0-9_]*\}$")
    reason: str = Field(min_length=1)
    when: Probe | None = None

    checks: ClassVar[bool] = False
    mutates: ClassVar[bool] = True
    risk: ClassVar[Risk] = "mutate"

    @property
    def target(self) -> TargetName | None:
        return self.when.op.target if self.when is not None else None

    def describe(self) -> str:
        when = f" if {self.when.op.describe()}" if self.when is not None else ""
        return f"escalate to {self.team}{when}: {self.reason}"


#: Every operation a step or a hypothesis may name.
Operation = (
    HttpProbe
    | PrometheusProbe
    | StackOp
    | FaultsOp
    | K8sOp
    | TracesOp
    | RolloutOp
    | PatchResources
    | ExecOp
    | TopOp
    | DescribeOp
    | ShellOp
    | WaitOp
    | EscalateOp
)
