"""The transcript of a run: JSON lines, one per event, each flushed as it happens.

A run that dies half-way still leaves what it did on disk::

    {"ts": "2025-01-01T03:00:00.120Z", "event": "start", "runbook": "api-down", ...}
    {"ts": "...", "event": "step", "step": 1, "kind": "check", "status": "fail", ...}
    {"ts": "...", "event": "end", "outcome": "resolved", "exit_code": 0}

By default transcripts go to ``<--state-dir>/runbooks/`` when a state dir is given, else to
``$XDG_STATE_HOME/aqua/runbooks/`` (``~/.local/state/...``); chaos journals likewise to
``chaos/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from sre_cli.lifecycle import Closing

__all__ = ["Transcript", "default_transcript_path", "state_folder"]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_transcript_path(
    name: str,
    env: Mapping[str, str] | None = None,
    *,
    folder: str = "runbooks",
    state_dir: Path | None = None,
) -> Path:
    """A new file in ``<state_dir>/<folder>/`` when the user named a state dir, else in
    ``$XDG_STATE_HOME/aqua/<folder>/``; chaos journals use ``folder="chaos"``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return state_folder(folder, env, state_dir=state_dir) / f"{name}-{stamp}-{os.getpid()}.jsonl"


def state_folder(
    folder: str, env: Mapping[str, str] | None = None, *, state_dir: Path | None = None
) -> Path:
    """``<state_dir>/<folder>`` when the user named a state dir, else
    ``$XDG_STATE_HOME/aqua/<folder>`` (``~/.local/state/aqua/<folder>``)."""
    if state_dir is not None:
        return state_dir.expanduser() / folder
    env = os.environ if env is None else env
    base = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state").expanduser()
    return base / "aqua" / folder


class Transcript(Closing):
    """Append-only JSON lines; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def __enter__(self) -> Transcript:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")
        return self

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def write(self, event: str, fields: Mapping[str, object]) -> None:
        if self._fh is None:
            raise RuntimeError("the transcript is not open")
        self._fh.write(json.dumps({"ts": _now(), "event": event, **fields}, default=str) + "\n")
        self._fh.flush()
