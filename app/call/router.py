"""Call routes: the duty officer records an answer taken by phone, radio or in person."""

from fastapi import APIRouter

from app.auth import scope
from app.auth.dependencies import DutyOfficerDep
from app.call import service as call_service
from app.call.schemas import CallOut, ManualAckIn
from app.db import SessionDep, utc_now
from app.errors import Forbidden

router = APIRouter(prefix="/api/v1/calls", tags=["calls"])


@router.post("/{call_id}/ack", response_model=CallOut)
async def acknowledge_call(call_id: str, data: ManualAckIn, session: SessionDep, principal: DutyOfficerDep) -> CallOut:
    """Record an acknowledgement the duty officer took outside the system (idempotent)."""
    call = await call_service.get_call(session, call_id)
    if not await scope.covers_call(session, call, principal):
        raise Forbidden(f"Call {call_id} is to a person outside your key's region {principal.region_code}.")
    call = await call_service.acknowledge(
        session, call, method="manual", actor=principal.name, now=utc_now(), how=data.method, note=data.note or None
    )
    return CallOut.of(call, masked=False)
