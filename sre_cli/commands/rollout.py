"""``aqua rollout``: canary and blue-green releases on Kubernetes, judged by the SLO files."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sre_cli.commands import options
from sre_cli.commands.options import Format, Kubeconfig, Namespace, Prometheus, PrometheusConfig
from sre_cli.output import emit

if TYPE_CHECKING:
    from sre_cli.rollout.plan import Strategy

app = options.group("Canary and blue-green releases on Kubernetes, judged by the SLO files.")

Deployment = Annotated[
    str, typer.Option("--deployment", "-d", help="The stable Deployment to roll forward.")
]
Image = Annotated[str, typer.Option("--image", help="The new image (TAG or repository:tag).")]
Container = Annotated[
    str | None,
    typer.Option("--container", help="Container whose image changes [default: the first]."),
]
Env = Annotated[
    list[str] | None,
    typer.Option("--env", help="NAME=VALUE set on the new pods (repeatable)."),
]
Interval = Annotated[
    str, typer.Option("--interval", help="How long each step is analysed (30s, 2m).")
]
CheckEvery = Annotated[
    str | None,
    typer.Option(
        "--check-every", help="Analysis period within a step [default: interval/6, 2-15 s]."
    ),
]
Slo = Annotated[
    list[Path] | None,
    typer.Option(
        "--slo",
        help="SLO file(s) [default: slo/<the pods' app.kubernetes.io/component>.yaml].",
    ),
]
MaxBurn = Annotated[
    float,
    typer.Option("--max-burn-rate", min=0.1, help="Abort when the new pods burn budget faster."),
]
Margin = Annotated[
    float,
    typer.Option(
        "--margin", min=0, help="Abort when the new pods' burn rate exceeds stable's by this."
    ),
]
MinRequests = Annotated[
    int,
    typer.Option("--min-requests", min=0, help="Requests a step needs to pass (fewer: abort)."),
]
Journal = Annotated[
    Path | None,
    typer.Option(
        "--journal",
        help="Journal file (JSON lines) [default: in ~/.local/state/aqua/rollouts/].",
    ),
]
Timeout = Annotated[
    float, typer.Option("--ready-timeout", min=1, help="Seconds new pods may take to be Ready.")
]
DryRun = Annotated[bool, options.dry_run_option("Print the plan; change nothing.")]
Yes = Annotated[bool, options.yes_option("Do not ask before changing the cluster.")]
Fmt = Annotated[Format, typer.Option("--format", help="A summary, or JSON at the end.")]


def _without(fn: Callable[..., None], name: str) -> inspect.Signature:
    sig = inspect.signature(fn, eval_str=True)
    return sig.replace(parameters=[p for p in sig.parameters.values() if p.name != name])


@app.command()
def canary(
    deployment: Deployment,
    image: Image,
    steps: Annotated[
        str, typer.Option("--steps", help="Canary weights in percent; 100 is the promotion.")
    ] = "10,25,50,100",
    interval: Interval = "2m",
    check_every: CheckEvery = None,
    slo: Slo = None,
    container: Container = None,
    env: Env = None,
    max_burn_rate: MaxBurn = 10.0,
    margin: Margin = 2.0,
    min_requests: MinRequests = 50,
    kubeconfig: Kubeconfig = None,
    namespace: Namespace = None,
    prometheus: Prometheus = None,
    prometheus_config: PrometheusConfig = None,
    journal: Journal = None,
    ready_timeout: Timeout = 300.0,
    dry_run: DryRun = False,
    yes: Yes = False,
    fmt: Fmt = Format.table,
) -> None:
    """Shift traffic to a canary Deployment step by step (replica ratio behind the Service);
    abort and roll back when its SLIs burn budget; promote when every step holds."""
    options = dict(locals())  # before any import adds a name
    from sre_cli.rollout.plan import parse_steps

    _run("canary", parse_steps(options.pop("steps")), **options)


PreviewPath = Annotated[
    str,
    typer.Option(
        "--preview-path", help="Path the green pods are loaded on before the switch (SLO-counted)."
    ),
]
PreviewRps = Annotated[
    float,
    typer.Option(
        "--preview-rps", min=1, max=200, help="Requests per second of that load, over all pods."
    ),
]


def _preview_options(
    preview_path: PreviewPath = "/api/v1/farms", preview_rps: PreviewRps = 20.0
) -> None:
    """Blue-green's own options, spliced into the canary's."""


def blue_green(**options: Any) -> None:
    """Start a full-size green Deployment without traffic, judge it on synthetic load at its
    own pods, switch the Services only when it holds (then watch it on live traffic; switch
    back at once when it burns budget), and make it the stable one."""
    _run("blue-green", [100], **options)


def _blue_green_signature() -> inspect.Signature:
    """The canary's options but --steps, with the preview's before --kubeconfig."""
    base = list(_without(canary, "steps").parameters.values())
    extra = list(inspect.signature(_preview_options, eval_str=True).parameters.values())
    at = next(i for i, p in enumerate(base) if p.name == "kubeconfig")
    return inspect.Signature([*base[:at], *extra, *base[at:]])


blue_green.__signature__ = _blue_green_signature()  # type: ignore[attr-defined]
blue_green.__annotations__ = {
    **{k: v for k, v in canary.__annotations__.items() if k != "steps"},
    **_preview_options.__annotations__,
}
app.command("blue-green")(blue_green)


def _run(
    strategy: Strategy,
    weights: list[int],
    *,
    deployment: str,
    image: str,
    interval: str,
    check_every: str | None,
    slo: list[Path] | None,
    container: str | None,
    env: list[str] | None,
    max_burn_rate: float,
    margin: float,
    min_requests: int,
    kubeconfig: Path | None,
    namespace: str | None,
    prometheus: str | None,
    prometheus_config: Path | None,
    journal: Path | None,
    ready_timeout: float,
    dry_run: bool,
    yes: bool,
    fmt: Format,
    preview_path: str = "/api/v1/farms",
    preview_rps: float = 20.0,
) -> None:
    from sre_cli.commands.terminal import ask, interactive
    from sre_cli.errors import CheckFailed, UsageError
    from sre_cli.ops.consent import Consent
    from sre_cli.ops.providers.kubernetes import KubeTarget
    from sre_cli.ops.transcript import default_transcript_path
    from sre_cli.rollout.plan import Limits, parse_env
    from sre_cli.rollout.render import render_report
    from sre_cli.rollout.report import RolloutReport
    from sre_cli.rollout.start import Request, cluster_defaults, execute, prepare
    from sre_cli.rollout.workloads import KubeWorkloads
    from sre_cli.timespec import parse_duration

    def seconds(flag: str, text: str) -> float:
        try:
            value = parse_duration(text).total_seconds()
        except ValueError as exc:
            raise UsageError(f"{flag} {text!r}: {exc}") from None
        if value <= 0:
            raise UsageError(f"{flag} must be positive")
        return value

    if not image.strip():
        raise UsageError("--image is empty")
    request = Request(
        strategy=strategy,
        deployment=deployment,
        image=image.strip(),
        container=container,
        env=parse_env(env or []),
        weights=weights,
        interval_s=seconds("--interval", interval),
        check_every_s=None if check_every is None else seconds("--check-every", check_every),
        slo_paths=list(slo or []),
        limits=Limits(max_burn_rate=max_burn_rate, margin=margin, min_requests=min_requests),
        preview_path=preview_path,
        preview_rps=preview_rps,
    )
    local = cluster_defaults() if kubeconfig is None else None
    if local is not None:
        kubeconfig = local.kubeconfig
        namespace = namespace or local.namespace
        prometheus = prometheus or local.prometheus
    kube = KubeTarget.connect(kubeconfig, namespace)
    try:
        plan, stable, slos = prepare(kube, request)
        if dry_run:
            emit(RolloutReport(plan, dry_run=True), fmt.value, render_report)
            return
        consent = Consent(yes, interactive())
        decision = consent.decide("mutate")
        what = f"rollout {strategy} of deployment/{deployment} to {request.image}"
        if decision == "refuse" or (decision == "ask" and not ask(f"Start the {what}?")):
            raise consent.refusal("mutate", what, hint="--dry-run shows the plan")
        from sre_cli.prometheus import connect

        path = journal or default_transcript_path(deployment, folder="rollouts")
        with connect(prometheus, config=prometheus_config) as prom:
            report = execute(
                plan, stable, slos, KubeWorkloads(kube), prom, path, ready_timeout=ready_timeout
            )
    finally:
        kube.close()
    emit(report, fmt.value, render_report)
    if report.exit_code:
        raise CheckFailed(f"rollout aborted: {report.reason}")
