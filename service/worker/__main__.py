"""``python -m service.worker``: run one worker until SIGTERM (configuration: README.md)."""

from __future__ import annotations

import asyncio
import sys


def main() -> int:
    from pydantic import ValidationError

    from service.common.logs import configure_logging
    from service.worker.runtime import Worker
    from service.worker.settings import WorkerSettings

    try:
        settings = WorkerSettings()
        worker = Worker(settings)
    except (ValidationError, ValueError) as exc:
        print(f"aqua worker: bad configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
    return asyncio.run(worker.run())


if __name__ == "__main__":
    raise SystemExit(main())
