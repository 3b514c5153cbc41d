"""OpenSLO ``v1alpha`` ``kind: SLO`` documents, read exactly as Sloth reads them.

Each objective becomes one SLO named ``<metadata.name>-<index>``; its ``ratioMetrics`` (``good``
and ``total`` PromQL queries with ``{{.window}}``) become the raw error ratio
``1 - (good / total)`` in Sloth's own layout, so the rules match Sloth's text; ``target`` is a
ratio (0.999); ``timeWindows`` holds at most one window counted in days (default 30); alerts
are off, as in Sloth::

    apiVersion: openslo/v1alpha
    kind: SLO
    metadata: {name: availability}
    spec:
      service: api
      objectives:
        - ratioMetrics:
            good: {source: prometheus, queryType: promql, query: sum(rate(ok_total[{{.window}}]))}
            total: {source: prometheus, queryType: promql, query: sum(rate(all_total[{{.window}}]))}
          target: 0.999
      timeWindows: [{count: 30, unit: Day}]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sre_cli.slo.spec import SLI, SLO, Alerting, AlertMeta, Name, Source, render_window
from sre_cli.slo.windows import Window

__all__ = ["OpenSLOAlphaSLO"]

SPEC = "openslo/v1alpha"

# Sloth's template (internal/storage/io/openslo.go), whitespace included.
_ERROR_RATIO = """
  1 - (
    (
      {good}
    )
    /
    (
      {total}
    )
  )
"""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Metadata(_Doc):
    name: Name
    displayName: str | None = None


class Query(_Doc):
    source: str
    queryType: str
    query: str = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _prometheus(cls, value: str) -> str:
        if value not in {"prometheus", "sloth"}:
            raise ValueError(f"source {value!r}: Sloth reads only source prometheus (or sloth)")
        return value

    @field_validator("queryType")
    @classmethod
    def _promql(cls, value: str) -> str:
        if value != "promql":
            raise ValueError(f"queryType {value!r}: only promql queries are read")
        return value

    @field_validator("query")
    @classmethod
    def _window(cls, value: str) -> str:
        if render_window(value, "") == value:
            raise ValueError("query must use the {{.window}} placeholder as its range")
        return value


class RatioMetrics(_Doc):
    good: Query
    total: Query
    incremental: bool | None = None


class Objective(_Doc):
    displayName: str | None = None
    op: str | None = None
    value: float | None = None
    ratioMetrics: RatioMetrics | None = None
    target: float = Field(gt=0, lt=1, description="ratio of good events, e.g. 0.999")

    @model_validator(mode="after")
    def _ratio(self) -> Objective:
        if self.ratioMetrics is None:
            raise ValueError("an objective needs ratioMetrics (good and total queries)")
        return self


class TimeWindow(_Doc):
    count: int = Field(gt=0)
    unit: str
    isRolling: bool | None = None
    calendar: dict[str, str] | None = None

    @field_validator("unit")
    @classmethod
    def _days(cls, value: str) -> str:
        if value.lower() != "day":
            raise ValueError(f"unit {value!r}: Sloth reads only windows counted in Day")
        return value


class AlphaSpec(_Doc):
    service: Name
    description: str = ""
    budgetingMethod: str | None = None
    objectives: list[Objective] = Field(min_length=1)
    timeWindows: list[TimeWindow] = Field(default_factory=list, max_length=1)


class OpenSLOAlphaSLO(_Doc):
    apiVersion: Literal["openslo/v1alpha"]
    kind: Literal["SLO"]
    metadata: Metadata
    spec: AlphaSpec

    def to_slos(self, path: str, line: int) -> list[SLO]:
        windows = self.spec.timeWindows
        window = Window.parse(f"{windows[0].count}d" if windows else "30d")
        off = AlertMeta(disable=True)
        slos = []
        for index, objective in enumerate(self.spec.objectives):
            assert objective.ratioMetrics is not None
            query = _ERROR_RATIO.format(
                good=objective.ratioMetrics.good.query, total=objective.ratioMetrics.total.query
            )
            slos.append(
                SLO(
                    service=self.spec.service,
                    name=f"{self.metadata.name}-{index}",
                    objective=round(objective.target * 100, 10),
                    description=self.spec.description,
                    sli=SLI(error_ratio_query=query),
                    window=window,
                    alerting=Alerting(page_alert=off, ticket_alert=off),
                    spec=SPEC,
                    source=Source(path=path, line=line),
                )
            )
        return slos
