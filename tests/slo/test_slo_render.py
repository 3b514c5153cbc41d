"""The report's renderers cell by cell: markdown, the terminal table at the widths where its
layout changes, the sparkline's arithmetic, the gate's step summary, the JSON text and the HTML
page's burn-down chart and tier tables.

Results are built directly (no Prometheus): what is checked is the formatting of known
figures, so every expected string below is worked out from the figures by hand.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from rich.console import Console
from slo.test_slo_engine import SPEC as ENGINE_SPEC

from sre_cli.slo.engine import Report, SLOResult
from sre_cli.slo.gate import Verdict, Violation
from sre_cli.slo.html_report import burn_down_svg
from sre_cli.slo.html_report import page as html_page
from sre_cli.slo.loader import load_slos
from sre_cli.slo.render import gate_summary, json_text, markdown, sparkline, table
from sre_cli.slo.spec import SLO
from sre_cli.slo.windows import load_tiers

AT = 1_709_251_200.0  # 2024-03-01T00:00:00Z
START = AT - 30 * 86400
#: the engine tests' SLO without its policy (99.9 % over 30 days)
SPEC = ENGINE_SPEC.replace(
    "    policy: {min_budget_remaining: 0.25, max_burn_rate: 6, burn_rate_window: 1h}\n", ""
)
RATES: dict[str, float | None] = {
    "5m": 20.0,
    "30m": 16.0,
    "1h": 15.0,
    "2h": 3.0,
    "6h": 2.5,
    "1d": 1.0,
    "3d": 0.5,
}
PAGING = {"page-quick": True, "page-slow": False, "ticket-quick": False, "ticket-slow": False}


@pytest.fixture(scope="module")
def slo(tmp_path_factory: pytest.TempPathFactory) -> SLO:
    path = tmp_path_factory.mktemp("render") / "api.yaml"
    path.write_text(SPEC)
    [loaded] = load_slos([path])
    return loaded


@pytest.fixture
def burning(slo: SLO) -> SLOResult:
    """30 % of a 43.2-minute budget left (13.0 min), burning 15× over the last hour: gone in
    0.3 × 30 d / 15 = 51,840 s = 14 h 24 min."""
    return SLOResult(slo, START, AT, 0.9993, 700.0, 1_000_000.0, 0.7, RATES, PAGING)


@pytest.fixture
def empty(slo: SLO) -> SLOResult:
    return SLOResult(slo, START, AT, None, None, None, None, dict.fromkeys(RATES), {})


def _printed(report: Report, width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(table(report, width))
    return [line.rstrip() for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]


def test_markdown_cells(burning: SLOResult, empty: SLOResult) -> None:
    text = markdown(Report(AT, [burning, empty]), title="Weekly")
    head = (
        "| SLO | objective | window | SLI | budget left | minutes left | bad / total | burn 5m "
        "| burn 30m | burn 1h | burn 2h | burn 6h | burn 1d | burn 3d | alerts | status |"
    )
    assert text == "\n".join(
        [
            "### Weekly at 2024-03-01T00:00:00Z",
            "",
            head,
            "|" + "---|" * 16,
            "| `api/availability` | 99.9% | 30d | 99.930% | 30.0% | 13.0 | 700 / 1,000,000 "
            "| 20.00× | 16.00× | 15.00× | 3.00× | 2.50× | 1.00× | 0.50× | page | **warning** |",
            "| `api/availability` | 99.9% | 30d | — | — | — | — / — | — | — | — | — | — | — | — "
            "| - | **no_data** |",
            "",
        ]
    )


def test_markdown_notes_where_the_counts_come_from(burning: SLOResult) -> None:
    text = markdown(Report(AT, [replace(burning, source="raw")]))
    note = (
        "window counts: aqua:slo_events:increase1h recordings for 0 of 1 SLOs, raw counters for 1"
    )
    assert text.endswith(f"\n\n_{note}_\n")
    assert "_" not in markdown(Report(AT, [burning])).splitlines()[-1]


def test_table_is_wide_from_140_columns(burning: SLOResult) -> None:
    report = Report(AT, [replace(burning, burn_down=[(START, 1.0), (AT, 0.3)])])
    wide = _printed(report, 140)
    assert wide[0] == "SLOs at 2024-03-01T00:00:00Z"
    assert wide[2].split() == [
        "SLO", "SLI", "budget", "left", "bad", "/", "total", "burn", "1h", "burn", "6h",
        "alerts", "exhausts", "in", "status", "burn-down",
    ]  # fmt: skip
    assert wide[4].split() == [
        "api/availability", "99.930%", "30.0%", "700", "/", "1,000,000", "15.00×", "2.50×",
        "page", "14h24m", "warning", sparkline(report.results[0].burn_down),
    ]  # fmt: skip
    assert wide[5].split() == ["99.9%", "/", "30d", "13.0", "min"]
    narrow = _printed(report, 139)
    assert narrow[2].split() == [
        "SLO", "SLI", "budget", "burn", "1h", "alerts", "exhausts", "status",
    ]  # fmt: skip
    assert narrow[4].split() == [
        "api/availability", "99.930%", "30.0%", "15.00×", "page", "14h24m", "warning",
    ]  # fmt: skip
    # No minutes left below 140 columns: a sparkline of 8 under the budget instead.
    assert narrow[5].split() == ["99.9%", "/", "30d", sparkline(report.results[0].burn_down, 8)]


def test_table_narrow_without_a_burn_down_has_no_line_under_the_budget(
    burning: SLOResult,
) -> None:
    for points in ([], [(AT, 0.3)]):
        lines = _printed(Report(AT, [replace(burning, burn_down=points)]), 100)
        assert lines[5].split() == ["99.9%", "/", "30d"]
    wide = _printed(Report(AT, [burning]), 200)
    assert "burn-down" not in wide[2]
    assert wide[4].split()[-1] == "warning"


def test_table_rows_without_data_and_spans(burning: SLOResult, empty: SLOResult) -> None:
    days = replace(burning, budget_consumed=0.5, burn_rates={**RATES, "1h": 6.0})
    minutes = replace(burning, budget_consumed=0.99, burn_rates={**RATES, "1h": 0.03})
    idle = replace(burning, burn_rates={**RATES, "1h": 0.0})
    lines = _printed(Report(AT, [burning, days, minutes, idle, empty]), 200)
    rows = [line.split() for line in lines[4::2][:5]]
    # 0.5 × 30 d / 6 = 2.5 d; 0.01 × 30 d / 0.03 = 10 d; 0.3 × 30 d / 15 = 14 h 24 min.
    assert [r[-2] for r in rows[:4]] == ["14h24m", "2d12h", "10d0h", "∞"]
    assert rows[4] == ["api/availability", "—", "—", "—", "/", "—", "—", "—", "-", "—", "no_data"]
    assert [line.split() for line in lines[5::2][:5]] == [
        ["99.9%", "/", "30d", "13.0", "min"],
        ["99.9%", "/", "30d", "21.6", "min"],
        ["99.9%", "/", "30d", "0.4", "min"],
        ["99.9%", "/", "30d", "13.0", "min"],
        ["99.9%", "/", "30d"],
    ]
    short = replace(burning, budget_consumed=1 - 0.0017, burn_rates={**RATES, "1h": 0.0017 / 0.25})
    # 0.0017 × 2,592,000 s / 0.0068 = 648,000 s; 0.25 × 2,592,000 s / 1200 = 540 s.
    nine = replace(burning, budget_consumed=0.75, burn_rates={**RATES, "1h": 1200.0})
    lines = _printed(Report(AT, [short, nine]), 200)
    assert [line.split()[-2] for line in lines[4::2][:2]] == ["7d12h", "0h09m"]


def test_sparkline_arithmetic() -> None:
    # Four points, four bars: 1, 0.5, 0, -1 over the range [-1, 1] are 1, 0.75, 0.5, 0 of
    # the seven steps above the lowest bar: 7, 5.25, 3.5 and 0 round to 7, 5, 4, 0.
    assert sparkline([(0, 1.0), (1, 0.5), (2, 0.0), (3, -1.0)], width=4) == "█▆▅▁"
    # Never below zero: the range is [0, 1]; 0.25 is 1.75 steps, rounded to 2.
    assert sparkline([(0, 1.0), (1, 0.75), (2, 0.5), (3, 0.25)], width=4) == "█▆▅▃"
    # Nine points in four bars: every second one (0, 2, 4), then the last.
    nine = [(float(i), 1.0 - i / 8) for i in range(9)]
    assert sparkline(nine, width=4) == "█▆▅▁"
    assert sparkline(nine[:2], width=4) == "█▇▇"  # two points are enough: 1 and 0.875
    assert sparkline(nine[:1], width=4) == ""
    assert len(sparkline([(float(i), 0.5) for i in range(100)])) == 24


def test_gate_summary_heads_and_reasons(burning: SLOResult) -> None:
    report = Report(AT, [burning])
    body = markdown(report)
    assert gate_summary(Verdict(report, [])) == "## ✅ SLO gate passed\n\n" + body
    low = Violation("api", "availability", "budget", "30.0% left < 50%", 0.3, 0.5)
    assert gate_summary(Verdict(report, [low])) == (
        "## ❌ SLO gate failed\n\n- **api/availability**: 30.0% left < 50%\n\n" + body
    )
    blind = Violation("api", "availability", "no_data", "no data", None, None)
    assert gate_summary(Verdict(report, [blind])).startswith(
        "## ⚠️ SLO gate could not decide\n\n- **api/availability**: no data\n\n### SLO report"
    )


def test_json_text_is_indented_and_refuses_nan() -> None:
    assert json_text({"slos": [1]}) == '{\n  "slos": [\n    1\n  ]\n}'
    assert json.loads(json_text({"sli": 0.5})) == {"sli": 0.5}
    with pytest.raises(ValueError, match="JSON compliant"):
        json_text({"sli": float("nan")})


# --- the HTML page's chart and tables ----------------------------------------------------------


def test_burn_down_chart_geometry(burning: SLOResult) -> None:
    # The plot area is x 72..510 (438 px) and y 10..176 (166 px) of a 520 × 200 picture. The
    # budget runs from 100 % down to -25 %: the range is [-0.25, 1], 1.25 over 166 px, so
    # 100 % is at y 10, 50 % at 76.4, 0 % at 142.8 and -25 % at 176; ten days of thirty are
    # 146 px from the left edge.
    points = [(START, 1.0), (START + 10 * 86400, 0.5), (AT, -0.25)]
    svg = burn_down_svg(replace(burning, burn_down=points))
    assert svg.startswith("<svg xmlns='http://www.w3.org/2000/svg' width='520' height='200' ")
    assert "aria-label='error budget burn-down of api/availability'" in svg
    for label, y in (("100%", 10.0), ("50%", 76.4), ("0%", 142.8)):
        assert f"y1='{y}' y2='{y}' stroke='#eaeef2'/><text x='66' y='{y + 4}'" in svg
        assert f"text-anchor='end'>{label}</text>" in svg
    assert svg.count("stroke='#eaeef2'") == 3  # three ticks, no more
    assert "points='72.0,10.0 218.0,76.4 510.0,176.0'" in svg
    assert "<polygon points='72.0,142.8 72.0,10.0 218.0,76.4 510.0,176.0 510.0,142.8'" in svg
    # The zero line, dashed red.
    assert "y1='142.8' y2='142.8' stroke='#cf222e' stroke-dasharray='4 3'" in svg
    assert "<text x='510' y='194' text-anchor='end'>2024-03-01 00:00 UTC</text>" in svg
    # Never below zero: the range is still [0, 1] (0 % at the bottom, y 176).
    above = burn_down_svg(replace(burning, burn_down=[(START, 1.0), (AT, 0.5)]))
    assert "points='72.0,10.0 510.0,93.0'" in above
    assert "y1='176.0' y2='176.0' stroke='#cf222e'" in above
    # More than the whole budget (a counter reset): the range grows to 200 %.
    over = burn_down_svg(replace(burning, burn_down=[(START, 2.0), (AT, 0.0)]))
    assert "points='72.0,10.0 510.0,176.0'" in over
    assert "text-anchor='end'>200%</text>" not in over  # the ticks stay 100 %, 50 %, 0 %
    assert "y1='93.0' y2='93.0' stroke='#eaeef2'/><text x='66' y='97.0' text-anchor='end'>100%" in (
        over
    )


def test_burn_down_chart_needs_two_points(burning: SLOResult) -> None:
    none = "<p class='facts'>No burn-down: too few points in the window.</p>"
    assert burn_down_svg(replace(burning, burn_down=[(AT, 0.3)])) == none
    # Two points at the window's start (a window just begun): a chart one second wide.
    start = burn_down_svg(replace(burning, burn_down=[(START, 1.0), (START, 0.9)]))
    assert "points='72.0,10.0 72.0,26.6'" in start
    assert "<text x='510' y='194' text-anchor='end'>2024-01-31 00:00 UTC</text>" in start
    small = burn_down_svg(replace(burning, burn_down=[(START, 1.0), (AT, 0.0)]), 100, 50)
    assert small.startswith("<svg xmlns='http://www.w3.org/2000/svg' width='100' height='50' ")


def test_html_tier_rows_and_rates(burning: SLOResult) -> None:
    text = html_page(Report(AT, [burning]), load_tiers())
    assert (
        "<tr class='firing'><td>page-quick</td><td>5m / 1h</td><td>14.4×</td>"
        "<td>20.00×</td><td>15.00×</td><td>firing</td></tr>"
    ) in text
    assert (
        "<tr class='quiet'><td>page-slow</td><td>30m / 6h</td><td>6×</td>"
        "<td>16.00×</td><td>2.50×</td><td>quiet</td></tr>"
    ) in text
    assert (
        "<tr><td>burn rate</td><td>20.00×</td><td>16.00×</td><td>15.00×</td><td>3.00×</td>"
        "<td>2.50×</td><td>1.00×</td><td>0.50×</td></tr>"
    ) in text
    assert "<span class='badge b-firing'>page: firing</span>" in text
    assert "<span class='badge b-quiet'>ticket: quiet</span>" in text
    assert "<p class='sub'>Evaluated at 2024-03-01 00:00 UTC · 1 warning</p>" in text
    # No error counted (0 bad, or no bad series at all) is 0 bad.
    for bad in (0.0, None):
        quiet = html_page(Report(AT, [replace(burning, bad=bad, total=1000.0)]), load_tiers())
        assert "· bad / total 0 / 1,000</p>" in quiet
    blank = replace(burning, burn_rates=dict.fromkeys(RATES))
    assert "<td>page-quick</td><td>5m / 1h</td><td>14.4×</td><td>—</td><td>—</td>" in (
        html_page(Report(AT, [blank]), load_tiers())
    )


def test_table_has_no_padding_at_its_edges(burning: SLOResult) -> None:
    lines = _printed(Report(AT, [burning]), 200)
    assert lines[2].startswith(" SLO ")  # the box's edge, then the first column at once
    assert lines[4].startswith(" api/availability ")
