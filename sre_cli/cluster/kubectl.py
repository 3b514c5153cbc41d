"""The built kubectl, bound to one kubeconfig: the cluster code's only client of the API.

A subprocess keeps the ``kubernetes`` package (and its import time) out of ``aqua cluster``.

Example::

    kube = Kubectl(tools.kubectl, kubeconfig, cache_dir)
    nodes = kube.json("get", "nodes")["items"]
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from sre_cli.errors import ComponentError

__all__ = ["Kubectl"]


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path, cache_dir: Path | None = None) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir or kubeconfig.parent / "kubectl-cache"

    def argv(self, *args: str) -> list[str]:
        return [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.cache_dir}",
            *args,
        ]

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            self.argv(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
        )
        if check and out.returncode != 0:
            raise ComponentError(
                f"kubectl {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()[:1500]}"
            )
        return out

    def json(self, *args: str, timeout: float = 60) -> Any:
        return json.loads(self.run(*args, "-o", "json", timeout=timeout).stdout)
