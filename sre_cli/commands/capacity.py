"""``aqua capacity``: when do we run out? Trend plus daily/weekly profile, from Prometheus."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sre_cli.capacity.forecast import Target

app = typer.Typer(
    help="Capacity forecasts from Prometheus: when does a series reach its limit?",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class ForecastFormat(StrEnum):
    table = "table"
    json = "json"


def _seconds(option: str, text: str) -> float:
    from sre_cli.errors import UsageError
    from sre_cli.slo.windows import parse_duration

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
) -> list[Target]:
    from sre_cli.capacity.forecast import DEFAULT_HISTORY, DEFAULT_HORIZON, Target
    from sre_cli.capacity.spec import load_targets
    from sre_cli.errors import UsageError

    if specs and (query is not None or limit is not None or name is not None):
        raise UsageError("give either spec files or --query/--limit/--name, not both")
    if specs:
        return load_targets(specs, history=history, horizon=horizon)
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
        )
    ]


@app.command()
def forecast(
    specs: Annotated[
        list[Path] | None,
        typer.Argument(help="Forecast spec files or folders (instead of --query).", metavar="SPEC"),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option("--prometheus", envvar="AQUA_PROMETHEUS_URL", help="Prometheus base URL."),
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="PromQL; each series is forecast on its own.")
    ] = None,
    limit: Annotated[
        float | None, typer.Option("--limit", help="The value the query must stay under.")
    ] = None,
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
        ForecastFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ForecastFormat.table,
) -> None:
    """Trend + daily/weekly profile per series: exit 0 ok/warning, 1 critical, 2 cannot forecast."""
    import time

    from sre_cli.capacity import render
    from sre_cli.capacity.forecast import run
    from sre_cli.console import get_console
    from sre_cli.errors import CheckFailed, UsageError
    from sre_cli.slo.engine import parse_instant
    from sre_cli.slo.prometheus import PrometheusClient

    history_s = None if history is None else _seconds("--history", history)
    horizon_s = None if horizon is None else _seconds("--horizon", horizon)
    step_s, warn_s = _seconds("--step", step), _seconds("--warn", warn)
    targets = _targets(specs, query, limit, name, history_s, horizon_s)
    for target in targets:
        if target.history < 2 * step_s:
            raise UsageError(f"{target.name}: history must span at least two steps ({step})")
    if not prometheus:
        raise UsageError("--prometheus URL is required", hint="or set AQUA_PROMETHEUS_URL")
    instant = time.time() if at is None else parse_instant(at)

    forecasts = []
    with PrometheusClient(prometheus) as prom:
        for target in targets:
            forecasts += run(target, prom, at=instant, step=step_s, warn=warn_s)

    console = get_console()
    if fmt is ForecastFormat.json:
        console.out(render.to_json(instant, forecasts), highlight=False)
    else:
        console.print(render.table(instant, forecasts))
    critical = [f for f in forecasts if f.status == "critical"]
    if critical:
        names = ", ".join(
            sorted({f"{f.target.name} ({render.rfc3339(f.exhausted_at)})" for f in critical})
        )
        raise CheckFailed(f"{len(critical)} forecast(s) reach their limit within {warn}: {names}")
