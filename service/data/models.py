"""Tables of the API service: organisations, users, farms, ponds and sensor readings.

Every user and every farm belongs to one organisation (the tenant); ponds, readings and tasks
belong to it through their farm. Farm names are unique within an organisation, not across
them, so a name taken by another tenant is neither refused nor revealed.

Readings are keyed by (pond, sensor, timestamp): the primary key doubles as the index for
time-range reads of one sensor, a second index on (pond, timestamp) serves reads of every
sensor of a pond, and re-sending a reading updates it instead of duplicating it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("viewer", "operator", "admin")
SENSORS = ("dissolved_oxygen", "temperature", "ph", "ammonia")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on PostgreSQL (timestamptz) and SQLite (text) alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite stores text; a fixed naive UTC format keeps text order equal to time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


class Organisation(Timestamps, Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)


def org_column(table: str) -> Mapped[int]:
    return mapped_column(
        Integer,
        ForeignKey("organisations.id", name=f"fk_{table}_org_id"),
        nullable=False,
        index=True,
    )


class User(Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="ck_users_role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = org_column("users")
    # Unique across organisations: a username is what a login names.
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    # In every token; bumped when the role, status or password changes or the user logs out,
    # which revokes every token issued before.
    token_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", nullable=False
    )


class RefreshToken(Base):
    """One issued refresh token. A refresh marks it used and issues the next of its family;
    presenting a used one again (a stolen copy, or the victim after the thief) revokes the
    family."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    family: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Farm(Timestamps, Base):
    __tablename__ = "farms"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_farms_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = org_column("farms")
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    location: Mapped[str | None] = mapped_column(String(200))
    # IANA zone of the farm's ponds: the nightly forecast runs at 20:00 local time.
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")


class Pond(Timestamps, Base):
    __tablename__ = "ponds"
    __table_args__ = (UniqueConstraint("farm_id", "name", name="uq_ponds_farm_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    farm_id: Mapped[int] = mapped_column(
        ForeignKey("farms.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    species: Mapped[str] = mapped_column(String(32), nullable=False)
    area_m2: Mapped[float] = mapped_column(Float, nullable=False)
    depth_m: Mapped[float] = mapped_column(Float, nullable=False)
    stock_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mean_weight_g: Mapped[float | None] = mapped_column(Float)
    mean_length_cm: Mapped[float | None] = mapped_column(Float)
    do_threshold_mg_l: Mapped[float | None] = mapped_column(Float)


class Reading(Base):
    __tablename__ = "readings"
    __table_args__ = (
        CheckConstraint(
            "sensor IN ('dissolved_oxygen', 'temperature', 'ph', 'ammonia')",
            name="ck_readings_sensor",
        ),
        Index("ix_readings_pond_ts", "pond_id", "ts"),
    )

    pond_id: Mapped[int] = mapped_column(
        ForeignKey("ponds.id", ondelete="CASCADE"), primary_key=True
    )
    sensor: Mapped[str] = mapped_column(String(32), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    value: Mapped[float] = mapped_column(Float, nullable=False)


TASK_STATUSES = ("pending", "running", "done", "failed")


class Task(Timestamps, Base):
    """An asynchronous forecast job: queued by the API or the nightly run, done by a worker.

    ``dedupe_key`` makes the nightly run idempotent (one job per pond and local date);
    ``published_at`` is set once the queue acknowledged the job, so jobs whose publication was
    interrupted can be found and sent again.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed')", name="ck_tasks_status"
        ),
        Index("ix_tasks_pond_created", "pond_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pond_id: Mapped[int] = mapped_column(ForeignKey("ponds.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="forecast")
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    dedupe_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(1000))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
