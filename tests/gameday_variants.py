"""Copies of shipped game days that must fail: a scenario whose runbook lacks its fix step (on
the stack, or on Kubernetes), written to a folder::

    scenario = scenario_without_fix(tmp, "outage", STACK_RESTART, "timeout: 90s")
"""

from __future__ import annotations

import re
from pathlib import Path

from cli_runner import ROOT

__all__ = ["STACK_RESTART", "scenario_without_fix"]

# The stack runbooks' fix: restart what is not ready.
STACK_RESTART = r"```aqua action\nstack: \{restart: [^\n]*\n```\n"


def scenario_without_fix(folder: Path, name: str, fix: str, wait: str) -> Path:
    """Shipped scenario ``name`` (its experiments by path) whose runbook lacks the step
    matching ``fix``, the runbook's ``wait`` timeout cut to 20 s and the scenario's recovery
    timeout to 15 s, so the failure comes soon; the scenario's path."""
    text = (ROOT / "chaos" / "gameday" / f"{name}.yaml").read_text()
    runbook = re.search(r"^runbook: (\S+)$", text, re.M)
    assert runbook is not None
    book = (ROOT / "runbooks" / f"{runbook.group(1)}.md").read_text()
    found = re.search(fix, book)
    assert found is not None, fix
    assert wait in book, wait
    variant = folder / f"{runbook.group(1)}-no-fix.md"
    variant.write_text(book.replace(found.group(0), "").replace(wait, "timeout: 20s"))
    text = re.sub(
        r"^(\s*experiment: )(\S+)$",
        lambda m: f"{m.group(1)}{ROOT / 'chaos' / m.group(2)}.yaml",
        text,
        flags=re.M,
    )
    scenario = folder / f"{name}-no-fix.yaml"
    scenario.write_text(
        re.sub(r"recovery: \w+", "recovery: 15s", text).replace(
            runbook.group(0), f"runbook: {variant}"
        )
    )
    return scenario
