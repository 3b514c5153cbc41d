"""Every table aqua prints reads at 80 columns as well as at 160.

Each case draws a realistic result (long names, deep paths) through the render code its
command uses, at 80 and at 160 columns, and checks that

- every name and path of the data appears whole on one line (never folded or ellipsized),
- no line is wider than the console (except a line that is one whole path, too long for it),
- nothing shown at 160 is missing at 80, but for the columns a table documents as dropped.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.text import Text

from sre_cli.backup.spec import BackupManifest
from sre_cli.console import use_console
from sre_cli.output import emit
from sre_cli.table import FitTable, wrap_words

ROOT = Path(__file__).resolve().parents[2]
AT = 1_709_251_200.0  # 2024-03-01T00:00:00Z
DEEP = "/home/operator/src/platform-reliability/aquaculture"  # 51 columns


@dataclass
class Case:
    renderable: RenderableType
    names: list[str]
    dropped_at_80: set[str] = field(default_factory=set)  # tokens of documented dropped columns


def _runbook_list(tmp: Path) -> Case:
    from sre_cli.runbook.loader import check_dir
    from sre_cli.runbook.render import runbook_table

    folder = tmp / "runbooks"
    shutil.copytree(ROOT / "runbooks", folder)
    long = "kafka-consumer-lag-on-the-orders-and-readings-topics"
    shutil.copy(folder / "kafka-consumer-lag.md", folder / f"{long}.md")
    books, problems = check_dir(folder)
    assert problems == []
    alerts = [a for b in books for a in b.meta.alerts]
    return Case(runbook_table(books), [long, *(b.name for b in books), *alerts])


def _runbook_show(tmp: Path) -> Case:
    from sre_cli.runbook.loader import load_runbook
    from sre_cli.runbook.render import show_renderable

    path = Path(DEEP) / "runbooks" / "latency-spike.md"  # a deep path, shown whole
    book = load_runbook(ROOT / "runbooks" / "latency-spike.md")
    book = type(book)(book.name, path, book.meta, book.blocks)
    return Case(show_renderable(book), [str(path), *book.meta.alerts])


def _slos(tmp: Path) -> list[object]:
    from sre_cli.slo.loader import load_slos

    spec = tmp / "checkout.yaml"
    body = """
version: "prometheus/v1"
service: orders-checkout-api
slos:
"""
    for name in ("availability-for-returning-customers", "availability-for-new-customers"):
        body += f"""  - name: {name}
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(errors_total[{{{{.window}}}}]))
        total_query: sum(rate(requests_total[{{{{.window}}}}]))
"""
    spec.write_text(body)
    return list(load_slos([spec]))


def _slo_names(slos: list[object]) -> list[str]:
    return [f"{s.service}/{s.name}" for s in slos]  # type: ignore[attr-defined]


def _slo_report(tmp: Path) -> Case:
    from sre_cli.slo.engine import Report, SLOResult
    from sre_cli.slo.render import ReportView

    slos = _slos(tmp)
    burn_down = [(AT - 3600 * (48 - i), 1 - i / 60) for i in range(48)]
    results = [
        SLOResult(
            slo,  # type: ignore[arg-type]
            AT - 30 * 86400,
            AT,
            0.99962,
            380.0,
            1_000_000.0,
            0.38,
            {"5m": 0.1, "30m": 0.2, "1h": 0.4, "6h": 0.5, "1d": 0.3, "3d": 0.4},
            {"page": False, "ticket": True},
            burn_down,
        )
        for slo in slos
    ]
    report = Report(AT, results, 4)
    # Below 140 columns the table drops bad / total, burn 6h, minutes left and burn-down.
    dropped = {"left", "bad", "/", "total", "6h", "in", "burn-down", "min", "380", "1,000,000"}
    dropped |= {"0.50×", f"{results[0].remaining_minutes:,.1f}"}
    from sre_cli.slo.render import sparkline

    dropped |= {sparkline(r.burn_down) for r in results}
    return Case(ReportView(report), _slo_names(slos), dropped)


def _slo_backtest(tmp: Path) -> Case:
    from sre_cli.slo.backtest import Backtest, Firing, SLOBacktest, TierReplay

    slos = _slos(tmp)
    firings = [Firing(AT - 7200, AT - 3600, AT - 7500), Firing(AT - 1800, AT - 600, None)]
    result = Backtest(
        AT - 7 * 86400,
        AT,
        300,
        [
            SLOBacktest(slo, [TierReplay("page", 14.4, firings), TierReplay("ticket", 1, [])])  # type: ignore[arg-type]
            for slo in slos
        ],
        2,
    )
    return Case(result.__rich__(), _slo_names(slos))


def _capacity(tmp: Path) -> Case:
    from sre_cli.capacity.forecast import Target, forecast_series
    from sre_cli.capacity.render import report_view
    from sre_cli.capacity.replicas import ReplicaPlan
    from sre_cli.capacity.report import CapacityReport

    times = [AT - 3600 * (72 - i) for i in range(73)]
    values = [40 + 2.5 * (t - times[0]) / 86400 for t in times]
    labels = {"namespace": "aquaculture-production", "pvc": "data-postgresql-primary-0"}
    name = "postgresql-primary-disk-usage-percent"
    forecast = forecast_series(
        Target(name, "q", 100, horizon=30 * 86400), labels, times, values, at=AT, warn=14 * 86400
    )
    plan = ReplicaPlan(
        "aquaculture-api-server",
        "api-requests-per-second",
        labels,
        50.0,
        420.0,
        512.0,
        12,
        9,
        8,
        None,
    )
    report = CapacityReport(AT, [forecast], [plan])
    return Case(
        report_view(report, chart=True),
        [
            name,
            "aquaculture-api-server",
            "namespace=aquaculture-production",
            "pvc=data-postgresql-primary-0",
        ],
    )


def _loadtest(tmp: Path) -> Case:
    from sre_cli.loadtest.plan import Limits, LoadPlan
    from sre_cli.loadtest.results import LoadReport, Recorder

    rec = Recorder()
    long = "/api/v1/ponds/{pond_id}/sensors/{sensor_id}/readings/latest-by-quality"
    for i in range(19):
        rec.record("GET", long, 2.0 + i * 0.01, 200, False)
    rec.record("POST", "/api/v1/ponds/{pond_id}/readings", 40.0, 503, True)
    plan = LoadPlan(
        "http://127.0.0.1:8080", "--target", 4, 4.0, 10.0, "reference", Limits(300, 0.01), None
    )
    return Case(LoadReport(plan, 10.0, rec).renderable(), [long, "http://127.0.0.1:8080"])


def _knee(tmp: Path) -> Case:
    from sre_cli.loadtest.knee import KneePlan, KneeResult, Step
    from sre_cli.loadtest.plan import Limits, LoadPlan
    from sre_cli.loadtest.saturation import Resource

    load = LoadPlan(
        "http://127.0.0.1:8080", "--target", 4, 4.0, 10.0, "reference", Limits(300, 0.01), None
    )
    plan = KneePlan(load, 100, 2, 51_200, 10, 2, 2, None, None, {}, 2)
    cpu = Resource("cpu of aquaculture-api-server-1", 0.97, "97% of its 1-core limit", "proc")
    steps = [
        Step(100, 99.8, 12.5, 0, 1, True, "", False, ()),
        Step(
            200,
            181.2,
            412.3,
            0.031,
            0.9,
            False,
            "p95 412.3 ms > 300 ms, errors 3.10% > 1.00%",
            True,
            (cpu,),
        ),
    ]
    result = KneeResult(plan, steps, 100, True, cpu, "2024-03-01T00:00:00Z")
    return Case(result.renderable(), ["cpu of aquaculture-api-server-1", "412.3"])


def _chaos(tmp: Path) -> Case:
    from sre_cli.chaos.engine import ExperimentReport, Record
    from sre_cli.chaos.render import report_renderable

    journal = Path(DEEP) / "state/chaos/kill-one-api-replica-20240301T000000Z.jsonl"
    records = [
        Record(
            "steady", "api-availability-above-99.5-percent", "pass", "99.97% of requests answered"
        ),
        Record(
            "method",
            "delete-one-pod-of-aquaculture-api-server",
            "done",
            "deleted aquaculture-api-server-7d9c6b5f4-x2x9q",
        ),
        Record("rollback", "restore-replicas", "done", "nothing to roll back"),
    ]
    report = ExperimentReport(
        "kill-one-api-replica",
        "Kill one API replica",
        "kubernetes",
        False,
        journal,
        records,
        "held",
        None,
        42.0,
        {},
    )
    names = ["api-availability-above-99.5-percent", "delete-one-pod-of-aquaculture-api-server"]
    return Case(
        report_renderable(report), [*names, "aquaculture-api-server-7d9c6b5f4-x2x9q", str(journal)]
    )


def _stack_status(tmp: Path) -> Case:
    from sre_cli.stack.control import ComponentStatus, StackStatus
    from sre_cli.stack.render import status_renderable
    from sre_cli.stack.spec import Ports, StackPlan

    plan = StackPlan(lite=True, api_replicas=1, workers=0, ports=Ports(), components=())
    components = (
        ComponentStatus(
            "postgresql",
            "postgres",
            41234,
            54321,
            "postgresql://127.0.0.1:54321/aqua",
            True,
            True,
            0,
            3725.0,
            "running",
            "up",
        ),
        ComponentStatus(
            "ml-inference-server",
            "ml",
            None,
            18081,
            "http://127.0.0.1:18081",
            False,
            False,
            3,
            None,
            "stopped",
            "down",
        ),
    )
    state = Path(DEEP) / ".state/stack"
    status = StackStatus(state, plan, 4242, "running", components)
    return Case(
        status_renderable(status),
        ["ml-inference-server", "postgresql://127.0.0.1:54321/aqua", str(state)],
    )


def _stack_alerts(tmp: Path) -> Case:
    from sre_cli.stack.alerts import Alert, AlertsReport

    alert = Alert(
        "KafkaConsumerLagCritical",
        "firing",
        "page",
        "The readings consumer group is more than 10000 messages behind on aqua.readings.v1",
        {},
        "2024-03-01T00:00:00Z",
    )
    report = AlertsReport("http://127.0.0.1:9093", [alert], [alert])
    return Case(
        report.__rich__(), ["KafkaConsumerLagCritical", "aqua.readings.v1", "2024-03-01T00:00:00Z"]
    )


def _cluster_status(tmp: Path) -> Case:
    from sre_cli.cluster.cluster import ClusterStatus, DeploymentStatus, NodeStatus
    from sre_cli.cluster.render import render_status

    kubeconfig = f"{DEEP}/.state/cluster/kubeconfig"
    status = ClusterStatus(
        True,
        kubeconfig,
        [NodeStatus("aqua-worker-node-with-containerd", "real", True)],
        [DeploymentStatus("aquaculture-production", "aquaculture-api-server", 2, 2)],
        {"api": "http://127.0.0.1:30080"},
        {"total": 92.4, "control plane": 8.1, "node": 30.2},
    )
    names = [
        kubeconfig,
        "aqua-worker-node-with-containerd",
        "aquaculture-production",
        "aquaculture-api-server",
    ]
    return Case(render_status(status), names)


def _trace(tmp: Path) -> Case:
    from jaeger_json import document, span

    from sre_cli.trace import Trace, TraceList
    from sre_cli.trace.render import draw

    names = [
        "GET /api/v1/ponds/{pond_id}/sensors/{sensor_id}/readings/summary",
        "SELECT aqua.sensor_readings_hourly",
        "POST /v1/forecast/dissolved-oxygen",
    ]
    doc = document(
        span("a1", names[0], 0, 400_000),
        span("b2", names[1], 20_000, 300_000, "a1"),
        span("c3", names[2], 330_000, 60_000, "a1", proc="p2"),
        services=("aquaculture-api", "ml-inference"),
    )
    return Case(draw(TraceList((Trace.from_jaeger(doc),), "slowest")), [*names, "ab" * 16])


def _manifest() -> BackupManifest:
    from backup.backup_harness import manifest

    return manifest(
        "20240301T000000Z-4f2a", AT, tables={"readings": 120_000, "ponds": 12}, seconds=3.2
    )


def _backup_list(tmp: Path) -> Case:
    from sre_cli.backup.render import BackupList

    manifest = _manifest()
    repo = f"{DEEP}/backups/postgresql-primary"
    return Case(
        BackupList([manifest], repo, 14, AT + 60).__rich__(), [repo, "20240301T000000Z-4f2a"]
    )


def _backup_drill(tmp: Path) -> Case:
    from sre_cli.backup.render import DrillView
    from sre_cli.backup.spec import DrillReport, TableCheck

    report = DrillReport(
        backup={"id": "20240301T000000Z-4f2a"},
        tables={
            "sensor_readings_hourly_rollup": TableCheck(source_rows=120_000, restored_rows=120_000)
        },
        checksum_match=True,
        rpo_s=12.5,
        rto_s=8.1,
        verdict="pass",
        reasons=[],
    )
    return Case(
        DrillView(report).__rich__(), ["sensor_readings_hourly_rollup", "20240301T000000Z-4f2a"]
    )


def _doctor(tmp: Path) -> Case:
    from sre_cli.doctor.engine import ComponentStatus, DoctorReport

    deep = f"{DEEP}/.cache/postgresql/bin/postgres"
    report = DoctorReport(
        (
            ComponentStatus("postgresql", "15.18", deep, "ok", None, True),
            ComponentStatus(
                "java", None, None, "missing", "install the Debian package openjdk-17", True
            ),
        )
    )
    return Case(report, [deep, "openjdk-17"])


def _runbook_run(tmp: Path) -> Case:
    from sre_cli.runbook.engine import RunReport
    from sre_cli.runbook.render import report_renderable

    transcript = Path(DEEP) / ".local/state/aqua/runbooks/latency-spike-20240301T000000Z-4242.jsonl"
    report = RunReport(
        "latency-spike",
        "API latency spike",
        "stack",
        True,
        transcript,
        {},
        [],
        "dry-run",
        None,
        1.5,
        [],
    )
    return Case(report_renderable(report), [str(transcript)])


def _backup_taken_and_restored(tmp: Path) -> Case:
    from rich.console import Group

    from sre_cli.backup.render import BackupTaken, RestoreView
    from sre_cli.backup.spec import RestoreResult

    repo = f"{DEEP}/backups/postgresql-primary-with-a-long-name"
    data = f"{DEEP}/.state/restore/postgresql-primary-restored-data"
    taken = BackupTaken(_manifest(), repo)
    restored = RestoreView(
        RestoreResult(
            backup_id="20240301T000000Z-4f2a",
            data_dir=data,
            target="latest",
            wal_segments=3,
            restore_s=8.1,
        )
    )
    return Case(Group(taken.__rich__(), restored.__rich__()), [repo, data])


CASES: dict[str, Callable[[Path], Case]] = {
    "runbook list": _runbook_list,
    "runbook show": _runbook_show,
    "slo report": _slo_report,
    "slo backtest": _slo_backtest,
    "capacity forecast": _capacity,
    "loadtest run": _loadtest,
    "loadtest knee": _knee,
    "chaos run": _chaos,
    "stack status": _stack_status,
    "stack alerts": _stack_alerts,
    "cluster status": _cluster_status,
    "trace slowest": _trace,
    "backup list": _backup_list,
    "backup take and restore": _backup_taken_and_restored,
    "runbook run": _runbook_run,
    "backup drill": _backup_drill,
    "doctor": _doctor,
}

_FRAME = re.compile(r"[\s│┃┏━┳┓┡╇┩└─┴┘╭╮╰╯┌┐├┤┼┬╷╵]+")


def _draw(renderable: RenderableType, width: int) -> list[str]:
    """What a command prints through ``emit`` on a console ``width`` columns wide."""
    out = io.StringIO()
    with use_console(Console(file=out, width=width, color_system=None, markup=False)):
        emit(renderable)
    return out.getvalue().splitlines()


_DRAWING = set("●━░┄│·█▁▂▃▄▅▆▇")  # charts scale with the width: compared as words only


def _tokens(lines: list[str]) -> set[str]:
    words = {t.rstrip(":") for line in lines for t in _FRAME.split(line) if t.rstrip(":")}
    return {w for w in words if not set(w) <= _DRAWING}


@pytest.mark.parametrize("name", list(CASES))
def test_every_table_reads_at_80_and_160_columns(name: str, tmp_path: Path) -> None:
    case = CASES[name](tmp_path)
    drawn = {width: _draw(case.renderable, width) for width in (80, 160)}
    for width, lines in drawn.items():
        for value in case.names:
            assert any(value in line for line in lines), (width, value, lines)
        too_wide = [
            line
            for line in lines
            if cell_len(line.rstrip()) > width and line.strip() not in case.names
        ]
        assert too_wide == [], (width, too_wide)
    lost = _tokens(drawn[160]) - _tokens(drawn[80]) - case.dropped_at_80
    assert lost == set(), (lost, drawn[80])


def test_a_fit_table_stacks_what_does_not_fit_and_wraps_prose_between_words() -> None:
    table = FitTable(title="runbooks")
    table.add_column("name")
    table.add_column("title", wrap=True)
    table.add_column("severity")
    table.add_row(
        "dissolved-oxygen-crash-risk-in-the-hatchery-tanks", "Dissolved oxygen " * 6, "page"
    )
    wide, narrow = _draw(table, 160), _draw(table, 60)
    assert any("┃ name" in line for line in wide)  # fits: the rich table as it is
    assert narrow[1].split() == ["name", "severity"]  # the header of the kept columns
    assert narrow[2].split() == ["dissolved-oxygen-crash-risk-in-the-hatchery-tanks", "page"]
    assert narrow[3].startswith("    title: Dissolved oxygen")
    assert all(line.startswith("      ") for line in narrow[4:])  # continuation lines hang
    words = " ".join(narrow[3:]).replace("title:", "").split()
    assert words == ["Dissolved", "oxygen"] * 6


def test_a_whole_value_longer_than_the_console_stands_whole_on_its_own_line() -> None:
    path = "/" + "/".join(["deep-directory"] * 6) + "/kubeconfig"
    table = FitTable()
    table.add_column("component")
    table.add_column("path")
    table.add_row("kube-apiserver", Text(path))
    lines = _draw(table, 60)
    assert "      " + path in lines


def test_an_error_message_is_never_wrapped_at_80_columns() -> None:
    """Every problem of a spec stays on its one line, path and all, however narrow."""
    from sre_cli.errors import SpecError
    from sre_cli.runbook.loader import load_runbook

    path = "tests/runbook/fixtures/several/many-problems.md"
    with pytest.raises(SpecError) as err:
        load_runbook(Path(path))
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "sre_cli", "runbook", "show", path],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 2
    expected = f"error: {err.value.message}".splitlines()
    assert any(len(line) > 80 for line in expected)  # the case: lines wider than the console
    assert done.stderr.splitlines() == expected


def test_a_fit_table_too_wide_at_its_natural_width_wraps_prose_between_words() -> None:
    table = FitTable(title="runbooks")
    table.add_column("name")
    table.add_column("title", wrap=True)
    title = "Kafka consumer lag is growing and orders are delayed"
    table.add_row("kafka-consumer-lag", title)
    lines = _draw(table, 50)
    assert any("┃ name" in line for line in lines)  # still the rich table
    assert all(cell_len(line) <= 50 for line in lines)
    cells = [line.split("│")[2].strip() for line in lines if line.startswith("│")]
    assert " ".join(cells) == title  # wrapped between words: no word cut
    assert len(cells) > 1


def test_wrap_words_keeps_line_breaks_and_never_folds_a_word() -> None:
    path = "/a-long-directory/" * 4 + "file"
    text = wrap_words(Text(f"journal: {path} then\nsecond line of words"), 30, indent=2, hang=2)
    assert text.plain.splitlines() == [
        "  journal:",
        f"    {path}",
        "    then",
        "    second line of words",
    ]
