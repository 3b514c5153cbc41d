"""Stopping a method early: abort conditions and the kill switch.

::

    abort:                                   # checked every 2 s while the method runs
      - alert_firing: ApiAvailabilityBudgetBurn      # active in Alertmanager
      - {burn_rate_above: 14.4, slo: slo/api.yaml, window: 5m}

The kill switch stops every experiment running against a state dir: the file
``STATE_DIR/chaos.stop`` (``touch`` it; a run removes nothing) or SIGTERM to the run. Either
way the method stops at once (a ``wait`` is cut short), the rollbacks run, and the journal
says why.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sre_cli.errors import AquaError

if TYPE_CHECKING:
    from sre_cli.ops.context import RunContext

__all__ = [
    "STOP_FILE",
    "AbortWhen",
    "Guard",
    "active_alerts",
    "interruptible_sleep",
    "stop_file",
]

STOP_FILE = "chaos.stop"
_CHECK_EVERY = 2.0

#: set while a method must stop; cuts ``wait`` actions short
_STOPPING = threading.Event()


def stop_file(state_dir: Path | None) -> Path:
    """The kill switch file of ``state_dir`` (default: ``$AQUA_STATE_DIR``, as ``aqua stack``)."""
    from sre_cli.stack.spec import default_state_dir

    return (state_dir or default_state_dir()).expanduser() / STOP_FILE


def interruptible_sleep(seconds: float) -> bool:
    """Sleep, unless the method is stopping; whether it slept the whole time."""
    return not _STOPPING.wait(seconds)


class AbortWhen(BaseModel):
    """One abort condition: an alert firing, or an SLO burning faster than a rate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_firing: str | None = Field(default=None, min_length=1)
    burn_rate_above: float | None = Field(default=None, gt=0)
    slo: str | None = Field(default=None, min_length=1)
    window: str = "5m"

    @model_validator(mode="after")
    def _one(self) -> AbortWhen:
        if (self.alert_firing is None) == (self.burn_rate_above is None):
            raise ValueError(
                "an abort condition takes exactly one of alert_firing, burn_rate_above"
            )
        if self.burn_rate_above is not None and self.slo is None:
            raise ValueError("burn_rate_above needs `slo: FILE`")
        return self

    def describe(self) -> str:
        if self.alert_firing is not None:
            return f"alert {self.alert_firing} firing"
        return f"{self.slo} burning faster than {self.burn_rate_above:g}x over {self.window}"

    def tripped(self, ctx: RunContext) -> str | None:
        """Why this condition holds now, or None."""
        if self.alert_firing is not None:
            return _alert_firing(ctx, self.alert_firing)
        return _burning(ctx, self)


def active_alerts(url: str, matcher: str) -> list[str]:
    """The names of the alerts active (not silenced) in the Alertmanager at ``url`` that
    match ``matcher`` (``severity="page"``)."""
    from sre_cli.ops.providers import alertmanager

    found = alertmanager.active_alerts(url, matcher)
    return [str(a.get("labels", {}).get("alertname")) for a in found]


def _alert_firing(ctx: RunContext, name: str) -> str | None:
    url = ctx.alertmanager_url
    if url is None:
        raise AquaError("alert_firing needs Alertmanager (a stack with one, or --alertmanager)")
    firing = active_alerts(url, f'alertname="{name}"')
    return f"alert {name} is firing in Alertmanager ({len(firing)} active)" if firing else None


def _burning(ctx: RunContext, cond: AbortWhen) -> str | None:
    from sre_cli.prometheus import connect
    from sre_cli.slo.batch import evaluate
    from sre_cli.slo.loader import load_slos

    assert cond.slo is not None
    assert cond.burn_rate_above is not None
    slos = load_slos([Path(cond.slo)])
    with connect(ctx.prometheus_url, config=ctx.prometheus_config, timeout=5.0) as prom:
        report = evaluate(slos, prom, burn_down=False)
    for result in report.results:
        rate = result.burn_rates.get(cond.window)
        if rate is not None and rate > cond.burn_rate_above:
            return (
                f"SLO {result.slo.name} burns {rate:.1f}x over {cond.window}, "
                f"above {cond.burn_rate_above:g}x"
            )
    return None


class Guard:
    """While the method runs: the kill switch file and the abort conditions, checked in a
    thread every 2 s; SIGTERM trips it too. :attr:`reason` says why it tripped."""

    def __init__(self, ctx: RunContext, conditions: tuple[AbortWhen, ...], stop_file: Path | None):
        self._ctx = ctx
        self._conditions = conditions
        self.stop_file = stop_file
        self.reason: str | None = None
        self.kill_switch = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-guard")

    def trip(self, reason: str, *, kill_switch: bool = False) -> None:
        if self.reason is None:
            self.reason, self.kill_switch = reason, kill_switch
        _STOPPING.set()

    def check(self) -> None:
        if self.stop_file is not None and self.stop_file.exists():
            self.trip(f"kill switch: {self.stop_file} exists", kill_switch=True)
            return
        for cond in self._conditions:
            try:
                why = cond.tripped(self._ctx)
            except AquaError as exc:
                why = f"abort condition {cond.describe()} could not be checked: {exc.message}"
            if why is not None:
                self.trip(f"abort: {why}")
                return

    def _run(self) -> None:
        while not self._done.wait(_CHECK_EVERY) and self.reason is None:
            self.check()

    def __enter__(self) -> Guard:
        _STOPPING.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=30)
        _STOPPING.clear()
