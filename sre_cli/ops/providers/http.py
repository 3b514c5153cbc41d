"""``http`` steps: a GET that wants a status. An unreachable URL is a failed check, not an
error: "nothing answers" is exactly what a runbook for an outage looks for."""

from __future__ import annotations

import httpx

from sre_cli.errors import UsageError
from sre_cli.ops.operations import HttpProbe
from sre_cli.ops.outcome import Observation

__all__ = ["observe"]


def observe(op: HttpProbe, transport: httpx.BaseTransport | None = None) -> Observation:
    where = f"{op.method} {op.url}"
    try:
        with httpx.Client(timeout=op.timeout, transport=transport) as client:
            response = client.request(op.method, op.url, headers={"User-Agent": "aqua-runbook"})
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise UsageError(f"{where}: not a usable URL ({exc})") from exc
    except httpx.TimeoutException:
        return Observation(False, f"{where}: no answer within {op.timeout:g}s")
    except httpx.HTTPError as exc:
        return Observation(False, f"{where}: {type(exc).__name__}: {exc}")
    body = response.text if op.method == "GET" else ""
    excerpt = " ".join(body.split())[:200]
    if response.status_code not in op.statuses:
        want = " or ".join(map(str, op.statuses))
        return Observation(
            False,
            f"{where}: answered {response.status_code}, expected {want}",
            (excerpt,) if excerpt else (),
        )
    if op.expect_body and op.expect_body not in body:
        return Observation(
            False, f"{where}: answered {response.status_code} without {op.expect_body!r}"
        )
    return Observation(True, f"{where}: answered {response.status_code}")
