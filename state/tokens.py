"""The Jushuitan token every worker sees. Tokens are valid for ~30 days and a refresh may rotate them, and
the per-token limits are one budget, so all workers must use and keep the newest pair: a Prefect block."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import SecretStr

from connectors.jushuitan.tokens import Token


class JushuitanTokenState(Block):
    """The current Jushuitan token pair; written by whichever worker obtains or refreshes it."""

    _block_type_name = "Jushuitan Token State"
    _description = "Kept by the syncs themselves: the access token every worker uses."

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: float | None = None


class BlockTokenStore:
    """A TokenStore in a Prefect block: every worker, on any host, loads the token the last one saved.

    Block documents are encrypted at rest by the Prefect server and their secret fields masked when read
    without secrets, unlike Variables, which anyone with UI access can read.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"BlockTokenStore({self.name!r})"

    def load(self) -> Token | None:
        try:
            state = JushuitanTokenState.load(self.name)
        except ValueError:
            return None
        refresh = state.refresh_token.get_secret_value() if state.refresh_token else None
        return Token(state.access_token.get_secret_value(), refresh, state.expires_at)

    def save(self, token: Token) -> None:
        state = JushuitanTokenState(
            access_token=SecretStr(token.access_token),
            refresh_token=SecretStr(token.refresh_token) if token.refresh_token else None,
            expires_at=token.expires_at,
        )
        state.save(self.name, overwrite=True)
