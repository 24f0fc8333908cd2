"""API keys and the principal a request acts as."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.errors import NotFound, Unprocessable
from app.ids import new_token
from app.models.auth import ApiKey
from app.region import service as region_service

TOKEN_PREFIX = "jy"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's holder, its role and the region subtree it may act in."""

    name: str
    role: str
    key_id: str | None = None
    region_code: str | None = None
    region_path: str | None = None  # None: the whole country

    @property
    def within(self) -> str | None:
        """The path of the subtree this key is limited to; None where it sees the whole country."""
        return None if self.role == "admin" else self.region_path

    def covers(self, path: str) -> bool:
        """Whether a region (given by its path) lies in this principal's subtree."""
        return self.within is None or path.startswith(self.within)


def hash_token(token: str) -> str:
    """SHA-256 of a bearer token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


async def authenticate(session: AsyncSession, token: str, *, admin_token: str | None) -> Principal | None:
    """The principal behind a bearer token, or None when the token is unknown or revoked."""
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(name="admin", role="admin")
    key = await session.scalar(
        select(ApiKey).where(ApiKey.token_hash == hash_token(token), ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    path = None
    if key.region_code is not None:
        region = await region_service.get_region(session, key.region_code)
        path = region.path
    return Principal(name=key.name, role=key.role, key_id=key.id, region_code=key.region_code, region_path=path)


async def create_key(
    session: AsyncSession, *, name: str, role: str, region_code: str | None, actor: str
) -> tuple[ApiKey, str]:
    """Create a key; the token is returned once and only its hash is kept."""
    if region_code is not None:
        if role == "admin":
            raise Unprocessable(
                "Admin keys act everywhere; leave region_code out, or choose duty_officer or auditor.",
                errors=[{"loc": ["body", "region_code"], "msg": "not allowed for role admin"}],
            )
        code = region_service.require_code(region_code, ("body", "region_code"))
        if not await region_service.get_paths(session, {code}):
            raise Unprocessable(
                f"No region has code {code}; import it first.",
                errors=[{"loc": ["body", "region_code"], "msg": f"unknown region {code}"}],
            )
        region_code = code
    token = new_token(TOKEN_PREFIX)
    key = ApiKey(name=name, role=role, region_code=region_code, token_hash=hash_token(token), created_by=actor)
    session.add(key)
    await session.flush()
    await audit_service.record_event(
        session,
        audit_service.Event(
            type="key.changed",
            actor=actor,
            region_code=region_code,
            data={
                "action": "created",
                "key_id": key.id,
                "name": name,
                "role": role,
                "region_code": region_code,
            },
        ),
    )
    return key, token


async def list_keys(session: AsyncSession, *, limit: int, cursor: str | None) -> list[ApiKey]:
    """Keys in creation order, revoked ones included."""
    query = select(ApiKey).order_by(ApiKey.id).limit(limit)
    if cursor:
        query = query.where(ApiKey.id > cursor)
    return list(await session.scalars(query))


async def revoke_key(session: AsyncSession, *, key_id: str, actor: str, now: datetime) -> ApiKey:
    """Revoke a key; revoking twice is harmless."""
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"No API key has id {key_id!r}.")
    if key.revoked_at is None:
        key.revoked_at = now
        await audit_service.record_event(
            session,
            audit_service.Event(
                type="key.changed",
                actor=actor,
                region_code=key.region_code,
                data={"action": "revoked", "key_id": key.id, "name": key.name, "role": key.role},
            ),
        )
    return key
