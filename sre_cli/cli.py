"""The ``aqua`` root command: wires command groups together, lazily.

Each group lives in ``sre_cli.commands.<module>``. Only the group named on the command line is
imported; every other group is registered as an empty placeholder that carries its help line,
so ``aqua --help`` lists every group without importing any of them (and never torch,
sqlalchemy, kubernetes or locust).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import typer

from sre_cli import __version__
from sre_cli.commands.help import AquaTyper
from sre_cli.commands.options import HELP_OPTIONS
from sre_cli.errors import AquaError

__all__ = ["GROUPS", "Group", "available_groups", "build_app", "main"]

HELP = "aqua: the SRE toolkit — SLOs, runbooks, chaos, capacity, load, and the reference stack."


@dataclass(frozen=True)
class Group:
    """A command group; ``single``: the module's ``command`` is the command itself."""

    name: str
    module: str
    help: str
    single: bool = False


GROUPS: tuple[Group, ...] = (
    Group("slo", "sre_cli.commands.slo", "Error budgets and burn rates from Prometheus; CI gate."),
    Group("runbook", "sre_cli.commands.runbook", "Executable markdown runbooks."),
    Group("chaos", "sre_cli.commands.chaos", "Game-day experiments with steady-state checks."),
    Group("gameday", "sre_cli.commands.gameday", "Fault, alert, runbook, recovery: measured."),
    Group("capacity", "sre_cli.commands.capacity", "Capacity forecasts from Prometheus."),
    Group("loadtest", "sre_cli.commands.loadtest", "Locust-driven load with a verdict."),
    Group("trace", "sre_cli.commands.trace", "Slowest requests and span trees from Jaeger."),
    Group("dashboards", "sre_cli.commands.dashboards", "The shipped dashboards as an HTML page."),
    Group(
        "backup", "sre_cli.commands.backup", "Encrypted PostgreSQL backups, PITR, restore drills."
    ),
    Group(
        "rollout",
        "sre_cli.commands.rollout",
        "Canary and blue-green releases judged by the SLO files.",
    ),
    Group("stack", "sre_cli.commands.stack", "The whole reference stack on one machine."),
    Group("cluster", "sre_cli.commands.cluster", "A local Kubernetes cluster with a real node."),
    Group(
        "doctor",
        "sre_cli.commands.doctor",
        "Check every component aqua and the stack use.",
        single=True,
    ),
    Group(
        "init",
        "sre_cli.commands.init",
        "Copy the editable SLOs, runbooks and chaos experiments into a folder.",
        single=True,
    ),
)


def available_groups() -> list[Group]:
    """The groups whose module is installed, in the order of :data:`GROUPS`."""
    return [g for g in GROUPS if importlib.util.find_spec(g.module) is not None]


def _placeholder() -> None:
    """Stands for a single-command group that the command line does not name."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aqua {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """aqua: the SRE toolkit — SLOs, runbooks, chaos, capacity, load, and the reference stack."""


def build_app(argv: Sequence[str]) -> typer.Typer:
    """The root app for ``argv``: the group it names is loaded, the others are placeholders."""
    wanted = next((arg for arg in argv if not arg.startswith("-")), None)
    app = AquaTyper(
        name="aqua",
        help=HELP,
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        add_completion=True,
        context_settings=HELP_OPTIONS,
    )
    app.callback()(_root)
    for group in available_groups():
        if group.single:
            command = (
                importlib.import_module(group.module).command
                if group.name == wanted
                else _placeholder
            )
            app.command(name=group.name, help=None if group.name == wanted else group.help)(command)
        elif group.name == wanted:
            sub: typer.Typer = importlib.import_module(group.module).app
            app.add_typer(sub, name=group.name)
        else:
            placeholder = AquaTyper(help=group.help, context_settings=HELP_OPTIONS)
            app.add_typer(placeholder, name=group.name, help=group.help)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; map :class:`AquaError` to its message and exit code, with no traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        build_app(args)(args=args, prog_name="aqua")
    except AquaError as exc:
        from rich.text import Text

        from sre_cli.console import get_err_console

        err = get_err_console()
        err.print(Text.assemble(("error:", "bold red"), " ", exc.message), highlight=False)
        if exc.hint:
            err.print(Text.assemble(("hint:", "dim"), " ", exc.hint), highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
