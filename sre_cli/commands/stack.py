"""``aqua stack``: the whole reference stack as supervised processes on one machine, no Docker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sre_cli.commands.options import (
    Format,
    FormatOption,
    JsonAlias,
    StateDir,
    chosen_format,
    group,
)
from sre_cli.console import get_console
from sre_cli.output import emit

if TYPE_CHECKING:
    from sre_cli.stack.control import StackControl

app = group(
    "The whole reference stack on one machine, no Docker.",
    rich_markup_mode="rich",
)

Port = Annotated[
    list[str] | None,
    typer.Option("--port", help="Override one port: NAME=PORT (nginx, api, ml, prometheus, ...)."),
]
Component = Annotated[str, typer.Argument(help="Component name.")]


def _control(state_dir: Path | None) -> StackControl:
    from sre_cli.stack.control import StackControl
    from sre_cli.stack.spec import StateLayout, default_state_dir

    return StackControl(StateLayout((state_dir or default_state_dir()).expanduser().resolve()))


@app.command()
def up(
    lite: Annotated[
        bool,
        typer.Option(
            "--lite", help="Embedded stack without servers: SQLite, no cache, in-process queue."
        ),
    ] = False,
    api_replicas: Annotated[
        int | None,
        typer.Option(
            "--api-replicas",
            help="API replicas behind nginx [default: 2; 1 when --lite finds no nginx].",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Kafka worker processes.")] = 1,
    port_base: Annotated[
        int | None,
        typer.Option("--port-base", help="Put every port at BASE+offset (side-by-side stacks)."),
    ] = None,
    port: Port = None,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Stay attached; Ctrl-C stops the stack.")
    ] = False,
    faults: Annotated[
        bool,
        typer.Option(
            "--faults",
            help="Let the admin inject API latency and errors (/api/v1/admin/faults): game days.",
        ),
    ] = False,
    network_faults: Annotated[
        bool,
        typer.Option(
            "--network-faults",
            help="Put toxiproxy between the API/workers and PostgreSQL, Redis and Kafka, so "
            "chaos can slow, cut or reset those connections.",
        ),
    ] = False,
    limits: Annotated[
        bool,
        typer.Option(
            "--limits",
            help="Run api, ml and worker in cgroups with their Deployments' CPU and memory "
            "limits (root).",
        ),
    ] = False,
    api_cpu: Annotated[
        float | None,
        typer.Option(
            "--api-cpu",
            min=0.01,
            max=64,
            help="With --limits: each API replica's CPU limit in cores, to rehearse another "
            "pod size [default: the Deployment's 0.5].",
            show_default=False,
        ),
    ] = None,
    gameday_alerts: Annotated[
        bool,
        typer.Option(
            "--gameday-alerts",
            help="Shortened alert timings for game days: Prometheus scrapes and evaluates "
            "every 2 s, no alert's `for:` exceeds 10 s.",
        ),
    ] = False,
    slo_serve: Annotated[
        int | None,
        typer.Option(
            "--slo-serve",
            help="Also scrape `aqua slo serve --port PORT` on this port (job slo).",
            min=1,
            max=65535,
        ),
    ] = None,
    slo_serve_token_file: Annotated[
        Path | None,
        typer.Option(
            "--slo-serve-token-file",
            envvar="AQUA_SLO_SERVE_TOKEN_FILE",
            help="The bearer token file of that aqua slo serve (Prometheus sends it).",
        ),
    ] = None,
    state_dir: StateDir = None,
) -> None:
    """Start every component in dependency order; return once all are ready."""
    from sre_cli.stack.plan import StackOptions
    from sre_cli.stack.spec import Ports

    ports = Ports.from_base(port_base) if port_base is not None else Ports()
    ports = ports.with_overrides(Ports.parse_overrides(port or []))
    target = None
    if slo_serve is not None:
        from sre_cli.errors import UsageError
        from sre_cli.stack.spec import SLOServeTarget

        if slo_serve_token_file is None or not slo_serve_token_file.is_file():
            raise UsageError(
                "--slo-serve needs --slo-serve-token-file FILE: the token aqua slo serve wants",
                hint="the same file as `aqua slo serve --token-file FILE`",
            )
        target = SLOServeTarget(port=slo_serve, token_file=slo_serve_token_file.resolve())
    if api_cpu is not None and not limits:
        from sre_cli.errors import UsageError

        raise UsageError("--api-cpu sets a limit: it goes with --limits")
    if limits:
        from sre_cli.errors import UsageError
        from sre_cli.stack.cgroups import unavailable

        if (why := unavailable()) is not None:
            raise UsageError(f"--limits: {why}", hint="start the stack without --limits")
    options = StackOptions(
        lite=lite,
        api_replicas=api_replicas,
        workers=workers,
        ports=ports,
        faults=faults,
        network_faults=network_faults,
        limits=limits,
        api_cpu=api_cpu,
        slo_serve=target,
        gameday_alerts=gameday_alerts,
    )
    ctl = _control(state_dir)
    console = get_console()
    if foreground:
        from sre_cli.stack.render import plan_notes
        from sre_cli.stack.supervisor import run_foreground

        plan = ctl.prepare(options)
        for note in plan_notes(plan):
            console.print(note)
        raise typer.Exit(run_foreground(ctl.layout, plan))
    from sre_cli.progress import steps
    from sre_cli.stack.render import up_renderable

    with steps(f"starting the stack in {ctl.layout.root}") as step:
        result = ctl.up(options, progress=step)

    emit(result, "table", up_renderable)


@app.command()
def down(
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete data, configs and logs.")
    ] = False,
    state_dir: StateDir = None,
) -> None:
    """Stop every component in reverse order, gracefully; leave no process behind."""
    from sre_cli.progress import steps

    ctl = _control(state_dir)
    with steps(f"stopping the stack in {ctl.layout.root}") as step:
        result = ctl.down(purge=purge, progress=step)
    console = get_console()
    if not result.was_running and not result.strays_killed:
        console.print(f"no stack running in {result.state_dir}")
    else:
        console.print(f"stack down in {result.seconds:.1f}s ({result.state_dir})")
    if result.strays_killed:
        from rich.text import Text

        pids = ", ".join(map(str, result.strays_killed))
        console.print(Text.assemble(("stopped leftover processes:", "yellow"), f" {pids}"))


@app.command()
def status(
    fmt: FormatOption = Format.table, as_json: JsonAlias = False, state_dir: StateDir = None
) -> None:
    """Component, pid, port, live/ready, restarts, uptime and URL; live probes, not a cache."""
    from sre_cli.stack.render import status_renderable

    emit(_control(state_dir).status(), chosen_format(fmt, as_json), status_renderable)


@app.command()
def logs(
    name: Annotated[
        str, typer.Argument(help="Component (see `aqua stack status`) or 'supervisor'.")
    ],
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[
        int, typer.Option("-n", "--lines", help="How many past lines to print.")
    ] = 100,
    state_dir: StateDir = None,
) -> None:
    """Print a component's log (and follow it with -f)."""
    console = get_console()
    try:
        for line in _control(state_dir).logs(name, lines=lines, follow=follow):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    except KeyboardInterrupt:
        pass


def _component_command(action: str, doc: str) -> None:
    """Register ``aqua stack ACTION NAME``: a request to the supervisor about one component."""

    def command(name: Component, state_dir: StateDir = None) -> None:
        get_console().print(_control(state_dir).request(action, name))

    command.__doc__ = doc
    app.command(action)(command)


_component_command("stop", "Stop one component on purpose: the supervisor leaves it down.")
_component_command("start", "Start a component that was stopped.")
_component_command("restart", "Stop and start one component (counted as a restart).")
_component_command(
    "kill", "SIGKILL one component as a crash would; the supervisor restarts it with backoff."
)


@app.command()
def alerts(
    fmt: FormatOption = Format.table,
    as_json: JsonAlias = False,
    state_dir: StateDir = None,
) -> None:
    """Alerts active in Alertmanager and the notifications the stack's receiver got."""
    from sre_cli.stack.alerts import read_alerts

    emit(read_alerts(_control(state_dir)), chosen_format(fmt, as_json))


@app.command()
def seed(
    farms: Annotated[int, typer.Option("--farms", help="Demo farms to create.")] = 2,
    ponds: Annotated[int, typer.Option("--ponds", help="Ponds per farm.")] = 3,
    hours: Annotated[
        int,
        typer.Option(
            "--hours",
            help="Hours of simulated readings per pond; at least 48 (the forecaster's history).",
        ),
    ] = 72,
    traffic: Annotated[
        float,
        typer.Option(
            "--traffic", help="Then drive light read/write traffic for this many seconds."
        ),
    ] = 0.0,
    rate: Annotated[float, typer.Option("--rate", help="Requests per second of --traffic.")] = 5.0,
    state_dir: StateDir = None,
) -> None:
    """Demo farms, ponds and simulated sensor readings through the API."""
    from sre_cli.progress import steps
    from sre_cli.stack.seed import SeedOptions, run_seed

    with steps("seeding demo data") as step:
        report = run_seed(
            _control(state_dir),
            SeedOptions(
                farms=farms, ponds_per_farm=ponds, hours=hours, traffic_s=traffic, rate=rate
            ),
            progress=step,
        )
    emit(report)
