"""The public surface of sre_cli.chaos: one sorted ``__all__``, every name resolves lazily, and
importing the package loads neither kubernetes nor the engine."""

from __future__ import annotations

import subprocess
import sys

import sre_cli.chaos as chaos


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert list(chaos.__all__) == sorted(chaos.__all__)
    for name in chaos.__all__:
        assert getattr(chaos, name) is not None


def test_importing_the_package_is_light() -> None:
    code = (
        "import sys, sre_cli.chaos, sre_cli.commands.chaos; "
        "print(sorted(m for m in sys.modules if m.startswith(('kubernetes', 'sre_cli.chaos.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
