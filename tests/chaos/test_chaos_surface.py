"""Importing sre_cli.chaos (and its command group) loads neither kubernetes nor the engine."""

from __future__ import annotations

import subprocess
import sys

import sre_cli.chaos as chaos


def test_the_package_exports_nothing_itself() -> None:
    """One way to import a name: from the module that holds it."""
    assert not hasattr(chaos, "__getattr__")
    assert not hasattr(chaos, "__all__")


def test_importing_the_package_is_light() -> None:
    code = (
        "import sys, sre_cli.chaos, sre_cli.commands.chaos; "
        "print(sorted(m for m in sys.modules if m.startswith(('kubernetes', 'sre_cli.chaos.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
