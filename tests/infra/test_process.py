"""ManagedProcess and Server: ports, readiness failures, and stopping without orphans."""

from __future__ import annotations

import os
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sre_cli.errors import ComponentError
from sre_cli.infra.http import http_status
from sre_cli.infra.process import (
    ManagedProcess,
    PortInUse,
    Server,
    check_port_free,
    free_port,
)


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _group_alive(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def _python(tmp_path: Path, name: str, code: str) -> list[str]:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    return [sys.executable, "-u", str(script)]


class HttpServer(Server):
    """The smallest real server: Python's http.server, ready when / answers 200."""

    name = "http"
    ready_timeout = 20.0

    def _argv(self) -> list[str]:
        return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(self.port)]

    def _probe(self) -> bool:
        return http_status(f"http://127.0.0.1:{self.port}/") == 200


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=rf"redis: port {port} on 127.0.0.1 is already in use"):
            check_port_free(port, "redis")
        server = HttpServer(tmp_path, port=port)
        with pytest.raises(PortInUse, match=rf"http: port {port}"):
            server.start()
        assert server.process is None, "nothing may be spawned on a taken port"
    assert PortInUse.exit_code == 2


def test_server_context_manager_starts_ready_and_stops(tmp_path: Path) -> None:
    with HttpServer(tmp_path) as server:
        assert server.running()
        assert http_status(f"http://127.0.0.1:{server.port}/") == 200
        assert server.start_seconds is not None
        assert server.process is not None
        pid = server.process.pid
        assert pid is not None
    assert not server.running()
    assert not _alive(pid)
    assert http_status(f"http://127.0.0.1:{server.port}/") == 0


def test_readiness_timeout_names_component_and_shows_log_tail(tmp_path: Path) -> None:
    argv = _python(
        tmp_path,
        "chatty",
        """
        import time
        for i in range(1, 41):
            print(f"line {i}")
        time.sleep(60)
        """,
    )
    proc = ManagedProcess("chatty-db", argv, tmp_path)
    proc.start()
    try:
        with pytest.raises(ComponentError) as caught:
            proc.wait_ready(lambda: False, timeout=1.0)
    finally:
        proc.stop(timeout=5)
    message = str(caught.value)
    assert message.startswith("chatty-db did not become ready within 1 s")
    assert "line 40" in message
    assert "line 21" in message
    assert "line 20\n" not in message + "\n", "only the last 20 lines are shown"


def test_readiness_reports_last_probe_error(tmp_path: Path) -> None:
    proc = ManagedProcess("sleeper", ["sleep", "30"], tmp_path)
    proc.start()

    def probe() -> bool:
        raise ConnectionRefusedError("nobody home")

    try:
        with pytest.raises(ComponentError, match="last probe error: ConnectionRefusedError"):
            proc.wait_ready(probe, timeout=0.5)
    finally:
        proc.stop()


def test_early_exit_fails_at_once_with_exit_code_and_log(tmp_path: Path) -> None:
    argv = _python(tmp_path, "crash", "import sys; print('cannot open data dir'); sys.exit(3)")
    proc = ManagedProcess("crasher", argv, tmp_path)
    proc.start()
    started = time.monotonic()
    with pytest.raises(ComponentError) as caught:
        proc.wait_ready(lambda: False, timeout=30)
    assert time.monotonic() - started < 10, "a dead process must not wait for the deadline"
    assert "crasher exited with code 3 before it was ready" in str(caught.value)
    assert "cannot open data dir" in str(caught.value)
    proc.stop()


def test_probe_that_raises_then_succeeds_is_ready(tmp_path: Path) -> None:
    proc = ManagedProcess("sleeper", ["sleep", "30"], tmp_path)
    proc.start()
    calls = iter([OSError("not yet"), False, True])

    def probe() -> bool:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value is True

    try:
        assert proc.wait_ready(probe, timeout=10, interval=0.01) < 5
    finally:
        proc.stop()


def test_stop_kills_the_whole_group_no_orphans(tmp_path: Path) -> None:
    # The leader exits on SIGTERM, its child ignores SIGTERM and would be orphaned.
    argv = _python(
        tmp_path,
        "parent",
        """
        import signal, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('child up', flush=True); time.sleep(300)"])
        print(f"child pid {child.pid}", flush=True)
        time.sleep(300)
        """,
    )
    proc = ManagedProcess("parent", argv, tmp_path)
    proc.start()
    proc.wait_ready(lambda: "child up" in proc.log_path.read_text(), timeout=20)
    line = next(x for x in proc.log_tail() if x.startswith("child pid"))
    child = int(line.split()[-1])
    pgid = proc.pid
    assert pgid is not None
    assert _alive(child)
    proc.stop(timeout=5)
    assert not proc.running()
    assert not _alive(child), "the child must not outlive stop()"
    assert _group_alive(pgid) == []


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    argv = _python(
        tmp_path,
        "stubborn",
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring SIGTERM", flush=True)
        time.sleep(300)
        """,
    )
    proc = ManagedProcess("stubborn", argv, tmp_path)
    proc.start()
    proc.wait_ready(lambda: "ignoring" in proc.log_path.read_text(), timeout=20)
    started = time.monotonic()
    code = proc.stop(timeout=1.0)
    assert code == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert proc.pid is not None
    assert not _alive(proc.pid)


def test_leader_only_signal_then_group_sweep(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "shell",
        ["sh", "-c", "sleep 300 & sleep 300 & wait"],
        tmp_path,
        stop_signal=signal.SIGINT,
        signal_group=False,
    )
    proc.start()
    assert proc.pid is not None
    deadline = time.monotonic() + 10
    while len(_group_alive(proc.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    members = _group_alive(proc.pid)
    assert len(members) == 3
    proc.stop(timeout=1.0)
    assert [pid for pid in members if _alive(pid)] == []


def test_stop_before_start_and_twice_is_harmless(tmp_path: Path) -> None:
    proc = ManagedProcess("idle", ["sleep", "30"], tmp_path)
    assert proc.stop() is None
    proc.start()
    assert proc.running()
    proc.stop()
    proc.stop()
    assert not proc.running()


def test_missing_executable_names_the_component(tmp_path: Path) -> None:
    proc = ManagedProcess("ghost", ["/nonexistent/ghostd"], tmp_path)
    with pytest.raises(ComponentError, match="ghost: cannot execute /nonexistent/ghostd"):
        proc.start()
