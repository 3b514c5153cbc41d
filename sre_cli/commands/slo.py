"""``aqua slo``: validate specs, report error budgets, gate deploys, generate rules, backtest."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sre_cli.commands.options import (
    Format,
    FormatOption,
    Host,
    Prometheus,
    PrometheusConfig,
    PrometheusURL,
    StateDir,
    group,
)
from sre_cli.output import emit, emit_text

if TYPE_CHECKING:
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.slo.spec import SLO
    from sre_cli.slo.windows import Tier

app = group(
    "SLIs, error budgets and burn rates from Prometheus; a CI gate; Sloth-compatible rules."
)


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"


class GateFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


Paths = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Spec files or folders [default: ./slo, else the shipped specs].", show_default=False
    ),
]
At = Annotated[
    str | None, typer.Option("--at", help="Evaluate at this instant: RFC 3339 or Unix seconds.")
]
Windows = Annotated[
    Path | None,
    typer.Option("--windows", help="Burn-rate tiers file (Sloth AlertWindows layout)."),
]


def _load(paths: list[Path] | None, windows: Path | None) -> tuple[list[SLO], tuple[Tier, ...]]:
    from sre_cli.slo.loader import default_dir, load_slos
    from sre_cli.slo.windows import load_tiers

    return load_slos(paths or [default_dir()]), load_tiers(windows)


def _client(
    url: str | None, config: Path | None, state_dir: Path | None = None
) -> PrometheusClient:
    from sre_cli.commands.prom import prometheus_or_stack
    from sre_cli.prometheus import connect

    return connect(prometheus_or_stack(url, state_dir, config), config=config)


def _instant(at: str | None) -> float | None:
    from sre_cli.timespec import parse_instant

    return None if at is None else parse_instant(at)


@app.command()
def validate(
    paths: Paths = None,
    prometheus: Annotated[
        str | None,
        typer.Option("--prometheus", help="Also lint against live data on this Prometheus."),
    ] = None,
    prometheus_config: PrometheusConfig = None,
    at: At = None,
    windows: Windows = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Warnings (lints) are errors too: exit 1.")
    ] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Check specs: errors with file and line, lints as warnings; --prometheus: live data too."""
    import time

    from rich.text import Text

    from sre_cli.console import get_console
    from sre_cli.errors import CheckFailed
    from sre_cli.slo.lint import live_problems, static_problems
    from sre_cli.slo.loader import check_paths, default_dir
    from sre_cli.slo.syntax import Validation, check_syntax
    from sre_cli.slo.windows import load_tiers

    console = get_console()
    slos, problems = check_paths(paths or [default_dir()])
    problems += static_problems(slos, load_tiers(windows))
    if prometheus:
        with _client(prometheus, prometheus_config) as prom:
            syntax = check_syntax(slos, prom)
            problems += syntax.problems
            # A query that does not parse cannot be evaluated either: the others are.
            parsed = [s for s in slos if s.id not in syntax.unparsed]
            problems += live_problems(parsed, prom, _instant(at) or time.time())
    else:
        syntax = check_syntax(slos)
        problems += syntax.problems
    problems.sort(key=lambda p: (p.path, p.line or 0))
    errors = [p for p in problems if p.severity == "error" or strict]
    if fmt is Format.json:
        emit(Validation(len(slos), syntax, problems, strict), "json")
        if errors:
            raise typer.Exit(1)
        return
    if syntax.queries:
        console.print(f"PromQL syntax of {syntax.queries} queries checked by {syntax.parser}")
    for problem in problems:
        mark = ("! warning:", "yellow") if problem.severity == "warning" else ("✗", "red")
        console.print(Text.assemble(mark, f" {problem}"), highlight=False, soft_wrap=True)
    if errors:
        raise CheckFailed(f"{len(errors)} problem(s) in SLO specs")
    where = " and against live data" if prometheus else ""
    warned = f", {len(problems)} warning(s)" if problems else ""
    console.print(
        Text.assemble(("✓", "green"), f" {len(slos)} SLO(s) valid{where}{warned}"), highlight=False
    )


@app.command()
def report(
    paths: Paths = None,
    prometheus: Prometheus = None,
    prometheus_config: PrometheusConfig = None,
    state_dir: StateDir = None,
    at: At = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="Output format.")
    ] = ReportFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
    windows: Windows = None,
    recorded: Annotated[
        bool,
        typer.Option(
            "--recorded",
            help="Read SLO windows from `slo rules --report-recordings` hourly counts and burn "
            "rates from the `slo rules` SLI ratios where they exist (faster; windows estimated, "
            "burn rates as of the rules' last evaluation); says which it read.",
        ),
    ] = False,
) -> None:
    """Per SLO: SLI, budget left (fraction, events, minutes), burn rates, alerts, burn-down."""
    from sre_cli.slo import html_report, render
    from sre_cli.slo.batch import evaluate

    slos, tiers = _load(paths, windows)
    # Only the terminal table and HTML draw the burn-down: the others skip its range queries.
    drawn = fmt is ReportFormat.html or (fmt is ReportFormat.table and output is None)
    with _client(prometheus, prometheus_config, state_dir) as prom:
        result = evaluate(slos, prom, _instant(at), tiers=tiers, burn_down=drawn, recorded=recorded)
    if fmt is ReportFormat.table and output is None:
        emit(result, "table", render.ReportView)
        return
    text = {
        ReportFormat.table: lambda: render.markdown(result),
        ReportFormat.json: lambda: render.json_text(result.to_json()),
        ReportFormat.markdown: lambda: render.markdown(result),
        ReportFormat.html: lambda: html_report.page(result, tiers),
    }[fmt]()
    emit_text(text, output)


@app.command()
def gate(
    paths: Paths = None,
    prometheus: Prometheus = None,
    prometheus_config: PrometheusConfig = None,
    state_dir: StateDir = None,
    min_budget_remaining: Annotated[
        float | None,
        typer.Option(
            "--min-budget-remaining", help="Fail below this fraction of budget left (0-1)."
        ),
    ] = None,
    max_burn_rate: Annotated[
        float | None,
        typer.Option("--max-burn-rate", help="Fail above this burn rate (see --burn-rate-window)."),
    ] = None,
    burn_rate_window: Annotated[
        str | None,
        typer.Option(
            "--burn-rate-window", help="Window of --max-burn-rate: 5m 30m 1h 2h 6h 1d 3d."
        ),
    ] = None,
    at: At = None,
    fmt: Annotated[GateFormat, typer.Option("--format", help="Output format.")] = GateFormat.table,
    windows: Windows = None,
) -> None:
    """CI gate: exit 0 pass, 1 a budget policy is violated, 2 could not evaluate."""
    from rich.text import Text

    from sre_cli.console import get_console
    from sre_cli.errors import CheckFailed, Unavailable, UsageError
    from sre_cli.slo.batch import evaluate
    from sre_cli.slo.gate import judge
    from sre_cli.slo.render import ReportView, gate_summary, json_text
    from sre_cli.slo.windows import BURN_RATE_WINDOWS

    if burn_rate_window is not None and burn_rate_window not in BURN_RATE_WINDOWS:
        raise UsageError(f"--burn-rate-window must be one of {', '.join(BURN_RATE_WINDOWS)}")
    slos, tiers = _load(paths, windows)
    with _client(prometheus, prometheus_config, state_dir) as prom:
        result = evaluate(slos, prom, _instant(at), tiers=tiers, burn_down=False)
    verdict = judge(
        result,
        min_budget_remaining=min_budget_remaining,
        max_burn_rate=max_burn_rate,
        burn_rate_window=burn_rate_window,
    )
    console = get_console()
    if fmt is GateFormat.json:
        emit_text(json_text(verdict.to_json()))
    elif fmt is GateFormat.markdown:
        emit_text(gate_summary(verdict))
    else:
        emit(result, "table", ReportView)
        for v in verdict.violations:
            console.print(
                Text.assemble(("✗", "red"), f" {v.service}/{v.name}: {v.reason}"),
                highlight=False,
                soft_wrap=True,
            )
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(gate_summary(verdict) + "\n")
    reasons = "; ".join(f"{v.service}/{v.name}: {v.reason}" for v in verdict.violations)
    if verdict.exit_code == 1:
        raise CheckFailed(f"SLO gate failed: {reasons}")
    if verdict.exit_code == 2:
        raise Unavailable(f"SLO gate could not evaluate: {reasons}")
    if fmt is GateFormat.table:
        console.print(
            Text.assemble(("✓", "green"), f" SLO gate passed ({len(slos)} SLOs)"), highlight=False
        )


@app.command()
def rules(
    paths: Paths = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the rule file here.")
    ] = None,
    inhibit: Annotated[
        Path | None,
        typer.Option(
            "--inhibit-rules", help="Also write the Alertmanager inhibition snippet here."
        ),
    ] = None,
    windows: Windows = None,
    report_recordings: Annotated[
        bool,
        typer.Option(
            "--report-recordings",
            help="Also record every SLO's hourly bad and total events (`slo report --recorded`).",
        ),
    ] = False,
) -> None:
    """Prometheus recording and MWMBR alert rules (Sloth names), plus inhibition snippet."""
    from sre_cli.slo.rules import inhibit_rules, rules_yaml

    slos, tiers = _load(paths, windows)
    emit_text(rules_yaml(slos, tiers, report_recordings=report_recordings), output)
    if inhibit is not None:
        emit_text(inhibit_rules(), inhibit)


@app.command()
def serve(
    paths: Paths = None,
    prometheus: PrometheusURL = None,
    prometheus_config: PrometheusConfig = None,
    port: Annotated[
        int, typer.Option("--port", help="Port of /metrics (0: any free port).")
    ] = 9099,
    host: Host = "127.0.0.1",
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between evaluations.", min=1)
    ] = 60.0,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            envvar="AQUA_SLO_SERVE_TOKEN_FILE",
            help="File holding the bearer token scrapers must send (or AQUA_SLO_SERVE_TOKEN).",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Evaluate at this fixed instant every round (replays)."),
    ] = None,
    windows: Windows = None,
) -> None:
    """Export SLO results (SLI, budget, burn rates, alerts) on /metrics for Prometheus."""
    from sre_cli.commands.bearer import bearer_token
    from sre_cli.console import get_console
    from sre_cli.errors import UsageError
    from sre_cli.prometheus import connect
    from sre_cli.slo.serve import Exporter
    from sre_cli.slo.serve import serve as run

    token = bearer_token(
        token_file,
        "AQUA_SLO_SERVE_TOKEN",
        "/metrics",
        "Prometheus sends it with authorization: {credentials_file: FILE}",
    )
    connect(prometheus, config=prometheus_config).close()  # URL and config, before serving
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port (0-65535)")
    slos, tiers = _load(paths, windows)
    exporter = Exporter(
        slos,
        lambda: connect(prometheus, config=prometheus_config),
        tiers,
        token=token,
        at=_instant(at),
    )
    console = get_console()

    def started(address: str) -> None:
        console.print(f"serving {len(slos)} SLO(s) on {address}/metrics", highlight=False)

    try:
        run(exporter, host, port, interval, started=started)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    except KeyboardInterrupt:
        console.print("stopped", highlight=False)


@app.command()
def backtest(
    start: Annotated[str, typer.Option("--from", help="Start: RFC 3339 or Unix seconds.")],
    end: Annotated[str, typer.Option("--to", help="End: RFC 3339 or Unix seconds.")],
    paths: Paths = None,
    prometheus: PrometheusURL = None,
    prometheus_config: PrometheusConfig = None,
    step: Annotated[
        str, typer.Option("--step", help="Evaluation step (Prometheus duration).")
    ] = "5m",
    fmt: FormatOption = Format.table,
    windows: Windows = None,
) -> None:
    """Replay history: how often each alert tier would have fired, and how soon after a burn."""
    import json

    from sre_cli.errors import UsageError
    from sre_cli.slo.backtest import backtest as run
    from sre_cli.timespec import parse_duration, parse_instant

    try:
        seconds = int(parse_duration(step).total_seconds())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    slos, tiers = _load(paths, windows)
    with _client(prometheus, prometheus_config) as prom:
        result = run(
            slos, prom, parse_instant(start), parse_instant(end), step=seconds, tiers=tiers
        )
    if fmt is Format.json:
        emit_text(json.dumps(result.to_json(), indent=2))
    else:
        emit(result)
