"""The native open-model engine: ``aqua-loadgen`` (Go, on vegeta's attacker).

Python cannot hold a high arrival rate on two cores (locust reached 40 % of wrk's rate on
the reference stack), so the open model runs in a small Go program built from
``native/`` by ``scripts/build-loadgen`` (``scripts/provision`` runs it) and cached under
``~/.cache/aqua/loadgen-vegeta-<version>-<source hash>/``. This module finds that binary,
hands it a plan (schedule, requests, limits) and reads back one line per request: intended
and actual send times, service time, status. ``$AQUA_LOADGEN_BIN`` names another binary.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sre_cli.errors import MissingDependency, Unavailable
from sre_cli.infra.binaries import GO, script_hint
from sre_cli.loadtest.results import Recorder
from sre_cli.loadtest.schedule import Schedule

__all__ = ["Live", "NativeRun", "NativeTarget", "Tick", "engine_binary", "run_native"]

SOURCE = Path(__file__).resolve().parent / "native"
_VEGETA = re.compile(r"github\.com/tsenart/vegeta/v12 (v[0-9][^\s]*)")


def engine_binary() -> Path:
    """Where ``scripts/build-loadgen`` puts the engine for this source; MissingDependency
    when it is not built."""
    override = os.environ.get("AQUA_LOADGEN_BIN")
    if override:
        path = Path(override)
    else:
        from sre_cli.infra.versions import cache_dir

        files = [SOURCE / "go.mod", SOURCE / "go.sum", SOURCE / "main.go"]
        digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
        match = _VEGETA.search(files[0].read_text(encoding="utf-8"))
        version = match.group(1) if match else "unknown"
        path = cache_dir() / f"loadgen-vegeta-{version}-{digest}" / "bin" / "aqua-loadgen"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise MissingDependency(
            f"the open-model load engine is not built: {path} is missing",
            hint=script_hint("build-loadgen", f"builds it from its Go module; {GO}"),
        )
    return path


@dataclass(frozen=True)
class NativeTarget:
    method: str
    url: str
    name: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass
class NativeRun:
    intended: int
    sent: int
    duration_s: float
    errors: dict[str, int]
    stopped: bool


Progress = Callable[[str], None]
#: called on each progress line: seconds since the start, requests sent, requests answered
#: below 400 (both cumulative)
Tick = Callable[[float, int, int], None]


@dataclass(frozen=True)
class Live:
    """A run watched while it goes: ``on_tick`` every ``every_s`` seconds, and ``stop`` ends
    the schedule early (the engine stops sending, as on Ctrl-C, and reports what it sent)."""

    on_tick: Tick
    stop: threading.Event
    every_s: float = 1.0


def run_native(
    schedule: Schedule,
    targets: list[NativeTarget],
    recorder: Recorder,
    *,
    max_in_flight: int,
    connections: int = 100,
    timeout_s: float = 10.0,
    progress: Progress | None = None,
    live: Live | None = None,
) -> NativeRun:
    """Send ``targets`` round-robin on ``schedule``; every request goes into ``recorder``
    with its corrected latency (from its intended send time) and its service time."""
    binary = engine_binary()
    say = progress or (lambda _msg: None)
    plan = {
        **schedule.to_json(),
        "targets": [
            {"method": t.method, "url": t.url, "headers": t.headers, "body": t.body}
            for t in targets
        ],
        "max_in_flight": max_in_flight,
        "connections": min(connections, max_in_flight),
        "timeout_s": timeout_s,
        "progress_s": live.every_s if live is not None else 5.0,
    }
    # the plan holds bearer tokens: a private directory (mkdtemp is 0700), removed after
    with tempfile.TemporaryDirectory(prefix="aqua-loadgen-") as tmp:
        plan_file, results_file = Path(tmp) / "plan.json", Path(tmp) / "results.txt"
        plan_file.write_text(json.dumps(plan), encoding="utf-8")
        proc = subprocess.Popen(
            [str(binary), str(plan_file), str(results_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        errors: list[str] = []
        tick = live.on_tick if live is not None else None
        relay = threading.Thread(target=_relay, args=(proc, say, errors, tick), daemon=True)
        relay.start()
        if live is not None:
            threading.Thread(target=_stop_on, args=(proc, live.stop), daemon=True).start()
        try:
            out, _ = proc.communicate(timeout=schedule.duration_s + timeout_s + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise Unavailable("the load engine did not stop on time and was killed") from None
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=timeout_s + 5)
        relay.join(5)
        if proc.returncode != 0:
            detail = "; ".join(errors[-3:]) or f"exit {proc.returncode}"
            raise Unavailable(f"the load engine failed: {detail}")
        summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        _read_results(results_file, targets, recorder)
    return NativeRun(
        intended=int(summary["intended_hits"]),
        sent=int(summary["sent"]),
        duration_s=float(summary["duration_s"]),
        errors={str(k): int(v) for k, v in (summary.get("errors") or {}).items()},
        stopped=bool(summary.get("stopped")),
    )


def _stop_on(proc: subprocess.Popen[str], stop: threading.Event) -> None:
    """SIGINT the engine once ``stop`` is set (it ends its schedule there and reports)."""
    while not stop.wait(0.5):
        if proc.poll() is not None:
            return
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)


def _relay(
    proc: subprocess.Popen[str], say: Progress, errors: list[str], tick: Tick | None = None
) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        words = raw.split()
        if len(words) == 5 and words[0] == "progress":
            elapsed, rate, sent, ok = words[1:]
            if tick is not None:
                tick(float(elapsed), int(sent), int(ok))
            say(f"{float(elapsed):5.1f}s  rate {float(rate):.0f}/s  sent {sent}  answered {ok}")
        elif raw.strip():
            errors.append(raw.strip())


def _read_results(path: Path, targets: list[NativeTarget], recorder: Recorder) -> None:
    names = [(t.method, t.name) for t in targets]
    with path.open(encoding="ascii") as lines:
        for line in lines:
            intended, sent, latency, code, index = map(int, line.split())
            method, name = names[index] if index >= 0 else ("?", "?")
            failed = code == 0 or code >= 400
            recorder.record(
                method,
                name,
                (max(sent - intended, 0) + latency) / 1000.0,
                code or None,
                failed,
                service_ms=latency / 1000.0,
            )
