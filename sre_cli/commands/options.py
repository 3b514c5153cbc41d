"""The one home of what command groups share: the Typer factory (:func:`group`), output
formats, targets, and the options that say where to act (the stack's state dir, a Kubernetes
cluster, Prometheus) or how (``--dry-run``, ``--yes``).

Options are ``Annotated`` aliases; where each command words the help its own way, a function
returns the option with that help and the flag spelled here once. Typer only: the groups import
this for their ``--help`` too.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = [
    "HELP_OPTIONS",
    "Format",
    "FormatOption",
    "Host",
    "JsonAlias",
    "Kubeconfig",
    "Namespace",
    "Prometheus",
    "PrometheusConfig",
    "PrometheusURL",
    "StateDir",
    "Target",
    "chosen_format",
    "dry_run_option",
    "group",
    "jaeger_option",
    "yes_option",
]


#: ``-h`` as well as ``--help``, on the root and on every group and command.
HELP_OPTIONS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


def group(help: str, **settings: Any) -> typer.Typer:
    """A command group's Typer app: plain help in words (:mod:`sre_cli.commands.help`), no
    completion, errors left to ``cli.main``."""
    from sre_cli.commands.help import AquaTyper

    defaults: dict[str, Any] = {
        "no_args_is_help": True,
        "rich_markup_mode": None,
        "pretty_exceptions_enable": False,
        "add_completion": False,
        "context_settings": HELP_OPTIONS,
    }
    return AquaTyper(help=help, **{**defaults, **settings})


def dry_run_option(help: str) -> Any:
    """``--dry-run`` for ``Annotated[bool, dry_run_option("Print the plan; change nothing.")]``."""
    return typer.Option("--dry-run", help=help)


def yes_option(help: str) -> Any:
    """``--yes``/``-y`` for ``Annotated[bool, yes_option("Do not ask before actions.")]``."""
    return typer.Option("--yes", "-y", help=help)


def alertmanager_option(help: str) -> Any:
    """``--alertmanager`` (or ``$AQUA_ALERTMANAGER_URL``) for
    ``Annotated[str | None, alertmanager_option("... [default: the stack's].")]``."""
    return typer.Option(
        "--alertmanager", envvar="AQUA_ALERTMANAGER_URL", help=help, show_default=False
    )


def journal_option(flag: str, what: str, folder: str) -> Any:
    """Where a run writes its JSON-lines record (a runbook's ``--transcript``, an experiment's
    ``--journal``): ``Annotated[Path | None, journal_option("--journal", "Journal", "chaos")]``."""
    return typer.Option(
        flag,
        help=f"{what} file (JSON lines) [default: in {folder}/ of --state-dir when given, "
        "else of ~/.local/state/aqua].",
        show_default=False,
    )


class Format(StrEnum):
    table = "table"
    json = "json"


#: ``--format table|json``, the one spelling of every reporting command's output choice.
FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]
#: ``--json``, kept (hidden) for scripts written before ``--format``: the same as json.
JsonAlias = Annotated[bool, typer.Option("--json", hidden=True, help="Same as --format json.")]


def chosen_format(fmt: Format, as_json: bool) -> str:
    """``"json"`` when either ``--format json`` or the ``--json`` alias was given."""
    return "json" if as_json else fmt.value


class Target(StrEnum):
    stack = "stack"
    kubernetes = "kubernetes"


StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="The stack's state dir [default: $AQUA_STATE_DIR or ~/.local/state/aqua/stack].",
        show_default=False,
    ),
]
Kubeconfig = Annotated[
    Path | None,
    typer.Option("--kubeconfig", help="Kubeconfig [default: $KUBECONFIG, ~/.kube/config]."),
]
Namespace = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="Namespace [default: the context's]."),
]
Prometheus = Annotated[
    str | None,
    typer.Option(
        "--prometheus",
        envvar="AQUA_PROMETHEUS_URL",
        help="Prometheus base URL [default on the stack: its own Prometheus].",
    ),
]
EntryUrl = Annotated[
    str | None,
    typer.Option(
        "--entry-url",
        envvar="AQUA_ENTRY_URL",
        help="The API's base URL on kubernetes, for faults and {entry_url}.",
        show_default=False,
    ),
]
PrometheusURL = Annotated[
    str | None,
    typer.Option("--prometheus", envvar="AQUA_PROMETHEUS_URL", help="Prometheus base URL."),
]
#: ``--host`` of a command that serves HTTP (its port option is its own: defaults differ)
Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]


def jaeger_option(help: str) -> Any:
    """``--jaeger`` (or ``$AQUA_JAEGER_URL``) with the command's own help."""
    return typer.Option("--jaeger", envvar="AQUA_JAEGER_URL", help=help, show_default=False)


Jaeger = Annotated[
    str | None,
    jaeger_option("Jaeger query URL [default: the stack's Jaeger, else http://127.0.0.1:16686]."),
]
PrometheusConfig = Annotated[
    Path | None,
    typer.Option(
        "--prometheus-config",
        envvar="AQUA_PROMETHEUS_CONFIG",
        help="Prometheus client config: auth, TLS, headers, timeout, retries (README).",
    ),
]
