"""Request and response bodies of the API, validated strictly.

Strings reject control characters (PostgreSQL cannot store NUL and logs should not carry
them), numbers must be finite, timestamps must carry a timezone and fall in a sane range, and
unknown fields are errors rather than silently dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

MAX_READINGS_PER_BATCH = 1000
MAX_ID = 2**31 - 1
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("control characters are not allowed")
    return value


def _sane_time(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp needs a timezone (e.g. 2025-01-01T00:00:00Z)")
    if not (_EARLIEST <= value < _LATEST):
        raise ValueError("timestamp must be between 1970 and 2200")
    return value.astimezone(UTC)


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(_no_control_chars),
]
Text = Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_control_chars)]
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{3,64}$")]
Password = Annotated[
    str, StringConstraints(min_length=12, max_length=256), AfterValidator(_no_control_chars)
]
Timestamp = Annotated[datetime, AfterValidator(_sane_time)]


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Oslo)") from exc
    return value


TimeZoneName = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_zone)
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Role(StrEnum):
    viewer = "viewer"
    operator = "operator"
    admin = "admin"


class Sensor(StrEnum):
    dissolved_oxygen = "dissolved_oxygen"
    temperature = "temperature"
    ph = "ph"
    ammonia = "ammonia"


class Species(StrEnum):
    channel_catfish = "channel_catfish"
    rainbow_trout = "rainbow_trout"
    whiteleg_shrimp = "whiteleg_shrimp"
    nile_tilapia = "nile_tilapia"
    other = "other"


# Physically plausible ranges: DO mg/L, water temperature °C, pH, total ammonia mg/L.
SENSOR_RANGES: dict[Sensor, tuple[float, float]] = {
    Sensor.dissolved_oxygen: (0.0, 40.0),
    Sensor.temperature: (-5.0, 50.0),
    Sensor.ph: (0.0, 14.0),
    Sensor.ammonia: (0.0, 200.0),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


# --- auth -----------------------------------------------------------------------------------


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(Strict):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


# --- users ----------------------------------------------------------------------------------


class UserCreate(Strict):
    username: Username
    password: Password
    role: Role = Role.viewer


class UserUpdate(Strict):
    password: Password | None = None
    role: Role | None = None
    is_active: bool | None = None


class OrganisationCreate(Strict):
    """A new organisation and its first admin (``python -m service.api add-organisation``)."""

    name: Name
    admin_username: Username
    admin_password: Password


class UserOut(Out):
    id: int
    org_id: int = Field(description="The user's organisation.")
    username: str
    role: Role
    is_active: bool
    created_at: datetime


# --- farms and ponds ------------------------------------------------------------------------


class FarmCreate(Strict):
    name: Name
    location: Text | None = None
    timezone: TimeZoneName = Field(
        default="UTC", description="IANA zone; nightly forecasts run at 20:00 local."
    )


class FarmUpdate(Strict):
    name: Name | None = None
    location: Text | None = None
    timezone: TimeZoneName | None = None


class FarmOut(Out):
    id: int
    org_id: int = Field(description="The farm's organisation (the creator's).")
    name: str
    location: str | None
    timezone: str
    created_at: datetime
    updated_at: datetime


class PondFields(Strict):
    area_m2: Annotated[float, Field(gt=0, le=10_000_000, allow_inf_nan=False)]
    depth_m: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
    stock_count: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0
    mean_weight_g: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)] | None = None
    mean_length_cm: Annotated[float, Field(gt=0, le=500, allow_inf_nan=False)] | None = None
    do_threshold_mg_l: Annotated[float, Field(gt=0, le=20, allow_inf_nan=False)] | None = None


class PondCreate(PondFields):
    farm_id: Id
    name: Name
    species: Species


class PondUpdate(Strict):
    name: Name | None = None
    species: Species | None = None
    area_m2: Annotated[float, Field(gt=0, le=10_000_000, allow_inf_nan=False)] | None = None
    depth_m: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    stock_count: Annotated[int, Field(ge=0, le=1_000_000_000)] | None = None
    mean_weight_g: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)] | None = None
    mean_length_cm: Annotated[float, Field(gt=0, le=500, allow_inf_nan=False)] | None = None
    do_threshold_mg_l: Annotated[float, Field(gt=0, le=20, allow_inf_nan=False)] | None = None


class PondOut(Out):
    id: int
    farm_id: int
    name: str
    species: Species
    area_m2: float
    depth_m: float
    stock_count: int
    mean_weight_g: float | None
    mean_length_cm: float | None
    do_threshold_mg_l: float | None
    created_at: datetime
    updated_at: datetime


# --- readings -------------------------------------------------------------------------------


class ReadingIn(Strict):
    sensor: Sensor
    ts: Timestamp
    value: Annotated[float, Field(allow_inf_nan=False)]

    @model_validator(mode="after")
    def _in_range(self) -> ReadingIn:
        lo, hi = SENSOR_RANGES[self.sensor]
        if not (lo <= self.value <= hi):
            raise ValueError(f"{self.sensor.value} must be between {lo} and {hi}")
        return self


class ReadingBatch(Strict):
    readings: Annotated[list[ReadingIn], Field(min_length=1, max_length=MAX_READINGS_PER_BATCH)]


class IngestResult(BaseModel):
    pond_id: int
    accepted: int = Field(description="Distinct (sensor, ts) readings written or updated.")
    durable: bool = Field(description="True when stored; false when queued for storage.")


class ReadingPoint(BaseModel):
    sensor: Sensor
    ts: datetime = Field(description="Reading time, or bucket start when downsampled.")
    value: float = Field(description="The reading, or the bucket mean.")
    min: float
    max: float
    count: int = Field(description="Readings in the bucket (1 for raw readings).")


class ReadingSeries(BaseModel):
    pond_id: int
    start: datetime
    end: datetime
    bucket_seconds: int | None
    points: list[ReadingPoint]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


# --- summary --------------------------------------------------------------------------------


class PondStatus(StrEnum):
    ok = "ok"
    warning = "warning"
    critical = "critical"
    unknown = "unknown"


class LatestReading(BaseModel):
    sensor: Sensor
    ts: datetime
    value: float


class Biomass(BaseModel):
    kg: float | None
    method: str = Field(description="mean_weight, length_weight or unknown.")
    mean_weight_g: float | None
    density_kg_m2: float | None
    density_kg_m3: float | None


class PondSummary(BaseModel):
    pond: PondOut
    latest: list[LatestReading]
    biomass: Biomass
    status: PondStatus
    status_reason: str
    do_threshold_mg_l: float
    computed_at: datetime
