"""Policy routes: the 叫应 rules per warning level."""

from fastapi import APIRouter

from app.auth.dependencies import AdminDep, PrincipalDep
from app.db import SessionDep, utc_now
from app.models.policy import Policy
from app.paging import Page
from app.policy import service as policy_service
from app.policy.schemas import PolicyIn, PolicyOut

router = APIRouter(prefix="/api/v1/policies", tags=["policies"])


@router.get("", response_model=Page[PolicyOut])
async def list_policies(session: SessionDep, _: PrincipalDep) -> Page[PolicyOut]:
    """The policy of every level (four items, one page)."""
    items = [PolicyOut.model_validate(p) for p in await policy_service.list_policies(session)]
    return Page[PolicyOut](items=items, next_cursor=None)


@router.get("/{level}", response_model=PolicyOut)
async def get_policy(level: str, session: SessionDep, _: PrincipalDep) -> Policy:
    """The policy of one level."""
    return await policy_service.get_policy(session, level)


@router.put("/{level}", response_model=PolicyOut)
async def put_policy(level: str, data: PolicyIn, session: SessionDep, principal: AdminDep) -> Policy:
    """Replace a level's policy (admin); issued warnings keep theirs."""
    return await policy_service.put_policy(session, level, data, actor=principal.name, now=utc_now())
