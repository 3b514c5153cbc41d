"""The public surface of ``sre_cli.runbook``: small, sorted, lazy, and free of the cluster client
until a run targets a cluster."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import sre_cli.runbook as runbook


def test_all_is_sorted_and_resolves() -> None:
    assert runbook.__all__ == sorted(runbook.__all__)
    for name in runbook.__all__:
        assert getattr(runbook, name) is not None, name


def test_no_module_of_the_package_imports_kubernetes_at_import_time() -> None:
    modules = [
        m.name
        for m in pkgutil.walk_packages(runbook.__path__, prefix="sre_cli.runbook.")
        if not m.ispkg
    ]
    assert "sre_cli.runbook.providers.kubernetes" in modules
    code = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {modules!r}:
            importlib.import_module(name)
        heavy = ("kubernetes", "torch", "sqlalchemy")
        print("LOADED=" + ",".join(m for m in heavy if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LOADED=", out.stdout


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="nope"):
        importlib.import_module("sre_cli.runbook").nope  # noqa: B018
