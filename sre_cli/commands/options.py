"""Option types several command groups share: output formats, targets, and the options that
say where to act (the stack's state dir, a Kubernetes cluster, Prometheus).

Typer only: the groups import this for their ``--help`` too.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["Format", "Kubeconfig", "Namespace", "Prometheus", "StateDir", "Target"]


class Format(StrEnum):
    table = "table"
    json = "json"


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
