"""The rollout's rules without a cluster: steps, queries, verdicts, and the order of changes
each strategy makes (against FakeWorkloads, the namespace boundary the rollout owns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rollout.fake_cluster import FakePreview, FakeWorkloads, stable_deployment

from sre_cli.errors import UsageError
from sre_cli.rollout.analysis import Analysis, Figures, judge_slo
from sre_cli.rollout.bluegreen import run_blue_green
from sre_cli.rollout.canary import run_canary
from sre_cli.rollout.driver import Clock, Driver
from sre_cli.rollout.plan import Limits, RolloutPlan, canary_replicas, parse_env, parse_steps
from sre_cli.rollout.preview import PreviewSpec
from sre_cli.rollout.promql import scope
from sre_cli.rollout.templates import track_deployment
from sre_cli.slo.loader import load_slos
from sre_cli.slo.spec import SLO

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def availability() -> SLO:
    return next(s for s in load_slos([ROOT / "slo" / "api.yaml"]) if s.name == "availability")


# -- plan ---------------------------------------------------------------------------------


def test_steps_parse_and_must_rise_to_100() -> None:
    assert parse_steps("10,25,50,100") == [10, 25, 50, 100]
    assert parse_steps("100") == [100]
    for bad, words in [
        ("10,5,100", "must rise"),
        ("10,50", "last step must be 100"),
        ("0,100", "from 1 to 100"),
        ("ten", "whole percentages"),
        ("", "empty"),
    ]:
        with pytest.raises(UsageError, match=words):
            parse_steps(bad)


@pytest.mark.parametrize(
    ("weight", "stable", "canary"),
    [(10, 2, 1), (25, 2, 1), (50, 2, 2), (75, 2, 6), (10, 9, 1), (25, 9, 3), (100, 2, 0)],
)
def test_canary_replicas_give_at_least_the_weight(weight: int, stable: int, canary: int) -> None:
    assert canary_replicas(weight, stable) == canary
    if weight < 100:
        assert canary / (canary + stable) >= weight / 100 - 1e-9


def test_a_canary_without_a_step_below_100_is_refused() -> None:
    with pytest.raises(UsageError, match="a step below 100"):
        plan_for(weights=[100])


def test_env_pairs_are_checked() -> None:
    assert parse_env(["A=1", "B_C=x=y", "D="]) == {"A": "1", "B_C": "x=y", "D": ""}
    for bad in ["A", "=1", "1A=2", "A B=1"]:
        with pytest.raises(UsageError, match="--env"):
            parse_env([bad])


# -- queries and verdicts -------------------------------------------------------------------


def test_scope_adds_the_track_to_every_range_selector() -> None:
    q = 'sum(increase(a{job="api"}[30s])) - sum(rate(b[1m])) + c'
    assert scope(q, "track", "canary") == (
        'sum(increase(a{job="api",track="canary"}[30s])) - sum(rate(b{track="canary"}[1m])) + c'
    )


def test_scope_refuses_a_query_that_already_matches_the_track() -> None:
    with pytest.raises(UsageError, match="already matches"):
        scope('rate(a{track="x"}[1m])', "track", "canary")
    with pytest.raises(UsageError, match="no range-vector"):
        scope("up", "track", "canary")


def test_verdict_rules(availability: SLO) -> None:
    limits = Limits(max_burn_rate=10, margin=2, min_requests=50)
    b = availability.budget

    def verdict(bad: float, total: float, stable_bad: float = 0, stable_total: float = 1000) -> str:
        return judge_slo(
            availability, Figures(bad, total, b), Figures(stable_bad, stable_total, b), limits
        ).verdict

    assert verdict(0, 1000) == "pass"
    assert verdict(50, 1000) == "fail"  # 5 %: 50x
    assert verdict(3, 1000) == "fail"  # 3x, stable 0x: worse by more than 2
    assert verdict(3, 1000, stable_bad=2) == "pass"  # 3x against 2x
    assert verdict(0, 49) == "inconclusive"


# -- strategies ------------------------------------------------------------------------------


def plan_for(strategy: str = "canary", weights: list[int] | None = None) -> RolloutPlan:
    return RolloutPlan.build(
        strategy,  # type: ignore[arg-type]
        namespace="ns",
        deployment="api",
        image="svc:2",
        container="api",
        current_image="svc:1",
        env={"B": "2"},
        weights=weights or [10, 50, 100],
        stable=2,
        interval_s=10,
        check_every_s=5,
        slos=["api-availability"],
        limits=Limits(),
        services=["api", "api-nodeport"],
        preview=PreviewSpec("/api/v1/farms", 20.0, 8000),
    )


class Script:
    """An analyst answering the scripted verdicts in turn (the last one repeats)."""

    def __init__(self, *verdicts: str) -> None:
        self.verdicts = list(verdicts)
        self.tracks: list[str] = []
        #: at each analysis: the api Service's track, and whether the preview load ran
        self.seen: list[tuple[str | None, bool]] = []
        self.work: FakeWorkloads | None = None
        self.preview: FakePreview | None = None

    def __call__(self, track: str, start: float, at: float) -> Analysis:
        from sre_cli.rollout.analysis import Judgement

        self.tracks.append(track)
        if self.work is not None and self.preview is not None:
            self.seen.append((self.work.selectors["api"].get("track"), self.preview.running))
        v = self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]
        figures = Figures(0.0, 100.0, 0.001)
        return Analysis(start, at, [Judgement("api-availability", 99.9, figures, figures, v, v)])  # type: ignore[arg-type]


class Journal:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def write(self, event: str, fields: dict[str, object]) -> None:
        self.events.append((event, fields))


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def driver(work: FakeWorkloads, analyst: Script, strategy: str = "canary") -> Driver:
    clock = FakeClock()
    analyst.work, analyst.preview = work, FakePreview()
    return Driver(
        plan_for(strategy),
        work,
        analyst,
        Journal(),
        Clock(clock.now, clock.sleep),
        preview=analyst.preview,
    )


def test_the_canary_deployment_is_the_stable_template_with_the_new_image_env_and_track() -> None:
    body = track_deployment(stable_deployment(), plan_for(), track="canary", replicas=1)
    assert body["metadata"]["name"] == "api-canary"
    assert body["spec"]["selector"]["matchLabels"] == {"app": "api", "track": "canary"}
    template: dict[str, Any] = body["spec"]["template"]
    assert template["metadata"]["labels"]["track"] == "canary"
    container = template["spec"]["containers"][0]
    assert container["image"] == "svc:2"
    # the migration runs the new release's image, without the new env
    assert template["spec"]["initContainers"] == [{"name": "migrate", "image": "svc:2"}]
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_a_canary_that_holds_every_step_is_promoted_into_the_stable_deployment() -> None:
    work = FakeWorkloads(stable_deployment())
    d = driver(work, Script("pass"))
    report = run_canary(d, stable_deployment())
    assert report.outcome == "promoted"
    assert work.calls == [
        ("create", "api-canary", 0),
        ("scale", "api-canary", 1),
        ("scale", "api-canary", 2),
        ("set_template", "api"),
        ("scale", "api-canary", 0),
        ("delete", "api-canary"),
    ]
    promoted = work.deployments["api"]["spec"]["template"]
    assert promoted["metadata"]["labels"]["track"] == "stable"
    assert promoted["spec"]["containers"][0]["image"] == "svc:2"
    # two steps of 10 s checked every 5 s
    assert [r.analyses for r in report.steps] == [2, 2]
    decisions = [f["decision"] for e, f in d.journal.events if e == "decision"]  # type: ignore[attr-defined]
    assert decisions == ["continue", "continue"]


def test_a_failing_first_analysis_removes_the_canary_at_once_and_leaves_stable_alone() -> None:
    work = FakeWorkloads(stable_deployment())
    d = driver(work, Script("fail"))
    report = run_canary(d, stable_deployment())
    assert report.outcome == "aborted"
    assert report.exit_code == 1
    assert report.steps[0].analyses == 1  # not the whole interval
    assert "api-canary" not in work.deployments
    assert work.deployments["api"] == stable_deployment()
    events = dict(d.journal.events)  # type: ignore[attr-defined]
    assert events["decision"]["decision"] == "abort"
    assert events["decision"]["figures"]


def test_an_inconclusive_step_aborts_at_the_end_of_its_interval() -> None:
    work = FakeWorkloads(stable_deployment())
    report = run_canary(driver(work, Script("inconclusive")), stable_deployment())
    assert report.outcome == "aborted"
    assert report.steps[0].analyses == 2


def test_an_interrupted_canary_is_removed() -> None:
    work = FakeWorkloads(stable_deployment())

    def broken(track: str, start: float, at: float) -> Analysis:
        raise KeyboardInterrupt

    clock = FakeClock()
    d = Driver(plan_for(), work, broken, Journal(), Clock(clock.now, clock.sleep))
    with pytest.raises(KeyboardInterrupt):
        run_canary(d, stable_deployment())
    assert set(work.deployments) == {"api"}


def test_a_leftover_canary_is_refused() -> None:
    work = FakeWorkloads(stable_deployment())
    work.deployments["api-canary"] = stable_deployment()
    with pytest.raises(UsageError, match="already exists"):
        run_canary(driver(work, Script("pass")), stable_deployment())


def _api_routes(work: FakeWorkloads) -> list[str | None]:
    return [c[2] for c in work.calls if c[0] == "route" and c[1] == "api"]


@pytest.mark.parametrize("verdict", ["fail", "inconclusive"])
def test_blue_green_refuses_green_at_the_gate_before_any_service_moves(verdict: str) -> None:
    work = FakeWorkloads(stable_deployment())
    analyst = Script(verdict)
    d = driver(work, analyst, "blue-green")
    report = run_blue_green(d, stable_deployment())
    assert report.outcome == "aborted"
    assert [r.phase for r in report.steps] == ["preview"]
    # judged on its own load while the Services still routed to the blue pods only
    assert analyst.seen
    assert all(s == ("stable", True) for s in analyst.seen)
    assert analyst.tracks[0] == "green"
    assert d.preview.targets == [("10.244.1.1", 8000), ("10.244.1.2", 8000)]  # type: ignore[attr-defined]
    assert _api_routes(work) == ["stable", None]  # pinned to blue, then as before: never green
    # green is gone before the pin is lifted (unpinned, the Services would pick it)
    order = [c[:2] for c in work.calls if c[0] in ("route", "delete")]
    assert order[-3:] == [("delete", "api-green"), ("route", "api"), ("route", "api-nodeport")]
    assert work.selectors == {"api": {"app": "api"}, "api-nodeport": {"app": "api"}}
    assert set(work.deployments) == {"api"}
    assert work.deployments["api"] == stable_deployment()
    decision = next(f for e, f in d.journal.events if e == "decision")  # type: ignore[attr-defined]
    assert (decision["decision"], decision["phase"]) == ("abort", "preview")


def test_blue_green_that_fails_on_live_traffic_switches_back_at_once() -> None:
    work = FakeWorkloads(stable_deployment())
    analyst = Script("pass", "pass", "fail")
    report = run_blue_green(driver(work, analyst, "blue-green"), stable_deployment())
    assert report.outcome == "aborted"
    assert [(r.phase, r.verdict) for r in report.steps] == [("preview", "pass"), ("live", "fail")]
    assert analyst.seen == [("stable", True), ("stable", True), ("green", False)]
    assert _api_routes(work) == ["stable", "green", "stable", None]
    assert set(work.deployments) == {"api"}


def test_blue_green_that_holds_becomes_the_stable_deployment() -> None:
    work = FakeWorkloads(stable_deployment())
    analyst = Script("pass")
    report = run_blue_green(driver(work, analyst, "blue-green"), stable_deployment())
    assert report.outcome == "promoted"
    assert ("create", "api-green", 2) in work.calls
    assert [r.phase for r in report.steps] == ["preview", "live"]
    assert report.steps[0].load is not None
    assert report.steps[0].load.requests == 100
    assert _api_routes(work) == ["stable", "green", "stable", None]
    # the stable template changes while green serves, and the Services come back after
    order = [c[:2] for c in work.calls if c[0] in ("set_template", "route", "delete")]
    assert order.index(("set_template", "api")) < order.index(("delete", "api-green"))
    assert work.deployments["api"]["spec"]["template"]["spec"]["containers"][0]["image"] == "svc:2"
    assert work.selectors == {"api": {"app": "api"}, "api-nodeport": {"app": "api"}}


def test_blue_green_promotes_when_live_traffic_is_too_thin_to_judge() -> None:
    work = FakeWorkloads(stable_deployment())
    report = run_blue_green(
        driver(work, Script("pass", "pass", "inconclusive"), "blue-green"), stable_deployment()
    )
    assert report.outcome == "promoted"
    assert [r.verdict for r in report.steps] == ["pass", "inconclusive"]


def test_an_interrupted_blue_green_gate_removes_green_and_restores_the_services() -> None:
    work = FakeWorkloads(stable_deployment())

    def broken(track: str, start: float, at: float) -> Analysis:
        raise KeyboardInterrupt

    clock = FakeClock()
    d = Driver(
        plan_for("blue-green"),
        work,
        broken,
        Journal(),
        Clock(clock.now, clock.sleep),
        preview=FakePreview(),
    )
    with pytest.raises(KeyboardInterrupt):
        run_blue_green(d, stable_deployment())
    assert set(work.deployments) == {"api"}
    assert _api_routes(work) == ["stable", None]


def test_blue_green_needs_the_stable_track_label() -> None:
    stable = stable_deployment()
    del stable["spec"]["template"]["metadata"]["labels"]["track"]
    with pytest.raises(UsageError, match="track=stable"):
        run_blue_green(driver(FakeWorkloads(stable), Script("pass"), "blue-green"), stable)
