"""API key routes (admin only)."""

from fastapi import APIRouter, status

from app.auth import service as auth_service
from app.auth.dependencies import AdminDep
from app.auth.schemas import KeyCreated, KeyIn, KeyOut
from app.db import SessionDep, utc_now
from app.models.auth import ApiKey
from app.paging import Page, PageDep, make_page

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_key(data: KeyIn, session: SessionDep, principal: AdminDep) -> KeyCreated:
    """Issue a key; its token is shown this once and only its hash is stored."""
    key, token = await auth_service.create_key(
        session, name=data.name, role=data.role, region_code=data.region_code, actor=principal.name
    )
    return KeyCreated(**KeyOut.model_validate(key).model_dump(), token=token)


@router.get("", response_model=Page[KeyOut])
async def list_keys(session: SessionDep, _: AdminDep, page: PageDep) -> Page[KeyOut]:
    """Every key issued, revoked ones included (tokens are never shown again)."""
    rows = await auth_service.list_keys(session, limit=page.fetch, cursor=page.cursor)
    return make_page(rows, page, key=lambda k: k.id, item=KeyOut.model_validate)


@router.delete("/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: str, session: SessionDep, principal: AdminDep) -> ApiKey:
    """Revoke a key: it stops working at once."""
    return await auth_service.revoke_key(session, key_id=key_id, actor=principal.name, now=utc_now())
