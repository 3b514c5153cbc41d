"""OpenSLO v1 ``kind: SLO`` documents, read into :class:`~sre_cli.slo.spec.SLO`.

Supported: an inline ``indicator`` or an ``indicatorRef`` to a ``kind: SLI`` document of the
same file set; ``ratioMetric`` with ``good`` or ``bad`` and ``total``; ``thresholdMetric`` on a
Prometheus histogram (the objective's ``op: lt``/``lte`` and ``value`` name the ``le`` bucket:
requests within it are good); ``budgetingMethod`` ``Occurrences``, ``Timeslices`` (with the
objective's ``timeSliceTarget`` and ``timeSliceWindow``) or ``RatioTimeslices``
(``timeSliceWindow``); one ``timeWindow`` (rolling ``28d``, or calendar ``1w``/``1M``/``1Q``
with a time zone); ``alertPolicies`` empty or absent (aqua's burn-rate tiers alert). A
Prometheus query is either a counter selector (``counter: true``), counted with ``increase``
over the window, or a template using ``{{.window}}``::

    ratioMetric:
      counter: true
      bad:   {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{status=~"5.."}'}}}
      total: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total'}}}
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sre_cli.slo.spec import (
    SLI,
    SLO,
    Alerting,
    Budgeting,
    LatencySLI,
    Policy,
    Source,
    render_window,
)
from sre_cli.slo.windows import Window

__all__ = ["OpenSLOIndicator", "OpenSLOSLO"]

_SELECTOR = re.compile(r"^\s*[a-zA-Z_:][a-zA-Z0-9_:]*\s*(\{[^{}]*\})?\s*$")
_CALENDAR = {"1w": "week", "7d": "week", "1M": "month", "1Q": "quarter"}


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Metadata(_Doc):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=120)
    displayName: str | None = None
    labels: dict[str, Any] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class MetricSource(_Doc):
    metricSourceRef: str | None = None
    type: str | None = None
    spec: dict[str, Any]

    @model_validator(mode="after")
    def _prometheus(self) -> MetricSource:
        if self.type is not None and self.type.lower() != "prometheus":
            raise ValueError(f"only Prometheus metric sources are supported, not {self.type}")
        if not isinstance(self.spec.get("query"), str) or not self.spec["query"].strip():
            raise ValueError("spec.query (a PromQL query) is required")
        return self


class MetricSpec(_Doc):
    metricSource: MetricSource

    @model_validator(mode="after")
    def _countable(self) -> MetricSpec:
        query = str(self.metricSource.spec["query"]).strip()
        if render_window(query, "") == query and not _SELECTOR.match(query):
            raise ValueError("query must be a counter selector or use {{.window}} as its range")
        return self

    def template(self, counter: bool) -> str:
        query = str(self.metricSource.spec["query"]).strip()
        if render_window(query, "") != query:
            if not re.search(r"\b(rate|increase)\s*\(", query):
                raise ValueError("a {{.window}} query counts with rate() or increase()")
            return query
        if counter and _SELECTOR.match(query):
            return f"sum(increase({query}[{{{{.window}}}}]))"
        raise ValueError(
            "query must be a counter selector (with counter: true) or use {{.window}} as its range"
        )


class RatioMetric(_Doc):
    counter: bool = True
    good: MetricSpec | None = None
    bad: MetricSpec | None = None
    total: MetricSpec | None = None
    rawType: str | None = None
    raw: MetricSpec | None = None

    @model_validator(mode="after")
    def _shape(self) -> RatioMetric:
        if self.raw is not None or self.rawType is not None:
            raise ValueError("raw ratio metrics are not supported: give good or bad, and total")
        if self.total is None or (self.good is None) == (self.bad is None):
            raise ValueError("ratioMetric needs total and exactly one of good, bad")
        return self

    def sli(self) -> SLI:
        assert self.total is not None
        total = self.total.template(self.counter)
        if self.bad is not None:
            return SLI(error_query=self.bad.template(self.counter), total_query=total)
        assert self.good is not None
        good = self.good.template(self.counter)
        return SLI(error_query=f"(({total}) - ({good}))", total_query=total)


_HISTOGRAM = re.compile(
    r"^\s*(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(?P<labels>[^{}]*)\})?\s*$"
)


class ThresholdMetric(_Doc):
    """A Prometheus histogram (``name`` or ``name_bucket``, optionally with matchers)."""

    metricSource: MetricSource

    @model_validator(mode="after")
    def _histogram(self) -> ThresholdMetric:
        if not _HISTOGRAM.match(str(self.metricSource.spec["query"])):
            raise ValueError(
                "a thresholdMetric query is a histogram selector, e.g. "
                'http_request_duration_seconds_bucket{job="api"}: aqua counts the requests '
                "within the objective's value (an le bucket) as good"
            )
        return self

    def sli(self, op: str | None, value: float | None) -> SLI:
        if op not in {"lt", "lte"} or value is None:
            raise ValueError(
                "a thresholdMetric objective needs op: lte (or lt) and value: the histogram "
                "counts requests at or under a bucket, so good means at most value"
            )
        match = _HISTOGRAM.match(str(self.metricSource.spec["query"]))
        assert match is not None
        latency = LatencySLI(
            metric=match["metric"], selector=match["labels"] or "", threshold=value
        )
        return SLI(
            error_query=latency.error_query(), total_query=latency.total_query(), latency=latency
        )


class IndicatorSpec(_Doc):
    description: str | None = None
    ratioMetric: RatioMetric | None = None
    thresholdMetric: ThresholdMetric | None = None

    @model_validator(mode="after")
    def _one(self) -> IndicatorSpec:
        if (self.ratioMetric is None) == (self.thresholdMetric is None):
            raise ValueError("an indicator needs exactly one of ratioMetric, thresholdMetric")
        return self


class OpenSLOIndicator(_Doc):
    """An inline indicator, or a ``kind: SLI`` document (then with apiVersion and kind)."""

    apiVersion: Literal["openslo/v1"] | None = None
    kind: Literal["SLI"] | None = None
    metadata: Metadata
    spec: IndicatorSpec


class Calendar(_Doc):
    startTime: str | datetime | None = None
    timeZone: str = "UTC"


class TimeWindow(_Doc):
    duration: str
    isRolling: bool = True
    calendar: Calendar | None = None

    def window(self) -> Window:
        if self.isRolling:
            return Window.parse("7d" if self.duration == "1w" else self.duration)
        calendar = _CALENDAR.get(self.duration)
        if calendar is None:
            minutes = " (m is minutes: a month is 1M)" if self.duration.endswith("m") else ""
            raise ValueError(
                f"calendar window {self.duration}{minutes}: a calendar window lasts 1w, 1M or 1Q"
            )
        zone = self.calendar.timeZone if self.calendar else "UTC"
        return Window.parse({"calendar": calendar, "timezone": zone})


class Objective(_Doc):
    displayName: str | None = None
    name: str | None = None
    op: str | None = None
    value: float | None = None
    target: float | None = Field(default=None, gt=0, lt=1)
    targetPercent: float | None = Field(default=None, gt=0, lt=100)
    indicator: Any = None
    indicatorRef: str | None = None
    timeSliceTarget: float | None = Field(default=None, gt=0, le=1)
    timeSliceWindow: str | None = None
    compositeWeight: float | None = None

    @model_validator(mode="after")
    def _target(self) -> Objective:
        if (self.target is None) == (self.targetPercent is None):
            raise ValueError("an objective needs exactly one of target, targetPercent")
        if self.indicator is not None or self.indicatorRef is not None:
            raise ValueError("per-objective indicators (composite SLOs) are not supported")
        return self

    @property
    def percent(self) -> float:
        if self.targetPercent is not None:
            return self.targetPercent
        assert self.target is not None
        return round(self.target * 100, 10)


class SLOSpec(_Doc):
    description: str = ""
    service: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    indicator: OpenSLOIndicator | None = None
    indicatorRef: str | None = None
    timeWindow: list[TimeWindow] = Field(min_length=1, max_length=1)
    budgetingMethod: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    objectives: list[Objective] = Field(min_length=1)
    # `alertPolicies:` with nothing under it is YAML null: the same as none.
    alertPolicies: list[Any] | None = None

    @model_validator(mode="after")
    def _indicator(self) -> SLOSpec:
        if (self.indicator is None) == (self.indicatorRef is None):
            raise ValueError("spec needs exactly one of indicator, indicatorRef")
        return self


class OpenSLOSLO(_Doc):
    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLO"]
    metadata: Metadata
    spec: SLOSpec

    def _budgeting(self, objective: Objective) -> Budgeting:
        method = self.spec.budgetingMethod
        if method == "Occurrences":
            return Budgeting()
        if objective.timeSliceWindow is None:
            raise ValueError(f"budgetingMethod {method} needs the objective's timeSliceWindow")
        if method == "Timeslices":
            if objective.timeSliceTarget is None:
                raise ValueError("budgetingMethod Timeslices needs the objective's timeSliceTarget")
            return Budgeting.model_validate(
                {
                    "method": "timeslices",
                    "slice": objective.timeSliceWindow,
                    "slice_target": objective.timeSliceTarget,
                }
            )
        return Budgeting.model_validate(
            {"method": "ratio_timeslices", "slice": objective.timeSliceWindow}
        )

    def to_slos(self, path: str, line: int, indicators: dict[str, OpenSLOIndicator]) -> list[SLO]:
        """One SLO per objective; ``indicators`` resolves ``indicatorRef`` (ValueError if not)."""
        indicator = self.spec.indicator
        if indicator is None:
            assert self.spec.indicatorRef is not None
            indicator = indicators.get(self.spec.indicatorRef)
            if indicator is None:
                raise ValueError(
                    f"indicatorRef {self.spec.indicatorRef!r}: no kind: SLI of that name"
                )
        ratio, threshold = indicator.spec.ratioMetric, indicator.spec.thresholdMetric
        window = self.spec.timeWindow[0].window()
        labels = {
            str(k): v
            for k, v in self.metadata.labels.items()
            if isinstance(v, str) and re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", str(k))
        }
        slos = []
        many = len(self.spec.objectives) > 1
        for index, objective in enumerate(self.spec.objectives):
            suffix = objective.name or objective.displayName or str(index)
            name = f"{self.metadata.name}-{suffix}" if many else self.metadata.name
            if ratio is not None:
                sli = ratio.sli()
            else:
                assert threshold is not None
                sli = threshold.sli(objective.op, objective.value)
            slos.append(
                SLO(
                    service=self.spec.service,
                    name=re.sub(r"[^A-Za-z0-9_.-]+", "-", name),
                    objective=objective.percent,
                    description=self.spec.description,
                    labels=labels,
                    sli=sli,
                    window=window,
                    policy=Policy(),
                    # metadata.annotations (e.g. `runbook`) annotate the burn-rate alerts
                    alerting=Alerting(annotations=dict(self.metadata.annotations)),
                    budgeting=self._budgeting(objective),
                    spec="openslo/v1",
                    source=Source(path=path, line=line),
                )
            )
        return slos
