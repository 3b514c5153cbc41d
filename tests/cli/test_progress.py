"""Progress of long work: a spinner and ✓ lines on a terminal, plain lines in a pipe, always
on stderr (stdout is the result: JSON stays clean)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from sre_cli.progress import is_live, steps

ROOT = Path(__file__).resolve().parents[2]


def _console(terminal: bool, term: str = "xterm-256color") -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=80, _environ={"TERM": term})
    return console, out


def test_a_terminal_is_live_a_pipe_or_a_dumb_terminal_is_not() -> None:
    assert is_live(_console(terminal=True)[0])
    assert not is_live(_console(terminal=False)[0])  # a pipe, a file, a CI log
    assert not is_live(_console(terminal=True, term="dumb")[0])


def test_in_a_pipe_each_step_is_one_plain_line_after_the_title() -> None:
    console, out = _console(terminal=False)
    with steps("stopping the stack", console) as step:
        step("api-1 stopped (0.4s)")
        step("postgres stopped (1.2s)")
    assert (
        out.getvalue() == "stopping the stack\n  api-1 stopped (0.4s)\n  postgres stopped (1.2s)\n"
    )


def test_in_a_pipe_work_without_steps_prints_nothing() -> None:
    console, out = _console(terminal=False)
    with steps("stopping the stack", console):
        pass
    assert out.getvalue() == ""


def test_on_a_terminal_each_step_is_a_tick_line() -> None:
    console, out = _console(terminal=True)
    with steps("starting the stack", console) as step:
        step("postgres ready (1.2s)")
    text = out.getvalue()
    assert "\x1b[" in text  # drawn for a terminal: colour, the spinner's redraws
    assert "  ✓ postgres ready (1.2s)" in Text.from_ansi(text).plain
    assert "starting the stack" in text  # the spinner's line


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(10)


@pytest.mark.integration
def test_a_load_test_in_a_pipe_shows_plain_progress_on_stderr_and_clean_json_on_stdout(
    server: str, tmp_path: Path
) -> None:
    users = tmp_path / "users.py"
    users.write_text(
        "from locust import HttpUser, constant, task\n\n\n"
        "class Probe(HttpUser):\n"
        "    wait_time = constant(0.1)\n\n"
        "    @task\n"
        "    def root(self):\n"
        '        self.client.get("/")\n'
    )
    argv = ["loadtest", "run", "--target", server, "--scenario", str(users), "--users", "2"]
    argv += ["--duration", "6s", "--p95-ms", "100000", "--format", "json"]
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "sre_cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["requests"] > 0  # stdout is the JSON alone
    assert "\x1b" not in done.stderr  # no spinner, no colour: a pipe
    lines = done.stderr.splitlines()
    title = lines.index(f"load test against {server}")
    ticks = [line for line in lines[title + 1 :] if " users 2 " in line]
    assert ticks, lines  # the runner's line every 5 s, one line each
    assert all(line.startswith("  ") for line in lines[title + 1 :]), lines
