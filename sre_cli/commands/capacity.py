"""``aqua capacity``: when do we run out, how sure are we, and how many replicas does it take?"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sre_cli.commands.options import (
    Prometheus,
    PrometheusConfig,
    StateDir,
    group,
)

if TYPE_CHECKING:
    from sre_cli.capacity.forecast import Direction, Target

app = group("Capacity forecasts from Prometheus: when does a series reach its limit?")


DEFAULT_MANIFESTS = Path("manifests/overlays/prod")


class ForecastFormat(StrEnum):
    table = "table"
    json = "json"
    html = "html"


Specs = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Forecast spec files or folders [default: the reference stack's capacity table].",
        metavar="SPEC",
        show_default=False,
    ),
]


def _factor(text: str) -> float:
    """``10x``, ``10`` or ``1.5x``: a positive multiplier."""
    from sre_cli.errors import UsageError

    try:
        value = float(text.strip().removesuffix("x").removesuffix("X"))
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise UsageError(f"--what-if: expected a positive factor such as 10x, got {text!r}")
    return value


def _seconds(option: str, text: str) -> float:
    from sre_cli.errors import UsageError
    from sre_cli.timespec import parse_duration

    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from exc


def _targets(
    specs: list[Path] | None,
    query: str | None,
    limit: float | None,
    name: str | None,
    history: float | None,
    horizon: float | None,
    direction: Direction = "ceiling",
) -> list[Target]:
    from sre_cli.capacity.forecast import DEFAULT_HISTORY, DEFAULT_HORIZON, Target
    from sre_cli.capacity.spec import load_targets
    from sre_cli.errors import UsageError

    if specs and (query is not None or limit is not None or name is not None):
        raise UsageError("give either spec files or --query/--limit/--name, not both")
    if specs:
        return load_targets(specs, history=history, horizon=horizon)
    if query is None and limit is None and name is None:
        from sre_cli.capacity.spec import DEFAULT_VIEW

        return load_targets([DEFAULT_VIEW], history=history, horizon=horizon)
    if query is None or limit is None:
        raise UsageError(
            "nothing to forecast: give --query PROMQL --limit X, or spec files",
            hint="aqua capacity forecast --prometheus URL --query 'up' --limit 2",
        )
    return [
        Target(
            name=name or query,
            query=query,
            limit=limit,
            history=history or DEFAULT_HISTORY,
            horizon=horizon or DEFAULT_HORIZON,
            direction=direction,
        )
    ]


@app.command()
def forecast(
    specs: Specs = None,
    prometheus: Prometheus = None,
    prometheus_config: PrometheusConfig = None,
    state_dir: StateDir = None,
    query: Annotated[
        str | None, typer.Option("--query", help="PromQL; each series is forecast on its own.")
    ] = None,
    limit: Annotated[
        float | None, typer.Option("--limit", help="The value the query must stay under.")
    ] = None,
    floor: Annotated[
        bool,
        typer.Option("--floor", help="--query must stay above --limit (free disk, say)."),
    ] = False,
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the --query forecast (default: query).")
    ] = None,
    history: Annotated[
        str | None,
        typer.Option("--history", help="History to fit [default: 14d, or the spec's]."),
    ] = None,
    horizon: Annotated[
        str | None,
        typer.Option("--horizon", help="How far ahead to look [default: 30d, or the spec's]."),
    ] = None,
    step: Annotated[str, typer.Option("--step", help="Resolution of the history read.")] = "1h",
    at: Annotated[
        str | None,
        typer.Option("--at", help="Forecast from this instant: RFC 3339 or Unix seconds."),
    ] = None,
    warn: Annotated[
        str,
        typer.Option("--warn", help="Critical when the limit is reached sooner than this."),
    ] = "14d",
    fmt: Annotated[
        ForecastFormat, typer.Option("--format", help="Output format.")
    ] = ForecastFormat.table,
    knee: Annotated[
        Path | None,
        typer.Option(
            "--knee",
            help="JSON with per_replica_rps (aqua loadtest knee): replicas needed at the horizon.",
        ),
    ] = None,
    manifests: Annotated[
        Path | None,
        typer.Option(
            "--manifests",
            help="Manifests (file, folder or kustomize overlay) holding the HPAs "
            "[default: manifests/overlays/prod when present].",
            show_default=False,
        ),
    ] = None,
    what_if: Annotated[
        str | None,
        typer.Option("--what-if", help="Multiply traffic-driven series, e.g. 10x.", metavar="Nx"),
    ] = None,
    chart: Annotated[
        bool, typer.Option("--chart", help="Draw each forecast under the table.")
    ] = False,
) -> None:
    """Backtest-chosen model per series, with a 90 % band and earliest/likely/latest exhaustion.

    Exit 0 ok/warning, 1 critical (or the HPA's maxReplicas too low), 2 cannot forecast."""
    import time

    from sre_cli.capacity import render
    from sre_cli.capacity.forecast import run
    from sre_cli.capacity.replicas import load_knee, max_replicas, plan
    from sre_cli.capacity.report import CapacityReport
    from sre_cli.commands.prom import prometheus_or_stack
    from sre_cli.errors import CheckFailed, UsageError
    from sre_cli.output import emit, emit_text
    from sre_cli.prometheus import connect
    from sre_cli.timespec import parse_instant

    history_s = None if history is None else _seconds("--history", history)
    horizon_s = None if horizon is None else _seconds("--horizon", horizon)
    step_s, warn_s = _seconds("--step", step), _seconds("--warn", warn)
    factor = 1.0 if what_if is None else _factor(what_if)
    direction: Direction = "floor" if floor else "ceiling"
    targets = _targets(specs, query, limit, name, history_s, horizon_s, direction)
    knee_figure = None if knee is None else load_knee(knee)
    hpas = {}
    if knee_figure is not None:
        if manifests is None and DEFAULT_MANIFESTS.exists():
            manifests = DEFAULT_MANIFESTS
        if manifests is not None:
            hpas = max_replicas(manifests)
    for target in targets:
        if target.history < 2 * step_s:
            raise UsageError(f"{target.name}: history must span at least two steps ({step})")
    with connect(
        prometheus_or_stack(prometheus, state_dir, prometheus_config), config=prometheus_config
    ) as prom:
        instant = time.time() if at is None else parse_instant(at)
        forecasts = []
        for target in targets:
            forecasts += run(target, prom, at=instant, step=step_s, warn=warn_s, what_if=factor)
    plans = []
    if knee_figure is not None:
        plans = [p for f in forecasts if (p := plan(f, knee_figure, hpas)) is not None]

    report = CapacityReport(instant, forecasts, plans, factor)
    if fmt is ForecastFormat.html:
        emit_text(render.html_page(instant, forecasts, plans, factor))
    else:
        emit(report, fmt.value, lambda r: render.report_view(r, chart))
    problems = []
    critical = [f for f in forecasts if f.status == "critical"]
    if critical:
        names = ", ".join(
            sorted({f"{f.target.name} ({render.rfc3339(f.exhausted_at)})" for f in critical})
        )
        problems.append(f"{len(critical)} forecast(s) reach their limit within {warn}: {names}")
    short = [p for p in plans if p.enough is False]
    if short:
        problems += [
            f"{p.deployment} needs {p.needed} replicas at the horizon, its HPA allows "
            f"{p.max_replicas} ({p.source})"
            for p in short
        ]
    if problems:
        raise CheckFailed("; ".join(problems))


@app.command()
def rules(
    specs: Specs = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the rule file here.")
    ] = None,
    warn: Annotated[
        str, typer.Option("--warn", help="Critical alert: the limit within this.")
    ] = "14d",
    lookback: Annotated[
        str, typer.Option("--lookback", help="History predict_linear fits its line to.")
    ] = "1d",
    hold: Annotated[str, typer.Option("--for", help="How long before an alert fires.")] = "1h",
) -> None:
    """predict_linear alert rules for the same specs, so Prometheus alerts without aqua."""
    from sre_cli.capacity.rules import rules_yaml
    from sre_cli.capacity.spec import DEFAULT_VIEW, load_targets
    from sre_cli.output import emit_text

    text = rules_yaml(
        load_targets(specs or [DEFAULT_VIEW]),
        warn=_seconds("--warn", warn),
        lookback=_seconds("--lookback", lookback),
        hold=_seconds("--for", hold),
    )
    emit_text(text, output)
