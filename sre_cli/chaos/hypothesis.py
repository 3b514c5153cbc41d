"""The steady-state hypothesis: probes, each with its tolerance, checked before and after.

A probe reuses the runbook check vocabulary (``http``, ``prometheus``, ``stack: {ready}``,
``k8s: {available}``) and adds two tolerances::

    - name: nginx-answers
      http: {url: "{entry_url}/live", expect_status: 200, max_latency: 1s}
    - name: replicas-ready
      stack: {ready: "api-*"}
      within: 30s            # after the method, poll until it holds, for at most 30 s
      during: {every: 2s, tolerance: 1}   # also while the method runs: at most 1 failure

Before the method every probe is checked once: an unsteady system is never injected into.
A probe with ``during`` is also checked every ``every`` seconds while the method runs (in a
thread of its own); more failed checks than ``tolerance`` deviate the hypothesis.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sre_cli.errors import AquaError
from sre_cli.ops.operations import Duration, HttpProbe, K8sOp, PrometheusProbe, StackOp
from sre_cli.ops.outcome import Observation

if TYPE_CHECKING:
    from sre_cli.ops.context import RunContext

__all__ = ["During", "DuringWatch", "HttpCheck", "Hypothesis", "Probe", "ProbeResult", "check"]

_KEYS = ("http", "prometheus", "stack", "k8s")


class HttpCheck(HttpProbe):
    """An HTTP probe that also bounds the latency of the answer."""

    max_latency: Duration | None = None


class During(BaseModel):
    """Checks while the method runs: every ``every`` seconds, ``tolerance`` failures allowed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every: Duration = Field(ge=0.2, le=300)
    tolerance: int = Field(default=0, ge=0)


class Probe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    http: HttpCheck | None = None
    prometheus: PrometheusProbe | None = None
    stack: StackOp | None = None
    k8s: K8sOp | None = None
    #: after the method: how long the probe may take to hold again (0: it must hold at once)
    within: Duration | None = None
    interval: Duration = 1.0
    during: During | None = None

    @model_validator(mode="after")
    def _one_check(self) -> Probe:
        present = [k for k in _KEYS if getattr(self, k) is not None]
        if len(present) != 1:
            raise ValueError(f"a probe takes exactly one of {', '.join(_KEYS)}")
        if self.stack is not None and self.stack.verb != "ready":
            raise ValueError("a stack probe checks `ready`; actions belong in the method")
        if self.k8s is not None and self.k8s.verb != "available":
            raise ValueError("a k8s probe checks `available`; actions belong in the method")
        if self.prometheus is not None and self.prometheus.expect is None:
            raise ValueError("a prometheus probe needs `expect` (e.g. '> 0')")
        return self

    @property
    def op(self) -> HttpCheck | PrometheusProbe | StackOp | K8sOp:
        key = next(k for k in _KEYS if getattr(self, k) is not None)
        op: HttpCheck | PrometheusProbe | StackOp | K8sOp = getattr(self, key)
        return op

    @property
    def target(self) -> str | None:
        return self.op.target

    def describe(self) -> str:
        text = self.op.describe()
        if self.http is not None and self.http.max_latency is not None:
            text += f" within {self.http.max_latency * 1000:.0f} ms"
        if self.within:
            text += f" (tolerance: {self.within:g}s)"
        return text


class Hypothesis(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1)
    probes: tuple[Probe, ...] = Field(min_length=1)


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    ok: bool
    summary: str
    seconds: float


def _observe(ctx: RunContext, probe: Probe) -> Observation:
    op = probe.op
    started = time.monotonic()
    seen = ctx.observe(op)
    took = time.monotonic() - started
    if seen.ok and isinstance(op, HttpCheck) and op.max_latency is not None:
        if took > op.max_latency:
            return Observation(
                False,
                f"{seen.summary} in {took * 1000:.0f} ms, over {op.max_latency * 1000:.0f} ms",
            )
        return Observation(True, f"{seen.summary} in {took * 1000:.0f} ms")
    return seen


def check(
    ctx: RunContext, probe: Probe, *, tolerate: bool, deadline: float | None = None
) -> ProbeResult:
    """One probe once, or (``tolerate``) polled until it holds for at most ``within``."""
    started = time.monotonic()
    limit = started + ((probe.within or 0.0) if tolerate else 0.0)
    if deadline is not None:
        limit = min(limit, deadline)
    while True:
        seen = _observe(ctx, probe)
        took = time.monotonic() - started
        if seen.ok:
            after = f" (after {took:.1f}s)" if tolerate and probe.within else ""
            return ProbeResult(probe.name, True, f"{seen.summary}{after}", took)
        if time.monotonic() + probe.interval > limit:
            waited = f"still, after {took:.0f}s: " if tolerate and probe.within else ""
            return ProbeResult(probe.name, False, f"{waited}{seen.summary}", took)
        time.sleep(probe.interval)


class DuringWatch:
    """The probes with ``during``, each checked on its own period in one thread while the
    method runs; :meth:`results` once stopped: one result per probe, failed beyond its
    tolerance."""

    def __init__(self, ctx: RunContext, probes: tuple[Probe, ...]) -> None:
        self._ctx = ctx
        self._probes = [p for p in probes if p.during is not None]
        self._checks = {p.name: 0 for p in self._probes}
        self._failures: dict[str, list[str]] = {p.name: [] for p in self._probes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-during")

    def _run(self) -> None:
        due = {p.name: time.monotonic() for p in self._probes}
        while not self._stop.is_set():
            for probe in self._probes:
                if time.monotonic() < due[probe.name]:
                    continue
                assert probe.during is not None
                due[probe.name] = time.monotonic() + probe.during.every
                try:
                    res = check(self._ctx, probe, tolerate=False)
                    ok, summary = res.ok, res.summary
                except AquaError as exc:
                    ok, summary = False, exc.message
                self._checks[probe.name] += 1
                if not ok:
                    self._failures[probe.name].append(summary)
            self._stop.wait(min((t - time.monotonic() for t in due.values()), default=1.0))

    def __enter__(self) -> DuringWatch:
        if self._probes:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def results(self) -> list[ProbeResult]:
        found = []
        for probe in self._probes:
            assert probe.during is not None
            failed, checks = self._failures[probe.name], self._checks[probe.name]
            tolerance = probe.during.tolerance
            summary = f"{len(failed)} of {checks} checks failed (tolerance {tolerance})"
            if failed:
                summary += f"; first: {failed[0]}"
            found.append(ProbeResult(probe.name, len(failed) <= tolerance, summary, 0.0))
        return found
