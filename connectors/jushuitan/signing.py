"""The openweb v2 signature (docId=70): MD5 over app_secret + k1v1k2v2… of the sorted, non-empty
parameters except `sign`. The biz string is signed raw, so it must be byte-identical to what is sent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def sign(params: Mapping[str, str], app_secret: str) -> str:
    """Lower-case MD5 hex of the secret followed by every non-empty parameter (except `sign`) sorted by key.

    Empty values are skipped because the platform drops them before verifying; the client never sends
    them, so both readings of the rule agree.
    """
    body = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")
    return hashlib.md5((app_secret + body).encode("utf-8")).hexdigest()


def encode_biz(biz: Mapping[str, Any]) -> str:
    """Compact JSON with Chinese kept as UTF-8: the one string both signed and sent."""
    return json.dumps(biz, ensure_ascii=False, separators=(",", ":"))
