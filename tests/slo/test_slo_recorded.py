"""`aqua slo report --recorded` on a real Prometheus: hourly recordings backfilled over the
history with `promtool tsdb create-blocks-from rules`, compared with the raw counters.

The history (tests/slo/slo_history.py) scrapes on the minute and keeps every increment, so the
recorded figure is held to the bound slo/README.md states against the generator's own count.
Windows the recordings do not cover (before the history, across its two-hour scrape gap) must
come from the raw counters, and every result says which figure it shows.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Callable
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
from sre_cli.slo.batch import evaluate
from sre_cli.slo.loader import load_slos
from sre_cli.slo.recorded import GROUP, HOUR, RECORD, last_evaluation, recording_group
from sre_cli.slo.rules import rules_yaml

pytestmark = pytest.mark.integration

ERR = 'http_requests_total{job="api",status="500"}'
OK = 'http_requests_total{job="api",status="200"}'
#: 2 days before this the window starts 1h20m into the history; the scrape gap comes later
COVERED = T0 + 2 * 86400 + 80 * 60

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
    subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "rules",
            f"--url={raw_url}",
            f"--start={T0}",
            f"--end={T1}",
            f"--output-dir={work / 'data'}",
            rules,
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
