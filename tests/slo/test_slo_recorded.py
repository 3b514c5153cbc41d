"""`aqua slo report --recorded` on a real Prometheus: hourly recordings backfilled over the
history with `promtool tsdb create-blocks-from rules`, compared with the raw counters, and the
SLI error ratios of `aqua slo rules` evaluated every minute for twenty minutes of it, compared
with the raw burn rates at each evaluation's instant.

The history (tests/slo/slo_history.py) scrapes on the minute and keeps every increment, so the
recorded figure is held to the bound slo/README.md states against the generator's own count.
Windows the recordings do not cover (before the history, across its two-hour scrape gap) must
come from the raw counters, and every result says which figure it shows.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import promtool_backfill
import pytest
import yaml
from cli_runner import invoke
from json_schema import assert_matches_schema
from slo.slo_history import BURST, GAP, RATE, RESET_AT, T0, T1, History, blocks, generate

from sre_cli.commands.slo import app
from sre_cli.prometheus import PrometheusClient, Sample
from sre_cli.slo.batch import evaluate, evaluate_many
from sre_cli.slo.engine import plan
from sre_cli.slo.loader import load_slos
from sre_cli.slo.recorded import (
    GROUP,
    HOUR,
    RECORD,
    burn_rates,
    describe,
    describe_burn_rates,
    eligible,
    format_duration_s,
    last_evaluations,
    recording_group,
    window_counts,
)
from sre_cli.slo.rules import rule_groups, rules_yaml
from sre_cli.slo.spec import SLO
from sre_cli.slo.windows import BURN_RATE_WINDOWS, load_tiers

pytestmark = pytest.mark.integration

ERR = 'http_requests_total{job="api",status="500"}'
OK = 'http_requests_total{job="api",status="200"}'
#: 2 days before this the window starts 1h20m into the history; the scrape gap comes later
COVERED = T0 + 2 * 86400 + 80 * 60
#: the SLI ratio rules of "availability" are evaluated every minute from here (off the minute)
#: for 20 minutes, an hour after COVERED (before the scrape gap)
SLI_FROM = COVERED + 3600 - 600 + 17
SLI_TO = SLI_FROM + 1200

_EVENTS = {
    "error_query": 'sum(rate(http_requests_total{job="api",status=~"5.."}[{{.window}}]))',
    "total_query": 'sum(rate(http_requests_total{job="api"}[{{.window}}]))',
}
SPECS = {
    "api.yaml": yaml.safe_dump(
        {
            "version": "prometheus/v1",
            "service": "api",
            "slos": [
                {"name": name, "objective": 99.9, "window": window, "sli": {"events": _EVENTS}}
                for name, window in (("availability", "2d"), ("availability-30d", "30d"))
            ],
        }
    )
}

specs = promtool_backfill.specs_fixture(SPECS, "slo-recorded-specs")

#: two teams' SLOs over the same counters, whose hourly recordings each team loads from a file
#: of its own: Prometheus (and promtool) evaluate each group at an offset of its own in the hour
TEAMS = ("team-a", "team-b")
TEAM_SPECS = yaml.safe_dump(
    {
        "version": "prometheus/v1",
        "service": "teams",
        "slos": [
            {"name": name, "objective": 99.9, "window": "1d", "sli": {"events": _EVENTS}}
            for name in TEAMS
        ],
    }
)


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slo-recorded-teams")
    (root / "teams.yaml").write_text(TEAM_SPECS)
    return root


@pytest.fixture(scope="module")
def history() -> History:
    return generate()


@pytest.fixture(scope="module")
def recorded_url(
    prometheus_factory: Callable[..., Any],
    promtool: Path,
    specs: Path,
    teams: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A Prometheus holding the history and its hourly recordings, backfilled by promtool
    from a first Prometheus serving the history alone; each team's recordings come from a
    file of its own (named relative to the folder, so their offsets do not vary by run)."""
    built = blocks(promtool)
    raw_url = promtool_backfill.serve(
        prometheus_factory, built, tmp_path_factory.mktemp("slo-recorded-raw")
    )
    work = tmp_path_factory.mktemp("slo-recorded-rules")
    rules = work / "report-recordings.yaml"
    rules.write_text(yaml.safe_dump({"groups": [recording_group(load_slos([specs]))]}))
    # The SLI ratios of one SLO only: the other's burn rates have no recording to read.
    [slo] = [s for s in load_slos([specs]) if s.name == "availability"]
    sli = work / "sli-recordings.yaml"
    sli.write_text(yaml.safe_dump({"groups": [rule_groups(slo, load_tiers())[0]]}))
    # Relative names: promtool aligns a group's evaluations by a hash of its file's name, so
    # an absolute (temporary) path would move them from run to run.
    files = [(Path(rules.name), T0, T1), (Path(sli.name), SLI_FROM, SLI_TO)]
    for slo in load_slos([teams]):
        team = Path(f"{slo.name}.yaml")
        (work / team).write_text(yaml.safe_dump({"groups": [recording_group([slo])]}))
        files.append((team, T0, T1))
    for path, start, end in files:
        subprocess.run(
            [
                promtool,
                "tsdb",
                "create-blocks-from",
                "rules",
                f"--url={raw_url}",
                f"--start={start}",
                f"--end={end}",
                "--eval-interval=60s",
                f"--output-dir={work / 'data'}",
                path,
            ],
            check=True,
            capture_output=True,
            cwd=work,
        )
    storage = tmp_path_factory.mktemp("slo-recorded-tsdb")
    shutil.copytree(work / "data", storage, dirs_exist_ok=True)
    return promtool_backfill.serve(prometheus_factory, built, storage)


@pytest.fixture
def rprom(recorded_url: str) -> Any:
    with PrometheusClient(recorded_url) as client:
        yield client


def _pair(specs: Path, prom: PrometheusClient, at: float) -> tuple[Any, Any]:
    slos = load_slos([specs])
    raw = evaluate(slos, prom, at, burn_down=False)
    rec = evaluate(slos, prom, at, burn_down=False, recorded=True)
    return {r.slo.name: r for r in raw.results}, {r.slo.name: r for r in rec.results}


def test_an_hour_without_two_samples_has_no_recording(rprom: PrometheusClient) -> None:
    one = f'{RECORD}{{sloth_slo="availability", aqua_events="total"}}'
    [series] = rprom.query_range(f"count_over_time({one}[{HOUR - 1}s])", T0 + HOUR, T1, 300)
    missing = sorted(set(range(T0 + HOUR, T1 + 1, 300)) - {int(t) for t in series.times})
    assert missing, "the scrape gap leaves an hour unrecorded"
    assert GAP[0] + HOUR <= missing[0]
    assert missing[-1] < GAP[1] + HOUR


def _bounds(history: History, series: tuple[str, ...], cuts: list[float]) -> tuple[float, float]:
    """How far below and above the exact count a sum of ``increase`` over the pieces between
    ``cuts`` may be (scrapes on the minute, no gap): each piece misses the events of the
    interval crossing into it and extrapolates its own to its edges."""
    below = above = 0.0
    for u, v in itertools.pairwise(cuts):
        times = [t for t in range(int(u) - int(u) % 60, int(v) + 1, 60) if u <= t <= v]
        for s in series:
            inc = history.increments[s]
            below += inc[times[0]] if times and times[0] != u else 0
            if len(times) < 2:  # no increase: the events of its one sample are missed
                continue
            inside = sum(inc[t] for t in times[1:])
            above += inside * ((v - u) - (times[-1] - times[0])) / (times[-1] - times[0])
    return below, above


def _recorded_at(prom: PrometheusClient, name: str, at: float, before: float = HOUR) -> list[float]:
    """The instants the hourly recording of SLO ``name`` was evaluated in ``[at - before, at]``."""
    selector = f'{RECORD}{{sloth_slo="{name}", aqua_events="total"}}'
    [series] = prom.query_range(f"timestamp({selector})", at - before, at, 60)
    return sorted({v for v in series.values if v <= at})


def _cuts(start: float, last: float, at: float) -> list[float]:
    """The pieces of a window read from hours recorded up to ``last``: the raw start, the
    recorded hours, the raw end."""
    hours = int((last - start) // HOUR)
    return [start, *(last - k * HOUR for k in range(hours, -1, -1)), at]


def _within_bound(
    history: History, result: Any, cuts: list[float], start: float, at: float
) -> None:
    for got, series in ((result.bad, (ERR,)), (result.total, (ERR, OK))):
        exact = sum(history.count(s, start, at) for s in series)
        below, above = _bounds(history, series, cuts)
        assert got is not None
        assert exact - below - 1e-6 <= got <= exact + above + 1e-6, (got, exact, below, above)


def test_recorded_window_stays_within_its_bound(
    specs: Path, rprom: PrometheusClient, history: History
) -> None:
    """The recorded hours fall off the minute (as a live rule group's do): each extrapolates
    its samples to its edges; the report's figure stays between the stated bounds."""
    for at in (COVERED, COVERED + 30):
        raw, rec = _pair(specs, rprom, at)
        r, w = rec["availability"], raw["availability"]
        assert r.source == "recorded"
        assert w.source is None
        start = at - 2 * 86400
        assert start < RESET_AT < at  # the counters reset inside the window
        [last] = [e for e in _recorded_at(rprom, "availability", at) if at - HOUR < e <= at]
        _within_bound(history, r, _cuts(start, last, at), start, at)
        # Requests arrive at a steady 1,000 a minute, so extrapolating an hour's samples to
        # its edges misses none: a lost or doubled piece of the window would show here.
        assert r.total == pytest.approx(
            history.count(ERR, start, at) + history.count(OK, start, at), abs=2 * RATE
        )
        assert r.burn_rates == w.burn_rates


def test_each_group_is_cut_at_its_own_evaluation(
    specs: Path, teams: Path, rprom: PrometheusClient, history: History
) -> None:
    """Two teams load their hourly recordings as groups of their own, evaluated at different
    instants of the hour. Each SLO's window is its recorded hours up to its own group's last
    evaluation: cut at the other group's, one team's hours would overlap the raw start of its
    window (and leave a gap at its end) by the time between the two evaluations. The report
    runs just after one group's evaluation chosen so that the burst of errors, a day earlier,
    falls in that overlap."""
    day = 86400
    # Either group's evaluations, around a day after the burst (the window is one day).
    seen = {n: _recorded_at(rprom, n, BURST[1] + day + 2 * HOUR, 5 * HOUR) for n in TEAMS}
    assert all(len(v) == 5 for v in seen.values()), seen
    best: tuple[float, float, float] | None = None
    for late, early in (TEAMS, TEAMS[::-1]):
        for e in seen[late]:
            before = [x for x in seen[early] if e - HOUR < x < e]
            if not before:  # the first of the instants seen
                continue
            e2 = before[0]
            # the piece both the raw start and the recorded hours would count, a day earlier
            overlap = min(e - day + HOUR, BURST[1]) - max(e2 - day + HOUR, BURST[0])
            if best is None or overlap > best[0]:
                best = (overlap, e, e2)
    assert best is not None
    overlap, e, e2 = best
    assert overlap >= 300, best  # the two groups' evaluations tile the hour: always >= 5 min
    # 10 s after the first minute after it, so that a reader stepping on the minute sees it
    at = math.ceil(e / 60) * 60 + 10
    assert at < e2 + HOUR, best  # the early group's next evaluation is still to come
    start = at - day
    slos = load_slos([teams])
    raw = {r.slo.name: r for r in evaluate(slos, rprom, at, burn_down=False).results}
    rec = {r.slo.name: r for r in evaluate(slos, rprom, at, burn_down=False, recorded=True).results}
    for name in TEAMS:
        [last] = [x for x in (e, e2) if x in seen[name]]
        r, w = rec[name], raw[name]
        assert r.source == "recorded", name
        cuts = _cuts(start, last, at)
        _within_bound(history, r, cuts, start, at)
        # The budget consumed, bad / total / (1 - objective), within the bound of both: the
        # raw report's lies in it too.
        bad = history.count(ERR, start, at)
        total = bad + history.count(OK, start, at)
        (bad_below, bad_above), (total_below, total_above) = (
            _bounds(history, (ERR,), cuts),
            _bounds(history, (ERR, OK), cuts),
        )
        low = (bad - bad_below) / (total + total_above) / 0.001
        high = (bad + bad_above) / (total - total_below) / 0.001
        for got in (r.budget_consumed, w.budget_consumed):
            assert got is not None
            assert low - 1e-9 <= got <= high + 1e-9, (name, got, low, high)


def test_windows_the_recordings_do_not_cover_are_read_raw(
    specs: Path, rprom: PrometheusClient
) -> None:
    # the 30-day window starts before the history; at T1 the 2-day one spans the scrape gap
    for at, name in ((COVERED, "availability-30d"), (T1, "availability")):
        assert GAP[1] < T1
        raw, rec = _pair(specs, rprom, at)
        assert rec[name].source == "raw"
        assert rec[name].budget_consumed == raw[name].budget_consumed
        assert (rec[name].bad, rec[name].total) == (raw[name].bad, raw[name].total)


def test_rules_add_the_recordings_only_when_asked(
    specs: Path, promtool: Path, tmp_path: Path
) -> None:
    slos = load_slos([specs])
    plain, asked = rules_yaml(slos), rules_yaml(slos, report_recordings=True)
    assert RECORD not in plain
    assert asked.startswith(plain.split("groups:")[0])  # the Sloth groups come first, unchanged
    assert plain.split("groups:", 1)[1] in asked
    path = tmp_path / "rules.yaml"
    path.write_text(asked)
    checked = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    group = yaml.safe_load(asked)["groups"][-1]
    assert (group["name"], group["interval"], len(group["rules"])) == (GROUP, "1h", 4)


def test_report_says_which_figure_it_shows(specs: Path, recorded_url: str) -> None:
    base = ["report", str(specs), "--prometheus", recorded_url, "--at", str(COVERED)]
    code, out = invoke(app, [*base, "--format", "json", "--recorded"])
    assert code == 0, out
    assert_matches_schema("slo-report", json.loads(out))
    sources = {s["name"]: s["events"]["source"] for s in json.loads(out)["slos"]}
    assert sources == {"availability": "recorded", "availability-30d": "raw"}
    code, out = invoke(app, [*base, "--format", "json"])
    assert code == 0, out
    assert all("source" not in s["events"] for s in json.loads(out)["slos"])
    code, out = invoke(app, [*base, "--format", "markdown", "--recorded"])
    assert code == 0, out
    assert f"{RECORD} recordings for 1 of 2 SLOs, raw counters for 1" in out
    code, out = invoke(app, [*base, "--recorded"])
    assert code == 0, out
    assert "recordings for 1 of 2 SLOs" in " ".join(out.split())


def _evaluation(prom: PrometheusClient, at: float) -> float:
    """The instant of the SLI ratio group's last evaluation at or before ``at`` (promtool, like
    Prometheus, evaluates a group at an offset of its own within the interval)."""
    [sample] = prom.query('timestamp(slo:sli_error:ratio_rate5m{sloth_slo="availability"})', at)
    return sample.value


def test_recorded_burn_rates_are_the_raw_ones_at_the_rules_evaluation(
    specs: Path, rprom: PrometheusClient
) -> None:
    """Each recorded burn rate is the raw figure at the instant the rule was evaluated, for
    every window and alert tier, whenever the report runs after it (within the 5-minute
    lookback); the SLO without recordings, and any report after the lookback, read raw."""
    slos, tiers = load_slos([specs]), load_tiers()
    evaluation = _evaluation(rprom, SLI_FROM + 600)
    assert SLI_FROM + 540 < evaluation <= SLI_FROM + 600
    then = {r.slo.name: r for r in evaluate_many(slos, rprom, evaluation, tiers, burn_down=False)}
    windows = set(BURN_RATE_WINDOWS)
    for at in (math.ceil(evaluation), math.ceil(evaluation) + 1, math.floor(evaluation) + 59):
        rec = {r.slo.name: r for r in evaluate(slos, rprom, at, recorded=True).results}
        now = {r.slo.name: r for r in evaluate(slos, rprom, at, burn_down=False).results}
        r, exact = rec["availability"], then["availability"]
        assert r.burn_rates_at is not None
        assert windows <= set(r.burn_rates_at)
        assert set(r.burn_rates_at.values()) == {evaluation}, r.burn_rates_at
        assert r.source == "recorded"  # the window still comes from the hourly recordings
        for window in BURN_RATE_WINDOWS:
            assert r.burn_rates[window] == pytest.approx(exact.burn_rates[window], rel=1e-12)
        assert r.tiers == exact.tiers
        other = rec["availability-30d"]
        assert other.burn_rates_at == {}
        assert other.burn_rates == now["availability-30d"].burn_rates
    # Five minutes after the last evaluation Prometheus no longer returns it: read raw.
    after = math.ceil(_evaluation(rprom, SLI_TO)) + 300
    late = {r.slo.name: r for r in evaluate(slos, rprom, after, recorded=True).results}
    assert late["availability"].burn_rates_at == {}
    raw = {r.slo.name: r for r in evaluate(slos, rprom, after, burn_down=False).results}
    assert late["availability"].burn_rates == raw["availability"].burn_rates


def test_report_says_how_old_its_recorded_burn_rates_are(
    specs: Path, recorded_url: str, rprom: PrometheusClient
) -> None:
    evaluation = _evaluation(rprom, SLI_FROM + 600)
    at = math.floor(evaluation) + 30
    base = ["report", str(specs), "--prometheus", recorded_url, "--at", str(at), "--recorded"]
    code, out = invoke(app, [*base, "--format", "json"])
    assert code == 0, out
    body = json.loads(out)
    assert_matches_schema("slo-report", body)
    recorded = {s["name"]: s["burn_rates_recorded_at"] for s in body["slos"]}
    assert recorded["availability-30d"] == {}
    stamp = datetime.fromtimestamp(round(evaluation), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert recorded["availability"] == dict.fromkeys(BURN_RATE_WINDOWS, stamp)
    code, out = invoke(app, [*base, "--format", "markdown"])
    assert code == 0, out
    age = f"{at - evaluation:.0f}"
    assert f"recordings for 1 of 2 SLOs (up to {age} s old), raw counters for 1" in out


def test_only_event_counted_occurrence_slos_get_recordings(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": "prometheus/v1",
                "service": "api",
                "slos": [
                    {"name": "events", "objective": 99.9, "sli": {"events": _EVENTS}},
                    {
                        "name": "raw",
                        "objective": 99.9,
                        "sli": {"raw": {"error_ratio_query": "max(slow_ratio[{{.window}}])"}},
                    },
                    {
                        "name": "slices",
                        "objective": 99.9,
                        "budgeting": {"method": "timeslices", "slice": "1m", "slice_target": 0.99},
                        "sli": {"events": _EVENTS},
                    },
                ],
            }
        )
    )
    slos = load_slos([path])
    assert [eligible(s) for s in slos] == [True, False, False]
    names = {r["labels"]["sloth_slo"] for r in recording_group(slos)["rules"]}
    assert names == {"events"}


def test_each_slos_last_evaluation_is_its_latest_finite_time_at_or_before_now(
    specs: Path,
) -> None:
    at = T0 + 86400.0
    slos = load_slos([specs])
    names = [s.name for s in slos]

    def answer(values: dict[str, list[float]]) -> Any:
        samples = [
            Sample({"sloth_id": s.id, "sloth_service": s.service, "sloth_slo": s.name}, v)
            for s in slos
            for v in values.get(s.name, [])
        ]
        return lambda query, when: lambda: samples

    def last(values: dict[str, list[float]]) -> list[float | None]:
        return last_evaluations(slos, at, answer(values))()

    a, b = names
    assert last({a: [at - 3600, at, at + 60, float("nan")], b: [at - 60]}) == [at, at - 60]
    assert last({a: [at - 60, float("inf")]}) == [at - 60, None]
    assert last({a: [at + 1], b: [at - 1]}) == [None, at - 1]


# --- the arithmetic and the queries of the recorded reads, on answers the test gives ----------


def _many(tmp_path: Path, count: int, window: str = "1d") -> list[SLO]:
    path = tmp_path / "many.yaml"
    slos = [{"name": f"s{i}", "objective": 99.9, "sli": {"events": _EVENTS}} for i in range(count)]
    doc = {"version": "prometheus/v1", "service": "api", "window": window, "slos": slos}
    path.write_text(yaml.safe_dump(doc))
    return load_slos([path])


def _matcher(slo: SLO) -> str:
    """The PromQL matcher of one SLO's id (a regular expression in a string literal)."""
    return 'sloth_id=~"' + re.escape(slo.id).replace("\\", "\\\\") + '"'


def _labels(slo: SLO, **extra: str) -> dict[str, str]:
    return {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name, **extra}


def test_describe_says_where_each_figure_comes_from() -> None:
    assert describe([None, None]) is None
    assert describe(["recorded", None, "recorded"]) == (
        f"window counts: {RECORD} recordings for 2 of 2 SLOs"
    )
    assert describe(["recorded", "raw", "raw"]) == (
        f"window counts: {RECORD} recordings for 1 of 3 SLOs, raw counters for 2"
    )
    at = 1000.0
    every = dict.fromkeys(BURN_RATE_WINDOWS, at - 30)
    some = {"5m": at - 90.4, "1h": at - 10}
    assert describe_burn_rates([None], at) is None
    assert describe_burn_rates([every, every], at) == (
        "burn rates: slo:sli_error:ratio_rate* recordings for 2 of 2 SLOs (up to 30 s old)"
    )
    assert describe_burn_rates([every, some, {}, None], at) == (
        "burn rates: slo:sli_error:ratio_rate* recordings for 1 of 3 SLOs (up to 90 s old), "
        "in part for 1, raw counters for 1"
    )
    assert describe_burn_rates([{}], at) == (
        "burn rates: slo:sli_error:ratio_rate* recordings for 0 of 1 SLOs, raw counters for 1"
    )


def test_raw_edges_are_whole_seconds() -> None:
    assert [format_duration_s(s) for s in (-5, 0, 0.4, 0.6, 1, 3599.5, 7200)] == [
        "", "", "", "1s", "1s", "3600s", "7200s",
    ]  # fmt: skip


def test_burn_rates_read_one_series_per_window_in_batches_of_250(tmp_path: Path) -> None:
    slos = _many(tmp_path, 251)
    at = 1_717_200_000.0
    plans = [plan(s, at, load_tiers()) for s in slos]
    a, b, c = slos[:3]
    values = [
        Sample(_labels(a, sloth_window="5m"), 0.002),
        Sample(_labels(a, sloth_window="1h"), float("nan")),  # no traffic in the hour
        Sample(_labels(b, sloth_window="5m"), 0.1),  # twice: rules loaded twice
        Sample(_labels(b, sloth_window="5m", team="x"), 0.1),
        Sample(_labels(b, sloth_window="1h"), 0.01),
        Sample(_labels(c, sloth_window="6h"), 0.03),  # no timestamp for it
    ]
    times = [
        Sample(_labels(a, sloth_window="5m"), at - 20),
        Sample(_labels(a, sloth_window="1h"), at - 40),
        Sample(_labels(b, sloth_window="1h"), at - 50),
    ]
    asked: list[tuple[str, float]] = []

    def query(expr: str, when: float) -> Callable[[], list[Sample]]:
        asked.append((expr, when))
        first = len(asked) <= 2
        return lambda: (times if expr.startswith("timestamp(") else values) if first else []

    got = burn_rates(plans, at, query)()
    assert got[0] == {"5m": (0.002, at - 20), "1h": (None, at - 40)}
    assert got[1] == {"1h": (0.01, at - 50)}
    assert got[2] == {}
    assert len(asked) == 4
    assert {when for _, when in asked} == {at}
    names = "slo:sli_error:ratio_rate(?:" + "|".join(sorted(plans[0].windows)) + ")"
    first, last = asked[0][0], asked[2][0]
    assert first.startswith('{__name__=~"' + names.replace("\\", "\\\\") + '", sloth_id=~"')
    assert first.split('sloth_id=~"')[1].count("|") == 249  # 250 ids
    assert last.endswith(f"{_matcher(slos[250])}}}")
    assert asked[1][0] == f"timestamp({first})"


def _counts(
    slos: list[SLO], at: float, lasts: list[float | None], rec: list[Sample], hours: list[Sample]
) -> tuple[list[dict[str, float] | None], list[str], list[tuple[float, list[dict[str, str]]]]]:
    """window_counts on given answers: the result, the queries, the raw parts asked for."""
    plans = [plan(s, at, load_tiers()) for s in slos]
    queries: list[str] = []
    asked: list[tuple[float, list[dict[str, str]]]] = []

    def query(expr: str, when: float) -> Callable[[], list[Sample]]:
        assert when == at
        queries.append(expr)
        return lambda: hours if expr.startswith("count_over_time") else rec

    def parts(when: float, wanted: list[dict[str, str]]) -> Callable[[], list[dict[str, float]]]:
        asked.append((when, wanted))
        edge = "head" if when == at else "tail"
        return lambda: [{f"{edge}:bad": 1.0, f"{edge}:total": 100.0} for _ in wanted]

    return window_counts(plans, lasts, parts, query)(), queries, asked


def test_window_counts_add_the_recorded_hours_and_the_raw_edges(tmp_path: Path) -> None:
    # A day's window; the hourly rule last ran 10 minutes ago: 23 whole hours back to 50
    # minutes after the window's start; the raw counters give the 10 minutes since the
    # evaluation and the 50 minutes before its first hour.
    [slo, other] = _many(tmp_path, 2)
    at = 1_717_200_000.0
    last = at - 600
    rec = [
        Sample(_labels(slo, aqua_events="bad"), 40.0),
        Sample(_labels(slo, aqua_events="bad"), 2.0),  # loaded twice: the hours tell
        Sample(_labels(slo, aqua_events="total"), 5000.0),
        Sample(_labels(slo, aqua_events="other"), 1e9),
        Sample(_labels(slo, aqua_events="total", sloth_id="elsewhere"), 1e9),
        Sample(_labels(slo, aqua_events="total"), float("nan")),
    ]
    hours = [Sample(_labels(slo, aqua_events="total"), 23.0)]
    got, queries, asked = _counts([slo, other], at, [last, None], rec, hours)
    assert got == [{"bad:window": 44.0, "total:window": 5200.0}, None]
    assert queries == [
        f"sum_over_time({RECORD}{{{_matcher(slo)}}}[82799s] @ {last:.3f})",
        f'count_over_time({RECORD}{{{_matcher(slo)}, aqua_events="total"}}[82799s] @ {last:.3f})',
    ]
    head_bad, head_total = slo.sli.counts("600s")
    tail_bad, tail_total = slo.sli.counts("3000s")
    assert asked == [
        (at, [{"head:bad": head_bad, "head:total": head_total}]),
        (last - 23 * HOUR, [{"tail:bad": tail_bad, "tail:total": tail_total}]),
    ]
    # Hours missing (22 of 23 recorded), or one too many: the raw counters answer.
    for n in (22.0, 24.0):
        short = [Sample(_labels(slo, aqua_events="total"), n)]
        assert _counts([slo], at, [last], rec, short)[0] == [None]


def test_window_counts_at_the_edges_of_an_hour(tmp_path: Path) -> None:
    [slo] = _many(tmp_path, 1)
    at = 1_717_200_000.0
    start = at - 86400
    rec = [
        Sample(_labels(slo, aqua_events="bad"), 5.0),
        Sample(_labels(slo, aqua_events="total"), 500.0),
    ]
    one = [Sample(_labels(slo, aqua_events="total"), 1.0)]
    # Evaluated one hour and one second after the window's start: one whole hour, the raw
    # counters from then to now, and a second at the start.
    got, queries, asked = _counts([slo], at, [start + HOUR + 1], rec, one)
    assert asked == [
        (at, [dict(zip(("head:bad", "head:total"), slo.sli.counts("82799s"), strict=True))]),
        (start + 1, [dict(zip(("tail:bad", "tail:total"), slo.sli.counts("1s"), strict=True))]),
    ]
    assert got == [{"bad:window": 7.0, "total:window": 700.0}]
    assert "[3599s] @ " in queries[0]
    # The evaluation at the window's start plus exactly one hour: no raw start edge.
    got, _, asked = _counts([slo], at, [start + HOUR], rec, one)
    assert [when for when, _ in asked] == [at]
    assert got == [{"bad:window": 6.0, "total:window": 600.0}]
    # An evaluation at ``at`` itself: no raw end edge either, only the recorded hours.
    day = [Sample(_labels(slo, aqua_events="total"), 24.0)]
    got, queries, asked = _counts([slo], at, [at], rec, day)
    assert asked == [(at, [])]
    assert got == [{"bad:window": 5.0, "total:window": 500.0}]
    assert "[86399s] @ " in queries[0]
    # Less than an hour since the window's start: nothing recorded fits.
    got, queries, asked = _counts([slo], at, [start + HOUR - 1], rec, one)
    assert (got, queries, asked) == ([None], [], [(at, [])])
