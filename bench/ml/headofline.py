"""Single-pond ML latency while a 1,024-pond × 9-scenario request runs, two trees side by side.

    ~/.cache/aqua/venv-py3.11/bin/python bench/ml/headofline.py --baseline /work/main [--rounds 3]

Each round starts the ML service of each tree in turn (a real server, defaults of that tree),
warms it with 20 single-pond requests, then sends the large request and, one after another
until it is answered, single-pond requests. It reports their latency over the whole large
request ("whole") and from the moment its first part has been forecast ("passes", the window
`tests/service/ml/test_ml_fairness.py` looks at), the large request's own time, and the load
average. The trees alternate, so a slow spell of the shared machine hits both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
PASSES = re.compile(r"^aqua_ml_batch_size_count (\S+)$", re.M)


def measure() -> dict[str, float]:
    """One measurement against the service of the tree on ``sys.path[0]``."""
    import asyncio
    import statistics
    import time

    import httpx

    from service.ml.dataset import EVAL_STREAM, generate
    from service.ml.devserver import MLServer
    from service.ml.payloads import forecast_request
    from service.ml.schemas import AerationPlan

    nights = generate(1024, 11, EVAL_STREAM)
    big = forecast_request(nights, 0, 1024)
    for pond in big.ponds:
        pond.what_if = [AerationPlan(name=f"p{k}", aeration_kw_ha=[k * 0.5] * 10) for k in range(8)]
    big_body = big.model_dump_json(exclude_none=True)
    small_body = forecast_request(nights, 0, 1).model_dump_json(exclude_none=True)
    headers = {"content-type": "application/json"}

    def passes(c: httpx.Client) -> float:
        found = PASSES.search(c.get("/metrics").text)
        return float(found.group(1)) if found else 0.0

    with MLServer() as srv, httpx.Client(base_url=srv.url, timeout=120) as probe:

        async def run() -> tuple[list[tuple[float, float, bool]], float]:
            async with httpx.AsyncClient(base_url=srv.url, timeout=120) as c:
                for _ in range(20):
                    await c.post("/v1/forecast", content=small_body, headers=headers)
                before = passes(probe)
                t_big = time.perf_counter()
                large = asyncio.create_task(
                    c.post("/v1/forecast", content=big_body, headers=headers)
                )
                samples = []
                while not large.done():
                    in_passes = await asyncio.to_thread(passes, probe) > before + 20
                    t0 = time.perf_counter()
                    r = await c.post("/v1/forecast", content=small_body, headers=headers)
                    assert r.status_code == 200, r.text
                    samples.append((t0 - t_big, time.perf_counter() - t0, in_passes))
                assert (await large).status_code == 200
                return samples, time.perf_counter() - t_big

        samples, big_s = asyncio.run(run())

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1] * 1000 if len(values) > 1 else float("nan")

    whole = [lat for _, lat, _ in samples]
    during = [lat for _, lat, flag in samples if flag]
    return {
        "whole_p95_ms": p95(whole),
        "whole_max_ms": max(whole) * 1000,
        "passes_p95_ms": p95(during),
        "small_requests": len(whole),
        "large_s": big_s,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        sys.path.insert(0, str(args.one))
        print(json.dumps(measure()))
        return
    trees = {"baseline": args.baseline.resolve(), "this": HERE.parents[2]}
    print(
        "| round | tree | whole p95 ms | whole max ms | passes p95 ms | small requests "
        "| large s | load |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in range(1, args.rounds + 1):
        for name, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": str(tree)}
            out = subprocess.run(
                [sys.executable, str(HERE), "--baseline", str(tree), "--one", str(tree)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"| {n} | {name} | {r['whole_p95_ms']:.0f} | {r['whole_max_ms']:.0f} | "
                f"{r['passes_p95_ms']:.0f} | {r['small_requests']:.0f} | {r['large_s']:.2f} | "
                f"{r['load']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
