"""``aqua gameday``: a fault, the alert it must raise, the runbook that must fix it, measured."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sre_cli.commands import options
from sre_cli.commands.options import (
    EntryUrl,
    Format,
    Kubeconfig,
    Namespace,
    Prometheus,
    StateDir,
    Target,
)
from sre_cli.commands.terminal import ask, interactive
from sre_cli.console import get_console, get_err_console
from sre_cli.output import emit

if TYPE_CHECKING:
    from sre_cli.ops.outcome import ActionPlan

app = options.group(
    "Game days: a chaos fault under load, its alert, its runbook, and the time each took."
)

Dir = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Scenario folder [default: $AQUA_GAMEDAY_DIR, ./chaos/gameday, else the shipped "
        "ones].",
        show_default=False,
    ),
]


@app.command("list")
def list_(
    directory: Dir = None, fmt: Annotated[Format, typer.Option("--format")] = Format.table
) -> None:
    """Every scenario: its fault, alert, runbook and SLO; invalid files are reported (exit 2)."""
    from sre_cli.errors import SpecError
    from sre_cli.gameday.render import scenario_table
    from sre_cli.gameday.scenario import check_dir, default_dir

    catalog = check_dir(directory or default_dir())
    emit(catalog, fmt.value, lambda c: scenario_table(c.scenarios))
    if catalog.problems:
        from rich.text import Text

        err = get_err_console()
        for problem in catalog.problems[1:]:
            err.print(Text.assemble(("error:", "bold red"), f" {problem.message}"), highlight=False)
        first = catalog.problems[0]
        raise SpecError(first.message, hint=f"{len(catalog.problems)} scenario(s) did not load")


@app.command()
def run(
    scenario: Annotated[
        str, typer.Argument(help="Scenario name (file stem in chaos/gameday/) or a YAML path.")
    ],
    target: Annotated[
        Target, typer.Option("--target", help="Where the game day runs.")
    ] = Target.stack,
    state_dir: StateDir = None,
    kubeconfig: Kubeconfig = None,
    namespace: Namespace = None,
    prometheus: Prometheus = None,
    alertmanager: Annotated[
        str | None,
        options.alertmanager_option(
            "Alertmanager the alert must reach [default on the stack: its own]."
        ),
    ] = None,
    entry_url: EntryUrl = None,
    directory: Dir = None,
    yes: Annotated[
        bool, options.yes_option("Inject and run the runbook's mutating steps without asking.")
    ] = False,
    journal: Annotated[
        Path | None, options.journal_option("--journal", "Journal", "gameday")
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="Live lines, or JSON at the end.")
    ] = Format.table,
) -> None:
    """Start load, inject the fault, wait for the alert (MTTD), run the runbook, wait until
    the SLI recovers (MTTR). Exit 0 pass, 1 fail, 2 could not run (no stack in --state-dir,
    no cluster reachable with --kubeconfig: none is started), 3 declined."""
    from rich.text import Text

    from sre_cli.chaos.render import record_line
    from sre_cli.gameday.engine import GamedayOptions
    from sre_cli.gameday.engine import run as run_gameday
    from sre_cli.gameday.render import report_renderable
    from sre_cli.gameday.scenario import find_scenario, resolve
    from sre_cli.ops.context import TargetOptions, open_context
    from sre_cli.ops.transcript import default_transcript_path
    from sre_cli.runbook.render import LiveReporter, QuietReporter

    res = resolve(find_scenario(scenario, directory), target.value)
    if target is Target.kubernetes and not entry_url:
        from sre_cli.errors import UsageError

        raise UsageError(
            "a game day on kubernetes needs the API's URL",
            hint="pass --entry-url URL (`aqua cluster status` prints the local cluster's)",
        )
    where = TargetOptions(
        target.value,
        state_dir,
        kubeconfig,
        namespace,
        prometheus=prometheus,
        alertmanager=alertmanager,
        entry_url=entry_url,
    )
    ctx = open_context(where)  # no stack in the state dir: ConfigError, exit 2
    console = get_console()
    table = fmt is Format.table

    def confirm(plans: list[ActionPlan]) -> bool:
        from sre_cli.chaos.render import plan_text

        typer.echo(plan_text(res.experiment, plans), err=True)
        return ask("Inject?")

    if table:
        console.print(
            Text.assemble(
                (res.scenario.title, "bold"), f" — {res.path} on ", (target.value, "bold")
            )
        )
    reporter = LiveReporter(console, ask) if table else QuietReporter(ask)
    try:
        report = run_gameday(
            res,
            ctx,
            GamedayOptions(yes=yes, interactive=interactive(), where=where),
            confirm,
            reporter,
            journal or default_transcript_path(res.name, folder="gameday", state_dir=state_dir),
            (lambda p: console.print(record_line(p))) if table else (lambda p: None),
        )
    finally:
        ctx.close()
    if not table:  # the JSON holds the contract only: the timings go to stderr
        timings = report.timings or "the alert rules as shipped"
        get_err_console().print(f"alert timings: {timings}", highlight=False, soft_wrap=True)
    emit(report, fmt.value, report_renderable)
    if report.error is not None:
        raise report.error
