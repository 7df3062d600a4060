"""Where the access token lives between runs. Tokens are valid for ~30 days and a refresh may rotate
them, so the newest pair must survive the process: a file written atomically with mode 0600."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger("connectors.jushuitan")


@dataclass(frozen=True)
class Token:
    """An access/refresh token pair; `expires_at` is epoch seconds, None when unknown (token from settings).

    The token values are kept out of the repr so a logged or printed Token leaks nothing.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None

    @property
    def fingerprint(self) -> str:
        """A short, one-way name for the token: rate limits are counted per token, logs may name it."""
        return hashlib.sha256(self.access_token.encode("utf-8")).hexdigest()[:12]

    def expires_within(self, seconds: float, now: float) -> bool:
        """True when the token is known to expire in less than `seconds` from `now`."""
        return self.expires_at is not None and self.expires_at - now < seconds


class TokenStore(Protocol):
    """Keeps the current token across runs."""

    def load(self) -> Token | None: ...

    def save(self, token: Token) -> None: ...


class MemoryTokenStore:
    """A store for tests and one-off runs: the token lives as long as the object."""

    def __init__(self, token: Token | None = None) -> None:
        self._token = token

    def load(self) -> Token | None:
        return self._token

    def save(self, token: Token) -> None:
        self._token = token


class FileTokenStore:
    """A JSON file readable only by its owner, replaced atomically so a crash never leaves half a token."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def load(self) -> Token | None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return Token(
                access_token=str(raw["access_token"]),
                refresh_token=raw.get("refresh_token"),
                expires_at=raw.get("expires_at"),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            # An unreadable store only costs a new token; failing the sync for it would not help.
            log.warning("ignoring unreadable token store %s", self.path)
            return None

    def save(self, token: Token) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": token.expires_at,
        }
        # mkstemp creates the file with mode 0600 in the target directory, so os.replace is atomic.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
