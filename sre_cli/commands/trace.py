"""``aqua trace``: the slowest requests in Jaeger, and where one request spent its time."""

from __future__ import annotations

from typing import Annotated

import typer

from sre_cli.commands.options import Format, FormatOption, Jaeger, StateDir, group

app = group("Distributed traces from the stack's Jaeger: the slowest requests, one trace's tree.")


DEFAULT_JAEGER_URL = "http://127.0.0.1:16686"


def _url(jaeger: str | None, state_dir: StateDir) -> str:
    """``--jaeger``, else the Jaeger of the stack in ``state_dir``, else the default port."""
    if jaeger:
        return jaeger
    from sre_cli.errors import ConfigError
    from sre_cli.stack.spec import StackPlan, StateLayout, default_state_dir

    root = (state_dir or default_state_dir()).expanduser()
    plan_file = StateLayout(root).plan_file
    try:
        plan = StackPlan.model_validate_json(plan_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_JAEGER_URL
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the stack plan {plan_file}: {exc}") from exc
    for component in plan.components:
        if component.kind == "jaeger":
            return component.url
    raise ConfigError(
        f"the stack in {root} runs no Jaeger (a --lite stack keeps no traces)",
        hint="give --jaeger URL, or start the full stack with `aqua stack up`",
    )


@app.command()
def slowest(
    service: Annotated[str, typer.Option("--service", "-s", help="Service to search.")] = "api",
    route: Annotated[
        str | None,
        typer.Option(
            "--route", "-r", help="Only this route template (http.route).", show_default=False
        ),
    ] = None,
    since: Annotated[str, typer.Option("--since", help="How far back to look.")] = "15m",
    count: Annotated[
        int, typer.Option("--count", "-n", help="How many traces.", min=1, max=100)
    ] = 3,
    jaeger: Jaeger = None,
    state_dir: StateDir = None,
    fmt: FormatOption = Format.table,
) -> None:
    """The slowest traces of a service, each as its tree of spans: exit 2 when there are none."""
    from sre_cli.errors import Unavailable, UsageError
    from sre_cli.output import emit
    from sre_cli.timespec import parse_duration
    from sre_cli.trace import render
    from sre_cli.trace.model import TraceList
    from sre_cli.trace.query import JaegerClient
    from sre_cli.trace.query import slowest as find_slowest

    try:
        since_s = parse_duration(since).total_seconds()
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from exc
    url = _url(jaeger, state_dir)
    with JaegerClient(url) as client:
        traces = find_slowest(client, service=service, since_s=since_s, route=route, count=count)
    what = f"{service}" + (f" {route}" if route else "")
    if not traces:
        raise Unavailable(
            f"no traces of {what} in the last {since} in Jaeger at {url}",
            hint="widen --since, or check the sampling ratio (AQUA_TRACE_SAMPLE_RATIO)",
        )
    title = f"the {len(traces)} slowest traces of {what} in the last {since} ({url})"
    emit(TraceList(tuple(traces), title), fmt.value, render.draw)


@app.command()
def show(
    trace_id: Annotated[str, typer.Argument(help="Trace id (32 hex digits).", metavar="ID")],
    jaeger: Jaeger = None,
    state_dir: StateDir = None,
    fmt: FormatOption = Format.table,
) -> None:
    """One trace as its tree of spans: duration and share of the total per span."""
    from sre_cli.output import emit
    from sre_cli.trace import render
    from sre_cli.trace.model import TraceList
    from sre_cli.trace.query import JaegerClient, check_trace_id

    trace_id = check_trace_id(trace_id)
    with JaegerClient(_url(jaeger, state_dir)) as client:
        trace = client.trace(trace_id)
    emit(TraceList((trace,)), fmt.value, render.draw)
