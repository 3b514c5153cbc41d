"""Routers of the versioned API (``/api/v1``), one module per resource.

Each router carries its full prefix, so a route's ``path`` is the template that metrics, logs
and fault rules use.
"""

from fastapi import APIRouter

from service.api.routes._common import API_PREFIX


def api_routers() -> list[APIRouter]:
    from service.api.routes import (
        auth,
        farms,
        faults,
        forecast,
        ponds,
        readings,
        summary,
        tasks,
        users,
    )

    # Routes are tried in this order, and each one tried costs: the busiest come first.
    return [
        m.router for m in (summary, readings, ponds, farms, auth, users, forecast, tasks, faults)
    ]


__all__ = ["API_PREFIX", "api_routers"]
