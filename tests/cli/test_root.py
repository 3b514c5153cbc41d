"""The root command: lazy group wiring, --help everywhere, error mapping, and import weight."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_runner import imported_by
from infra_harness import in_ci
from typer.testing import CliRunner, Result

import sre_cli
from sre_cli import cli, errors

HEAVY = (
    "torch",
    "sqlalchemy",
    "fastapi",
    "kubernetes",
    "locust",
    "pandas",
    "numpy",
    "uvicorn",
    "opentelemetry",
)


def _groups() -> list[str]:
    return [g.name for g in cli.available_groups()]


def _invoke(argv: list[str]) -> Result:
    return CliRunner().invoke(cli.build_app(argv), argv)


def test_version() -> None:
    result = _invoke(["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"aqua {sre_cli.__version__}"


def test_root_help_lists_every_group() -> None:
    result = _invoke(["--help"])
    assert result.exit_code == 0
    for name in _groups():
        assert name in result.output
    assert "doctor" in _groups()


def _commands_of(help_text: str) -> list[str]:
    """Command names listed in the 'Commands:' section of plain --help output (a summary
    wrapped onto more lines is indented further)."""
    lines = help_text.split("Commands:", 1)[1].splitlines() if "Commands:" in help_text else []
    return [line.split()[0] for line in lines if line.startswith("  ") and line[2:3] != " "]


@pytest.mark.parametrize("group", _groups())
def test_every_group_and_command_has_help(group: str) -> None:
    result = _invoke([group, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    for name in _commands_of(result.output):
        leaf = _invoke([group, name, "--help"])
        assert leaf.exit_code == 0, leaf.output
        assert "Usage:" in leaf.output


@pytest.mark.parametrize("argv", [["--help"], *[[g, "--help"] for g in _groups()]])
def test_help_never_imports_heavy_modules(argv: list[str]) -> None:
    loaded = imported_by(argv, HEAVY)
    assert loaded == [], f"`aqua {' '.join(argv)}` imported {loaded}"


def _run_main(argv: list[str]) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "sre_cli", *argv], capture_output=True, text=True, timeout=60
    )
    return proc.returncode, proc.stdout + proc.stderr


def _raise_in_a_group(
    tmp_path: Path, raise_line: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``aqua boom go`` in a fresh interpreter, where ``go`` of an extra group does
    ``raise_line`` (any name of sre_cli.errors in scope)."""
    (tmp_path / "boomgroup.py").write_text(
        "import typer\n"
        "from sre_cli.errors import *\n"
        "app = typer.Typer()\n"
        "@app.command()\n"
        "def go() -> None:\n"
        f"    {raise_line}\n"
        "@app.command()\n"
        "def other() -> None:\n"
        "    pass\n"
    )
    runner = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from sre_cli import cli
        cli.GROUPS = (*cli.GROUPS, cli.Group("boom", "boomgroup", "test group"))
        cli.main(["boom", "go"])
        """
    )
    return subprocess.run(
        [sys.executable, "-c", runner], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        ("CheckFailed('the gate said no')", 1),
        ("UsageError('bad flag', hint='try --help')", 2),
        ("SpecError('objective must be below 100', path='slo/api.yaml', line=7)", 2),
        ("Unavailable('prometheus did not answer')", 2),
        ("Aborted('not confirmed')", 3),
    ],
)
def test_aqua_errors_map_to_exit_codes_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: str, code: int
) -> None:
    proc = _raise_in_a_group(tmp_path, f"raise {exc}")
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error:" in proc.stderr
    if "path=" in exc:
        assert "slo/api.yaml:7: objective must be below 100" in proc.stderr
    if "hint=" in exc:
        assert "try --help" in proc.stderr


def test_error_text_is_never_markup_and_never_wrapped(tmp_path: Path) -> None:
    """A message quoting the user's own query and a long path prints as written, on one line,
    even at 40 columns."""
    deep = "/".join(["a-very-long-directory-name"] * 6) + "/[bold]api.yaml"
    raise_line = (
        f"raise SpecError('bad query route=~\"[a-z]+\" [red]x[/]', path={deep!r}, line=3, "
        'hint="quote [dim]it[/]")'
    )
    env = {**os.environ, "COLUMNS": "40", "NO_COLOR": "1"}
    proc = _raise_in_a_group(tmp_path, raise_line, env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == f'error: {deep}:3: bad query route=~"[a-z]+" [red]x[/]'
    assert lines[1] == "hint: quote [dim]it[/]"


def test_unknown_command_is_a_usage_error() -> None:
    code, out = _run_main(["no-such-group"])
    assert code == 2
    assert "No such command" in out


def test_error_tree_is_one_hierarchy_and_public_surface_sorted() -> None:
    assert errors.__all__ == sorted(errors.__all__)
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.AquaError)
    assert errors.CheckFailed.exit_code == 1
    assert errors.UsageError.exit_code == 2
    assert errors.Unavailable.exit_code == 2


def test_doctor_json_lists_every_component_with_a_version() -> None:
    code, out = _run_main(["doctor", "--json"])
    payload = json.loads(out[out.index("{") :])
    names = {c["name"] for c in payload["components"]}
    expected = {
        "postgresql",
        "redis",
        "java",
        "kafka",
        "prometheus",
        "promtool",
        "alertmanager",
        "amtool",
        "nginx",
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubectl",
        "kwok",
        "jaeger",
        "torch",
    }
    assert expected <= names
    for c in payload["components"]:
        assert set(c) == {"name", "version", "path", "status", "hint"}
        if c["status"] == "ok":
            assert any(ch.isdigit() for ch in c["version"] or ""), c
            assert Path(c["path"] or "/nonexistent").exists(), c
        else:
            assert c["hint"], c
    all_ok = all(c["status"] == "ok" for c in payload["components"])
    assert code == (0 if all_ok else 1)
    if in_ci():
        assert all_ok, [c for c in payload["components"] if c["status"] != "ok"]


@pytest.mark.parametrize("argv", [[], *[[g] for g in _groups()]])
def test_dash_h_is_help(argv: list[str]) -> None:
    short, long = _invoke([*argv, "-h"]), _invoke([*argv, "--help"])
    assert short.exit_code == 0, short.output
    assert short.output == long.output


def test_the_root_offers_shell_completion() -> None:
    assert "--install-completion" in _invoke(["--help"]).output


@pytest.mark.parametrize("width", [80, 160])
def test_doctor_reads_at_80_and_160_columns_and_never_cuts_a_path(width: int) -> None:
    """Every line fits the width unless it is one whole path; every path appears whole."""
    import io

    from rich.console import Console

    from sre_cli.doctor.engine import ComponentStatus, DoctorReport

    deep = "/opt/" + "/".join(["a-rather-long-directory"] * 2) + "/bin/postgres"  # 66
    report = DoctorReport(
        (
            ComponentStatus("postgresql", "15.18", deep, "ok", None, True),
            ComponentStatus("redis", "7.0.15", "/usr/bin/redis-server", "ok", None, True),
            ComponentStatus(
                "java", None, None, "missing", "install the Debian package openjdk-17", True
            ),
        )
    )
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, markup=False).print(report)
    lines = out.getvalue().splitlines()
    assert any(line.strip() == deep or line.endswith(f"  {deep}") for line in lines), lines
    assert "/usr/bin/redis-server" in out.getvalue()
    assert all(len(line.rstrip()) <= width for line in lines), lines
    assert (f"    {deep}" in lines) is (width == 80)  # on its own line only when narrow
    assert "install the Debian package openjdk-17" in " ".join(" ".join(lines).split())


def test_doctor_format_json_and_the_hidden_json_alias_agree() -> None:
    code, out = _run_main(["doctor", "--format", "json"])
    alias_code, alias = _run_main(["doctor", "--json"])
    assert code == alias_code
    assert json.loads(out) == json.loads(alias)
    assert "--json" not in _invoke(["doctor", "--help"]).output
