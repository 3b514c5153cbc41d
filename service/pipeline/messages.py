"""What travels on the pipeline topics: versioned JSON bodies, keyed by pond id.

``sensor-readings`` carries one API batch per message (up to 1,000 readings of one pond);
``forecast-requests`` carries one forecast job. Readings reuse the API's validated
:class:`~service.data.schemas.ReadingIn`, so a message the worker accepts is one the API would.
Each message names the organisation the API checked the pond against (``org_id``); the worker
writes only if the pond still belongs to it. A message from before organisations carries none
and is taken as the pond's own::

    msg = ReadingsMessage(org_id=1, pond_id=7, readings=[...])
    value, key = msg.encode(), pond_key(7)
    ReadingsMessage.decode(value)      # raises pydantic.ValidationError on a poison message
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from service.data.schemas import MAX_READINGS_PER_BATCH, ReadingIn

Trigger = Literal["on_demand", "nightly"]


def pond_key(pond_id: int) -> bytes:
    """The message key: the pond id as ASCII, so a pond's messages share a partition."""
    return str(pond_id).encode()


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, value: bytes | None) -> Self:
        return cls.model_validate_json(value or b"")


OrgId = Annotated[int | None, Field(default=None, ge=1)]


class ReadingsMessage(_Message):
    v: Literal[1] = 1
    org_id: OrgId = None
    pond_id: Annotated[int, Field(ge=1)]
    readings: Annotated[list[ReadingIn], Field(min_length=1, max_length=MAX_READINGS_PER_BATCH)]


class ForecastJob(_Message):
    v: Literal[1] = 1
    task_id: uuid.UUID
    org_id: OrgId = None
    pond_id: Annotated[int, Field(ge=1)]
    trigger: Trigger = "on_demand"
    issued_at: datetime = Field(description="Forecast issue time (20:00 pond-local), UTC.")


@dataclass(frozen=True, slots=True)
class Envelope:
    """One queued message as a consumer sees it, from Kafka or the in-process queue.

    ``timestamp_ms`` is the producer's enqueue time (Kafka CreateTime).
    """

    topic: str
    value: bytes
    timestamp_ms: int
    key: bytes | None = None
    partition: int = 0
    offset: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()
