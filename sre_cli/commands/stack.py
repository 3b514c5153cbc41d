"""``aqua stack``: the whole reference stack as supervised processes on one machine, no Docker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sre_cli.commands.terminal import print_report
from sre_cli.console import get_console

if TYPE_CHECKING:
    from sre_cli.stack.control import StackControl

app = typer.Typer(
    help="The whole reference stack on one machine, no Docker.",
    add_completion=False,
    no_args_is_help=True,
)

PORT = typer.Option(
    None, "--port", help="Override one port: NAME=PORT (nginx, api, ml, prometheus, ...)."
)
STATE_DIR = typer.Option(
    None,
    "--state-dir",
    help="Where the stack keeps its state [default: $AQUA_STATE_DIR or ~/.local/state/aqua/stack].",
    show_default=False,
)


def _control(state_dir: Path | None) -> StackControl:
    from sre_cli.stack.control import StackControl
    from sre_cli.stack.spec import StateLayout, default_state_dir

    return StackControl(StateLayout((state_dir or default_state_dir()).expanduser().resolve()))


@app.command()
def up(
    lite: bool = typer.Option(
        False, "--lite", help="Embedded stack without servers: SQLite, no cache, in-process queue."
    ),
    api_replicas: int | None = typer.Option(
        None,
        "--api-replicas",
        help="API replicas behind nginx [default: 2; 1 when --lite finds no nginx].",
        show_default=False,
    ),
    workers: int = typer.Option(1, "--workers", help="Kafka worker processes."),
    port_base: int | None = typer.Option(
        None, "--port-base", help="Put every port at BASE+offset (side-by-side stacks)."
    ),
    port: list[str] | None = PORT,
    foreground: bool = typer.Option(
        False, "--foreground", help="Stay attached; Ctrl-C stops the stack."
    ),
    faults: bool = typer.Option(
        False,
        "--faults",
        help="Let the admin inject API latency and errors (/api/v1/admin/faults): game days.",
    ),
    state_dir: Path | None = STATE_DIR,
) -> None:
    """Start every component in dependency order; return once all are ready."""
    from sre_cli.stack.plan import StackOptions
    from sre_cli.stack.spec import Ports

    ports = Ports.from_base(port_base) if port_base is not None else Ports()
    ports = ports.with_overrides(Ports.parse_overrides(port or []))
    options = StackOptions(
        lite=lite, api_replicas=api_replicas, workers=workers, ports=ports, faults=faults
    )
    ctl = _control(state_dir)
    console = get_console()
    if foreground:
        from sre_cli.stack.supervisor import run_foreground

        plan = ctl.prepare(options)
        from sre_cli.stack.render import plan_notes

        for note in plan_notes(plan):
            console.print(note)
        raise typer.Exit(run_foreground(ctl.layout, plan))
    result = ctl.up(options, progress=lambda msg: console.print(f"  [green]✓[/] {msg}"))
    console.print(result)


@app.command()
def down(
    purge: bool = typer.Option(False, "--purge", help="Also delete data, configs and logs."),
    state_dir: Path | None = STATE_DIR,
) -> None:
    """Stop every component in reverse order, gracefully; leave no process behind."""
    ctl = _control(state_dir)
    result = ctl.down(purge=purge)
    console = get_console()
    if not result.was_running and not result.strays_killed:
        console.print(f"no stack running in {result.state_dir}")
    else:
        console.print(f"stack down in {result.seconds:.1f}s ({result.state_dir})")
    if result.strays_killed:
        pids = ", ".join(map(str, result.strays_killed))
        console.print(f"[yellow]stopped leftover processes:[/] {pids}")


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print the components as JSON."),
    state_dir: Path | None = STATE_DIR,
) -> None:
    """Component, pid, port, live/ready, restarts, uptime and URL; live probes, not a cache."""
    print_report(_control(state_dir).status(), as_json)


@app.command()
def logs(
    name: str = typer.Argument(..., help="Component (see `aqua stack status`) or 'supervisor'."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
    lines: int = typer.Option(100, "-n", "--lines", help="How many past lines to print."),
    state_dir: Path | None = STATE_DIR,
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

    def command(
        name: str = typer.Argument(..., help="Component name."),
        state_dir: Path | None = STATE_DIR,
    ) -> None:
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
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    state_dir: Path | None = STATE_DIR,
) -> None:
    """Alerts active in Alertmanager and the notifications the stack's receiver got."""
    from sre_cli.stack.alerts import read_alerts

    print_report(read_alerts(_control(state_dir)), as_json)


@app.command()
def seed(
    farms: int = typer.Option(2, "--farms", help="Demo farms to create."),
    ponds: int = typer.Option(3, "--ponds", help="Ponds per farm."),
    hours: int = typer.Option(72, "--hours", help="Hours of simulated readings per pond."),
    traffic: float = typer.Option(
        0.0, "--traffic", help="Then drive light read/write traffic for this many seconds."
    ),
    rate: float = typer.Option(5.0, "--rate", help="Requests per second of --traffic."),
    state_dir: Path | None = STATE_DIR,
) -> None:
    """Demo farms, ponds and simulated sensor readings through the API."""
    from sre_cli.stack.seed import SeedOptions, run_seed

    console = get_console()
    report = run_seed(
        _control(state_dir),
        SeedOptions(farms=farms, ponds_per_farm=ponds, hours=hours, traffic_s=traffic, rate=rate),
        progress=lambda msg: console.print(f"  {msg}"),
    )
    console.print(report)
