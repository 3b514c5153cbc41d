"""SIGTERM (a CI time limit, a cancelled run) stops the session's servers: they run in process
groups of their own, so only the session's teardown, run as on Ctrl-C, can stop them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from infra_harness import require_binary
from polling import wait_for

pytestmark = pytest.mark.integration

HOLD = """
import os
import signal
from pathlib import Path


def test_hold(redis_server):
    Path(os.environ["AQUA_SERVER_PID_FILE"]).write_text(str(redis_server.process.pid))
    signal.pause()  # until the SIGTERM the test sends
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_ends_the_session_and_stops_its_servers(tmp_path: Path) -> None:
    require_binary("redis-server")
    tests = Path(__file__).resolve().parents[1]
    (tmp_path / "test_hold.py").write_text(HOLD)
    pid_file = tmp_path / "server.pid"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tests), str(tests / "infra"), str(tests.parent)]),
        "AQUA_SERVER_PID_FILE": str(pid_file),
    }
    # The suite's conftest as a plugin, on a session of one test that holds a Redis.
    argv = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q"]
    session = subprocess.Popen(
        [*argv, "--rootdir", str(tmp_path), str(tmp_path / "test_hold.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: pid_file.is_file() and pid_file.read_text(), "the session's Redis")
        server = int(pid_file.read_text())
        assert _alive(server)
        session.send_signal(signal.SIGTERM)
        output, _ = session.communicate(timeout=60)
    finally:
        if session.poll() is None:
            session.kill()
            session.communicate()
    left_running = _alive(server)
    if left_running:
        os.kill(server, signal.SIGKILL)
    assert not left_running, output
    assert "stopped by signal 15" in output, output
    assert session.returncode == pytest.ExitCode.INTERRUPTED, output
