"""Settings of the ML service, from ``AQUA_ML_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from service.common.settings import ServiceSettings
from service.ml.serving import DEFAULT_WEIGHTS


class MLSettings(ServiceSettings):
    service_name: str = "aqua-ml"
    ml_port: int = 8001
    ml_weights_dir: Path = DEFAULT_WEIGHTS
    ml_batching: bool = True
    ml_max_batch: int = 512
    # 0: a pass takes whatever queued while the last one ran (see service/ml/README.md)
    ml_max_wait_ms: float = 0.0
    ml_threads: int = 1
    # A request of more windows (ponds x scenarios) goes to the batcher in parts of at most
    # this many, one after another, each behind the small requests waiting (service.ml.batcher):
    # a small request waits for at most the part in progress.
    ml_max_request_pass: int = Field(default=64, ge=1)
    # Bodies above this are parsed in a helper process (service.ml.bulk) and answered in
    # slices on a thread: their parsing would otherwise hold the GIL for hundreds of ms.
    ml_offload_bytes: int = Field(default=256 * 1024, ge=0)
    # The forward pass in a child process (service.ml.inference_process) rather than a thread
    # of this one; unset: with batching only, whose passes spread the round trip (~0.3 ms).
    ml_inference_process: bool | None = None

    @model_validator(mode="after")
    def _token_in_production(self) -> Self:
        if self.is_production and self.ml_service_token is None:
            raise ValueError("production mode needs AQUA_ML_SERVICE_TOKEN (or _FILE)")
        return self

    @property
    def inference_in_process(self) -> bool:
        """Whether the forward pass runs in a child process (by default: with batching)."""
        if self.ml_inference_process is None:
            return self.ml_batching
        return self.ml_inference_process
