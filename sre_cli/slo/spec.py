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
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from sre_cli.slo.windows import Window

__all__ = [
    "SLI",
    "SLO",
    "AlertMeta",
    "Alerting",
    "LatencySLI",
    "Policy",
    "SlothFile",
    "Source",
    "render_window",
]

_WINDOW_VAR = re.compile(r"\{\{\s*\.window\s*\}\}")
_RATE = re.compile(r"\brate\s*\(")
_METRIC = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=120)]
Labels = dict[Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")], str]


def render_window(template: str, window: str) -> str:
    """Substitute Sloth's ``{{.window}}`` placeholder."""
    return _WINDOW_VAR.sub(window, template)


def _window(value: object) -> Window:
    return value if isinstance(value, Window) else Window.parse(value)


SpecWindow = Annotated[Window, BeforeValidator(_window)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Source(_Strict):
    path: str
    line: int


class LatencySLI(_Strict):
    """``metric`` is a histogram; requests slower than ``threshold`` (an ``le`` bucket) are bad."""

    metric: Annotated[str, StringConstraints(pattern=_METRIC)]
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


class AlertMeta(_Strict):
    disable: bool = False
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Alerting(_Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")] | None = None
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
    alerting: Alerting = Field(default_factory=Alerting)
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


WindowQuery = Annotated[str, StringConstraints(min_length=1), BeforeValidator(_needs_window)]


def _counting(query: str) -> str:
    if not re.search(r"\b(rate|increase)\s*\(", query):
        raise ValueError("event queries count with rate() or increase() over {{.window}}")
    return query


class SlothEvents(_Strict):
    error_query: Annotated[WindowQuery, BeforeValidator(_counting)]
    total_query: Annotated[WindowQuery, BeforeValidator(_counting)]


class SlothRaw(_Strict):
    error_ratio_query: WindowQuery


class SlothPlugin(_Strict):
    id: str
    options: dict[str, Any] = Field(default_factory=dict)


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
            raise ValueError("SLI plugins are not supported: use events, raw or latency")
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
    window: SpecWindow | None = None
    policy: Policy | None = None


class SlothFile(_Strict):
    """A Sloth ``prometheus/v1`` file, plus file-wide ``window`` and ``policy`` defaults."""

    version: Literal["prometheus/v1"]
    service: Name
    labels: Labels = Field(default_factory=dict)
    window: SpecWindow | None = None
    policy: Policy | None = None
    slos: list[SlothSLO] = Field(min_length=1)

    def to_slos(self, path: str, lines: list[int]) -> list[SLO]:
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
                alerting=s.alerting,
                source=Source(path=path, line=line),
            )
            for s, line in zip(self.slos, lines, strict=True)
        ]
