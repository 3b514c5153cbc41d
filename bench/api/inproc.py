"""In-process CPU per request of the cached pond summary beside hello-world: the ASGI apps are
called directly (no HTTP server, no load generator), so only the application's own work counts.

Starts Redis (sre_cli.infra) and the API app on SQLite with the JSON access log going to a
file, logs in, creates a pond, reads its summary until it is cached, then alternates timed
batches of hello-world and summary requests. Variants switch one part off to see its cost::

    python bench/api/inproc.py                      # as in production
    python bench/api/inproc.py --no-hot-path        # local-tier hits answered by the route
    python bench/api/inproc.py --no-local-tier      # every hit from Redis, through FastAPI
    python bench/api/inproc.py --no-access-log --no-rate-limit
    python bench/api/inproc.py --profile tottime    # cProfile of one summary batch
    python bench/api/inproc.py --tracing [--sample-ratio R]   # spans to a Jaeger
    python bench/api/inproc.py --tracing --keep-errors --keep-slow-ms 500   # and the tail kept

The last line, ``AQUA_RESULT {...}``, holds the medians over the rounds as JSON (read by
``bench/api/run.py``, which runs these variants in its own run).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ASGI = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


async def per_request(app: ASGI, path: str, headers: list[tuple[bytes, bytes]], n: int) -> float:
    """CPU µs per request over ``n`` GETs of ``path`` (after a warm-up); all must answer 200."""
    statuses: set[int] = set()
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> MutableMapping[str, Any]:
        return request

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": list(headers),
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }

    for _ in range(min(n, 500)):
        await app(scope(), receive, send)
    started = time.process_time()
    for _ in range(n):
        await app(scope(), receive, send)
    elapsed = time.process_time() - started
    if statuses != {200}:
        raise SystemExit(f"{path}: statuses {sorted(statuses)}")
    return elapsed / n * 1e6


async def run(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    import httpx
    from pydantic import SecretStr

    from bench.api.hello import app as hello
    from bench.benchlib import pond_body
    from service.api.app import create_app
    from service.api.settings import ApiSettings
    from service.common.logs import configure_logging
    from sre_cli.infra.redis import RedisServer

    workdir = Path(tempfile.mkdtemp(prefix="aqua-bench-inproc-"))
    redis = RedisServer(workdir / "redis").start()
    jaeger = None
    tracing: dict[str, Any] = {}
    if args.tracing:
        from sre_cli.infra.jaeger import JaegerServer

        jaeger = JaegerServer(workdir / "jaeger").start()
        tracing["otlp_endpoint"] = jaeger.otlp_http_url
        if args.sample_ratio is not None:
            tracing["trace_sample_ratio"] = args.sample_ratio
        tracing["trace_keep_errors"] = args.keep_errors
        tracing["trace_keep_slow_ms"] = args.keep_slow_ms
    try:
        with (workdir / "api.log").open("w") as log:
            configure_logging("aqua-api", "INFO", stream=log)
            settings = ApiSettings(
                database_url=f"sqlite+aiosqlite:///{workdir / 'api.sqlite3'}",
                environment="test",
                bootstrap_admin_username="bench",
                bootstrap_admin_password=SecretStr("bench-password-123"),
                argon2_time_cost=1,
                argon2_memory_kib=64,
                argon2_parallelism=1,
                redis_url=redis.url,
                rate_limit_requests=0 if args.no_rate_limit else 10**9,
                cache_ttl_seconds=3600,
                cache_local_ttl_seconds=0 if args.no_local_tier else 60,
                summary_hot_path=not args.no_hot_path,
                access_log=not args.no_access_log,
                configure_logging=False,
                queue="direct",
                **tracing,
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                    token = (
                        await c.post(
                            "/api/v1/auth/token",
                            data={"username": "bench", "password": "bench-password-123"},
                        )
                    ).json()["access_token"]
                    h = {"Authorization": f"Bearer {token}"}
                    farm = (await c.post("/api/v1/farms", json={"name": "f"}, headers=h)).json()
                    pond = (
                        await c.post(
                            "/api/v1/ponds",
                            headers=h,
                            json=pond_body(farm["id"], "p"),
                        )
                    ).json()["id"]
                    path = f"/api/v1/ponds/{pond}/summary"
                    deadline = time.monotonic() + 10
                    while (await c.get(path, headers=h)).headers["x-cache"] != "hit":
                        if time.monotonic() > deadline:
                            raise SystemExit("the summary never came from the cache")
                        await asyncio.sleep(0.05)
                auth = [(b"host", b"api"), (b"authorization", f"Bearer {token}".encode())]
                hello_us: list[float] = []
                summary_us: list[float] = []
                for i in range(args.rounds):
                    h_us = await per_request(hello, "/hello", [(b"host", b"hello")], args.n)
                    profile = cProfile.Profile() if args.profile and i == 0 else None
                    if profile:
                        profile.enable()
                    s_us = await per_request(app, path, auth, args.n)
                    if profile:
                        profile.disable()
                        pstats.Stats(profile).sort_stats(args.profile).print_stats(30)
                    print(
                        f"round {i + 1}: hello-world {h_us:6.1f} µs   cached summary "
                        f"{s_us:6.1f} µs",
                        flush=True,
                    )
                    hello_us.append(h_us)
                    summary_us.append(s_us)
                result = {
                    "hello_us": statistics.median(hello_us),
                    "summary_us": statistics.median(summary_us),
                }
                print("AQUA_RESULT " + json.dumps(result), flush=True)
    finally:
        redis.stop()
        if jaeger is not None:
            jaeger.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="requests per timed batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-hot-path", action="store_true")
    parser.add_argument("--no-local-tier", action="store_true")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--profile", metavar="SORT", help="cProfile sort key, e.g. tottime")
    parser.add_argument("--tracing", action="store_true", help="export spans to a Jaeger")
    parser.add_argument("--sample-ratio", type=float, help="AQUA_TRACE_SAMPLE_RATIO (--tracing)")
    parser.add_argument(
        "--keep-errors", action="store_true", help="AQUA_TRACE_KEEP_ERRORS (--tracing)"
    )
    parser.add_argument("--keep-slow-ms", type=float, help="AQUA_TRACE_KEEP_SLOW_MS (--tracing)")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
