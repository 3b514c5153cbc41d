"""The stack agent's ``/dashboards/`` page: the shipped dashboards drawn live from the stack's
Prometheus (:mod:`sre_cli.dashboards`), behind the stack's dashboards token.

A browser opens the URL ``aqua stack up`` prints (``…/dashboards/?token=T``); the answer sets
the token as an HttpOnly, SameSite=Strict cookie, so reloads and ``?since=1h`` need no token in
the URL. ``Authorization: Bearer T`` works too. A missing or wrong token is a 401::

    answer = DashboardsPage(plan, token).get("/dashboards/?since=1h", headers)
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from sre_cli.stack.spec import StackPlan

__all__ = ["COOKIE", "PREFIX", "Answer", "DashboardsPage", "dashboards_url"]

PREFIX = "/dashboards"
COOKIE = "aqua_dashboards"
#: the longest range a page may ask for (a 30-day budget panel still evaluates its own window)
MAX_RANGE_S = 7 * 86400.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def dashboards_url(plan: StackPlan, token: str) -> str | None:
    """The URL to open (token included) when the stack runs an agent and a Prometheus."""
    agents = plan.of_kind("agent")
    if not agents or not plan.of_kind("prometheus") or not token:
        return None
    return f"{agents[0].url}{PREFIX}/?token={token}"


class DashboardsPage:
    """Answers ``GET /dashboards/…`` for the agent."""

    def __init__(self, plan: StackPlan, token: str) -> None:
        self.plan = plan
        self.token = token
        found = plan.of_kind("prometheus")
        self.prometheus = found[0].url if found else None

    def _authorised(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> bool:
        if not self.token:  # fail closed: no token configured, no page
            return False
        offered = []
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            offered.append(auth.removeprefix("Bearer ").strip())
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers.get("Cookie", ""))
        except Exception:  # a malformed Cookie header is no credential
            cookie = SimpleCookie()
        if COOKIE in cookie:
            offered.append(cookie[COOKIE].value)
        offered += query.get("token", [])
        return any(hmac.compare_digest(o.encode(), self.token.encode()) for o in offered)

    def get(self, path: str, headers: Mapping[str, str]) -> Answer:
        parts = urlsplit(path)
        if parts.path not in (PREFIX, f"{PREFIX}/"):
            return Answer(404, "not found\n")
        query = parse_qs(parts.query)
        if not self._authorised(query, headers):
            return Answer(
                401,
                "the dashboards need the stack's token: open the URL `aqua stack up` printed "
                "(or `aqua dashboards url`)\n",
                headers={"WWW-Authenticate": 'Bearer realm="aqua dashboards"'},
            )
        if self.prometheus is None:
            return Answer(503, "this stack runs no Prometheus: there is nothing to draw\n")
        try:
            span = self._range(query)
        except ValueError as exc:
            return Answer(400, f"since: {exc}\n")
        text = self._draw(span)
        headers = {"Cache-Control": "no-store"}
        if query.get("token"):
            headers["Set-Cookie"] = (
                f"{COOKIE}={self.token}; Path={PREFIX}; HttpOnly; SameSite=Strict"
            )
        return Answer(200, text, "text/html; charset=utf-8", headers)

    @staticmethod
    def _range(query: Mapping[str, list[str]]) -> float | None:
        from sre_cli.timespec import parse_duration

        values = query.get("since")
        if not values:
            return None
        seconds = parse_duration(values[0]).total_seconds()
        if not 0 < seconds <= MAX_RANGE_S:
            raise ValueError("between 1s and 7d")
        return seconds

    def _draw(self, span: float | None) -> str:
        from sre_cli.dashboards.engine import evaluate
        from sre_cli.dashboards.page import page
        from sre_cli.dashboards.spec import DEFAULT_DIR, load_dashboards
        from sre_cli.prometheus import PrometheusClient

        assert self.prometheus is not None
        with PrometheusClient(self.prometheus, timeout=10.0) as prom:
            board = evaluate(
                load_dashboards(DEFAULT_DIR), prom, end=time.time(), range_seconds=span
            )
        return page(board, refresh=30)
