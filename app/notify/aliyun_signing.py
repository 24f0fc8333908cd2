"""Aliyun's RPC requests, signed as its reference for Signature Version 1.0 says (the SMS service's
dysmsapi and the voice service's dyvmsapi take the same): HMAC-SHA1 over the sorted parameters."""

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from urllib.parse import quote

API_VERSION = "2017-05-25"


def percent(value: str) -> str:
    """Percent-encoding as Aliyun's signature reference defines it (RFC 3986, UTF-8)."""
    return quote(value, safe="-_.~")


def signature(parameters: dict[str, str], secret: str, *, method: str = "POST") -> str:
    """The `Signature` of an RPC request: HMAC-SHA1, keyed with the secret and '&', of
    METHOD&%2F&percent(the parameters sorted by name, each name=value percent-encoded)."""
    canonical = "&".join(f"{percent(name)}={percent(parameters[name])}" for name in sorted(parameters))
    to_sign = f"{method}&{percent('/')}&{percent(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed(action: str, parameters: dict[str, str], *, key_id: str, secret: str) -> dict[str, str]:
    """The request's parameters with the common ones and its signature."""
    common = {
        "Action": action,
        "Version": API_VERSION,
        "Format": "JSON",
        "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": secrets.token_hex(16),
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "RegionId": "cn-hangzhou",
    }
    everything = {**common, **parameters}
    return {**everything, "Signature": signature(everything, secret)}
