"""Acknowledgement tokens: one per call, derived from the instance secret, stored only as a hash.

token = base64url(HMAC-SHA256(secret, "ack:" + call_id)), cut to 22 characters (132 bits). The
sender derives it again whenever a message needs the link, so neither the token nor the link is
ever stored; the call keeps SHA-256(token) to find itself when the link is opened.
"""

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.notify.models import InstanceSecret

TOKEN_LENGTH = 22
_cached_secret: bytes | None = None


async def instance_secret(session: AsyncSession) -> bytes:
    """JIAOYING_SECRET_KEY, or else a secret generated once and kept in the database."""
    global _cached_secret
    configured = get_settings().secret_key
    if configured:
        return configured.encode()
    if _cached_secret is None:
        dialect_insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        await session.execute(
            dialect_insert(InstanceSecret)
            .values(name="ack_tokens", value=secrets.token_urlsafe(32))
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = await session.scalar(select(InstanceSecret.value).where(InstanceSecret.name == "ack_tokens"))
        assert value is not None
        _cached_secret = value.encode()
    return _cached_secret


def derive_token(secret: bytes, call_id: str) -> str:
    digest = hmac.digest(secret, b"ack:" + call_id.encode(), "sha256")
    return base64.urlsafe_b64encode(digest).decode()[:TOKEN_LENGTH]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ack_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/ack/{token}"
