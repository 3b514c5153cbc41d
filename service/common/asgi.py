"""Raw ASGI answers, for the paths that answer before (or instead of) FastAPI's routing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Send

__all__ = ["send_json"]


async def send_json(
    send: Send, status: int, content: bytes, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Send ``content`` (JSON already encoded) as the whole response, with ``extra`` headers."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
