"""``aqua chaos``: game-day experiments from ``chaos/`` and one-off pod deletion."""

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
    PrometheusConfig,
    StateDir,
    Target,
)
from sre_cli.commands.terminal import ask, interactive
from sre_cli.console import get_console
from sre_cli.output import emit

if TYPE_CHECKING:
    from sre_cli.chaos.experiment import Experiment
    from sre_cli.ops.outcome import ActionPlan

app = options.group(
    "Game-day experiments with steady-state checks, blast-radius limits and rollbacks."
)

DryRun = Annotated[bool, options.dry_run_option("Print the plan; change nothing.")]
Yes = Annotated[bool, options.yes_option("Do not ask before injecting.")]
Fmt = Annotated[Format, typer.Option("--format", help="Live lines, or JSON at the end.")]


@app.command()
def run(
    experiment: Annotated[
        str, typer.Argument(help="Experiment name (file stem in chaos/) or a YAML path.")
    ],
    target: Annotated[
        Target | None,
        typer.Option("--target", help="Must match the experiment's target [default: it]."),
    ] = None,
    state_dir: StateDir = None,
    kubeconfig: Kubeconfig = None,
    namespace: Namespace = None,
    prometheus: Prometheus = None,
    prometheus_config: PrometheusConfig = None,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Experiment folder [default: $AQUA_CHAOS_DIR or ./chaos]."),
    ] = None,
    journal: Annotated[Path | None, options.journal_option("--journal", "Journal", "chaos")] = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Start even when the preflight gate refuses (journaled)."),
    ] = False,
    alertmanager: Annotated[
        str | None,
        options.alertmanager_option(
            "Alertmanager URL for preflight and abort [default: the stack's]."
        ),
    ] = None,
    entry_url: EntryUrl = None,
    fmt: Fmt = Format.table,
) -> None:
    """Check steady state, inject, check again, roll back. Exit 0 the hypothesis held, 1 it
    deviated, 2 not steady before (nothing injected) or could not run, 3 declined."""
    from sre_cli.chaos.abort import stop_file
    from sre_cli.chaos.engine import RunOptions
    from sre_cli.chaos.engine import run as run_experiment
    from sre_cli.chaos.experiment import find_experiment, load_experiment
    from sre_cli.chaos.render import plan_text, record_line, report_renderable
    from sre_cli.errors import UsageError
    from sre_cli.ops.context import TargetOptions, open_context
    from sre_cli.ops.transcript import default_transcript_path

    path = find_experiment(experiment, directory)
    exp = load_experiment(path)
    if target is not None and target.value != exp.target:
        raise UsageError(f"experiment {path.stem} targets {exp.target}, not {target.value}")
    ctx = open_context(
        TargetOptions(
            exp.target,
            state_dir,
            kubeconfig,
            namespace,
            None,
            prometheus,
            prometheus_config,
            alertmanager,
            entry_url=entry_url,
        )
    )
    from rich.text import Text

    console = get_console()
    table = fmt is Format.table

    def confirm(e: Experiment, plans: list[ActionPlan]) -> bool:
        typer.echo(plan_text(e, plans), err=True)
        return ask("Inject?")

    try:
        filled = exp.filled(ctx.builtins())
        if table:
            mode = " (dry run)" if dry_run else ""
            title = Text.assemble((exp.title, "bold"), f" — {path} on ")
            console.print(title, Text(str(exp.target), "bold"), mode, sep="")
        report = run_experiment(
            filled,
            path.stem,
            ctx,
            RunOptions(
                dry_run=dry_run,
                yes=yes,
                interactive=interactive(),
                stop_file=stop_file(state_dir),
                force=force,
            ),
            confirm,
            journal or default_transcript_path(path.stem, folder="chaos", state_dir=state_dir),
            (lambda r: console.print(record_line(r, show_risk=dry_run)))
            if table
            else (lambda r: None),
        )
    finally:
        ctx.close()
    emit(report, fmt.value, report_renderable)
    if report.error is not None:
        raise report.error


@app.command("kill-pod")
def kill_pod(
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the pods.")],
    selector: Annotated[
        str, typer.Option("--selector", "-l", help="Label selector, e.g. app=api-service.")
    ],
    count: Annotated[int, typer.Option("--count", min=1, max=50, help="Pods to delete.")] = 1,
    max_percent: Annotated[
        float,
        typer.Option("--max-percent", min=1, max=100, help="Most of the replicas to delete."),
    ] = 50.0,
    kubeconfig: Kubeconfig = None,
    wait_ready: Annotated[
        bool,
        typer.Option("--wait-ready", help="Wait until the Deployment is Available again."),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds --wait-ready waits.")
    ] = 120.0,
    dry_run: DryRun = False,
    yes: Yes = False,
    fmt: Fmt = Format.table,
) -> None:
    """Delete COUNT random pods of one Deployment, keeping one Ready (never in kube-*)."""
    from sre_cli.chaos.blast import BlastRadius, check_namespace
    from sre_cli.chaos.pods import delete, plan_kill, wait_available
    from sre_cli.chaos.render import KillReport
    from sre_cli.errors import CheckFailed
    from sre_cli.ops.consent import Consent
    from sre_cli.ops.providers.kubernetes import KubeTarget

    check_namespace(namespace, None)
    radius = BlastRadius(max_pods=max(count, 1), max_percent=max_percent, namespaces=(namespace,))
    kube = KubeTarget.connect(kubeconfig, namespace)
    try:
        plan = plan_kill(kube, selector, count, radius)
        deleted: list[str] = []
        recovery = None
        if not dry_run:
            consent = Consent(yes, interactive())
            if consent.decide("destructive") == "refuse":
                raise consent.refusal("destructive", f"kill-pod ({plan.describe()})")
            deleted = delete(kube, plan)
            if wait_ready:
                recovery = wait_available(kube, plan, timeout)
    finally:
        kube.close()
    report = KillReport(plan, dry_run, deleted, recovery)
    emit(report, fmt.value)
    if recovery is not None and not recovery.available:
        raise CheckFailed(f"deployment/{plan.deployment} {recovery.summary}")
