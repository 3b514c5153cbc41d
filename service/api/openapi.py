"""The OpenAPI document states every error an ``/api`` route can answer, with its body.

Routes declare what is particular to them (a 409 for a taken name); the answers every route
shares come from middleware, dependencies and exception handlers (``service.api.errors``) and
are added here, by what the operation has: a bearer token (401, 403, 429), path parameters
or a body (404), a body (400 for a bad ``Content-Length``, 409, 413), parameters (422), the
database behind every ``/api`` route (503). Every error body is ``{"detail": "..."}``
(``Error``) but 422's, which lists the failing fields (``HTTPValidationError``)::

    document_errors(app)   # after the routes are added
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.api.routes._common import API_PREFIX

ERROR = "Error"
_ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR,
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "title": "Detail"}},
}
_DESCRIPTIONS = {
    "400": "Malformed request framing (an invalid Content-Length).",
    "401": "No valid bearer token, or the user was disabled, deleted or changed since.",
    "403": "The token's role lacks the scope this route needs.",
    "404": "A resource named by the request does not exist.",
    "409": "Conflicts with an existing record.",
    "413": "Body larger than AQUA_MAX_BODY_BYTES.",
    "422": "Validation error, listing each failing field.",
    "429": "Rate limit exceeded; see Retry-After.",
    "503": "A dependency (database, queue, ML service) is unavailable; see Retry-After.",
}
_BODY_METHODS = {"post", "put", "patch", "delete"}


def _statuses(method: str, op: dict[str, Any]) -> set[str]:
    params = op.get("parameters", [])
    has_body = "requestBody" in op or method in _BODY_METHODS
    codes = {"503"}
    if op.get("security"):
        codes |= {"401", "403", "429"}
    if params or "requestBody" in op:
        codes.add("422")
    if any(p.get("in") == "path" for p in params) or has_body:
        codes.add("404")
    if has_body:
        codes |= {"400", "409", "413"}
    return codes


def document_errors(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas[ERROR] = _ERROR_SCHEMA
        for path, item in schema.get("paths", {}).items():
            if not path.startswith(API_PREFIX):
                continue
            for method, op in item.items():
                responses = op.setdefault("responses", {})
                for code in sorted(_statuses(method, op)):
                    entry = responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
                    body = entry.setdefault("content", {}).setdefault("application/json", {})
                    if not body.get("schema"):
                        ref = "HTTPValidationError" if code == "422" else ERROR
                        body["schema"] = {"$ref": f"#/components/schemas/{ref}"}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
