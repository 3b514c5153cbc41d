"""``aqua loadtest``: locust-driven load against a loopback API, with a pass/fail verdict."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sre_cli.commands.options import Format, PrometheusConfig, StateDir, dry_run_option, group
from sre_cli.console import get_console, get_err_console
from sre_cli.output import emit

if TYPE_CHECKING:
    from sre_cli.loadtest.plan import LoadPlan

app = group(
    "Load against the local API (locust's users, or an open model at a fixed arrival rate), "
    "with a verdict against thresholds; the knee."
)


def with_logins(plan: LoadPlan, logins: int, root: Path) -> LoadPlan:
    """``plan`` logging in as ``logins`` load users (created when missing), or as it is."""
    if logins <= 1 or plan.credentials is None:
        return plan
    import dataclasses

    import httpx

    from sre_cli.loadtest.accounts import ensure_load_users
    from sre_cli.loadtest.preflight import log_in

    with httpx.Client(timeout=30.0, trust_env=False, follow_redirects=False) as client:
        token = log_in(client, plan.target, plan.credentials)
        users = ensure_load_users(client, plan.target, token, logins, root)
    return dataclasses.replace(plan, logins=users)


# Options that `run` and `knee` share, declared once.
Username = Annotated[
    str | None,
    typer.Option("--username", help="API user [default: the stack's admin].", show_default=False),
]
PasswordFile = Annotated[
    Path | None, typer.Option("--password-file", help="File holding --username's password.")
]
Connections = Annotated[
    int,
    typer.Option(
        "--connections",
        min=1,
        max=5000,
        help="Open model: most connections; more requests wait for one.",
    ),
]
LoadFormat = Annotated[Format, typer.Option("--format", help="A table, or JSON at the end.")]
DryRun = Annotated[bool, dry_run_option("Print the plan; send nothing.")]


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
    users: Annotated[
        int | None,
        typer.Option(
            "--users", min=1, max=1000, help="Closed model: simulated users [default: 10]."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            max=16,
            help="Closed model: spread the users over this many locust worker processes "
            "(0: this process only).",
        ),
    ] = 0,
    arrival_rate: Annotated[
        float | None,
        typer.Option(
            "--arrival-rate",
            min=0,
            help="Open model: requests per second, held whatever the latency.",
        ),
    ] = None,
    stages: Annotated[
        str | None,
        typer.Option(
            "--stages",
            help="Open model: ramps DURATION:RATE,... from 0/s (30s:100,1m:500,30s:0).",
        ),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="Open model: GET this path only (e.g. /live), instead of the reference mix.",
        ),
    ] = None,
    max_in_flight: Annotated[
        int,
        typer.Option(
            "--max-in-flight", min=1, max=20000, help="Open model: most requests in flight."
        ),
    ] = 1000,
    connections: Connections = 100,
    logins: Annotated[
        int,
        typer.Option(
            "--logins",
            min=1,
            max=200,
            help="API users the load logs in as: 1 is the admin; more are load-01.. "
            "(created on first use, passwords kept in the state dir).",
        ),
    ] = 1,
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
    username: Username = None,
    password_file: PasswordFile = None,
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
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help="Judge the service's own SLIs over the run from this Prometheus "
            "[default: the stack's, when it runs one and --target is not given].",
            show_default=False,
        ),
    ] = None,
    prometheus_config: PrometheusConfig = None,
    no_server: Annotated[
        bool, typer.Option("--no-server", help="Client-side verdict only.")
    ] = False,
    slo_files: Annotated[
        list[Path] | None,
        typer.Option("--slo", help="SLO files of the server verdict [default: slo/api.yaml]."),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="An earlier --format json result to compare with."),
    ] = None,
    max_regression: Annotated[
        float,
        typer.Option(
            "--max-regression",
            min=0,
            max=10,
            help="With --baseline: fail when p95 grows or the rate falls by more (fraction).",
        ),
    ] = 0.10,
    fmt: LoadFormat = Format.table,
    dry_run: DryRun = False,
    state_dir: StateDir = None,
) -> None:
    """Load the API for DURATION, then judge p95, error rate and RPS.

    Closed model (--users): locust's users, each waiting for its answer. Open model
    (--arrival-rate or --stages): requests sent on a schedule whatever the latency, latency
    measured from each request's intended send time. Exit 0 every threshold held, 1 one
    failed, 2 bad input or the target is down."""
    from sre_cli.errors import CheckFailed, Unavailable, UsageError
    from sre_cli.loadtest.plan import (
        REFERENCE,
        Limits,
        LoadPlan,
        check_loopback,
        parse_duration,
        resolve_credentials,
        resolve_prometheus,
        resolve_target,
    )
    from sre_cli.stack.spec import default_state_dir

    root = (state_dir or default_state_dir()).expanduser()
    seconds = parse_duration(duration)
    url, source = resolve_target(target, root)
    url = check_loopback(url)
    schedule = None
    if arrival_rate is not None and stages is not None:
        raise UsageError("--arrival-rate and --stages exclude each other")
    if (arrival_rate is not None or stages is not None) and workers:
        raise UsageError(
            "--workers spreads the closed model's users; the open model has its own engine",
            hint="drop --workers, or use --users",
        )
    if (arrival_rate is not None or stages is not None) and users is not None:
        raise UsageError(
            "--users is the closed model; --arrival-rate and --stages are the open one",
            hint="pick one model",
        )
    if arrival_rate is not None:
        from sre_cli.loadtest.schedule import constant

        schedule = constant(arrival_rate, seconds)
    elif stages is not None:
        from sre_cli.loadtest.schedule import parse_stages

        schedule = parse_stages(stages)
    if endpoint is not None:
        if schedule is None:
            raise UsageError("--endpoint needs the open model: add --arrival-rate or --stages")
        if not endpoint.startswith("/") or any(c.isspace() for c in endpoint):
            raise UsageError(f"--endpoint {endpoint!r} is not a path", hint="e.g. /live")
        if scenario != REFERENCE:
            raise UsageError("--endpoint and --scenario exclude each other")
    if scenario != REFERENCE and schedule is not None:
        raise UsageError(
            "a locustfile runs in the closed model (--users)",
            hint="the open model sends the reference mix or one --endpoint",
        )
    if scenario != REFERENCE:
        path = Path(scenario)
        if path.suffix != ".py" or not path.is_file():
            raise UsageError(
                f"--scenario {scenario!r} is neither 'reference' nor a locustfile (*.py)"
            )
        scenario = str(path)
    base = None
    if baseline is not None:
        from sre_cli.loadtest.baseline import read_baseline

        base = read_baseline(baseline)
    # the stack's Prometheus judges the stack's API, not a --target of another server
    prom_url = None
    if not no_server and (prometheus or target is None):
        prom_url = resolve_prometheus(prometheus, root)
    credentials = None
    if endpoint is not None:
        if username or password_file:  # an endpoint is loaded anonymously unless told
            credentials = resolve_credentials(username, password_file, root)
    elif scenario == REFERENCE:
        credentials = resolve_credentials(username, password_file, root)
    plan = LoadPlan(
        target=url,
        target_source=source,
        users=users or 10,
        spawn_rate=spawn_rate,
        duration_s=schedule.duration_s if schedule else seconds,
        scenario=scenario,
        limits=Limits(p95_ms=p95_ms, max_error_rate=max_error_rate, min_rps=min_rps),
        credentials=credentials,
        schedule=schedule,
        endpoint=endpoint,
        max_in_flight=max_in_flight,
        connections=connections,
    )
    console = get_console()
    if dry_run:
        from rich.text import Text

        if fmt is Format.json:
            emit(plan, "json")
        else:
            console.print(Text.assemble(("load test plan", "bold"), " (dry run: nothing is sent)"))
            for line in plan.describe():
                console.print(f"  {line}", highlight=False, soft_wrap=True)
        return

    from sre_cli.progress import steps

    err = get_err_console()
    for line in plan.describe():
        err.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    plan = with_logins(plan, logins, root)
    with steps(f"load test against {plan.target}") as progress:
        if plan.schedule is not None:
            from sre_cli.loadtest.openmodel import run_open_load

            report = run_open_load(plan, progress)
        elif workers:
            from sre_cli.loadtest.distributed import run_distributed

            report = run_distributed(plan, workers, progress)
        else:
            from sre_cli.loadtest.runner import run_load

            report = run_load(plan, progress)
        if base is not None:
            report.checks.extend(
                base.checks(
                    p95_ms=report.latency()["p95"],
                    achieved_rps=report.rps,
                    max_regression=max_regression,
                )
            )
            if base.model != report.model:
                report.notes.append(
                    f"the baseline is a {base.model}-model run, this one {report.model}: "
                    "their latencies are not measured alike"
                )
        if prom_url is not None and report.requests:
            from sre_cli.loadtest.server import judge_server

            progress(f"server verdict: waiting for a scrape of {prom_url}")
            found = judge_server(prom_url, report, slo_files, prometheus_config)
            report.server, checks, notes = found
            report.checks.extend(checks)
            report.notes.extend(notes)
    emit(report, fmt.value, lambda r: r.renderable())
    if report.requests == 0:
        raise Unavailable(
            f"no request completed against {plan.target} in {report.elapsed_s:.1f} s",
            hint="the scenario's users sent nothing: see the notes above",
        )
    if report.failed:
        raise CheckFailed("threshold failed: " + "; ".join(t.describe() for t in report.failed))


@app.command()
def knee(
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="API base URL, loopback only [default: the stack's front door].",
            show_default=False,
        ),
    ] = None,
    start: Annotated[
        float, typer.Option("--start", min=0.1, help="First step's rate (requests/s).")
    ] = 50.0,
    factor: Annotated[
        float, typer.Option("--factor", min=1.05, max=10, help="Rate growth per step.")
    ] = 1.5,
    max_rate: Annotated[
        float, typer.Option("--max-rate", min=1, help="Stop rising at this rate.")
    ] = 5000.0,
    step: Annotated[
        str, typer.Option("--step-duration", help="Length of every step (10s, 30s).")
    ] = "15s",
    refine: Annotated[
        int, typer.Option("--refine", min=0, max=6, help="Bisections after the first break.")
    ] = 2,
    warmup: Annotated[
        str,
        typer.Option("--warmup", help="Load at --start before the steps, not judged (0s: none)."),
    ] = "5s",
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="GET this path only, instead of the reference mix."),
    ] = None,
    username: Username = None,
    password_file: PasswordFile = None,
    p95_ms: Annotated[
        float, typer.Option("--p95-ms", min=0, help="A step breaks above this p95 (ms).")
    ] = 100.0,
    max_error_rate: Annotated[
        float,
        typer.Option("--max-error-rate", min=0, max=1, help="A step breaks above this (0-1)."),
    ] = 0.001,
    max_in_flight: Annotated[
        int, typer.Option("--max-in-flight", min=1, max=20000, help="Most requests in flight.")
    ] = 1000,
    connections: Connections = 100,
    logins: Annotated[
        int, typer.Option("--logins", min=1, max=200, help="API users the load logs in as.")
    ] = 1,
    replicas: Annotated[
        int | None,
        typer.Option(
            "--replicas",
            min=1,
            help="API replicas behind the target [default: the stack's].",
            show_default=False,
        ),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help="Read the saturating resource here [default: the stack's].",
            show_default=False,
        ),
    ] = None,
    prometheus_config: PrometheusConfig = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the result as JSON here (for capacity)."),
    ] = None,
    fmt: LoadFormat = Format.table,
    dry_run: DryRun = False,
    state_dir: StateDir = None,
) -> None:
    """Step the arrival rate until p95 or errors break the SLO; the highest sustainable rate,
    confirmed, in total and per API replica, and the saturating resource. Exit 0 found,
    1 not even the first step held, 2 bad input or the target is down."""
    import dataclasses

    from sre_cli.errors import CheckFailed, UsageError
    from sre_cli.loadtest.knee import KneePlan, find_knee, write_knee
    from sre_cli.loadtest.plan import (
        REFERENCE,
        Limits,
        LoadPlan,
        check_loopback,
        parse_duration,
        resolve_credentials,
        resolve_prometheus,
        resolve_target,
        stack_api_replicas,
    )
    from sre_cli.loadtest.saturation import stack_pids
    from sre_cli.stack.spec import default_state_dir

    root = (state_dir or default_state_dir()).expanduser()
    step_s = parse_duration(step, "--step-duration")
    warmup_s = 0.0 if warmup.strip() in ("0", "0s") else parse_duration(warmup, "--warmup")
    if start > max_rate:
        raise UsageError(f"--start {start:g} is above --max-rate {max_rate:g}")
    url, source = resolve_target(target, root)
    url = check_loopback(url)
    if endpoint is not None and (not endpoint.startswith("/") or " " in endpoint):
        raise UsageError(f"--endpoint {endpoint!r} is not a path", hint="e.g. /live")
    credentials = None
    if endpoint is None or username or password_file:
        credentials = resolve_credentials(username, password_file, root)
    n_replicas = replicas or stack_api_replicas(root) or 1
    load = LoadPlan(
        target=url,
        target_source=source,
        users=1,
        spawn_rate=1.0,
        duration_s=step_s,
        scenario=REFERENCE,
        limits=Limits(p95_ms=p95_ms, max_error_rate=max_error_rate),
        credentials=credentials,
        endpoint=endpoint,
        max_in_flight=max_in_flight,
        connections=connections,
    )
    plan = KneePlan(
        load=load,
        start_rps=start,
        factor=factor,
        max_rps=max_rate,
        step_s=step_s,
        refine=refine,
        replicas=n_replicas,
        prometheus=resolve_prometheus(prometheus, root) if prometheus or target is None else None,
        prometheus_config=prometheus_config,
        pids=stack_pids(root) if target is None else {},
        warmup_s=warmup_s,
    )
    console, err = get_console(), get_err_console()
    what = f"GET {endpoint}" if endpoint else "the reference mix"
    lines = [
        f"target     {url} ({source}), {n_replicas} API replica(s)",
        f"steps      {step_s:g} s each of {what}, from {start:g}/s x{factor:g} up to "
        f"{max_rate:g}/s, {refine} bisection(s), then a confirmation",
        f"SLO        p95 ≤ {p95_ms:g} ms (from intended send time), "
        f"error rate ≤ {max_error_rate:g}, ≥ 95 % of the rate sent",
        f"saturation {plan.prometheus or 'no Prometheus'}; "
        f"CPU of {len(plan.pids)} stack process(es)",
    ]
    if dry_run:
        from rich.text import Text

        console.print(Text.assemble(("knee plan", "bold"), " (dry run: nothing is sent)"))
        for line in lines:
            console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
        return
    for line in lines:
        err.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    from sre_cli.progress import steps

    plan = dataclasses.replace(plan, load=with_logins(plan.load, logins, root))
    with steps(f"knee search against {plan.load.target}") as say:
        result = find_knee(plan, say)
    if output is not None and result.knee_rps is not None:
        write_knee(result, output)  # never replaces a good figure with no figure
    emit(result, fmt.value, lambda r: r.renderable())
    if result.knee_rps is None:
        raise CheckFailed(f"no step held the SLO, not even {start:g}/s")
