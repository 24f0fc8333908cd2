"""Tokens: derived with HMAC-SHA256 from saved key states, checked without the database."""

import hmac

import pytest

from app.call import tokens


@pytest.mark.parametrize("secret", [b"", b"short", b"k" * 64, b"a longer key than one SHA-256 block " * 3])
def test_saved_key_states_give_the_standard_hmac(secret: bytes) -> None:
    for message in (b"", b"ack:01m83aqsprq2qgnbstdj2smrnz", "check:收到".encode() * 40):
        assert tokens.hmac_sha256(secret, message) == hmac.digest(secret, message, "sha256")


def test_a_token_is_plausible_and_a_changed_one_is_not() -> None:
    secret = b"test-secret"
    token = tokens.derive_token(secret, "01m83aqsprq2qgnbstdj2smrnz")
    assert len(token) == tokens.TOKEN_LENGTH and token.isascii()
    assert token == tokens.derive_token(secret, "01m83aqsprq2qgnbstdj2smrnz")
    assert tokens.plausible(token, secret)
    changed = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    assert not tokens.plausible(changed, secret)
    assert not tokens.plausible(token, b"another secret")
    assert not tokens.plausible(token[:-1], secret)
