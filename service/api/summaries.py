"""Assemble a pond summary: newest reading per sensor, biomass, oxygen status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.biomass import OxygenPolicy, estimate_biomass, oxygen_status
from service.data.models import Pond, Reading
from service.data.schemas import LatestReading, PondOut, PondSummary, Sensor, Species


async def latest_readings(session: AsyncSession, pond_id: int) -> list[LatestReading]:
    """One index probe per sensor (newest first on the (pond, sensor, ts) key)."""
    parts = [
        select(Reading.sensor, Reading.ts, Reading.value)
        .where(Reading.pond_id == pond_id, Reading.sensor == sensor.value)
        .order_by(Reading.ts.desc())
        .limit(1)
        .subquery()
        .select()
        for sensor in Sensor
    ]
    rows = (await session.execute(union_all(*parts))).all()
    found = [LatestReading(sensor=Sensor(s), ts=t, value=v) for s, t, v in rows]
    return sorted(found, key=lambda r: list(Sensor).index(r.sensor))


def build_summary(
    pond: Pond, latest: list[LatestReading], policy: OxygenPolicy, now: datetime
) -> PondSummary:
    if pond.do_threshold_mg_l is not None:
        margin = policy.warning_mg_l - policy.critical_mg_l
        policy = OxygenPolicy(
            critical_mg_l=pond.do_threshold_mg_l,
            warning_mg_l=pond.do_threshold_mg_l + margin,
            stale_seconds=policy.stale_seconds,
        )
    status, reason = oxygen_status(latest, policy, now)
    biomass = estimate_biomass(
        species=Species(pond.species),
        stock_count=pond.stock_count,
        mean_weight_g=pond.mean_weight_g,
        mean_length_cm=pond.mean_length_cm,
        area_m2=pond.area_m2,
        depth_m=pond.depth_m,
    )
    return PondSummary(
        pond=PondOut.model_validate(pond),
        latest=latest,
        biomass=biomass,
        status=status,
        status_reason=reason,
        do_threshold_mg_l=policy.critical_mg_l,
        computed_at=now,
    )
