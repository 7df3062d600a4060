"""Kingdee failures as a short hierarchy, so callers act on *what* went wrong: fix credentials, wait,
fix the data, or check by FBillNo what a write left behind. Messages never carry secrets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RowError:
    """One entry of a ResponseStatus `Errors` list; `dindex` is the 0-based position in the request."""

    field_name: str | None
    message: str
    dindex: int | None


class KingdeeError(Exception):
    """Base of every error the Kingdee connector raises."""


class KingdeeAuthError(KingdeeError):
    """Credentials or the third-party authorisation were refused (login failure, MsgCode 1 after a fresh
    login, or the gateway's "Fail to verify thirty passport")."""


class KingdeeSessionExpired(KingdeeError):
    """A write met a lost session. The client has logged in again but did not replay the write: check by
    FBillNo what was saved before sending it again."""


class KingdeeRateLimited(KingdeeError):
    """MsgCode 14 (call limit): back off and try again later."""


class KingdeeBusinessError(KingdeeError):
    """The server refused the request on business grounds (validation, unknown form or field, ...)."""

    def __init__(self, message: str, *, msg_code: int | None, errors: list[RowError]) -> None:
        super().__init__(message)
        self.msg_code = msg_code
        self.errors = errors


class KingdeeTransportError(KingdeeError):
    """No usable answer: connection failure, timeout, non-200 status, a `response_error:` or non-JSON body.

    `maybe_committed` is True when a write may have reached the server: check by FBillNo before resending.
    """

    def __init__(self, message: str, *, status_code: int | None = None, maybe_committed: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.maybe_committed = maybe_committed
