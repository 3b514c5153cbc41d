"""The application Secret as manifests/README.md documents it, with fresh random values.

The prod overlay reads ``aqua-app`` (database URL, JWT key) and commits no secret; the tests
and the benchmark create it the way an operator does::

    kubectl(*create_app_secret("aquaculture-prod"))
"""

from __future__ import annotations

import secrets


def create_app_secret(namespace: str) -> list[str]:
    """The kubectl arguments that create ``aqua-app`` in ``namespace``."""
    return [
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        "aqua-app",
        "--from-literal=database-url=postgresql+asyncpg://aqua_app:"
        f"{secrets.token_hex(8)}@postgres:5432/aqua",
        "--from-literal=database-migration-url=postgresql+asyncpg://aqua_owner:"
        f"{secrets.token_hex(8)}@postgres:5432/aqua",
        f"--from-literal=redis-url=redis://:{secrets.token_hex(8)}@redis:6379/0",
        f"--from-literal=ml-service-token={secrets.token_hex(32)}",
        f"--from-literal=jwt-secret={secrets.token_hex(32)}",
    ]
