"""Request intake: JSON bytes to validated ponds, cheaply in the common case.

The contract is :class:`service.ml.schemas.ForecastRequest`, whose validators name the field
and the reason of every rejection. They run in Python, ten series checks per pond, which costs
as much as the rest of parsing. Here the same rules are stated as pydantic-core constraints
(lengths, ranges, no NaN or infinity), so a valid request is checked entirely in Rust; only a
series with missing readings gets a Python look at its gaps. Whatever the fast models reject
goes through ``ForecastRequest``, which raises the :class:`~pydantic.ValidationError` with the
reasons (or, should the two ever disagree, accepts it, and its result is used).

The fast models must never accept what ``ForecastRequest`` rejects; the validation tests run
every rejection case against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from service.ml.schemas import (
    HISTORY_HOURS,
    MAX_GAP_HOURS,
    MAX_PONDS_PER_REQUEST,
    NIGHT_HOURS,
    RANGES,
    ForecastRequest,
    PondFields,
    PondInput,
)


def _within(name: str) -> FieldInfo:
    lo, hi = RANGES[name]
    info: FieldInfo = Field(ge=lo, le=hi, allow_inf_nan=False)
    return info


_HOURS_48 = Field(min_length=HISTORY_HOURS, max_length=HISTORY_HOURS)
_HOURS_10 = Field(min_length=NIGHT_HOURS, max_length=NIGHT_HOURS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FastHistory(_Strict):
    do_mg_l: Annotated[list[Annotated[float, _within("do_mg_l")] | None], _HOURS_48]
    temperature_c: Annotated[list[Annotated[float, _within("temperature_c")] | None], _HOURS_48]
    light_umol_m2_s: Annotated[list[Annotated[float, _within("light_umol_m2_s")] | None], _HOURS_48]
    wind_m_s: Annotated[list[Annotated[float, _within("wind_m_s")] | None], _HOURS_48]
    feed_kg_ha: Annotated[list[Annotated[float, _within("feed_kg_ha")]], _HOURS_48]
    aeration_kw_ha: Annotated[list[Annotated[float, _within("aeration_kw_ha")]], _HOURS_48]


class FastTonight(_Strict):
    aeration_kw_ha: Annotated[list[Annotated[float, _within("aeration_kw_ha")]], _HOURS_10]
    temperature_c: Annotated[list[Annotated[float, _within("temperature_c")]], _HOURS_10]
    wind_m_s: Annotated[list[Annotated[float, _within("wind_m_s")]], _HOURS_10]


class FastPlan(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    aeration_kw_ha: Annotated[list[Annotated[float, _within("aeration_kw_ha")]], _HOURS_10]


class FastPond(PondFields):
    history: FastHistory
    tonight: FastTonight
    what_if: Annotated[list[FastPlan], Field(default_factory=list, max_length=8)]


class FastRequest(_Strict):
    ponds: Annotated[list[FastPond], Field(min_length=1, max_length=MAX_PONDS_PER_REQUEST)]


Pond = FastPond | PondInput


def _gaps_ok(values: list[float | None]) -> bool:
    """No run of missing readings longer than the contract allows (an all-null series is one)."""
    if None not in values:
        return True
    run = 0
    for v in values:
        if v is None:
            run += 1
            if run > MAX_GAP_HOURS:
                return False
        else:
            run = 0
    return True


def _fast(body: bytes) -> FastRequest | None:
    try:
        request = FastRequest.model_validate_json(body)
    except ValidationError:
        return None
    for p in request.ponds:
        h = p.history
        if not (
            _gaps_ok(h.do_mg_l)
            and _gaps_ok(h.temperature_c)
            and _gaps_ok(h.light_umol_m2_s)
            and _gaps_ok(h.wind_m_s)
        ):
            return None
    return request


def parse(body: bytes) -> Sequence[Pond]:
    """The ponds of a forecast request; raises ``ValidationError`` with the reasons."""
    request = _fast(body)
    if request is not None:
        return request.ponds
    return ForecastRequest.model_validate_json(body).ponds
