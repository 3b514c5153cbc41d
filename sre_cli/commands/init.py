"""``aqua init DIR``: copy the editable defaults (SLO specs, runbooks, chaos experiments)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sre_cli.commands.options import Format, FormatOption, dry_run_option
from sre_cli.output import emit

HELP = "Copy the editable SLOs, runbooks and chaos experiments into a folder."


def command(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="The repository to write slo/, runbooks/ and chaos/ into (made if missing).",
            show_default=False,
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that already exist.")
    ] = False,
    dry_run: Annotated[
        bool, dry_run_option("List the files it would write; write nothing.")
    ] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Copy the editable SLOs, runbooks and chaos experiments into a folder.

    The slo, runbook and chaos commands read ./slo, ./runbooks and ./chaos of the folder they
    run in, so after `aqua init DIR` they use your copies. Existing files are never overwritten
    without --force.
    """
    from sre_cli.defaults import plan_init

    plan = plan_init(directory, force=force, dry_run=dry_run)
    if not dry_run:
        plan.write()
    emit(plan, fmt.value)
