"""Admin endpoints of fault injection (see :mod:`service.api.faults`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service.api.deps import Admin, RuntimeDep
from service.api.faults import FAULTS_PREFIX, FaultRule, FaultState
from service.api.routes._common import Responses

router = APIRouter(prefix=FAULTS_PREFIX, tags=["faults"])

_ERRORS: Responses = {
    401: {"description": "No valid token."},
    403: {"description": "Admins only."},
    409: {"description": "Fault injection is disabled."},
}


@router.get("", response_model=FaultState, responses=_ERRORS)
async def list_faults(_: Admin, rt: RuntimeDep) -> FaultState:
    return rt.faults.state()


@router.put(
    "", response_model=FaultState, responses={**_ERRORS, 404: {"description": "No such route."}}
)
async def set_fault(rule: FaultRule, who: Admin, rt: RuntimeDep) -> FaultState:
    """Set the rule of one route; a rule with no latency and no errors removes it."""
    if rule.route not in rt.faults.known_routes:
        raise HTTPException(status_code=404, detail=f"no route {rule.route}")
    return await rt.faults.set_rule(rule, actor=who.username)


@router.delete("", response_model=FaultState, responses=_ERRORS)
async def clear_faults(who: Admin, rt: RuntimeDep) -> FaultState:
    return await rt.faults.clear(actor=who.username)
