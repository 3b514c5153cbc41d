"""``aqua dashboards``: the shipped Grafana dashboards drawn by aqua from a Prometheus."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sre_cli.commands.options import Prometheus, PrometheusConfig, StateDir, group

app = group("The shipped dashboards drawn from Prometheus as one HTML page (no Grafana).")


class PageFormat(StrEnum):
    html = "html"
    json = "json"


@app.command()
def render(
    paths: Annotated[
        Path | None,
        typer.Argument(
            help="A dashboard JSON file or a folder of them "
            "[default: manifests/monitoring/dashboards].",
            show_default=False,
        ),
    ] = None,
    prometheus: Prometheus = None,
    prometheus_config: PrometheusConfig = None,
    state_dir: StateDir = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Time range [default: the dashboard's own, e.g. 30m].",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="End of the range [default: now].", show_default=False),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            help="A template variable, NAME=VALUE ($job, …); repeatable.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[PageFormat, typer.Option("--format", help="Output format.")] = PageFormat.html,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """Run every panel's query over the range and draw the page: lines, stats, tables."""
    import json
    import time

    from sre_cli.commands.prom import prometheus_or_stack
    from sre_cli.dashboards.engine import evaluate
    from sre_cli.dashboards.page import page
    from sre_cli.dashboards.spec import DEFAULT_DIR, load_dashboards
    from sre_cli.errors import UsageError
    from sre_cli.output import emit_text
    from sre_cli.prometheus import connect
    from sre_cli.timespec import parse_duration, parse_instant

    variables = {}
    for item in var or []:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--var {item!r}: expected NAME=VALUE")
        variables[name] = value
    try:
        span = None if since is None else parse_duration(since).total_seconds()
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from exc
    end = time.time() if at is None else parse_instant(at)
    boards = load_dashboards(paths or DEFAULT_DIR)
    url = prometheus_or_stack(prometheus, state_dir, prometheus_config)
    with connect(url, config=prometheus_config) as prom:
        prom.query("vector(1)", end)  # an unreachable server is exit 2, not a page of errors
        board = evaluate(boards, prom, end=end, range_seconds=span, variables=variables)
    text = page(board) if fmt is PageFormat.html else json.dumps(board.to_json(), indent=2)
    emit_text(text, output)


@app.command()
def url(state_dir: StateDir = None) -> None:
    """The running stack's dashboards page, token included (its agent serves it)."""
    from sre_cli.console import get_console
    from sre_cli.errors import Unavailable
    from sre_cli.stack.control import StackControl
    from sre_cli.stack.spec import StateLayout, default_state_dir

    control = StackControl(StateLayout((state_dir or default_state_dir()).expanduser()))
    if control.supervisor_pid() is None:
        raise Unavailable("no stack is running", hint="`aqua stack up` starts one")
    found = control.dashboards_url()
    if found is None:
        raise Unavailable("this stack runs no Prometheus (or no agent): there are no dashboards")
    get_console().out(found, highlight=False)
