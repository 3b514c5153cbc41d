"""Investigations: a firing alert's runbook run read-only, in the background, its transcript
kept (what ``aqua runbook serve`` starts for each Alertmanager notification).

For each firing alert the runbook whose front matter lists it is run as an investigation
(:attr:`RunOptions.investigate`: only ``read`` steps; no action is planned or done, nobody is
paged). One alert group runs one investigation per runbook at a time: Alertmanager re-sends a
group's notification (``group_interval``, ``repeat_interval``, a retry after a timeout), and a
re-send while the run goes on is answered with the running one::

    inv = Investigator(Path("runbooks"), folder, connect=lambda target: open_context(...))
    started = inv.start(notification)      # [Started(...), ...]
    inv.get("api-down-20250101T030000Z-1")  # its record and transcript events

Transcripts go to ``folder`` (``<state-dir>/investigations/`` by default), one
``ID.jsonl`` each; they outlive the server, and :meth:`Investigator.get` finds them after a
restart too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sre_cli.errors import AquaError

if TYPE_CHECKING:
    from sre_cli.ops.context import RunContext
    from sre_cli.ops.operations import TargetName
    from sre_cli.runbook.spec import Runbook

__all__ = ["Investigation", "Investigator", "Started"]

#: an investigation's id as URLs carry it: nothing that could leave the folder
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Connect = Callable[["TargetName"], "RunContext"]


@dataclass
class Investigation:
    id: str
    runbook: str
    alert: str
    group_key: str
    target: str
    transcript: Path
    started_at: str
    status: Literal["running", "done"] = "running"
    outcome: str | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "runbook": self.runbook,
            "alert": self.alert,
            "group_key": self.group_key,
            "target": self.target,
            "started_at": self.started_at,
            "status": self.status,
            "outcome": self.outcome,
            "error": self.error,
            "transcript": str(self.transcript),
        }


@dataclass(frozen=True)
class Started:
    """What one firing alert of a notification led to."""

    alert: str
    #: started: a new investigation; running: the group's one already runs; ignored: none
    status: Literal["started", "running", "ignored"]
    investigation: Investigation | None = None
    reason: str = ""

    def to_json(self, base_url: str) -> dict[str, object]:
        out: dict[str, object] = {"alert": self.alert, "status": self.status}
        if self.investigation is not None:
            out["id"] = self.investigation.id
            out["runbook"] = self.investigation.runbook
            out["url"] = f"{base_url}/investigations/{self.investigation.id}"
        if self.reason:
            out["reason"] = self.reason
        return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Investigator:
    """Starts investigations, at most ``max_running`` at a time, and keeps their records."""

    def __init__(
        self,
        directory: Path,
        folder: Path,
        connect: Connect,
        *,
        target: TargetName | None = None,
        kube: bool = False,
        max_running: int = 4,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.directory = directory
        self.folder = folder
        self.connect = connect
        self.target = target
        self.kube = kube
        self.max_running = max_running
        self.log = log
        self._lock = threading.Lock()
        self._by_id: dict[str, Investigation] = {}
        self._running: dict[tuple[str, str], Investigation] = {}
        self._numbers = itertools.count(1)

    def start(
        self, group_key: str, alerts: Sequence[tuple[str, str]], base_url: str = ""
    ) -> list[Started]:
        """An investigation per firing alert of a notification: ``alerts`` as (alertname,
        status) pairs, one investigation per runbook and ``group_key``."""
        out: list[Started] = []
        for name, status in alerts:
            if status != "firing":
                out.append(Started(name, "ignored", reason=f"the alert is {status}"))
                continue
            out.append(self._start_one(name, group_key, base_url))
        return out

    def _start_one(self, alert: str, group_key: str, base_url: str) -> Started:
        from sre_cli.runbook.loader import find_by_alert, load_runbook
        from sre_cli.runbook.spec import choose_target

        try:
            book = load_runbook(find_by_alert(alert, self.directory))
            target = choose_target(book, self.target, kube=self.kube)
        except AquaError as exc:
            return Started(alert, "ignored", reason=exc.message)
        key = (group_key, book.name)
        with self._lock:  # one decision at a time: re-sends may arrive together
            running = self._running.get(key)
            busy = running is None and len(self._running) >= self.max_running
            if running is None and not busy:
                inv = self._new(book.name, alert, group_key, target)
                self._running[key] = inv
        if running is not None:
            self.log(
                f"alert {alert} (group {group_key}) again: investigation {running.id} still "
                "running, no second one started"
            )
            return Started(alert, "running", running, "this alert group's run goes on")
        if busy:
            return Started(
                alert, "ignored", reason=f"busy: {self.max_running} investigations running"
            )
        url = f"{base_url}/investigations/{inv.id}"
        self.log(
            f"investigation {inv.id} started: alert {alert} -> runbook {book.name} on {target}; "
            f"transcript {inv.transcript}; {url}"
        )
        thread = threading.Thread(
            target=self._run, args=(inv, book, key), name=f"investigation-{inv.id}", daemon=True
        )
        thread.start()
        return Started(alert, "started", inv)

    def _new(self, runbook: str, alert: str, group_key: str, target: str) -> Investigation:
        """A new investigation, registered (the caller holds the lock)."""
        stamp = _now().strftime("%Y%m%dT%H%M%SZ")
        ident = f"{runbook}-{stamp}-{next(self._numbers)}"
        inv = Investigation(
            ident,
            runbook,
            alert,
            group_key,
            target,
            self.folder / f"{ident}.jsonl",
            _now().isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        self._by_id[ident] = inv
        return inv

    def _run(self, inv: Investigation, book: Runbook, key: tuple[str, str]) -> None:
        from sre_cli.runbook.engine import RunOptions, SilentReporter, run

        target: TargetName = "kubernetes" if inv.target == "kubernetes" else "stack"
        options = RunOptions(target, investigate=True)
        try:
            report = run(
                book,
                options,
                lambda: self.connect(target),
                SilentReporter(),
                inv.transcript,
            )
            inv.outcome = report.outcome
            inv.error = report.error.message if report.error else None
        except AquaError as exc:  # could not start at all (a runbook parameter without default)
            inv.outcome, inv.error = "error", exc.message
        except Exception as exc:  # a bug must not kill the server: it is logged
            inv.outcome, inv.error = "error", f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                inv.status = "done"
                self._running.pop(key, None)
            inv.done.set()
        why = f" ({inv.error})" if inv.error else ""
        self.log(
            f"investigation {inv.id} finished: {inv.outcome}{why}; transcript {inv.transcript}"
        )

    # -- reading --------------------------------------------------------------------------------
    def investigations(self) -> list[Investigation]:
        with self._lock:
            return list(self._by_id.values())

    def path_of(self, ident: str) -> Path | None:
        """The transcript of investigation ``ident``, of this server or an earlier one."""
        if not _ID.match(ident):
            return None
        with self._lock:
            known = self._by_id.get(ident)
        if known is not None:
            return known.transcript
        path = self.folder / f"{ident}.jsonl"
        return path if path.is_file() else None

    def get(self, ident: str) -> dict[str, object] | None:
        """The record of ``ident`` and its transcript's events, or None."""
        path = self.path_of(ident)
        if path is None:
            return None
        with self._lock:
            known = self._by_id.get(ident)
        events = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue  # a line being written right now
        record = known.to_json() if known is not None else {"id": ident, "transcript": str(path)}
        return {**record, "events": events}

    def wait_idle(self, timeout: float) -> list[str]:
        """Wait up to ``timeout`` seconds for the running investigations; the ids still running."""
        deadline = _now() + dt.timedelta(seconds=timeout)
        for inv in self.investigations():
            left = (deadline - _now()).total_seconds()
            inv.done.wait(max(left, 0.0))
        return [inv.id for inv in self.investigations() if inv.status == "running"]
