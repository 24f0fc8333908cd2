"""Acknowledgement tokens: one per call, derived from the instance secret, stored only as a hash.

token = base64url(HMAC-SHA256(secret, "ack:" + call_id)), cut to 22 characters (132 bits), then
6 check characters: base64url(HMAC-SHA256(secret, "check:" + those 22))[:6]. The sender derives it
again whenever a message needs the link, so neither the token nor the link is ever stored; the
call keeps SHA-256(token) to find itself when the link is opened. The secret never enters the
database: a copy of the database alone cannot forge a link. The check characters let a guessed or
mistyped link be turned away without a database lookup (all but one in 2^36), so a flood of
guesses cannot crowd out the people answering.

A contact's standing report link is made the same way from "report:" + contact id + a nonce the
contact keeps (rotated to revoke it); the contact keeps SHA-256 of that token.
"""

import binascii
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from app.config import Settings

BODY_LENGTH = 22
CHECK_LENGTH = 6
TOKEN_LENGTH = BODY_LENGTH + CHECK_LENGTH


_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Where this process's key comes from (its settings); once per process, before any link."""
    global _settings
    _settings = settings
    instance_secret.cache_clear()


def _configured() -> Settings:
    if _settings is None:
        raise RuntimeError("the links' key is not configured; call app.call.tokens.configure() first")
    return _settings


@lru_cache
def instance_secret() -> bytes:
    """JIAOYING_SECRET_KEY, or else the key in JIAOYING_SECRET_FILE, created (mode 0600) on first use.

    Every process of a deployment must share it; changing it invalidates the links already sent.
    """
    settings = _configured()
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.secret_file)
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def check_secret() -> None:
    """At start-up: the key can be had, or a RuntimeError says what is wrong (rather than every
    link answering as if the database were down)."""
    settings = _configured()
    try:
        instance_secret()
    except OSError as exc:
        raise RuntimeError(
            f"The key file {settings.secret_file} cannot be read or created ({exc.strerror}); set "
            "JIAOYING_SECRET_KEY, or JIAOYING_SECRET_FILE to a file this process may write."
        ) from exc


_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


@lru_cache(maxsize=4)
def _keyed(secret: bytes) -> tuple["hashlib._Hash", "hashlib._Hash"]:
    """HMAC-SHA256's inner and outer hash states for a key (RFC 2104), set up once. A fan-out
    derives two MACs per call, and hmac.digest spends most of its time setting up the key."""
    key = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\0")
    return hashlib.sha256(key.translate(_INNER_PAD)), hashlib.sha256(key.translate(_OUTER_PAD))


def hmac_sha256(secret: bytes, message: bytes) -> bytes:
    """HMAC-SHA256, the same as hmac.digest(secret, message, "sha256"), from the key's saved states."""
    inner_state, outer_state = _keyed(secret)
    inner = inner_state.copy()
    inner.update(message)
    outer = outer_state.copy()
    outer.update(inner.digest())
    return outer.digest()


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _mac(secret: bytes, message: bytes, length: int) -> str:
    """The MAC's first `length` base64url characters (binascii directly: a fan-out makes two per call)."""
    return binascii.b2a_base64(hmac_sha256(secret, message), newline=False)[:length].translate(_URLSAFE).decode()


def derive_token(secret: bytes, call_id: str) -> str:
    """The token of a call's link."""
    body = _mac(secret, b"ack:" + call_id.encode(), BODY_LENGTH)
    return body + _mac(secret, b"check:" + body.encode(), CHECK_LENGTH)


def derive_report_token(secret: bytes, contact_id: str, nonce: str) -> str:
    """The token of a contact's standing report link (/r/{token}), from the nonce it has now: a
    new nonce is a new link, and the old one dead. The same check characters as a call's."""
    body = _mac(secret, f"report:{contact_id}:{nonce}".encode(), BODY_LENGTH)
    return body + _mac(secret, b"check:" + body.encode(), CHECK_LENGTH)


def plausible(token: str, secret: bytes | None = None) -> bool:
    """Whether a token could be one of ours: its check characters match (no database involved)."""
    if len(token) != TOKEN_LENGTH or not token.isascii():
        return False
    check = _mac(secret or instance_secret(), b"check:" + token[:BODY_LENGTH].encode(), CHECK_LENGTH)
    return hmac.compare_digest(check, token[BODY_LENGTH:])


def hash_token(token: str) -> str:
    """SHA-256 of a token, as the call keeps it."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_row(secret: bytes, call_id: str) -> dict[str, str]:
    """A new call's row of call_tokens (see call.models.CallToken)."""
    return {"token_hash": hash_token(derive_token(secret, call_id)), "call_id": call_id}


def ack_url(public_url: str, token: str) -> str:
    """The link put in messages."""
    return f"{public_url.rstrip('/')}/ack/{token}"


def report_url(public_url: str, token: str) -> str:
    """A contact's standing report link."""
    return f"{public_url.rstrip('/')}/r/{token}"
