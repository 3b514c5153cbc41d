"""Before any load: is the target up, do the logins work, what is there to load?

Nothing listening, a failed login or no ponds stops the run here (exit 2) before a single
load request is sent. Both engines (locust for the closed model, the native engine for the
open one) start from these answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sre_cli.errors import Unavailable, UsageError
from sre_cli.loadtest.plan import Credentials

if TYPE_CHECKING:
    import httpx

__all__ = ["check_up", "list_ponds", "log_in", "unreachable"]


def unreachable(target: str, exc: Exception) -> Unavailable:
    return Unavailable(
        f"nothing answers at {target}: {type(exc).__name__}: {exc}",
        hint="start the API (`aqua stack up --lite`) or pass --target of a running one",
    )


def log_in(client: httpx.Client, target: str, creds: Credentials) -> str:
    """A bearer token for ``creds``; a UsageError on 401/403, Unavailable otherwise."""
    import httpx

    try:
        r = client.post(
            f"{target}/api/v1/auth/token",
            data={"username": creds.username, "password": creds.password},
        )
    except httpx.HTTPError as exc:
        raise unreachable(target, exc) from exc
    if r.status_code in (401, 403):
        raise UsageError(
            f"login as {creds.username} at {target} failed: HTTP {r.status_code}",
            hint=f"credentials from {creds.source}",
        )
    if r.status_code != 200:
        raise Unavailable(
            f"login at {target} answered HTTP {r.status_code}: {r.text[:200]}",
            hint="is this the aqua API? the reference scenario needs POST /api/v1/auth/token",
        )
    return str(r.json()["access_token"])


def list_ponds(client: httpx.Client, target: str, token: str) -> list[int]:
    """Up to 1000 existing pond ids; Unavailable when there are none."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    ponds: list[int] = []
    try:
        while len(ponds) < 1000:
            page = client.get(
                f"{target}/api/v1/ponds",
                params={"limit": 200, "offset": len(ponds)},
                headers=headers,
            )
            if page.status_code != 200:
                raise Unavailable(
                    f"listing ponds at {target} answered HTTP {page.status_code}: {page.text[:200]}"
                )
            items = page.json().get("items", [])
            ponds.extend(int(p["id"]) for p in items)
            if not items or len(ponds) >= int(page.json().get("total", 0)):
                break
    except httpx.HTTPError as exc:
        raise unreachable(target, exc) from exc
    if not ponds:
        raise Unavailable(
            f"no ponds at {target}: the reference scenario loads existing ponds and "
            "found none, so nothing was sent",
            hint="create some first, e.g. `aqua stack seed`",
        )
    return ponds


def check_up(client: httpx.Client, target: str, path: str = "/") -> None:
    """Anything answering at ``target + path`` (any status); Unavailable when nothing does."""
    import httpx

    try:
        client.get(f"{target}{path}")
    except httpx.HTTPError as exc:
        raise unreachable(target, exc) from exc
