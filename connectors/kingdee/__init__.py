"""Kingdee K3Cloud WebAPI connector: signed or session-authenticated calls, paged queries, batch saves
and bill operations. It speaks the protocol; which bills to write is the flows' business."""

from connectors.kingdee.answers import response_status
from connectors.kingdee.auth import decode_client_secret, signature_headers
from connectors.kingdee.client import KingdeeClient
from connectors.kingdee.errors import (
    KingdeeAuthError,
    KingdeeBusinessError,
    KingdeeError,
    KingdeeRateLimited,
    KingdeeSessionExpired,
    KingdeeTransportError,
    RowError,
)
from connectors.kingdee.filters import Filter, quote
from connectors.kingdee.operations import OperationResult
from connectors.kingdee.saving import SaveResult

__all__ = [
    "Filter",
    "KingdeeAuthError",
    "KingdeeBusinessError",
    "KingdeeClient",
    "KingdeeError",
    "KingdeeRateLimited",
    "KingdeeSessionExpired",
    "KingdeeTransportError",
    "OperationResult",
    "RowError",
    "SaveResult",
    "decode_client_secret",
    "quote",
    "response_status",
    "signature_headers",
]
