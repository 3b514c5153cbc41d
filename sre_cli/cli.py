"""The ``aqua`` root command: wires command groups together, lazily.

Each group lives in ``sre_cli.commands.<module>`` and is imported only when it is invoked, so
``aqua --help`` stays fast and never loads torch, sqlalchemy, kubernetes or locust. The help
line for each group is kept here so the root help can list groups without importing them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass

import click
import typer
from typer.core import TyperGroup

from sre_cli import __version__
from sre_cli.errors import AquaError

__all__ = ["GROUPS", "app", "main"]


@dataclass(frozen=True)
class Group:
    name: str
    module: str
    help: str


GROUPS: tuple[Group, ...] = (
    Group("slo", "sre_cli.commands.slo", "SLIs, error budgets and burn rates from Prometheus; CI gate; rules."),
    Group("runbook", "sre_cli.commands.runbook", "Executable markdown runbooks."),
    Group("chaos", "sre_cli.commands.chaos", "Game-day experiments with steady-state checks and rollback."),
    Group("capacity", "sre_cli.commands.capacity", "Capacity forecasts from Prometheus."),
    Group("loadtest", "sre_cli.commands.loadtest", "Locust-driven load with a verdict."),
    Group("stack", "sre_cli.commands.stack", "The whole reference stack on one machine, no Docker."),
    Group("doctor", "sre_cli.commands.doctor", "Check every component aqua and the stack use."),
)


def _available_groups() -> dict[str, Group]:
    found: dict[str, Group] = {}
    for group in GROUPS:
        if importlib.util.find_spec(group.module) is not None:
            found[group.name] = group
    return found


class LazyGroup(TyperGroup):
    """A click group that imports a command group's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_available_groups()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        group = _available_groups().get(cmd_name)
        if group is None:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(group.module)
        sub: typer.Typer = module.app
        command = typer.main.get_command(sub)
        command.name = group.name
        if not command.help:
            command.help = group.help
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # List groups from the registry: root --help must not import them.
        rows = [(g.name, g.help) for g in sorted(_available_groups().values(), key=lambda g: g.name)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    cls=LazyGroup,
    name="aqua",
    help="aqua: the SRE toolkit — SLOs, runbooks, chaos, capacity, load, and the reference stack.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aqua {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """aqua: the SRE toolkit — SLOs, runbooks, chaos, capacity, load, and the reference stack."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map AquaError to its message and exit code (no traceback)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="aqua", standalone_mode=False)
    except AquaError as exc:
        from sre_cli.console import get_err_console

        err = get_err_console()
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(3)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
