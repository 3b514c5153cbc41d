"""The shipped dashboards load; Grafana's variables, legends and units come out as Grafana
shows them; a file that is not a dashboard is a clear error (exit 2), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import invoke

from sre_cli.commands.dashboards import app
from sre_cli.dashboards.engine import legend, step_for, substitute
from sre_cli.dashboards.page import format_value
from sre_cli.dashboards.spec import DEFAULT_DIR, load_dashboard, load_dashboards
from sre_cli.errors import ConfigError


def test_the_shipped_dashboards_load_with_every_panel_and_query() -> None:
    boards = load_dashboards(DEFAULT_DIR)
    raw = [json.loads(p.read_text()) for p in sorted(DEFAULT_DIR.glob("*.json"))]
    assert [b.uid for b in boards] == [r["uid"] for r in raw]
    for board, data in zip(boards, raw, strict=True):
        assert [p.title for p in board.panels] == [p["title"] for p in data["panels"]]
        assert board.range_seconds == 1800
        for panel, source in zip(board.panels, data["panels"], strict=True):
            assert [t.expr for t in panel.targets] == [t["expr"] for t in source["targets"]]
            assert panel.unit == source["fieldConfig"]["defaults"]["unit"]


def test_grafana_variables_are_substituted() -> None:
    expr = 'rate(x{job="$job",i=~"${inst}"}[$__rate_interval]) / $__interval + [[job]]'
    got = substitute(expr, step=30, range_seconds=3600, variables={"job": "api"})
    assert got == 'rate(x{job="api",i=~".*"}[1m]) / 30s + api'
    assert substitute("increase(x[$__range])", step=8, range_seconds=86400) == "increase(x[1d])"
    assert substitute("rate(x[$__rate_interval])", step=120, range_seconds=86400) == (
        "rate(x[2m15s])"
    )
    assert step_for(1800) == 8
    assert step_for(60) == 1


def test_legend_format() -> None:
    labels = {"__name__": "up", "topic": "readings", "partition": "2"}
    assert legend("{{topic}}/{{ partition }}", labels, "A") == "readings/2"
    assert legend("", labels, "A") == 'up{partition="2", topic="readings"}'
    assert legend("", {}, "A") == "A"


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.4213, "percentunit", "42.1%"),
        (0.0123, "s", "12.3 ms"),
        (0.00004, "s", "40.0 µs"),
        (2.5, "s", "2.50 s"),
        (1530.0, "reqps", "1.53 k req/s"),
        (3.0, "short", "3.00"),
        (12.0, "ops", "12.0 ops/s"),
        (3 * 2**20, "bytes", "3.00 MiB"),
        (None, "s", "—"),
        (float("nan"), "short", "—"),
    ],
)
def test_units(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_rows_are_flattened_and_thresholds_read(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    stat = {
        "type": "stat",
        "title": "up",
        "targets": [{"refId": "A", "expr": "up"}],
        "fieldConfig": {
            "defaults": {
                "unit": "short",
                "thresholds": {
                    "steps": [{"value": None, "color": "red"}, {"value": 1, "color": "green"}]
                },
            }
        },
    }
    path.write_text(json.dumps({"panels": [{"type": "row", "panels": [stat]}]}))
    [panel] = load_dashboard(path).panels
    assert panel.kind == "stat"
    assert [t.value for t in panel.thresholds] == [None, 1.0]


@pytest.mark.parametrize("text", ["{", "[]", '{"panels": 3}', '{"panels": [3]}'])
def test_not_a_dashboard_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"bad\.json"):
        load_dashboard(path)
    code, out = invoke(app, ["render", str(path), "--prometheus", "http://127.0.0.1:1"])
    assert code == 2
    assert "bad.json" in out
    assert "Traceback" not in out


def test_bad_options_exit_2(tmp_path: Path) -> None:
    code, out = invoke(app, ["render", "--var", "no-equals", "--prometheus", "http://127.0.0.1:1"])
    assert (code, "NAME=VALUE" in out) == (2, True)
    code, out = invoke(app, ["render", "--since", "soon", "--prometheus", "http://127.0.0.1:1"])
    assert (code, "--since" in out) == (2, True)
    code, out = invoke(app, ["render", str(tmp_path / "none")])
    assert (code, "no such file" in out) == (2, True)
    code, out = invoke(app, ["render", "--prometheus", "http://127.0.0.1:1", "-o", "x.html"])
    assert (code, "did not answer" in out) == (2, True)
