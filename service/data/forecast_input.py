"""Turning a pond's stored readings into the ML service's forecast input.

Shared by the API's on-demand forecast (``POST /api/v1/ponds/{id}/forecast``) and the worker's
forecast jobs, so both send the ML service the same numbers for the same readings.

The history is 48 hourly steps ending at the issue time (20:00 pond-local): step ``k`` is the
mean of the pond's readings in the hour ending at ``issued_at - (47 - k) h``; an hour without
readings is null (the ML service fills gaps of up to 2 h and rejects longer ones).

The database holds dissolved oxygen and water temperature only. The other inputs are stand-ins
until weather, feeding and aerator logs are stored:

* light: clear-sky daylight, 0 at night, a half-sine from 06:00 to 18:00 local peaking at
  1,500 µmol/m²/s;
* wind: a calm 2 m/s, past and forecast;
* feed and past aeration: 0;
* tonight's temperature: the last observed temperature held constant.

Tonight's aeration plan and the what-if plans come from the caller::

    async with engine.connect() as conn:
        pond = await load_input(conn, 7, issued_at, plan=[0.0] * 10,
                                what_if=[AerationPlan(name="aerate", aeration_kw_ha=[4.0] * 10)])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from service.common.errors import RequestRejected
from service.data.models import Pond, Reading
from service.ml.schemas import (
    HISTORY_HOURS,
    NIGHT_HOURS,
    RANGES,
    AerationPlan,
    PondHistory,
    PondInput,
    Species,
    Tonight,
)

ISSUE_LOCAL_HOUR = 20
CALM_WIND_M_S = 2.0
PEAK_LIGHT = 1500.0
NO_AERATION: tuple[float, ...] = (0.0,) * NIGHT_HOURS
_SENSORS = ("dissolved_oxygen", "temperature")
_SPECIES = {
    "nile_tilapia": Species.tilapia,
    "channel_catfish": Species.channel_catfish,
    "rainbow_trout": Species.rainbow_trout,
    "whiteleg_shrimp": Species.whiteleg_shrimp,
}


@dataclass(frozen=True, slots=True)
class PondFacts:
    pond_id: int
    depth_m: float
    species: str
    do_threshold_mg_l: float | None


@dataclass(frozen=True, slots=True)
class Sample:
    sensor: str
    ts: datetime
    value: float


class NotEnoughData(RequestRejected, ValueError):
    """The readings cannot make a valid forecast input; the message says what is missing."""


def history_window(issued_at: datetime) -> tuple[datetime, datetime]:
    """(start, end]: the 48 hours whose readings feed the history."""
    return issued_at - timedelta(hours=HISTORY_HOURS), issued_at


def _clamp(value: float, name: str) -> float:
    lo, hi = RANGES[name]
    return min(max(value, lo), hi)


def _hourly(
    samples: Sequence[Sample], sensor: str, issued_at: datetime, name: str
) -> list[float | None]:
    sums = [0.0] * HISTORY_HOURS
    counts = [0] * HISTORY_HOURS
    for s in samples:
        if s.sensor != sensor:
            continue
        # The hour ending at issued_at - (47 - k) h holds ts with 47 - k <= behind < 48 - k.
        behind = (issued_at - s.ts).total_seconds() / 3600.0
        k = HISTORY_HOURS - 1 - math.floor(behind)
        if 0 <= behind < HISTORY_HOURS:
            sums[k] += s.value
            counts[k] += 1
    return [
        round(_clamp(sums[k] / counts[k], name), 3) if counts[k] else None
        for k in range(HISTORY_HOURS)
    ]


def _light(local_hour: int) -> float:
    if 6 <= local_hour < 18:
        return round(PEAK_LIGHT * math.sin(math.pi * (local_hour - 6) / 12), 1)
    return 0.0


def build_input(
    pond: PondFacts,
    samples: Sequence[Sample],
    issued_at: datetime,
    plan: Sequence[float] = NO_AERATION,
    what_if: Sequence[AerationPlan] = (),
) -> PondInput:
    """The forecast input of one pond, or :class:`NotEnoughData` saying what is missing.

    ``plan`` is tonight's aeration (kW/ha for each hour 21:00-06:00), the main scenario;
    ``what_if`` are the alternatives to compare with it.
    """
    do = _hourly(samples, "dissolved_oxygen", issued_at, "do_mg_l")
    temp = _hourly(samples, "temperature", issued_at, "temperature_c")
    last_temp = next((t for t in reversed(temp) if t is not None), None)
    if last_temp is None:
        raise NotEnoughData("no temperature readings in the 48 h before the issue time")
    if all(v is None for v in do):
        raise NotEnoughData("no dissolved-oxygen readings in the 48 h before the issue time")
    hours = [(ISSUE_LOCAL_HOUR - (HISTORY_HOURS - 1 - k)) % 24 for k in range(HISTORY_HOURS)]
    threshold = pond.do_threshold_mg_l
    try:
        return PondInput(
            pond_id=str(pond.pond_id),
            depth_m=min(max(pond.depth_m, 0.3), 5.0),
            species=_SPECIES.get(pond.species, Species.tilapia),
            threshold_mg_l=None if threshold is None else min(max(threshold, 0.5), 10.0),
            history=PondHistory(
                do_mg_l=do,
                temperature_c=temp,
                light_umol_m2_s=[_light(h) for h in hours],
                wind_m_s=[CALM_WIND_M_S] * HISTORY_HOURS,
                feed_kg_ha=[0.0] * HISTORY_HOURS,
                aeration_kw_ha=[0.0] * HISTORY_HOURS,
            ),
            tonight=Tonight(
                aeration_kw_ha=list(plan),
                temperature_c=[last_temp] * NIGHT_HOURS,
                wind_m_s=[CALM_WIND_M_S] * NIGHT_HOURS,
            ),
            what_if=list(what_if),
        )
    except ValidationError as exc:
        reasons = "; ".join(str(e.get("msg", "")) for e in exc.errors())
        raise NotEnoughData(f"readings do not make a forecast input: {reasons}"[:900]) from exc


async def pond_facts(conn: AsyncConnection | AsyncSession, pond_id: int) -> PondFacts:
    """What the input needs to know about the pond; :class:`LookupError` when it is gone."""
    row = (
        await conn.execute(
            select(Pond.id, Pond.depth_m, Pond.species, Pond.do_threshold_mg_l).where(
                Pond.id == pond_id
            )
        )
    ).first()
    if row is None:
        raise LookupError(f"pond {pond_id} not found")
    return PondFacts(pond_id=row[0], depth_m=row[1], species=row[2], do_threshold_mg_l=row[3])


async def history_samples(
    conn: AsyncConnection | AsyncSession, pond_id: int, issued_at: datetime
) -> list[Sample]:
    """The pond's oxygen and temperature readings of the 48 h before ``issued_at``."""
    start, end = history_window(issued_at)
    rows = await conn.execute(
        select(Reading.sensor, Reading.ts, Reading.value).where(
            Reading.pond_id == pond_id,
            Reading.sensor.in_(_SENSORS),
            Reading.ts > start,
            Reading.ts <= end,
        )
    )
    return [Sample(sensor=s, ts=t, value=v) for s, t, v in rows]


async def load_input(
    conn: AsyncConnection | AsyncSession,
    pond_id: int,
    issued_at: datetime,
    plan: Sequence[float] = NO_AERATION,
    what_if: Sequence[AerationPlan] = (),
) -> PondInput:
    """Read the pond and its last 48 h and build its input (see :func:`build_input`).

    Raises :class:`LookupError` for a missing pond and :class:`NotEnoughData` when the
    readings do not make an input.
    """
    facts = await pond_facts(conn, pond_id)
    samples = await history_samples(conn, pond_id, issued_at)
    return build_input(facts, samples, issued_at, plan, what_if)
