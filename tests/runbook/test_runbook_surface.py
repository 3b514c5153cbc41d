"""``sre_cli.runbook`` and the operations layer under it stay free of the cluster client until a
run targets a cluster."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap

import sre_cli.ops as ops
import sre_cli.runbook as runbook


def test_no_module_of_the_package_imports_kubernetes_at_import_time() -> None:
    modules = [
        m.name
        for pkg, prefix in ((runbook, "sre_cli.runbook."), (ops, "sre_cli.ops."))
        for m in pkgutil.walk_packages(pkg.__path__, prefix=prefix)
        if not m.ispkg
    ]
    assert "sre_cli.ops.providers.kubernetes" in modules
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


def test_the_package_exports_nothing_itself() -> None:
    """One way to import a name: from the module that holds it."""
    assert not hasattr(runbook, "__getattr__")
    assert not hasattr(runbook, "__all__")
