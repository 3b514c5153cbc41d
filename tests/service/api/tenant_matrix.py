"""The "other tenant" column of the auth matrix, generated from the app's OpenAPI document.

Organisation A owns a farm, a pond with readings, a forecast task and a user, all named
``tenant-a-…``. The admin of organisation B (every scope) then sends every operation whose
path names an object, with A's ids and again with ids nobody has: each must answer 404, and
the two answers must be the same but for the id (no existence leak). Every list B reads must
mention nothing of A's. A new route that names an object is covered at once: it fails here
until it answers 404 for another tenant's id (and, if it takes a body, until
:data:`BODIES` holds a valid one, so that only the lookup can answer). The control: A's own
admin gets past the lookup on every one of those operations.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from api.api_harness import Api, series

MARK = "tenant-a"
_PARAM = re.compile(r"\{([^}]+)\}")
NOW = datetime.now(UTC).replace(microsecond=0)

# A body each operation accepts, so that its answer comes from the lookup, not validation.
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/farms/{farm_id}"): {"name": "renamed-by-b"},
    ("PATCH", "/api/v1/ponds/{pond_id}"): {"stock_count": 1},
    ("PATCH", "/api/v1/users/{user_id}"): {"is_active": False},
    ("POST", "/api/v1/ponds/{pond_id}/readings"): {
        "readings": [{"sensor": "temperature", "ts": NOW.isoformat(), "value": 1.0}]
    },
    ("POST", "/api/v1/ponds"): {
        "farm_id": "{farm_id}",
        "name": "pond-by-b",
        "species": "nile_tilapia",
        "area_m2": 100.0,
        "depth_m": 1.0,
    },
}
# Operations without a path parameter that still name an object (in the body).
NAMED_IN_BODY = {("POST", "/api/v1/ponds")}


@dataclass(frozen=True)
class Owned:
    """Ids of organisation A's objects by path parameter, and ids nobody has."""

    ids: dict[str, str]
    missing: dict[str, str]


def seed_tenant_a(api: Api) -> Owned:
    """A farm, a pond with readings, a forecast task and a user, as A's admin."""
    h = api.auth()
    farm = api.client.post("/api/v1/farms", json={"name": f"{MARK}-farm"}, headers=h)
    assert farm.status_code == 201, farm.text
    farm_id = farm.json()["id"]
    pond = api.pond(farm_id, f"{MARK}-pond")
    assert api.readings(pond, series("temperature", [28.0, 28.5])).status_code in (200, 202)
    task = api.client.post(f"/api/v1/ponds/{pond}/forecast/async", headers=h)
    assert task.status_code == 202, task.text
    user = api.client.post(
        "/api/v1/users",
        json={"username": f"{MARK}-user", "password": "tenant-a-password-1", "role": "viewer"},
        headers=h,
    )
    assert user.status_code == 201, user.text
    return Owned(
        ids={
            "farm_id": str(farm_id),
            "pond_id": str(pond),
            "task_id": task.json()["task_id"],
            "user_id": str(user.json()["id"]),
        },
        missing={
            "farm_id": "987654",
            "pond_id": "987655",
            "task_id": str(uuid.uuid4()),
            "user_id": "987656",
        },
    )


def operations(api: Api) -> list[tuple[str, str]]:
    """Every authenticated operation; deletes last, the farm's after the others (it takes its
    pond with it), so that each operation meets the objects as seeded."""
    spec = api.client.get("/openapi.json").json()
    return sorted(
        (
            (method.upper(), path)
            for path, methods in spec["paths"].items()
            for method, op in methods.items()
            if op.get("security")
        ),
        key=lambda op: (op[0] == "DELETE", op[1].startswith("/api/v1/farms"), op),
    )


def _fill(template: str, ids: dict[str, str]) -> str:
    return _PARAM.sub(lambda m: ids[m.group(1)], template)


def _body(method: str, template: str, ids: dict[str, str]) -> Any:
    body = BODIES.get((method, template))
    if isinstance(body, dict):
        return {k: int(_fill(v, ids)) if v == "{farm_id}" else v for k, v in body.items()}
    return body


def _send(api: Api, token: str, method: str, template: str, ids: dict[str, str]) -> httpx.Response:
    r: httpx.Response = api.client.request(
        method,
        _fill(template, ids),
        json=_body(method, template, ids),
        headers={"Authorization": f"Bearer {token}"},
    )
    return r


def _anonymised(r: httpx.Response, ids: dict[str, str]) -> tuple[int, str, str]:
    text = r.text
    for value in ids.values():
        text = re.sub(rf"\b{re.escape(value)}\b", "ID", text)
    return r.status_code, r.headers.get("content-type", ""), text


def names_an_object(method: str, template: str) -> bool:
    return bool(_PARAM.search(template)) or (method, template) in NAMED_IN_BODY


def other_tenant_failures(api: Api, other_admin: str, owned: Owned) -> list[str]:
    """What organisation B's admin could learn or change of A's objects (empty: nothing)."""
    wrong = []
    for method, template in operations(api):
        if names_an_object(method, template):
            other = _send(api, other_admin, method, template, owned.ids)
            missing = _send(api, other_admin, method, template, owned.missing)
            if other.status_code != 404 or missing.status_code != 404:
                wrong.append(
                    f"{method} {template}: another tenant's id {other.status_code} "
                    f"{other.text[:80]}, a missing id {missing.status_code} {missing.text[:80]}"
                )
            elif _anonymised(other, owned.ids) != _anonymised(missing, owned.missing):
                wrong.append(f"{method} {template}: {other.text} differs from {missing.text}")
        elif method == "GET":
            r = _send(api, other_admin, method, template, {})
            if r.status_code != 200 or MARK in r.text:
                wrong.append(f"GET {template}: {r.status_code} {r.text[:200]}")
    return wrong


def own_tenant_failures(api: Api, own_admin: str, owned: Owned) -> list[str]:
    """The control: A's admin gets past the lookup on every such operation."""
    wrong = []
    for method, template in (op for op in operations(api) if names_an_object(*op)):
        r = _send(api, own_admin, method, template, owned.ids)
        if r.status_code == 404 or r.status_code >= 500 or r.status_code == 422:
            wrong.append(f"{method} {template}: {r.status_code} {r.text[:200]}")
    return wrong
