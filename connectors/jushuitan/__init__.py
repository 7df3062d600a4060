"""Jushuitan open platform (v2 openapi) connector: signing, tokens, rate limits, paging and typed errors.
It speaks the protocol; which shops, warehouses and documents matter is the flows' business."""

from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.documents import ItemUploadResult, not_whole_numbers, whole_numbers
from connectors.jushuitan.errors import (
    JushuitanAuthError,
    JushuitanError,
    JushuitanParamError,
    JushuitanPermissionError,
    JushuitanRateLimited,
    JushuitanSignError,
    JushuitanTimestampError,
    JushuitanTransportError,
)
from connectors.jushuitan.paging import Deduplicator, id_chunks, page_body, page_ids, shanghai_windows
from connectors.jushuitan.signing import encode_biz, sign
from connectors.jushuitan.tokens import FileTokenStore, MemoryTokenStore, Token, TokenStore

__all__ = [
    "Deduplicator",
    "FileTokenStore",
    "ItemUploadResult",
    "JushuitanAuthError",
    "JushuitanClient",
    "JushuitanError",
    "JushuitanParamError",
    "JushuitanPermissionError",
    "JushuitanRateLimited",
    "JushuitanSignError",
    "JushuitanTimestampError",
    "JushuitanTransportError",
    "MemoryTokenStore",
    "Token",
    "TokenStore",
    "encode_biz",
    "id_chunks",
    "not_whole_numbers",
    "page_body",
    "page_ids",
    "shanghai_windows",
    "sign",
    "whole_numbers",
]
