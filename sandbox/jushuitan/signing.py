"""The platform's request signature (JUSHUITAN_API.md, docId=70), computed server side from the spec."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def sign(secret: str, params: Mapping[str, str]) -> str:
    """docId=70: MD5 (lower hex) of the secret, then key+value of every non-empty param except
    `sign`, keys in ascending order."""
    signed = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")
    return hashlib.md5(f"{secret}{signed}".encode()).hexdigest()


def verify_sign(secret: str, params: Mapping[str, str]) -> bool:
    """Whether the request's `sign` is the one the server computes (compared in constant time)."""
    return hmac.compare_digest(params.get("sign", "").encode(), sign(secret, params).encode())
