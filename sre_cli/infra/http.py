"""Tiny HTTP helpers for readiness checks (stdlib only: readiness must not need a client).

Proxies from the environment are ignored: every URL here is on 127.0.0.1.
"""

from __future__ import annotations

import functools
import urllib.error
import urllib.request

__all__ = ["http_request", "http_status"]


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_request(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """Send one request; return (status, body). HTTP errors are answers, not exceptions."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    try:
        with _opener().open(request, timeout=timeout) as response:
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_status(url: str, timeout: float = 2.0) -> int:
    """The status code of GET ``url``; 0 when nothing answers."""
    try:
        return http_request(url, timeout=timeout)[0]
    except (urllib.error.URLError, OSError):
        return 0
