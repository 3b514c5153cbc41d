"""``aqua loadtest``: locust-driven load against a loopback API, with a pass/fail verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sre_cli.commands.options import Format, StateDir, dry_run_option, group
from sre_cli.console import get_console, get_err_console
from sre_cli.output import emit

app = group("Locust-driven load against the local API, with a verdict against thresholds.")


@app.command()
def run(
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="API base URL, loopback only [default: the stack's front door, "
            "else http://127.0.0.1:8080].",
            show_default=False,
        ),
    ] = None,
    users: Annotated[int, typer.Option("--users", min=1, max=1000, help="Simulated users.")] = 10,
    spawn_rate: Annotated[
        float, typer.Option("--spawn-rate", min=0.1, help="Users started per second.")
    ] = 10.0,
    duration: Annotated[
        str, typer.Option("--duration", help="How long the load runs, at most 10m (30s, 2m).")
    ] = "30s",
    scenario: Annotated[
        str,
        typer.Option("--scenario", help="'reference' (the built-in API mix) or a locustfile path."),
    ] = "reference",
    username: Annotated[
        str | None,
        typer.Option(
            "--username", help="API user [default: the stack's admin].", show_default=False
        ),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="File holding --username's password."),
    ] = None,
    p95_ms: Annotated[
        float,
        typer.Option("--p95-ms", min=0, help="Fail when p95 latency exceeds this (ms)."),
    ] = 100.0,
    max_error_rate: Annotated[
        float,
        typer.Option(
            "--max-error-rate", min=0, max=1, help="Fail when failed/total exceeds this (0-1)."
        ),
    ] = 0.001,
    min_rps: Annotated[
        float | None,
        typer.Option("--min-rps", min=0, help="Fail when requests per second fall below this."),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="A table, or JSON at the end.")
    ] = Format.table,
    dry_run: Annotated[bool, dry_run_option("Print the plan; send nothing.")] = False,
    state_dir: StateDir = None,
) -> None:
    """Load the API with USERS users for DURATION, then judge p95, error rate and RPS.
    Exit 0 every threshold held, 1 one failed, 2 bad input or the target is down."""
    from sre_cli.errors import CheckFailed, Unavailable, UsageError
    from sre_cli.loadtest.plan import (
        REFERENCE,
        Limits,
        LoadPlan,
        check_loopback,
        parse_duration,
        resolve_credentials,
        resolve_target,
    )
    from sre_cli.stack.spec import default_state_dir

    root = (state_dir or default_state_dir()).expanduser()
    seconds = parse_duration(duration)
    url, source = resolve_target(target, root)
    url = check_loopback(url)
    if scenario != REFERENCE:
        path = Path(scenario)
        if path.suffix != ".py" or not path.is_file():
            raise UsageError(
                f"--scenario {scenario!r} is neither 'reference' nor a locustfile (*.py)"
            )
        scenario = str(path)
    credentials = (
        resolve_credentials(username, password_file, root) if scenario == REFERENCE else None
    )
    plan = LoadPlan(
        target=url,
        target_source=source,
        users=users,
        spawn_rate=spawn_rate,
        duration_s=seconds,
        scenario=scenario,
        limits=Limits(p95_ms=p95_ms, max_error_rate=max_error_rate, min_rps=min_rps),
        credentials=credentials,
    )
    console = get_console()
    if dry_run:
        if fmt is Format.json:
            emit(plan, "json")
        else:
            console.print("[bold]load test plan[/] (dry run: nothing is sent)")
            for line in plan.describe():
                console.print(f"  {line}", highlight=False, soft_wrap=True)
        return

    from sre_cli.loadtest.runner import run_load

    err = get_err_console()
    for line in plan.describe():
        err.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    report = run_load(plan, lambda msg: err.print(f"  {msg}", highlight=False, markup=False))
    emit(report, fmt.value, lambda r: r.renderable())
    if report.requests == 0:
        raise Unavailable(
            f"no request completed against {plan.target} in {report.elapsed_s:.1f} s",
            hint="the scenario's users sent nothing: see the notes above",
        )
    if report.failed:
        raise CheckFailed("threshold failed: " + "; ".join(t.describe() for t in report.failed))
