"""Acknowledgement tokens: one per call, derived from the instance secret, stored only as a hash.

token = base64url(HMAC-SHA256(secret, "ack:" + call_id)), cut to 22 characters (132 bits). The
sender derives it again whenever a message needs the link, so neither the token nor the link is
ever stored; the call keeps SHA-256(token) to find itself when the link is opened. The secret
never enters the database: a copy of the database alone cannot forge a link.
"""

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from app.config import get_settings

TOKEN_LENGTH = 22


@lru_cache
def instance_secret() -> bytes:
    """JIAOYING_SECRET_KEY, or else the key in JIAOYING_SECRET_FILE, created (mode 0600) on first use.

    Every process of a deployment must share it; changing it invalidates the links already sent.
    """
    settings = get_settings()
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.secret_file)
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def derive_token(secret: bytes, call_id: str) -> str:
    """The token of a call's link."""
    digest = hmac.digest(secret, b"ack:" + call_id.encode(), "sha256")
    return base64.urlsafe_b64encode(digest).decode()[:TOKEN_LENGTH]


def hash_token(token: str) -> str:
    """SHA-256 of a token, as the call keeps it."""
    return hashlib.sha256(token.encode()).hexdigest()


def ack_url(public_url: str, token: str) -> str:
    """The link put in messages."""
    return f"{public_url.rstrip('/')}/ack/{token}"
