"""Copies of shipped game days that must fail: the ``outage`` scenario with an ``api-down``
runbook that lacks its fix step (on the stack, or on Kubernetes), written to a folder::

    scenario = outage_without_fix(tmp, r"```aqua action\nstack: \\{restart: [^\n]*\n```\n",
                                  "timeout: 90s")
"""

from __future__ import annotations

import re
from pathlib import Path

from cli_runner import ROOT

__all__ = ["outage_without_fix"]


def outage_without_fix(folder: Path, fix: str, wait: str) -> Path:
    """The outage scenario (its experiments by path), its runbook ``api-down`` without the
    step matching ``fix``, the runbook's ``wait`` timeout cut to 20 s and the recovery
    timeout to 15 s; the scenario's path."""
    book = (ROOT / "runbooks" / "api-down.md").read_text()
    found = re.search(fix, book)
    assert found is not None, fix
    variant = folder / "api-down-no-fix.md"
    variant.write_text(book.replace(found.group(0), "").replace(wait, "timeout: 20s"))
    text = (ROOT / "chaos" / "gameday" / "outage.yaml").read_text()
    for name in ("api-outage", "api-outage-kubernetes"):
        text = text.replace(f"experiment: {name}\n", f"experiment: {ROOT / 'chaos' / name}.yaml\n")
    scenario = folder / "outage-no-fix.yaml"
    scenario.write_text(
        text.replace("runbook: api-down", f"runbook: {variant}").replace(
            "recovery: 3m", "recovery: 15s"
        )
    )
    return scenario
