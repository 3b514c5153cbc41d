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
from slo.slo_history import GAP, RATE, RESET_AT, T0, T1, History, blocks, generate

from sre_cli.commands.slo import app
from sre_cli.prometheus import PrometheusClient
from sre_cli.slo.batch import evaluate, evaluate_many
from sre_cli.slo.loader import load_slos
from sre_cli.slo.recorded import (
    GROUP,
    HOUR,
    RECORD,
    eligible,
    last_evaluation,
    recording_group,
)
from sre_cli.slo.rules import rule_groups, rules_yaml
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


@pytest.fixture(scope="module")
def history() -> History:
    return generate()


@pytest.fixture(scope="module")
def recorded_url(
    prometheus_factory: Callable[..., Any],
    promtool: Path,
    specs: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A Prometheus holding the history and its hourly recordings, backfilled by promtool
    from a first Prometheus serving the history alone."""
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
    for path, start, end in ((rules, T0, T1), (sli, SLI_FROM, SLI_TO)):
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
            below += inc[times[0]] if times[0] != u else 0
            inside = sum(inc[t] for t in times[1:])
            above += inside * ((v - u) - (times[-1] - times[0])) / (times[-1] - times[0])
    return below, above


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
        last = last_evaluation(lambda q, t: [s.value for s in rprom.query(q, t)], at)
        assert last is not None
        hours = int((last - start) // HOUR)
        cuts = [start, *(last - k * HOUR for k in range(hours, -1, -1)), float(at)]
        for got, series in ((r.bad, (ERR,)), (r.total, (ERR, OK))):
            exact = sum(history.count(s, start, at) for s in series)
            below, above = _bounds(history, series, cuts)
            assert got is not None
            assert exact - below - 1e-6 <= got <= exact + above + 1e-6, (got, exact, below, above)
        # Requests arrive at a steady 1,000 a minute, so extrapolating an hour's samples to
        # its edges misses none: a lost or doubled piece of the window would show here.
        assert r.total == pytest.approx(
            history.count(ERR, start, at) + history.count(OK, start, at), abs=2 * RATE
        )
        assert r.burn_rates == w.burn_rates


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


def test_last_evaluation_is_the_latest_finite_time_at_or_before_now() -> None:
    at = T0 + 86400.0

    def answer(values: list[float]) -> Callable[[str, float], list[float]]:
        return lambda query, when: values

    assert last_evaluation(answer([at - 3600, at, at + 60, float("nan")]), at) == at
    assert last_evaluation(answer([at - 60, float("inf")]), at) == at - 60
    assert last_evaluation(answer([at + 1]), at) is None
