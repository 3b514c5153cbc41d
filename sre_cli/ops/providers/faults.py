"""The API's fault injection (``aqua stack up --faults``): list, add and clear rules.

An admin's bearer token comes from ``$AQUA_ADMIN_TOKEN`` (or, on the stack, a login as its
bootstrap admin: :func:`stack_admin_token`); a stack without ``--faults`` answers 404, which
is said as such::

    call("http://127.0.0.1:8080", "PUT", {"route": "/live", "latency_ms": 300})
    rules("http://127.0.0.1:8080")    # the rules in force now
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sre_cli.errors import ConfigError, Unavailable

__all__ = [
    "ADMIN_SECRET",
    "ADMIN_TOKEN_ENV",
    "FAULTS_PATH",
    "FaultsOff",
    "call",
    "login",
    "rules",
    "stack_admin_token",
]

ADMIN_TOKEN_ENV = "AQUA_ADMIN_TOKEN"  # noqa: S105 - the name of a variable
#: the Secret of the API's bootstrap admin on Kubernetes (``aqua cluster up --faults``)
ADMIN_SECRET = "aqua-admin"  # noqa: S105 - the name of a Secret
FAULTS_PATH = "/api/v1/admin/faults"


class FaultsOff(ConfigError):
    """The API answers 404 on the faults endpoint: the stack runs without ``--faults``."""


def stack_admin_token(entry_url: str, secrets_file: Path) -> str:
    """An access token of the stack's bootstrap admin (its ``secrets.json``)."""
    from sre_cli.stack.state import StackSecrets

    try:
        secrets = StackSecrets.model_validate_json(secrets_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the stack's admin from {secrets_file}: {exc}") from exc
    return login(entry_url, secrets.admin_username, secrets.admin_password)


def login(entry_url: str, username: str, password: str) -> str:
    """An access token of ``username`` from the API at ``entry_url``."""
    import httpx

    form = {"username": username, "password": password}
    try:
        response = httpx.post(f"{entry_url}/api/v1/auth/token", data=form, timeout=30.0)
    except httpx.HTTPError as exc:
        raise Unavailable(f"logging in at {entry_url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise Unavailable(f"logging in as {username} answered {response.status_code}")
    return str(response.json()["access_token"])


def call(
    entry_url: str,
    method: str,
    body: dict[str, object] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """``method`` on the faults endpoint of the API at ``entry_url`` with ``token`` (default
    ``$AQUA_ADMIN_TOKEN``); its JSON answer. :class:`FaultsOff` on a 404."""
    import httpx

    token = token or os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        raise ConfigError(
            f"fault injection needs an admin token in ${ADMIN_TOKEN_ENV}",
            hint="the API must run with faults on (`aqua stack|cluster up --faults`)",
        )
    url = entry_url + FAULTS_PATH
    try:
        with httpx.Client(timeout=10.0) as client:
            response = client.request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
    except httpx.HTTPError as exc:
        raise Unavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 404:
        raise FaultsOff(
            f"{method} {url}: 404: fault injection is off",
            hint="start it with `aqua stack up --faults` or `aqua cluster up --faults`",
        )
    if response.status_code >= 400:
        raise Unavailable(f"{method} {url}: answered {response.status_code}")
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {}
    return answer


def rules(entry_url: str, token: str | None = None) -> list[dict[str, Any]]:
    """The fault rules in force now."""
    found = call(entry_url, "GET", token=token).get("rules") or []
    return [r for r in found if isinstance(r, dict)]
