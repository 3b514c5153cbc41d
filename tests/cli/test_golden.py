"""Golden files of what aqua prints: every ``--help``, and the outputs and exit codes that need
no server (spec validation, generated rules, dry runs, listings).

Each case runs ``aqua`` in-process exactly as ``python -m sre_cli`` does (``cli.main``, its
error mapping included) at 100 columns without colour, and compares ``exit code + stdout +
stderr`` with ``tests/cli/golden/<case>.txt``. Only truly variable parts are normalized: the
repository root, temp dirs, the version, a transcript's time stamp and run times.
``AQUA_GOLDEN_UPDATE=1 pytest tests/cli`` rewrites the files; a diff in review is then the
change in behaviour.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sre_cli import __version__, cli

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("AQUA_GOLDEN_UPDATE") == "1"
ENV = {
    "COLUMNS": "100",
    "LINES": "50",
    "TERMINAL_WIDTH": "100",
    "NO_COLOR": "1",
    "TERM": "dumb",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "AQUA_PROMETHEUS_URL": None,
    "KUBECONFIG": "/nonexistent/kubeconfig",
}


def _walk(command: Any, path: list[str]) -> Iterator[list[str]]:
    yield path
    for name in sorted(getattr(command, "commands", {})):  # a group (typer may vendor click)
        yield from _walk(command.commands[name], [*path, name])


def help_paths() -> list[list[str]]:
    """Every command path of the Typer tree: the root, each group, each leaf."""
    paths: list[list[str]] = [[]]
    for group in cli.available_groups():
        app: typer.Typer = cli.build_app([group.name])
        root: Any = typer.main.get_command(app)
        paths.extend(_walk(root.commands[group.name], [group.name]))
    return paths


def _run(argv: list[str], tmp: Path) -> str:
    runner = CliRunner()
    env = {**ENV, "AQUA_STATE_DIR": str(tmp / "state"), "HOME": str(tmp / "home")}
    with runner.isolation(env=env) as streams:
        code = 0
        try:
            cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = streams[0].getvalue().decode()
        err = streams[1].getvalue().decode() if len(streams) > 1 and streams[1] else ""
    text = f"$ aqua {' '.join(argv)}\n[exit {code}]\n{out}"
    if err:
        text += f"[stderr]\n{err}"
    return _normalize(text, tmp)


def _normalize(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<TMP>").replace(str(ROOT), "<ROOT>")
    text = text.replace(f"aqua {__version__}", "aqua <VERSION>")
    text = re.sub(r"\d{8}T\d{6}Z-\d+", "<STAMP>", text)  # a transcript's name: time and pid
    text = re.sub(r'"seconds": [0-9.]+', '"seconds": <SECONDS>', text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _slug(argv: list[str]) -> str:
    slug = "-".join(a.strip("-").replace("/", "_") for a in argv) or "root"
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", slug)


def _compare(name: str, actual: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
    assert path.exists(), f"no golden file {path.name}; run with AQUA_GOLDEN_UPDATE=1"
    assert actual == path.read_text(), f"output of {name} changed (AQUA_GOLDEN_UPDATE=1 rewrites)"


@pytest.mark.parametrize("argv", help_paths(), ids=lambda p: " ".join(p) or "aqua")
def test_help_is_unchanged(argv: list[str], tmp_path: Path) -> None:
    _compare("help/" + _slug(argv), _run([*argv, "--help"], tmp_path))


RB = "tests/runbook/fixtures"
CH = "tests/chaos/fixtures"
#: Outputs and exit codes that need no server: (case name, command line after ``aqua``).
COMMANDS: list[tuple[str, str]] = [
    ("version", "--version"),
    ("unknown-group", "no-such-group"),
    ("slo-validate-repo", "slo validate slo"),
    ("slo-validate-bad-window", "slo validate tests/slo/fixtures/validate/bad/bad-window.yaml"),
    (
        "slo-validate-bad-objective",
        "slo validate tests/slo/fixtures/validate/bad/objective-100.yaml",
    ),
    ("slo-validate-missing", "slo validate no/such/file.yaml"),
    ("slo-rules-api", "slo rules slo/api.yaml"),
    ("slo-rules-all", "slo rules slo"),
    ("slo-report-bad-at", "slo report slo/api.yaml --prometheus {nowhere} --at yesterday-ish"),
    ("runbook-list-json", "runbook list --format json"),
    ("runbook-list", "runbook list"),
    ("runbook-list-bad", "runbook list --dir {rb}/bad"),
    ("runbook-show", "runbook show latency-spike"),
    ("runbook-show-unknown", "runbook show no-such-runbook"),
    ("runbook-run-bad-param", "runbook run api-down --param nope"),
    ("runbook-run-bad-target", "runbook run api-down --target moon"),
    ("runbook-run-dry-no-stack", "runbook run api-down --dry-run --format json"),
    ("chaos-run-missing", "chaos run no-such-experiment"),
    ("chaos-run-dry-no-stack", "chaos run chaos/api-replica-loss.yaml --dry-run"),
    ("gameday-list", "gameday list"),
    ("gameday-list-json", "gameday list --format json"),
    ("gameday-run-no-stack", "gameday run outage --yes"),
    ("gameday-run-kubernetes", "gameday run outage --target kubernetes"),
    ("gameday-several-problems", "gameday run tests/gameday/fixtures/many-problems.yaml"),
    ("capacity-no-target", "capacity forecast --prometheus {nowhere}"),
    (
        "capacity-bad-history",
        "capacity forecast --prometheus {nowhere} --query up --limit 2 --history soon",
    ),
    ("capacity-both", "capacity forecast sre_cli/capacity/examples --query up"),
    (
        "loadtest-dry-json",
        "loadtest run --dry-run --format json --target {nowhere} {login} --duration 1m30s",
    ),
    (
        "loadtest-dry",
        "loadtest run --dry-run --target {nowhere} {login} --duration 90s --users 3",
    ),
    ("loadtest-bad-duration", "loadtest run --dry-run --target {nowhere} --duration forever"),
    ("loadtest-too-long", "loadtest run --dry-run --target {nowhere} --duration 2h"),
    ("loadtest-not-loopback", "loadtest run --dry-run --target http://10.1.2.3:80"),
    ("stack-status-no-stack", "stack status"),
    ("stack-down-no-stack", "stack down"),
    ("stack-bad-port", "stack up --port api"),
    ("slo-backtest-bad-step", "slo backtest --from 0 --to 60 --step often --prometheus {nowhere}"),
    (
        "slo-backtest-bad-from",
        "slo backtest --from 'last week' --to 60 --step 5m --prometheus {nowhere}",
    ),
    ("runbook-bad-dir-json", "runbook list --dir {rb}/bad --format json"),
    ("runbook-good-dir-json", "runbook list --dir {rb}/good --format json"),
    ("runbook-several-problems", "runbook show {rb}/several/many-problems.md"),
    ("chaos-several-problems", "chaos run {ch}/several/many-problems.yaml --dry-run"),
    ("slo-validate-json", "slo validate slo --format json"),
    ("slo-report-bad-format", "slo report --format yaml"),
    ("slo-serve-bad-port", "slo serve --port many"),
    ("init-dry-json", "init no/such/dir --dry-run --format json"),
    ("init-dry-existing", "init . --dry-run"),
    ("init-existing", "init ."),
]
WORDS = {
    "rb": RB,
    "ch": CH,
    "nowhere": "http://127.0.0.1:9",
    "login": "--username u --password-file pyproject.toml",
}
CASES = [(name, shlex.split(cmd.format(**WORDS))) for name, cmd in COMMANDS]
CASES += [
    (f"chaos-validate-{p.stem}", ["chaos", "run", f"{CH}/bad/{p.name}", "--dry-run"])
    for p in sorted((ROOT / CH / "bad").glob("*.yaml"))
]
CASES += [
    (f"runbook-bad-{p.stem}", ["runbook", "show", f"{RB}/bad/{p.name}"])
    for p in sorted((ROOT / RB / "bad").glob("*.md"))
]


@pytest.mark.parametrize(("name", "argv"), CASES, ids=[c[0] for c in CASES])
def test_output_is_unchanged(
    name: str, argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    _compare("out/" + name, _run(argv, tmp_path))
