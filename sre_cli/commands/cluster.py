"""``aqua cluster``: a local Kubernetes cluster with one real node (containerd, runc, CNI)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sre_cli.commands.options import Format, FormatOption, JsonAlias, chosen_format, group
from sre_cli.console import get_console
from sre_cli.output import emit

if TYPE_CHECKING:
    from sre_cli.cluster.cluster import LocalCluster

app = group("A local Kubernetes cluster with one real node; the reference stack on it.")

STATE_DIR = typer.Option(
    None,
    "--state-dir",
    help="Where the cluster keeps its state [default: $AQUA_CLUSTER_STATE_DIR or "
    "~/.local/state/aqua/cluster].",
    show_default=False,
)


def _cluster(state_dir: Path | None, **kwargs: object) -> LocalCluster:
    from sre_cli.cluster.cluster import LocalCluster, default_state_dir

    directory = (state_dir or default_state_dir()).expanduser().resolve()
    return LocalCluster(directory, **kwargs)  # type: ignore[arg-type]


@app.command()
def up(
    state_dir: Path | None = STATE_DIR,
    nodes_kwok: int = typer.Option(
        0, "--nodes-kwok", min=0, max=100, help="Add N kwok (simulated) nodes beside the real one."
    ),
    no_stack: bool = typer.Option(
        False, "--no-stack", help="Only the cluster: do not build images or deploy the stack."
    ),
    ml: bool = typer.Option(
        False,
        "--ml",
        help="Also build and run the ML service (its image carries torch and CUDA: ~6 GB).",
    ),
    faults: bool = typer.Option(
        False,
        "--faults",
        help="Let the admin (Secret aqua-admin) inject API faults: game days.",
    ),
    gameday_alerts: bool = typer.Option(
        False,
        "--gameday-alerts",
        help="Shortened alert timings for game days: no alert's `for:` exceeds 10 s (the "
        "cluster's Prometheus scrapes and evaluates every 2 s anyway).",
    ),
) -> None:
    """Start the control plane and the real node, deploy the stack; return when all is Available."""
    from sre_cli.cluster.render import render_status
    from sre_cli.progress import steps

    with steps("starting the cluster (control plane, node, images, stack)") as step:
        status = _cluster(state_dir, kwok_nodes=nodes_kwok, progress=step).up(
            stack=not no_stack, ml=ml, faults=faults, gameday_alerts=gameday_alerts
        )
    emit(status, "table", render_status)


@app.command()
def status(
    fmt: FormatOption = Format.table,
    as_json: JsonAlias = False,
    state_dir: Path | None = STATE_DIR,
) -> None:
    """Nodes, Deployments and URLs of the local cluster (live, from the API server)."""
    from sre_cli.cluster.render import render_status

    emit(_cluster(state_dir).status(), chosen_format(fmt, as_json), render_status)


@app.command()
def down(state_dir: Path | None = STATE_DIR) -> None:
    """Stop every process; remove mounts, namespaces, veths, the bridge, our iptables chains."""
    from sre_cli.cluster.render import render_down

    cluster = _cluster(state_dir)
    get_console().print(render_down(cluster.down(), str(cluster.state_dir)))
