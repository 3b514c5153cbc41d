"""The wheel carries the reference stack's editable files, copied at build time.

The SLO specs, runbooks, chaos experiments, monitoring manifests and pinned versions live once,
at the top of the repository. Building a wheel copies them under ``sre_cli/defaults/`` (the
paths of :data:`sre_cli.defaults.SHIPPED`), so an installed aqua finds them without a checkout;
``pyproject.toml`` names this command class. An editable install reads the checkout itself.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # the list lives once, beside the code that reads the files
from sre_cli.defaults import SHIPPED  # noqa: E402


class BuildPy(build_py):
    """``build_py`` that also copies :data:`SHIPPED` into ``sre_cli/defaults/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout
        target = Path(self.build_lib) / "sre_cli" / "defaults"
        # The service images install the package for its code alone, from a build context
        # that holds sre_cli/ and service/ only (manifests/docker/Dockerfile says so).
        if os.environ.get("AQUA_BUILD_WITHOUT_DEFAULTS") == "1":
            return
        missing = [relative for relative in SHIPPED if not (ROOT / relative).exists()]
        if missing:
            raise FileNotFoundError(
                "a wheel of aqua ships " + ", ".join(missing) + ": not found beside "
                f"{Path(__file__).name} (set AQUA_BUILD_WITHOUT_DEFAULTS=1 for a code-only build)"
            )
        for relative in SHIPPED:
            source, dest = ROOT / relative, target / relative
            if source.is_dir():
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)  # scripts keep their executable bit
