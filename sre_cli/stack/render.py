"""Terminal rendering of the stack: status table, `up` summary, degraded and missing parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

    from sre_cli.stack.control import StackStatus, UpResult
    from sre_cli.stack.spec import StackPlan

__all__ = ["format_uptime", "plan_notes", "status_renderable", "up_renderable"]


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def plan_notes(plan: StackPlan) -> list[RenderableType]:
    """What is degraded or not available in this stack, and whether faults can be injected."""
    from rich.text import Text

    out: list[RenderableType] = []
    if plan.lite:
        out.append(Text("lite mode: embedded stack, degraded as follows", style="yellow"))
    for note in plan.degraded:
        out.append(Text(f"  degraded: {note}", style="yellow"))
    for missing in plan.not_available:
        out.append(Text(f"  not available: {missing.name}: {missing.reason}", style="yellow"))
    if plan.faults:
        out.append(Text("fault injection: on (admin only, /api/v1/admin/faults)", style="yellow"))
    for proxy in plan.of_kind("toxiproxy"):
        links = ", ".join(f"{name} via :{port}" for name, port in proxy.extra_ports.items())
        out.append(
            Text(f"network faults: on (toxiproxy {proxy.url}; api and workers reach {links})")
        )
    if plan.limits:
        cpu = f"{plan.api_cpu:g} cores per API replica" if plan.api_cpu else "as deployed"
        out.append(Text(f"limits: api, ml and worker in cgroups, CPU and memory {cpu}"))
    if plan.gameday_alerts:
        from sre_cli.stack.configs import GAMEDAY_TIMINGS

        out.append(Text(GAMEDAY_TIMINGS.describe(), style="yellow"))
    if plan.slo_serve is not None:
        port = plan.slo_serve.port
        out.append(Text(f"Prometheus scrapes aqua slo serve on 127.0.0.1:{port} (job slo)"))
    return out


def _mark(ok: bool) -> Text:
    from rich.text import Text

    return Text("yes", "green") if ok else Text("no", "red")


def status_renderable(status: StackStatus) -> RenderableType:
    from rich.console import Group
    from rich.text import Text

    from sre_cli.table import FitTable, Words

    sup = f"supervisor pid {status.supervisor_pid}" if status.supervisor_pid else "no supervisor"
    table = FitTable(title=f"aqua stack ({status.phase}, {sup})", title_justify="left")
    # On a narrow terminal the columns that do not fit go under each component's line.
    for col in ("component", "pid", "port", "live", "ready", "restarts", "uptime", "state", "url"):
        table.add_column(col)
    for c in status.components:
        state = c.phase if c.desired == "up" else f"{c.phase} (on purpose)"
        cells: list[str | Text] = [
            c.name,
            str(c.pid or "-"),
            str(c.port),
            _mark(c.live),
            _mark(c.ready),
            str(c.restarts),
            format_uptime(c.uptime_s),
            state,
        ]
        table.add_row(*cells, c.url)
    parts: list[RenderableType] = [table, *plan_notes(status.plan)]
    if any(c.phase == "orphaned" for c in status.components):
        parts.append(
            Text(
                "the supervisor is gone but some components still run: "
                "`aqua stack down` stops them, `aqua stack up` replaces them",
                style="yellow",
            )
        )
    parts.append(Words(Text(f"state dir: {status.state_dir}", style="dim")))
    return Group(*parts)


def up_renderable(result: UpResult) -> RenderableType:
    from rich.console import Group
    from rich.text import Text

    from sre_cli.stack.configs import external_url

    plan = result.plan
    if result.already_up:
        head = Text("the stack is already up", style="bold green")
    else:
        head = Text(
            f"stack up: {len(plan.components)} components ready in {result.seconds:.1f}s",
            style="bold green",
        )
    lines: list[RenderableType] = [head]
    urls = []
    if plan.entry_url:
        urls.append(("API", plan.entry_url))
        urls.append(("API docs", f"{plan.entry_url}/docs"))
    labels = {"prometheus": "Prometheus", "alertmanager": "Alertmanager", "ml": "ML"}
    behind_auth = False
    for c in plan.components:
        if c.kind in labels:
            through_nginx = external_url(plan, c.kind)
            behind_auth = behind_auth or through_nginx is not None
            urls.append((labels[c.kind], through_nginx or c.url))
    if result.dashboards_url:
        urls.append(("Dashboards", result.dashboards_url))
    lines += [Text(f"  {label:<13}{url}") for label, url in urls]
    if behind_auth and result.secrets_dir is not None:
        where = result.secrets_dir / "monitoring_password"
        lines.append(Text(f"  Prometheus and Alertmanager: user aqua, password in {where}"))
    lines += plan_notes(plan)
    return Group(*lines)
