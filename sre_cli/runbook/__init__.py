"""Executable markdown runbooks: checks, diagnostics and confirmed actions, with a transcript.

A runbook is a markdown file with YAML front matter whose ``aqua check|diagnose|action``
fenced blocks are declarative steps (:mod:`.steps`); :func:`load_runbook` parses and validates
it (errors name file and line), :func:`run` executes it against the local stack or a
Kubernetes namespace (:func:`open_context`)::

    from sre_cli.runbook import RunOptions, TargetOptions, load_runbook, open_context, run

    book = load_runbook(Path("runbooks/api-down.md"))
    report = run(book, RunOptions("stack", yes=True),
                 lambda: open_context(TargetOptions("stack")), reporter, transcript_path)

Modules: ``steps`` and ``spec`` (the format), ``loader``, ``params``, ``engine``,
``targets`` and ``providers/`` (http, prometheus, stack, kubernetes), ``outcome``,
``transcript``, ``render``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sre_cli.runbook.engine import RunOptions, RunReport, run
    from sre_cli.runbook.loader import check_dir, default_dir, find_runbook, load_runbook
    from sre_cli.runbook.spec import FrontMatter, Runbook, Step
    from sre_cli.runbook.steps import StepBody
    from sre_cli.runbook.targets import RunContext, TargetOptions, open_context

_HOMES = {
    "FrontMatter": "spec",
    "RunContext": "targets",
    "RunOptions": "engine",
    "RunReport": "engine",
    "Runbook": "spec",
    "Step": "spec",
    "StepBody": "steps",
    "TargetOptions": "targets",
    "check_dir": "loader",
    "default_dir": "loader",
    "find_runbook": "loader",
    "load_runbook": "loader",
    "open_context": "targets",
    "run": "engine",
}

__all__ = [
    "FrontMatter",
    "RunContext",
    "RunOptions",
    "RunReport",
    "Runbook",
    "Step",
    "StepBody",
    "TargetOptions",
    "check_dir",
    "default_dir",
    "find_runbook",
    "load_runbook",
    "open_context",
    "run",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
