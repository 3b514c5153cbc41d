"""JSON log lines: the fields, and the handler that writes one event-loop iteration's lines
together."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from service.common.logs import JsonFormatter, LineBatchingHandler, configure_logging
from service.common.tracing import RequestContext, TraceContext, current_request


class CountingStream(io.StringIO):
    """A text stream that remembers each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, s: str) -> int:
        self.writes.append(s)
        return super().write(s)


@pytest.fixture
def stream() -> Iterator[CountingStream]:
    out = CountingStream()
    handler = configure_logging("aqua-test", "INFO", stream=out)
    assert isinstance(handler, LineBatchingHandler)
    try:
        yield out
    finally:
        logging.getLogger().removeHandler(handler)


def _lines(out: CountingStream) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_lines_of_one_loop_iteration_are_written_together(stream: CountingStream) -> None:
    log = logging.getLogger("aqua.test")

    async def main() -> list[str]:
        for i in range(3):
            log.info("line %d", i)
        written_during = list(stream.writes)
        await asyncio.sleep(0)  # the iteration ends: the lines go out
        return written_during

    assert asyncio.run(main()) == []
    assert len(stream.writes) == 1
    assert [line["message"] for line in _lines(stream)] == ["line 0", "line 1", "line 2"]


def test_warnings_and_lines_outside_a_loop_are_written_at_once(stream: CountingStream) -> None:
    log = logging.getLogger("aqua.test")
    log.info("outside a loop")
    assert len(stream.writes) == 1

    async def main() -> None:
        log.info("pending")
        log.warning("urgent")  # written at once, after what was pending
        assert [line["message"] for line in _lines(stream)][-2:] == ["pending", "urgent"]

    asyncio.run(main())
    assert len(stream.writes) == 2


def test_flush_writes_what_is_pending(stream: CountingStream) -> None:
    log = logging.getLogger("aqua.test")

    async def main() -> None:
        log.info("pending")
        for handler in logging.getLogger().handlers:
            if isinstance(handler, LineBatchingHandler):
                handler.flush()
        assert [line["message"] for line in _lines(stream)] == ["pending"]

    asyncio.run(main())
    assert len(stream.writes) == 1  # nothing left for the scheduled write


def test_request_fields_are_taken_when_the_line_is_logged(stream: CountingStream) -> None:
    log = logging.getLogger("aqua.test")

    async def main() -> None:
        for user in ("1", "2"):
            ctx = RequestContext(request_id=f"r{user}", trace=TraceContext.new(), user_id=user)
            token = current_request.set(ctx)
            log.info("request", extra={"status": 200})
            current_request.reset(token)

    asyncio.run(main())
    lines = _lines(stream)
    assert [(line["user_id"], line["request_id"], line["status"]) for line in lines] == [
        ("1", "r1", 200),
        ("2", "r2", 200),
    ]
    assert lines[0]["service"] == "aqua-test"


def test_values_orjson_refuses_fall_back_to_the_stdlib() -> None:
    record = logging.LogRecord("aqua.test", logging.INFO, "", 0, "big", None, None)
    record.huge = 2**70
    line = json.loads(JsonFormatter("aqua-test").format(record))
    assert line["huge"] == 2**70
    assert line["timestamp"].endswith("Z")


@pytest.mark.parametrize(("level", "shown"), [("INFO", False), ("DEBUG", True)])
def test_httpx_request_lines_are_debug_detail(level: str, shown: bool) -> None:
    """Health polls go through httpx, which logs each request at INFO: only DEBUG shows them."""
    import httpx

    out = io.StringIO()
    handler = configure_logging("aqua-test", level, stream=out)
    try:
        transport = httpx.MockTransport(lambda request: httpx.Response(200))
        with httpx.Client(transport=transport) as client:
            client.get("http://ml.internal/ready")
        logging.getLogger("aqua.test").warning("after the poll")
        handler.flush()
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    messages = [json.loads(line)["message"] for line in out.getvalue().splitlines()]
    assert messages[-1] == "after the poll"
    assert any("/ready" in m for m in messages) is shown
