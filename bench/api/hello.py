"""The baseline: a hello-world FastAPI app, served the same way as the API.

Like ``python -m service.api serve`` with ``AQUA_WORKERS=2``: one uvicorn server per worker
process, each on its own socket of one ``SO_REUSEPORT`` group
(:func:`service.api.serve.reuseport_socket`), no access log, no ``server`` header::

    python bench/api/hello.py --port 8080 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
from pathlib import Path

from fastapi import FastAPI

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # worker processes import service.api from this tree

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


def _worker(host: str, port: int) -> None:
    import uvicorn

    from service.api.serve import reuseport_socket

    sock = reuseport_socket(host, port, listen=True)
    config = uvicorn.Config(
        app, host=host, port=port, access_log=False, log_config=None, server_header=False
    )
    uvicorn.Server(config).run(sockets=[sock])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(args.host, args.port)) for _ in range(args.workers)]
    for proc in procs:
        proc.start()

    def stop(sig: int, _frame: object) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc in procs:
        proc.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
