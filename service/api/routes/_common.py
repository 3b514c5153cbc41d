"""What every router shares: the version prefix and the type of documented responses."""

from typing import Any

API_PREFIX = "/api/v1"

Responses = dict[int | str, dict[str, Any]]
