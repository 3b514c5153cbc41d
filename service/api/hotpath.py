"""The summary hot path: a pond summary in the local cache tier, answered before FastAPI.

``GET /api/v1/ponds/{pond_id}/summary`` is the service's busiest request, and on a cache hit
its work is a dictionary lookup. FastAPI's routing and dependency resolution then cost
several times the rest of the request, so this middleware answers such a request itself,
with the same checks in the same functions as the route's dependencies:

* the bearer token and the user's current state (:func:`service.api.deps.bearer_principal`)
  and the ``read`` scope;
* the per-user rate limit (:func:`service.api.deps.admit`), answering 429 with
  ``Retry-After`` as the route would;
* the route template (``scope["route"]``) for metrics and the access log, which the telemetry
  middleware around it records as for any other request.

It only answers when the answer is certain to be the route's: a canonical pond id, a valid
token with the ``read`` scope, and the pond's summary in the local tier under the caller's
organisation (the tier is keyed by organisation and pond, as the route's cache is: another
tenant's pond is never in the caller's entries, so it goes to the route, which answers 404).
Anything else (no or bad token, missing scope, a local miss, odd paths) goes to FastAPI
untouched and before any side effect, so errors come from one place. While a fault rule
targets the summary route, the route answers (fault injection is its dependency); a rule on any
other route does not change this route's answer. ``AQUA_SUMMARY_HOT_PATH=false`` switches the
hot path off. ``summary_hot_path_answers_total`` counts the requests it answered.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.deps import RateLimited, admit, authorization_of, bearer_principal
from service.api.errors import rate_limited_response
from service.api.routes._common import API_PREFIX
from service.api.runtime import Runtime
from service.data.schemas import MAX_ID

SUMMARY_ROUTE = f"{API_PREFIX}/ponds/{{pond_id}}/summary"
_PREFIX = f"{API_PREFIX}/ponds/"
_SUFFIX = "/summary"
_MIN_LENGTH = len(_PREFIX) + 1 + len(_SUFFIX)
_MAX_DIGITS = len(str(MAX_ID))
_JSON = (b"content-type", b"application/json")
_HIT = (b"x-cache", b"hit")


def summary_route(routes: list[BaseRoute]) -> APIRoute:
    for route in routes:
        if (
            isinstance(route, APIRoute)
            and route.path == SUMMARY_ROUTE
            and "GET" in (route.methods or ())
        ):
            return route
    raise LookupError(f"no GET route {SUMMARY_ROUTE}")


class SummaryHotPath:
    def __init__(self, app: ASGIApp, runtime: Runtime, route: APIRoute) -> None:
        self.app = app
        self.rt = runtime
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and self.rt.cache.local.live
            and not self.rt.faults.has_rule(SUMMARY_ROUTE)
        ):
            pond_id = self._pond_id(scope["path"])
            if pond_id is not None and await self._answer(scope, receive, send, pond_id):
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _pond_id(path: str) -> int | None:
        if len(path) < _MIN_LENGTH or not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
            return None
        digits = path[len(_PREFIX) : -len(_SUFFIX)]
        # Canonical ids only ("7", not "07" or "+7"): the route's validation decides the rest.
        if (
            len(digits) > _MAX_DIGITS
            or not digits.isascii()
            or not digits.isdigit()
            or digits[0] == "0"
        ):
            return None
        return int(digits)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, pond_id: int) -> bool:
        """Answer the request, or return False (having changed nothing) to let FastAPI do it."""
        rt = self.rt
        try:
            principal = await bearer_principal(rt, authorization_of(scope))
        except Exception:  # a 401, or the database down: the route answers either
            return False
        if "read" not in principal.scopes:
            return False
        payload = rt.cache.local.get((principal.org_id, pond_id))
        if payload is None:
            return False
        scope["route"] = self.route
        try:
            await admit(rt, principal)
        except RateLimited as exc:
            rt.metrics.hot_path_answers.inc()
            await rate_limited_response(exc)(scope, receive, send)
            return True
        rt.metrics.hot_path_answers.inc()
        rt.cache.local_hits.inc()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                # As the route's Response(..., headers={"X-Cache": "hit"}) would send them.
                "headers": [_HIT, (b"content-length", str(len(payload)).encode()), _JSON],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        return True
