"""``prometheus`` steps: an instant query, shown, and with ``expect`` judged sample by sample.

A sample that is NaN (a ratio over no traffic) counts as no data, like an empty result.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from sre_cli.errors import Unavailable
from sre_cli.ops.operations import PrometheusProbe, compare
from sre_cli.ops.outcome import Observation

__all__ = ["observe"]

MAX_SHOWN = 20


def _labels(labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return "{" + inner + "}"


def observe(op: PrometheusProbe, url: str | None, config: Path | None = None) -> Observation:
    if not url:
        raise Unavailable(
            "this step asks Prometheus, and there is none to ask",
            hint="pass --prometheus URL (a stack that runs Prometheus is used by default)",
        )
    from sre_cli.prometheus import connect

    with connect(url, config=config, timeout=10.0) as prom:
        samples = prom.query(op.query, at=time.time())
    data = [s for s in samples if not math.isnan(s.value)]
    lines = tuple(f"{_labels(s.labels)} {s.value:g}" for s in data[:MAX_SHOWN])
    if len(data) > MAX_SHOWN:
        lines += (f"... {len(data) - MAX_SHOWN} more series",)
    if op.expect is None:
        return Observation(None, f"{len(data)} series", lines)
    if not data:
        ok = op.empty == "pass"
        return Observation(ok, f"no data for {op.query} ({'pass' if ok else 'fail'} when empty)")
    failing = [s for s in data if not compare(s.value, op.expect)]
    if failing:
        worst = failing[0]
        return Observation(
            False,
            f"{len(failing)} of {len(data)} series not {op.expect} "
            f"(e.g. {_labels(worst.labels)} = {worst.value:g})",
            lines,
        )
    return Observation(True, f"all {len(data)} series {op.expect}", lines)
