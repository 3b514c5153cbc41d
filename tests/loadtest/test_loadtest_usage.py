"""Bad input to ``aqua loadtest run`` and ``knee``: exit 2 and a clear message, nothing sent.

In-process (no locust import happens on these paths); the target is a loopback port where
nothing listens, so a request that slipped through would fail differently.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import invoke

from sre_cli.commands.loadtest import app
from sre_cli.infra.process import free_port


@pytest.fixture
def url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arrival-rate", "10", "--stages", "1s:5"], "exclude each other"),
        (["--users", "5", "--arrival-rate", "10"], "--users is the closed model"),
        (["--endpoint", "/live"], "--endpoint needs the open model"),
        (["--arrival-rate", "10", "--endpoint", "live"], "is not a path"),
        (["--arrival-rate", "0"], "must be above 0"),
        (["--stages", "1s"], "is not DURATION:RATE"),
        (["--arrival-rate", "10", "--duration", "11m"], "longer than 10 minutes"),
        (["--arrival-rate", "10", "--prometheus", "http://192.0.2.1:9090"], "only loopback"),
    ],
)
def test_run_refuses_bad_input(url: str, args: list[str], message: str, tmp_path: Path) -> None:
    code, out = invoke(app, ["run", "--target", url, "--state-dir", str(tmp_path), *args])
    assert code == 2, out
    assert message in out, out
    assert "Traceback" not in out


def test_a_locustfile_stays_in_the_closed_model(url: str, tmp_path: Path) -> None:
    locustfile = tmp_path / "users.py"
    locustfile.write_text("")
    argv = ["run", "--target", url, "--scenario", str(locustfile), "--arrival-rate", "5"]
    code, out = invoke(app, argv)
    assert code == 2, out
    assert "a locustfile runs in the closed model" in out


def test_a_missing_engine_names_the_build_script(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AQUA_LOADGEN_BIN", str(tmp_path / "nowhere" / "aqua-loadgen"))
    argv = ["run", "--target", url, "--endpoint", "/", "--arrival-rate", "5", "--no-server"]
    code, out = invoke(app, argv)
    assert code == 2, out
    assert "open-model load engine is not built" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "100", "--max-rate", "50"], "is above --max-rate"),
        (["--step-duration", "soon"], "--step-duration: not a duration"),
        (["--endpoint", "live"], "is not a path"),
        (["--factor", "1"], "1.05"),
    ],
)
def test_knee_refuses_bad_input(url: str, args: list[str], message: str, tmp_path: Path) -> None:
    code, out = invoke(
        app, ["knee", "--target", url, "--state-dir", str(tmp_path), "--username", "u",
              "--password-file", __file__, *args],
    )  # fmt: skip
    assert code == 2, out
    assert message in out, out


def test_a_bad_baseline_is_exit_2_before_any_load(url: str, tmp_path: Path) -> None:
    baseline = tmp_path / "old.json"
    baseline.write_text('{"verdict": "pass"}')
    argv = ["run", "--target", url, "--endpoint", "/", "--arrival-rate", "5",
            "--baseline", str(baseline)]  # fmt: skip
    code, out = invoke(app, argv)
    assert code == 2, out
    assert "is not a load test result" in out
