"""Settings every aqua service shares, read from ``AQUA_*`` environment variables.

Each service subclasses :class:`ServiceSettings` and adds its own fields; the prefix stays
``AQUA_`` so one environment file can configure the whole platform::

    class ApiSettings(ServiceSettings):
        port: int = 8000

    ApiSettings()  # AQUA_PORT=9000 -> port == 9000
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

# Knobs the API and the worker both read under one AQUA_* name: one range and one meaning for
# both (each service sets the default; service/api/README.md's table shows the API's).
RedisTimeout = Annotated[float, Field(gt=0, description="Per-command Redis timeout.")]
RedisRetry = Annotated[
    float,
    Field(gt=0, description="After a Redis failure, skip Redis this long before retrying."),
]
TopicPrefix = Annotated[
    str,
    Field(
        max_length=100, description="Prefix of every topic name (several stacks on one cluster)."
    ),
]
ReplicationFactor = Annotated[
    int, Field(ge=1, le=7, description="Replication factor of topics created at startup.")
]

# Spellings used by deployment files, mapped to the three environments.
ENVIRONMENT_ALIASES: dict[str, Environment] = {
    "development": "development",
    "dev": "development",
    "local": "development",
    "compose": "development",
    "test": "test",
    "testing": "test",
    "ci": "test",
    "production": "production",
    "prod": "production",
}


class ServiceSettings(BaseSettings):
    """Identity and logging of one service process."""

    model_config = SettingsConfigDict(
        env_prefix="AQUA_",
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
    )

    service_name: str = Field(default="aqua", description="Service name in logs and metrics.")
    environment: Environment = Field(
        default="development",
        validation_alias=AliasChoices("AQUA_ENVIRONMENT", "AQUA_ENV"),
        description=(
            "development, test or production (production fails closed on weak configuration); "
            "`AQUA_ENV` and the short forms dev, prod, ci are accepted too."
        ),
    )
    log_level: LogLevel = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(
        default=True, description="JSON log lines (false: plain text for local reading)."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description=(
            "OTLP/HTTP base URL of the trace store (Jaeger: http://127.0.0.1:4318); spans go to "
            "its /v1/traces. Unset: no tracing."
        ),
    )
    trace_sample_ratio: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description=(
            "Share of new traces kept (parent-based: a caller's sampled traceparent is always "
            "followed)."
        ),
    )
    trace_keep_errors: bool = Field(
        default=False,
        description=(
            "Also keep the trace of a request that answered 5xx when the ratio did not sample "
            "it (every request is then recorded, and exported only if kept; API only)."
        ),
    )
    trace_keep_slow_ms: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Also keep the trace of a request that took at least this many milliseconds when "
            "the ratio did not sample it (as trace_keep_errors; API only). Unset: off."
        ),
    )
    ml_service_token: SecretStr | None = Field(
        default=None,
        description=(
            "Service token of the ML service: the API and worker send it, and the ML service "
            "then answers 401 to any caller without it (required in production)."
        ),
    )
    ml_service_token_file: Path | None = Field(
        default=None, description="File holding the ML service token (wins)."
    )

    @model_validator(mode="after")
    def _read_service_token(self) -> Self:
        if self.ml_service_token_file is not None:
            try:
                text = self.ml_service_token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"cannot read secret file {self.ml_service_token_file}: {exc.strerror}"
                ) from exc
            self.ml_service_token = SecretStr(text)
        if self.ml_service_token is not None and not self.ml_service_token.get_secret_value():
            raise ValueError("the ML service token is empty")
        return self

    @property
    def ml_token(self) -> str | None:
        """The ML service token in clear, for a client's header or the server's check."""
        return None if self.ml_service_token is None else self.ml_service_token.get_secret_value()

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_alias(cls, value: object) -> object:
        if isinstance(value, str):
            return ENVIRONMENT_ALIASES.get(value.strip().lower(), value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def is_production(self) -> bool:
        return self.environment == "production"
