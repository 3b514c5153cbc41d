"""Forecast spec files and the command's input checks (no server: these fail before any query)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import invoke

from sre_cli.capacity.forecast import DEFAULT_HISTORY, DEFAULT_HORIZON
from sre_cli.capacity.render import number
from sre_cli.capacity.spec import load_targets
from sre_cli.cli import build_app
from sre_cli.errors import SpecError

EXAMPLES = Path(__file__).parents[2] / "sre_cli" / "capacity" / "examples"
DAY = 86400.0


def _cli(*args: str) -> tuple[int, str]:
    argv = ["capacity", "forecast", *args]
    return invoke(build_app(argv), argv)


def test_shipped_examples_load() -> None:
    targets = load_targets([EXAMPLES])
    names = [t.name for t in targets]
    assert names == ["api-rps-per-replica", "postgres-connections", "prometheus-tsdb-disk"]
    disk = targets[2]
    assert (disk.history, disk.horizon) == (28 * DAY, 90 * DAY)
    assert not disk.query.endswith("\n")
    assert (targets[0].history, targets[0].horizon) == (DEFAULT_HISTORY, DEFAULT_HORIZON)
    # Command-line windows override the files'.
    [*_, overridden] = load_targets([EXAMPLES], history=7 * DAY, horizon=DAY)
    assert (overridden.history, overridden.horizon) == (7 * DAY, DAY)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("forecasts:\n  - name: a\n    query: up\n", ":2: forecasts.0.limit: Field required"),
        (
            "forecasts:\n  - name: a\n    query: up\n    limit: lots\n",
            ":4: forecasts.0.limit: Input should be a valid number",
        ),
        (
            "forecasts:\n  - name: a\n    query: up\n    limit: 1\n    horizon: soon\n",
            ":5: forecasts.0.horizon: not a duration: 'soon'",
        ),
        (
            "forecasts:\n  - name: a\n    query: up\n    limit: 1\n    limt: 2\n",
            ":5: forecasts.0.limt: unknown field (typo?)",
        ),
        ("forecasts: []\n", ":1: forecasts: List should have at least 1 item"),
        ("- up\n", ":1: expected a mapping with a 'forecasts' list"),
        (
            "forecasts:\n  - {name: a, query: up, limit: 1}\n  - {name: a, query: up, limit: 2}\n",
            ":3: forecasts.1.name: 'a' is already defined at ",
        ),
        ("forecasts:\n  - name: [a\n", ":3: YAML syntax"),
    ],
)
def test_spec_errors_name_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "capacity.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_targets([spec])
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"{spec}{message}"), str(caught.value)
    code, out = _cli("--prometheus", "http://127.0.0.1:9", str(spec))
    assert code == 2
    assert f"{spec}{message}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prometheus", "http://x"], "nothing to forecast"),
        (["--prometheus", "http://x", "--query", "up"], "nothing to forecast"),
        (["--prometheus", "http://x", "--query", "up", "--limit", "1", "x.yaml"], "not both"),
        (["--query", "up", "--limit", "1"], "--prometheus URL is required"),
        (["--prometheus", "http://x", "--query", "up", "--limit", "1", "--step", "1x"], "--step"),
        (["--prometheus", "http://x", "--query", "up", "--limit", "1", "--history", "1h"], "two"),
        (["--prometheus", "http://x", "--query", "up", "--limit", "1", "--at", "soon"], "time"),
        (["--prometheus", "http://x", "missing.yaml"], "missing.yaml: no such file"),
    ],
)
def test_bad_input_exits_2(monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.delenv("AQUA_PROMETHEUS_URL", raising=False)
    code, out = _cli(*args)
    assert code == 2
    assert message in out


def test_numbers_are_compact() -> None:
    assert [number(v) for v in (0, 0.123456, 42.42, 230, 13097, 2.5e6, 10737418240)] == [
        "0",
        "0.123",
        "42.4",
        "230",
        "13.1k",
        "2.5M",
        "10.7G",
    ]
    assert number(5.0, signed=True) == "+5"
    assert number(-0.25, signed=True) == "-0.25"
    assert number(None) == "—"
