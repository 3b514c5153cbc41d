"""SLO specs: the normalized model, and loading Sloth ``prometheus/v1`` files as they are.

Every format (Sloth, OpenSLO v1) is turned into the same :class:`SLO`. aqua's extensions are
validated like the rest: ``window`` (rolling ``30d`` or ``{calendar: month, timezone: ...}``),
``sli.latency`` (a histogram and a threshold bucket) and the budget ``policy``::

    version: "prometheus/v1"
    service: api
    slos:
      - name: availability
        objective: 99.9
        window: 30d
        sli:
          events:
            error_query: sum(rate(http_requests_total{job="api",status=~"5.."}[{{.window}}]))
            total_query: sum(rate(http_requests_total{job="api"}[{{.window}}]))
        policy: {min_budget_remaining: 0.1}

Errors carry the file and line (:class:`sre_cli.errors.SpecError`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from sre_cli.slo.windows import Window
from sre_cli.timespec import format_duration, parse_duration

__all__ = [
    "SLI",
    "SLO",
    "AlertMeta",
    "Alerting",
    "Budgeting",
    "LatencySLI",
    "Policy",
    "SlothFile",
    "Source",
    "render_window",
]

_WINDOW_VAR = re.compile(r"\{\{\s*\.window\s*\}\}")
_RATE = re.compile(r"\brate\s*\(")
_METRIC = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _name(value: str) -> str:
    # The message states the rule in words: a regex in an error message is unreadable.
    if not _NAME.match(value) or len(value) > 120:
        raise ValueError(
            f"{value!r} is not a name: use letters, digits, '_', '.' and '-', starting with a "
            "letter or digit (at most 120 characters)"
        )
    return value


def _label_value(value: object) -> object:
    # Sloth reads labels into strings: `generated: true` is "true", `le: 0.2` is "0.2".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _label_name(value: str) -> str:
    if not _LABEL_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a Prometheus label name: letters, digits and '_', "
            "not starting with a digit"
        )
    return value


Name = Annotated[str, AfterValidator(_name)]
Labels = dict[
    Annotated[str, AfterValidator(_label_name)], Annotated[str, BeforeValidator(_label_value)]
]


def render_window(template: str, window: str) -> str:
    """Substitute Sloth's ``{{.window}}`` placeholder."""
    return _WINDOW_VAR.sub(window, template)


def _window(value: object) -> Window:
    return value if isinstance(value, Window) else Window.parse(value)


SpecWindow = Annotated[Window, BeforeValidator(_window)]


def _slice(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    rng = parse_duration(str(value), promql=True)
    if rng < timedelta(minutes=1) or rng > timedelta(days=1) or rng.total_seconds() % 60:
        raise ValueError("a time slice is whole minutes, from 1m to 1d")
    return rng


SpecSlice = Annotated[timedelta, BeforeValidator(_slice)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Source(_Strict):
    path: str
    line: int


def _metric(value: str) -> str:
    if not re.match(_METRIC, value):
        raise ValueError(
            f"{value!r} is not a metric name: letters, digits, '_' and ':', "
            "not starting with a digit"
        )
    return value


class LatencySLI(_Strict):
    """``metric`` is a histogram; requests slower than ``threshold`` (an ``le`` bucket) are bad."""

    metric: Annotated[str, AfterValidator(_metric)]
    threshold: float = Field(gt=0)
    selector: str = ""

    @property
    def base(self) -> str:
        return self.metric.removesuffix("_bucket")

    @property
    def matchers(self) -> str:
        return self.selector.strip().removeprefix("{").removesuffix("}").strip().rstrip(",")

    def le_matcher(self) -> str:
        """Match the bucket however the client spelled it (``60`` in Go, ``60.0`` in Python)."""
        spellings = sorted(
            {repr(self.threshold), f"{self.threshold:g}"}
            | ({str(int(self.threshold))} if self.threshold.is_integer() else set()),
            key=len,
        )
        if len(spellings) == 1:
            return f'le="{spellings[0]}"'
        return (
            'le=~"' + "|".join(s.replace(".", "[.]").replace("+", "[+]") for s in spellings) + '"'
        )

    def _selector(self, suffix: str, *extra: str) -> str:
        parts = [p for p in (self.matchers, *extra) if p]
        return f"{self.base}{suffix}{{{','.join(parts)}}}" if parts else f"{self.base}{suffix}"

    def total_query(self) -> str:
        return f"sum(rate({self._selector('_count')}[{{{{.window}}}}]))"

    def good_query(self) -> str:
        return f"sum(rate({self._selector('_bucket', self.le_matcher())}[{{{{.window}}}}]))"

    def error_query(self) -> str:
        return f"({self.total_query()} - {self.good_query()})"


class SLI(_Strict):
    """Normalized SLI: event queries (error and total) or a raw error-ratio query.

    Queries are templates with ``{{.window}}``. ``latency`` keeps the shorthand it came from.
    """

    error_query: str | None = None
    total_query: str | None = None
    error_ratio_query: str | None = None
    latency: LatencySLI | None = None

    @property
    def kind(self) -> Literal["events", "raw", "latency"]:
        if self.latency is not None:
            return "latency"
        return "raw" if self.error_ratio_query is not None else "events"

    def counts(self, window: str) -> tuple[str, str]:
        """(bad, total) event-count queries over ``window``: rate() becomes increase()."""
        assert self.error_query is not None
        assert self.total_query is not None
        return (
            _RATE.sub("increase(", render_window(self.error_query, window)),
            _RATE.sub("increase(", render_window(self.total_query, window)),
        )


class Policy(_Strict):
    """What ``aqua slo gate`` enforces unless overridden on the command line."""

    min_budget_remaining: float | None = Field(default=None, ge=-10, le=1)
    max_burn_rate: float | None = Field(default=None, gt=0)
    burn_rate_window: Literal["5m", "30m", "1h", "2h", "6h", "1d", "3d"] = "1h"


class Budgeting(_Strict):
    """How the budget is counted: events (``occurrences``) or time slices.

    ``timeslices``: the window is cut into ``slice`` long slices; a slice is good when its good
    ratio is at least ``slice_target``; the objective is the share of good slices.
    ``ratio_timeslices``: the SLI is the mean of the slices' good ratios. Slices without
    traffic are left out. An aqua extension in Sloth files; OpenSLO's ``budgetingMethod``::

        budgeting: {method: timeslices, slice: 1m, slice_target: 0.99}
    """

    method: Literal["occurrences", "timeslices", "ratio_timeslices"] = "occurrences"
    slice: SpecSlice | None = None
    slice_target: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _complete(self) -> Budgeting:
        if self.method == "occurrences":
            if self.slice is not None or self.slice_target is not None:
                raise ValueError("slice and slice_target belong to the timeslices methods")
            return self
        if self.slice is None:
            raise ValueError(f"budgeting method {self.method} needs a slice duration (e.g. 1m)")
        if self.method == "timeslices" and self.slice_target is None:
            raise ValueError("budgeting method timeslices needs slice_target (e.g. 0.99)")
        if self.method == "ratio_timeslices" and self.slice_target is not None:
            raise ValueError("ratio_timeslices averages the slices' ratios: no slice_target")
        return self

    @property
    def slice_label(self) -> str:
        assert self.slice is not None
        return format_duration(self.slice)


class AlertMeta(_Strict):
    disable: bool = False
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Alerting(_Strict):
    # Prometheus takes any non-empty alert name (it is the `alertname` label value).
    name: Annotated[str, StringConstraints(min_length=1)] | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    page_alert: AlertMeta = Field(default_factory=AlertMeta)
    ticket_alert: AlertMeta = Field(default_factory=AlertMeta)


class SLO(_Strict):
    """One SLO, whatever file format it came from."""

    service: Name
    name: Name
    objective: float = Field(gt=0, lt=100, description="percent of good events")
    description: str = ""
    labels: Labels = Field(default_factory=dict)
    sli: SLI
    window: Window = Field(default_factory=lambda: Window.parse(None))
    policy: Policy = Field(default_factory=Policy)
    budgeting: Budgeting = Field(default_factory=lambda: Budgeting())
    alerting: Alerting = Field(default_factory=Alerting)
    spec: str = Field(default="prometheus/v1", description="the format it was read from")
    plugins: tuple[str, ...] = Field(default=(), description="Sloth SLO plugins (not run)")
    source: Source

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def budget_ratio(self) -> Decimal:
        """Allowed error ratio, exact: 99.9 -> Decimal('0.001')."""
        return (Decimal(100) - Decimal(repr(self.objective))) / Decimal(100)

    @property
    def budget(self) -> float:
        return float(self.budget_ratio)


# --- Sloth prometheus/v1 -------------------------------------------------------------------


def _needs_window(query: str) -> str:
    if not _WINDOW_VAR.search(query):
        raise ValueError("query must use the {{.window}} placeholder as its range")
    return query


WindowQuery = Annotated[str, StringConstraints(min_length=1), AfterValidator(_needs_window)]


class SlothEvents(_Strict):
    # An event query without rate()/increase() is valid PromQL (Sloth's home-wifi example
    # counts samples with sum_over_time): `aqua slo validate` lints it, the schema accepts it.
    error_query: WindowQuery
    total_query: WindowQuery


class SlothRaw(_Strict):
    error_ratio_query: WindowQuery


class SlothPlugin(_Strict):
    id: str
    options: dict[str, Any] = Field(default_factory=dict)


class SlothSLOPlugin(_Strict):
    """One step of a Sloth SLO plugin chain (Go code run by Sloth while it generates rules)."""

    id: Annotated[str, StringConstraints(min_length=1)]
    priority: int = 0
    config: Any = None


class SlothSLOPlugins(_Strict):
    overridePrevious: bool = False
    chain: list[SlothSLOPlugin] = Field(default_factory=list)


class SlothSLI(_Strict):
    events: SlothEvents | None = None
    raw: SlothRaw | None = None
    plugin: SlothPlugin | None = None
    latency: LatencySLI | None = None

    @model_validator(mode="after")
    def _one(self) -> SlothSLI:
        given = [k for k in ("events", "raw", "plugin", "latency") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("sli needs exactly one of events, raw, latency")
        if self.plugin is not None:
            raise ValueError(
                f"SLI plugin {self.plugin.id!r}: SLI plugins are Go code that Sloth compiles in; "
                "aqua cannot run them. Write the query the plugin returns as sli.raw or sli.events"
            )
        return self

    def normalized(self) -> SLI:
        if self.latency is not None:
            lat = self.latency
            return SLI(error_query=lat.error_query(), total_query=lat.total_query(), latency=lat)
        if self.raw is not None:
            return SLI(error_ratio_query=self.raw.error_ratio_query)
        assert self.events is not None
        return SLI(error_query=self.events.error_query, total_query=self.events.total_query)


class SlothSLO(_Strict):
    name: Name
    objective: float = Field(gt=0, lt=100)
    description: str = ""
    labels: Labels = Field(default_factory=dict)
    sli: SlothSLI
    alerting: Alerting = Field(default_factory=Alerting)
    plugins: SlothSLOPlugins | None = None
    window: SpecWindow | None = None
    policy: Policy | None = None
    budgeting: Budgeting | None = None


class SlothFile(_Strict):
    """A Sloth ``prometheus/v1`` file, plus file-wide ``window`` and ``policy`` defaults."""

    version: Literal["prometheus/v1"]
    service: Name
    labels: Labels = Field(default_factory=dict)
    slo_plugins: SlothSLOPlugins | None = None
    window: SpecWindow | None = None
    policy: Policy | None = None
    budgeting: Budgeting | None = None
    slos: list[SlothSLO] = Field(min_length=1)

    def to_slos(self, path: str, lines: list[int], spec: str = "prometheus/v1") -> list[SLO]:
        def plugins(s: SlothSLO) -> tuple[str, ...]:
            chains = (self.slo_plugins, s.plugins)
            return tuple(p.id for chain in chains if chain is not None for p in chain.chain)

        return [
            SLO(
                service=self.service,
                name=s.name,
                objective=s.objective,
                description=s.description,
                labels={**self.labels, **s.labels},
                sli=s.sli.normalized(),
                window=s.window or self.window or Window.parse(None),
                policy=s.policy or self.policy or Policy(),
                budgeting=s.budgeting or self.budgeting or Budgeting(),
                alerting=s.alerting,
                spec=spec,
                plugins=plugins(s),
                source=Source(path=path, line=line),
            )
            for s, line in zip(self.slos, lines, strict=True)
        ]
