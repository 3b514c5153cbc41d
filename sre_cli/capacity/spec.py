"""Forecast spec files: several forecasts in one YAML file, validated with file and line.

The format (examples in ``sre_cli/capacity/examples/``)::

    forecasts:
      - name: postgres-connections          # unique across the files given
        description: optional free text
        query: sum(db_pool_connections{job="api"})
        limit: 100                          # the value the query must stay under
        history: 14d                        # optional, default 14d (or --history)
        horizon: 30d                        # optional, default 30d (or --horizon)
        direction: ceiling                  # optional: ceiling (stay under) or floor (above)
        act: 90                             # optional: the level at which to add capacity
        traffic: true                       # optional: --what-if scales it (default true)
        deployment: api-service             # optional: its load sets that Deployment's replicas
        model: auto                         # optional: auto (backtest), linear, seasonal,
                                            #   holt-winters
        unit: "%"                           # optional, shown after numbers

    targets = load_targets([Path("capacity.yaml")])   # SpecError names file, line and field
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sre_cli.capacity.forecast import Target
from sre_cli.errors import SpecError
from sre_cli.spec_yaml import Document, Location, load_documents, worded
from sre_cli.timespec import parse_duration

__all__ = ["DEFAULT_VIEW", "ForecastSpec", "SpecFile", "discover", "load_targets"]

DEFAULT_VIEW = Path(__file__).parent / "examples" / "reference-stack.yaml"
"""The reference stack's capacity table: forecasts when no spec and no query are given."""


def _duration(value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a duration such as 14d or 12h")
    parse_duration(value)
    return value


class ForecastSpec(BaseModel):
    """One forecast of a spec file."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    description: str | None = None
    query: str = Field(min_length=1)
    limit: float
    history: str | None = None
    horizon: str | None = None
    direction: Literal["ceiling", "floor"] = "ceiling"
    act: float | None = None
    traffic: bool = True
    deployment: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    model: Literal["auto", "linear", "seasonal", "holt-winters"] = "auto"
    unit: str = ""

    _durations = field_validator("history", "horizon", mode="before")(_duration)

    @field_validator("limit", "act")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class SpecFile(BaseModel):
    """A whole spec file: a non-empty list of forecasts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forecasts: list[ForecastSpec] = Field(min_length=1)


def discover(paths: Sequence[Path]) -> list[Path]:
    """Spec files under ``paths`` (files as given, folders searched for ``*.yaml``/``*.yml``)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"})
        elif path.exists():
            files.append(path)
        else:
            raise SpecError("no such file or folder", path=str(path))
    return files


def _error(doc: Document, exc: ValidationError) -> SpecError:
    err = exc.errors()[0]
    loc: Location = tuple(p for p in err["loc"] if isinstance(p, str | int))
    message = worded(err)
    dotted = ".".join(str(p) for p in loc) or "document"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return doc.error(loc, f"{dotted}: {message}{suffix}")


def load_targets(
    paths: Sequence[Path],
    *,
    history: float | None = None,
    horizon: float | None = None,
) -> list[Target]:
    """Every forecast of the files, in order. ``history``/``horizon`` override the files'."""
    from sre_cli.capacity.backtest import MODELS
    from sre_cli.capacity.forecast import DEFAULT_HISTORY, DEFAULT_HORIZON

    targets: list[Target] = []
    seen: dict[str, str] = {}
    files = discover(paths)
    if not files:
        raise SpecError("no spec files found", path=", ".join(str(p) for p in paths))
    for file in files:
        documents = load_documents(file)
        if not documents:
            raise SpecError("empty spec file", path=str(file))
        for doc in documents:
            if not isinstance(doc.data, dict):
                raise doc.error((), "expected a mapping with a 'forecasts' list")
            try:
                parsed = SpecFile.model_validate(doc.data)
            except ValidationError as exc:
                raise _error(doc, exc) from None
            for index, spec in enumerate(parsed.forecasts):
                where = f"{doc.path}:{doc.line_of(('forecasts', index, 'name'))}"
                if spec.name in seen:
                    raise doc.error(
                        ("forecasts", index, "name"),
                        f"forecasts.{index}.name: {spec.name!r} is already defined at "
                        f"{seen[spec.name]}",
                    )
                seen[spec.name] = where
                if spec.act is not None and (
                    spec.act > spec.limit if spec.direction == "ceiling" else spec.act < spec.limit
                ):
                    side = "above" if spec.direction == "ceiling" else "below"
                    raise doc.error(
                        ("forecasts", index, "act"),
                        f"forecasts.{index}.act: {spec.act:g} is {side} the limit "
                        f"({spec.limit:g}) of a {spec.direction}",
                    )
                own_history = parse_duration(spec.history).total_seconds() if spec.history else None
                own_horizon = parse_duration(spec.horizon).total_seconds() if spec.horizon else None
                targets.append(
                    Target(
                        name=spec.name,
                        query=spec.query,
                        limit=spec.limit,
                        history=history or own_history or DEFAULT_HISTORY,
                        horizon=horizon or own_horizon or DEFAULT_HORIZON,
                        direction=spec.direction,
                        act=spec.act,
                        traffic=spec.traffic,
                        deployment=spec.deployment,
                        models=MODELS if spec.model == "auto" else (spec.model,),
                        unit=spec.unit,
                    )
                )
    return targets
