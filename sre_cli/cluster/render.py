"""Terminal rendering of the cluster's reports (the JSON forms live on the reports)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text

from sre_cli.table import FitTable, Words

if TYPE_CHECKING:
    from sre_cli.cluster.cluster import ClusterStatus, DownResult

__all__ = ["render_down", "render_status"]


def render_status(status: ClusterStatus) -> Group:
    if status.kubeconfig is None:
        return Group(Text("no cluster is up (aqua cluster up)"))
    parts: list[object] = [
        Words(f"kubeconfig {status.kubeconfig}"),
        Text(
            "running"
            if status.running
            else "NOT running: some processes are gone (aqua cluster down cleans up)"
        ),
    ]
    nodes = FitTable("node", "kind", "ready")
    for n in status.nodes:
        nodes.add_row(n.name, n.kind, "yes" if n.ready else "no")
    if status.nodes:
        parts.append(nodes)
    if status.deployments:
        deps = FitTable("namespace", "deployment", "ready", "available")
        for d in status.deployments:
            deps.add_row(
                d.namespace, d.name, f"{d.ready}/{d.replicas}", "yes" if d.available else "no"
            )
        parts.append(deps)
    for name, url in sorted(status.urls.items()):
        parts.append(Text(f"{name}: {url}"))
    if status.timings.get("total"):
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in status.timings.items() if k != "total")
        parts.append(Text(f"up in {status.timings['total']:.1f} s ({phases})"))
    return Group(*parts)  # type: ignore[arg-type]


def render_down(result: DownResult, state_dir: str) -> Text:
    if not result.was_running:
        return Text(f"no cluster in {state_dir}")
    return Text(
        f"cluster down in {result.seconds:.1f} s ({state_dir}): "
        f"{len(result.removed)} things stopped or removed"
    )
