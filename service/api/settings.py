"""Configuration of the API service, from ``AQUA_*`` environment variables.

Production mode fails closed: the service refuses to start with the development JWT secret, a
secret shorter than 32 characters, or without an explicit database URL::

    ApiSettings(environment="production")            # ValidationError: default JWT secret
    ApiSettings(jwt_secret="x" * 40, environment="production",
                database_url="postgresql+asyncpg://aqua@db/aqua")   # ok

Secrets can come from files (``*_FILE`` variables), the usual way orchestrators mount them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, model_validator

from service.common.settings import (
    RedisRetry,
    RedisTimeout,
    ReplicationFactor,
    ServiceSettings,
    TopicPrefix,
)

if TYPE_CHECKING:
    from service.api.faults import FaultRule

DEV_JWT_SECRET = "aqua-development-secret-do-not-use-in-production"  # noqa: S105
MIN_JWT_SECRET_LENGTH = 32
MIN_ADMIN_PASSWORD_LENGTH = 12


def _read_secret(path: Path) -> SecretStr:
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from exc


class ApiSettings(ServiceSettings):
    """Every knob of the API service; the README table is generated from these fields."""

    service_name: str = Field(default="aqua-api", description="Service name in logs and metrics.")

    # Serving
    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port.")
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")
    reuse_port: bool = Field(
        default=True,
        description="Several workers: a SO_REUSEPORT socket each, so connections spread evenly.",
    )
    drain_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="After SIGTERM: seconds /ready answers 503 while requests are still served.",
    )
    shutdown_timeout_seconds: float = Field(
        default=20.0,
        ge=0,
        le=600,
        description="After draining: seconds in-flight requests get to finish.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted (413 above)."
    )

    # Database
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL (postgresql+asyncpg://...). Unset: embedded SQLite.",
    )
    database_migration_url: str | None = Field(
        default=None,
        description="URL migrations run with: the schema's owner, when the service itself "
        "connects as a role that may not create or alter tables. Unset: the database URL.",
    )
    sqlite_path: Path = Field(
        default=Path("aqua-api.sqlite3"),
        description="SQLite file used when no database URL is set.",
    )
    db_pool_size: int = Field(default=20, ge=1, description="Connections kept in the pool.")
    db_max_overflow: int = Field(
        default=30, ge=0, description="Extra connections allowed above the pool."
    )
    db_pool_pre_ping: bool = Field(default=True, description="Test each connection before use.")
    db_pool_recycle_seconds: int = Field(
        default=3600, ge=1, description="Reconnect connections older than this."
    )
    db_pool_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Wait for a free connection."
    )
    db_connect_timeout_seconds: float = Field(
        default=3.0, gt=0, description="Wait for a new connection."
    )
    db_retry_after_seconds: int = Field(
        default=5, ge=1, description="Retry-After sent with 503 when the database is down."
    )
    db_migrate_on_start: bool = Field(
        default=True,
        description="Apply migrations at startup (the launcher does it once for all workers).",
    )

    # Redis
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db for cache, rate limits, fault sync. Unset: none.",
    )
    redis_timeout_seconds: RedisTimeout = 0.25
    redis_retry_seconds: RedisRetry = 2.0
    cache_ttl_seconds: int = Field(
        default=30, ge=1, description="Lifetime of a cached pond summary."
    )
    cache_local_ttl_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description=(
            "Lifetime of a summary in a process's own cache tier, in front of Redis (writes "
            "invalidate it at once through Redis; this bounds staleness if that fails). "
            "0: no local tier."
        ),
    )
    cache_local_max_entries: int = Field(
        default=10_000, ge=0, description="Summaries one process keeps in its local tier."
    )
    summary_hot_path: bool = Field(
        default=True,
        description=(
            "Answer local-tier summary hits before FastAPI's routing (false: the route answers "
            "them, with the same answer; to measure the shortcut)."
        ),
    )

    # Security
    jwt_secret: SecretStr = Field(
        default=SecretStr(DEV_JWT_SECRET), description="HMAC key for JWTs."
    )
    jwt_secret_file: Path | None = Field(
        default=None, description="File holding the JWT key (wins)."
    )
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = Field(
        default="HS256", description="JWT algorithm."
    )
    jwt_issuer: str = Field(default="aqua-api", description="JWT iss claim.")
    jwt_audience: str = Field(default="aqua", description="JWT aud claim.")
    access_token_ttl_seconds: int = Field(
        default=900, ge=30, le=86400, description="Access token lifetime."
    )
    refresh_token_ttl_seconds: int = Field(
        default=86400, ge=60, le=30 * 86400, description="Refresh token lifetime."
    )
    bootstrap_admin_username: str | None = Field(
        default=None, description="Admin user created at startup when missing."
    )
    bootstrap_admin_password: SecretStr | None = Field(default=None, description="Its password.")
    bootstrap_admin_password_file: Path | None = Field(
        default=None, description="File holding it (wins)."
    )
    bootstrap_admin_organisation: str = Field(
        default="default",
        min_length=1,
        max_length=120,
        description="The bootstrap admin's organisation, created when missing.",
    )
    argon2_time_cost: int = Field(default=3, ge=1, description="argon2id iterations.")
    argon2_memory_kib: int = Field(
        default=65536, ge=8, description="argon2id memory per hash (KiB)."
    )
    argon2_parallelism: int = Field(default=4, ge=1, description="argon2id lanes.")
    rate_limit_requests: int = Field(
        default=600, ge=0, description="Requests per user per window (0 disables the limit)."
    )
    auth_state_ttl_seconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="Lifetime of a user's state (active, role, token version) cached in Redis.",
    )
    auth_state_local_ttl_seconds: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description=(
            "Lifetime of a user's state in a process's own cache tier: how long a change made "
            "through another process can go unseen (this process's changes apply at once). "
            "0: no local tier."
        ),
    )
    login_limit_per_user: int = Field(
        default=10,
        ge=0,
        description="Login attempts per username per login window (0 disables the limit).",
    )
    login_limit_per_ip: int = Field(
        default=60,
        ge=0,
        description="Login attempts per client IP per login window (0 disables the limit).",
    )
    login_limit_window_seconds: int = Field(default=60, ge=1, description="Login limit window.")
    login_backoff_after: int = Field(
        default=3, ge=1, description="Failed logins of a username before back-off starts."
    )
    login_backoff_base_seconds: float = Field(
        default=1.0,
        ge=0,
        description=(
            "First back-off after that many failures, doubled by each further failure "
            "(0 disables back-off); a successful login resets it."
        ),
    )
    login_backoff_max_seconds: float = Field(
        default=300.0, gt=0, description="Longest back-off of a username."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Peer addresses (IPs or CIDRs) whose X-Forwarded-For names the client: its last "
            "hop is the client IP for login limits. Empty: the peer address is the client."
        ),
    )
    rate_limit_window_seconds: int = Field(default=60, ge=1, description="Rate limit window.")
    rate_limit_sync_seconds: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="How often each process shares its rate-limit counts through Redis.",
    )

    # Domain policy
    do_critical_mg_l: float = Field(
        default=3.0, gt=0, description="Dissolved oxygen below this: pond status critical."
    )
    do_warning_mg_l: float = Field(
        default=5.0, gt=0, description="Below this: pond status warning."
    )
    reading_stale_seconds: int = Field(
        default=7200,
        ge=60,
        description="A newest DO reading older than this makes the status unknown.",
    )

    # Queue (asynchronous ingestion and forecast jobs)
    queue: Literal["auto", "kafka", "embedded", "direct"] = Field(
        default="auto",
        description=(
            "Where readings and jobs go: kafka (AQUA_KAFKA_BOOTSTRAP), embedded (in-process "
            "queue and worker, each process its own, lost if the process dies), direct "
            "(readings stored in the request, no asynchronous jobs). auto: kafka when a "
            "bootstrap address is set, else embedded."
        ),
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka bootstrap servers (host:port,...)."
    )
    kafka_topic_prefix: TopicPrefix = ""
    kafka_publish_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="Wait this long for the broker's acknowledgement, then 503.",
    )
    kafka_replication_factor: ReplicationFactor = 1
    queue_retry_after_seconds: int = Field(
        default=5, ge=1, description="Retry-After sent with 503 when the queue is unavailable."
    )
    embedded_queue_max_messages: int = Field(
        default=10_000,
        ge=1,
        description="Messages the in-process queue holds before answering 503.",
    )
    ml_url: str | None = Field(
        default=None,
        description=(
            "ML service base URL, for on-demand forecasts and the in-process worker's jobs. "
            "Unset: on-demand forecasts answer 409."
        ),
    )
    ml_timeout_seconds: float = Field(
        default=1.0, gt=0, le=60, description="Timeout of one attempt of an ML call."
    )
    ml_deadline_seconds: float = Field(
        default=2.5,
        gt=0,
        le=120,
        description="Longest an on-demand forecast waits for the ML service, retries included.",
    )
    ml_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a failed ML call (backoff with jitter)."
    )
    ml_backoff_seconds: float = Field(
        default=0.05,
        gt=0,
        le=10,
        description="Ceiling of the first retry delay; doubles per retry, full jitter.",
    )
    ml_breaker_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Consecutive failed ML attempts that open the circuit breaker.",
    )
    ml_breaker_reset_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Circuit open: seconds until one trial call is let through.",
    )

    # Operations
    faults_enabled: bool = Field(
        default=False, description="Allow fault injection (game days only)."
    )
    faults_at_start: str = Field(
        default="",
        description="JSON list of fault rules this process applies from start-up, "
        "never synced (a canary's pod template); needs AQUA_FAULTS_ENABLED.",
    )
    faults_sync_seconds: float = Field(
        default=1.0, gt=0, description="How often workers pick up fault rules from Redis."
    )
    access_log: bool = Field(default=True, description="Write one JSON line per request.")
    configure_logging: bool = Field(
        default=True, description="Install the JSON log handler at startup."
    )

    @model_validator(mode="after")
    def _resolve_and_check(self) -> ApiSettings:
        if self.jwt_secret_file is not None:
            self.jwt_secret = _read_secret(self.jwt_secret_file)
        if self.bootstrap_admin_password_file is not None:
            self.bootstrap_admin_password = _read_secret(self.bootstrap_admin_password_file)
        if self.queue == "kafka" and not self.kafka_bootstrap:
            raise ValueError("AQUA_QUEUE=kafka needs AQUA_KAFKA_BOOTSTRAP")
        if self.faults_at_start.strip():
            if not self.faults_enabled:
                raise ValueError("AQUA_FAULTS_AT_START needs AQUA_FAULTS_ENABLED=true")
            self.start_faults()  # a malformed list fails here, at start-up
        if self.do_warning_mg_l < self.do_critical_mg_l:
            raise ValueError("do_warning_mg_l must not be below do_critical_mg_l")
        if self.bootstrap_admin_username and self.bootstrap_admin_password is None:
            raise ValueError("bootstrap_admin_username is set but no bootstrap admin password")
        if self.is_production:
            secret = self.jwt_secret.get_secret_value()
            if secret == DEV_JWT_SECRET:
                raise ValueError("production mode refuses the development JWT secret")
            if len(secret) < MIN_JWT_SECRET_LENGTH:
                raise ValueError(
                    "production mode needs a JWT secret of at least "
                    f"{MIN_JWT_SECRET_LENGTH} characters"
                )
            if not self.database_url:
                raise ValueError("production mode needs AQUA_DATABASE_URL")
            password = self.bootstrap_admin_password
            if (
                password is not None
                and len(password.get_secret_value()) < MIN_ADMIN_PASSWORD_LENGTH
            ):
                raise ValueError(
                    f"production mode needs a bootstrap admin password of at least "
                    f"{MIN_ADMIN_PASSWORD_LENGTH} characters"
                )
        return self

    def start_faults(self) -> list[FaultRule]:
        """The rules of ``AQUA_FAULTS_AT_START`` (none when it is empty)."""
        from pydantic import TypeAdapter

        from service.api.faults import FaultRule

        if not self.faults_at_start.strip():
            return []
        return TypeAdapter(list[FaultRule]).validate_json(self.faults_at_start)

    @property
    def queue_backend(self) -> Literal["kafka", "embedded", "direct"]:
        if self.queue == "auto":
            return "kafka" if self.kafka_bootstrap else "embedded"
        return self.queue

    def for_migrations(self) -> ApiSettings:
        """These settings with the migration role's URL, when one is set."""
        if not self.database_migration_url:
            return self
        return self.model_copy(update={"database_url": self.database_migration_url})

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.sqlite_path}"
