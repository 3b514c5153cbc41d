"""From the command line to a running rollout: defaults, the plan, the run.

Without ``--kubeconfig``, a local cluster that is up (``aqua cluster up``) lends its
kubeconfig, its namespace and its Prometheus. Without ``--slo``, the SLO file named after the
pods' ``app.kubernetes.io/component`` label (``api`` -> ``slo/api.yaml``) judges them::

    plan, stable, slos = prepare(kube, request)
    report = execute(plan, stable, slos, KubeWorkloads(kube), prom, journal_path)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sre_cli.errors import UsageError
from sre_cli.rollout.bluegreen import routed_services
from sre_cli.rollout.plan import Limits, RolloutPlan, Strategy
from sre_cli.rollout.templates import container_image, pick_container, pod_labels

if TYPE_CHECKING:
    from sre_cli.ops.providers.kubernetes import KubeTarget
    from sre_cli.prometheus import PrometheusClient
    from sre_cli.rollout.report import RolloutReport
    from sre_cli.rollout.workloads import Workloads
    from sre_cli.slo.spec import SLO

__all__ = ["ClusterDefaults", "Request", "cluster_defaults", "execute", "prepare"]


@dataclass(frozen=True)
class Request:
    strategy: Strategy
    deployment: str
    image: str
    container: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    weights: list[int] = field(default_factory=lambda: [10, 25, 50, 100])
    interval_s: float = 120.0
    check_every_s: float | None = None
    slo_paths: list[Path] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    #: blue-green's gate: the path its synthetic load asks for, and how often
    preview_path: str = "/api/v1/farms"
    preview_rps: float = 20.0


@dataclass(frozen=True)
class ClusterDefaults:
    kubeconfig: Path
    namespace: str
    prometheus: str | None


def cluster_defaults() -> ClusterDefaults | None:
    """The local cluster's kubeconfig, namespace and Prometheus, when one is up."""
    from sre_cli.cluster.cluster import LocalCluster, default_state_dir
    from sre_cli.cluster.stack import NAMESPACE

    status = LocalCluster(default_state_dir()).status()
    if not status.running or status.kubeconfig is None:
        return None
    return ClusterDefaults(Path(status.kubeconfig), NAMESPACE, status.urls.get("prometheus"))


def _slo_files(request: Request, stable: dict[str, Any]) -> list[Path]:
    if request.slo_paths:
        return request.slo_paths
    from sre_cli.slo.loader import default_dir

    component = pod_labels(stable).get("app.kubernetes.io/component")
    candidate = default_dir() / f"{component}.yaml"
    if component is None or not candidate.is_file():
        raise UsageError(
            f"no SLO file for deployment/{request.deployment}",
            hint="pass --slo FILE (by default: slo/<app.kubernetes.io/component>.yaml)",
        )
    return [candidate]


def _check_every(request: Request) -> float:
    if request.check_every_s is not None:
        return request.check_every_s
    return max(2.0, min(15.0, request.interval_s / 6))


def prepare(kube: KubeTarget, request: Request) -> tuple[RolloutPlan, dict[str, Any], list[SLO]]:
    """The plan (from the Deployment as it runs now), the stable Deployment, the SLOs."""
    from sre_cli.rollout.workloads import KubeWorkloads
    from sre_cli.slo.loader import load_slos

    work = KubeWorkloads(kube)
    stable = work.get(request.deployment)
    if stable is None:
        raise UsageError(f"no deployment/{request.deployment} in namespace {kube.namespace}")
    container = pick_container(stable, request.container)
    slos = load_slos(_slo_files(request, stable))
    if not slos:
        raise UsageError("the SLO files hold no SLO to judge the rollout by")
    preview = None
    if request.strategy == "blue-green":
        from sre_cli.rollout.preview import PreviewSpec, container_port

        if not request.preview_path.startswith("/"):
            raise UsageError(f"--preview-path {request.preview_path!r} must start with /")
        port = container_port(stable["spec"]["template"], container)
        preview = PreviewSpec(request.preview_path, request.preview_rps, port)
    plan = RolloutPlan.build(
        request.strategy,
        namespace=kube.namespace,
        deployment=request.deployment,
        image=request.image,
        container=container,
        current_image=container_image(stable, container),
        env=request.env,
        weights=request.weights,
        stable=int(stable["spec"].get("replicas") or 0),
        interval_s=request.interval_s,
        check_every_s=_check_every(request),
        slos=[s.id for s in slos],
        limits=request.limits,
        services=routed_services(work.services(), pod_labels(stable)),
        preview=preview,
    )
    return plan, stable, slos


def execute(
    plan: RolloutPlan,
    stable: dict[str, Any],
    slos: list[SLO],
    work: Workloads,
    prom: PrometheusClient,
    journal_path: Path,
    *,
    ready_timeout: float = 300.0,
) -> RolloutReport:
    """Run the plan, every event in the journal at ``journal_path``."""
    from sre_cli.ops.transcript import Transcript
    from sre_cli.rollout.analysis import Analysis, analyse
    from sre_cli.rollout.bluegreen import run_blue_green
    from sre_cli.rollout.canary import run_canary
    from sre_cli.rollout.driver import Driver

    def analyst(track: str, start: float, at: float) -> Analysis:
        return analyse(slos, prom, plan.limits, start=start, at=at, track=track)

    with Transcript(journal_path) as journal:
        driver = Driver(plan, work, analyst, journal, ready_timeout=ready_timeout)
        driver.report.journal = str(journal_path)
        run = run_blue_green if plan.strategy == "blue-green" else run_canary
        report = run(driver, stable)
        journal.write("end", {"outcome": report.outcome, "reason": report.reason})
    return report
