"""The stack's dashboards URL: the agent's page with the stack's token, only when there is a
Prometheus to draw from; and the page refuses a request without the token."""

from __future__ import annotations

from sre_cli.stack.dashboards import DashboardsPage, dashboards_url
from sre_cli.stack.spec import ComponentSpec, Ports, Probe, StackPlan


def _component(kind: str, port: int) -> ComponentSpec:
    url = f"http://127.0.0.1:{port}"
    return ComponentSpec(name=kind, kind=kind, port=port, url=url, probe=Probe(kind="http"))  # type: ignore[arg-type]


def _plan(*components: ComponentSpec) -> StackPlan:
    return StackPlan(lite=False, api_replicas=1, workers=0, ports=Ports(), components=components)


def test_the_url_needs_an_agent_a_prometheus_and_a_token() -> None:
    full = _plan(_component("agent", 9095), _component("prometheus", 9090))
    assert dashboards_url(full, "t0k") == "http://127.0.0.1:9095/dashboards/?token=t0k"
    assert dashboards_url(full, "") is None
    assert dashboards_url(_plan(_component("agent", 9095)), "t0k") is None


def test_no_token_configured_means_no_page() -> None:
    page = DashboardsPage(_plan(_component("prometheus", 9090)), "")
    assert page.get("/dashboards/?token=", {}).status == 401
    assert page.get("/dashboards/", {"Authorization": "Bearer "}).status == 401
    assert page.get("/dashboards/", {"Cookie": "aqua_dashboards=; x=\\"}).status == 401


def test_a_stack_without_prometheus_says_so() -> None:
    page = DashboardsPage(_plan(_component("agent", 9095)), "t0k")
    answer = page.get("/dashboards/?token=t0k", {})
    assert (answer.status, "no Prometheus" in answer.body) == (503, True)
