"""Configuration of the worker, from ``AQUA_*`` environment variables.

The variables shared with the API keep the API's names (``AQUA_KAFKA_BOOTSTRAP``,
``AQUA_DATABASE_URL``, ``AQUA_ML_URL``, ``AQUA_REDIS_URL``) so one environment file configures
both; the worker's own knobs are ``AQUA_WORKER_*``::

    WorkerSettings(kafka_bootstrap="127.0.0.1:9092",
                   database_url="postgresql+asyncpg://aqua@127.0.0.1:5432/aqua")
"""

from __future__ import annotations

from pydantic import Field, field_validator

from service.common.settings import (
    RedisRetry,
    RedisTimeout,
    ReplicationFactor,
    ServiceSettings,
    TopicPrefix,
)


class WorkerSettings(ServiceSettings):
    """Every knob of the worker; README.md lists them with their defaults."""

    service_name: str = Field(default="aqua-worker", description="Service name in logs.")

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_topic_prefix: TopicPrefix = ""
    kafka_replication_factor: ReplicationFactor = 1
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql:// or postgresql+asyncpg://). Required.",
    )
    ml_url: str | None = Field(
        default=None, description="ML service base URL. Unset: forecast jobs wait in Kafka."
    )
    ml_timeout_seconds: float = Field(default=10.0, gt=0, description="Deadline of one ML call.")
    redis_url: str | None = Field(
        default=None,
        description=(
            "The API's Redis: cached summaries of ponds with new readings are invalidated. "
            "Unset: none (summaries expire by their TTL)."
        ),
    )
    redis_timeout_seconds: RedisTimeout = 0.25
    redis_retry_seconds: RedisRetry = 2.0

    worker_metrics_host: str = Field(
        default="127.0.0.1", description="Interface of /live /ready /metrics."
    )
    worker_metrics_port: int = Field(
        default=8002, ge=0, le=65535, description="Its port (0: any free)."
    )
    worker_group: str = Field(
        default="aqua-worker", description="Consumer group prefix (-readings, -forecasts appended)."
    )
    worker_batch_max_messages: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Messages per poll (one readings message = one API batch).",
    )
    worker_poll_timeout_ms: int = Field(default=200, ge=10, description="Longest wait of one poll.")
    worker_max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Failures of one message before it goes to the dead-letter topic.",
    )
    worker_backoff_seconds: float = Field(
        default=0.2, gt=0, description="First retry delay (doubles)."
    )
    worker_backoff_max_seconds: float = Field(
        default=10.0, gt=0, description="Longest retry delay."
    )
    worker_session_timeout_ms: int = Field(
        default=10_000, ge=6000, description="A worker silent this long is dropped from its group."
    )
    worker_forecast_batch: int = Field(default=64, ge=1, le=1024, description="Ponds per ML call.")
    worker_aerate_kw_ha: float = Field(
        default=4.0, ge=0, le=40, description="Aeration of the 'aerate' what-if plan in forecasts."
    )
    worker_nightly_enabled: bool = Field(default=True, description="Enqueue nightly forecasts.")
    worker_nightly_hour: int = Field(
        default=20, ge=0, le=23, description="Local hour of the nightly run."
    )
    worker_nightly_check_seconds: float = Field(default=30.0, gt=0, description="Scheduler tick.")
    worker_republish_after_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Send again a pending task never acknowledged by Kafka after this.",
    )
    worker_crash_risk_refresh_seconds: float = Field(
        default=30.0, gt=0, description="How often aqua_pond_crash_risk is read from the database."
    )
    db_pool_size: int = Field(default=5, ge=1, description="Database connections kept in the pool.")

    @field_validator("database_url")
    @classmethod
    def _asyncpg(cls, value: str | None) -> str | None:
        if value and value.startswith("postgresql://"):
            return "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        return value
