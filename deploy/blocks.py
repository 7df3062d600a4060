"""What every worker must share when the syncs run as deployments: the credentials (Prefect blocks, secrets
masked in the UI and API), the Jushuitan token (one per app, so its per-token limits are one budget), and
the Jushuitan call budget itself (state/budget.py: every process on every host counts in the state database).

Nothing is read at import time. Without registered blocks the flows fall back to the JST_* / KINGDEE_*
settings and the token file, so development and tests need no Prefect server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, Self

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from connectors.jushuitan import JushuitanClient
from connectors.jushuitan.client import call_limits
from connectors.jushuitan.tokens import FileTokenStore, TokenStore
from connectors.kingdee import KingdeeClient
from connectors.settings import (
    SANDBOX_JST_URL,
    SANDBOX_KINGDEE_URL,
    JushuitanSettings,
    KingdeeSettings,
    MissingCredentials,
)
from state.budget import DatabaseRateLimiter
from state.database import connect
from state.settings import SyncSettings
from state.tokens import BlockTokenStore

log = logging.getLogger("flows")

# The block documents the flows look for; one name for both systems keeps registration one command.
BLOCK_NAME = "jst-kingdee"


# --- credentials -----------------------------------------------------------------------------


class _Credentials(Block):
    """Fields named like the settings they override, so copying either way needs no field list."""

    def overrides(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields}

    @classmethod
    def from_settings(cls, settings: JushuitanSettings | KingdeeSettings) -> Self:
        return cls(**settings.model_dump(include=set(cls.model_fields)))


class JushuitanCredentials(_Credentials):
    """Jushuitan open platform app credentials (聚水潭开放平台), used by every sync deployment."""

    _block_type_name = "Jushuitan Credentials"
    _description = "App key and secret of the Jushuitan open platform (self-developed app)."

    base_url: str = Field(SANDBOX_JST_URL, description="https://openapi.jushuitan.com in production")
    app_key: str
    app_secret: SecretStr
    access_token: SecretStr | None = Field(None, description="Only when the token comes from the console")
    refresh_token: SecretStr | None = None


class KingdeeCredentials(_Credentials):
    """Kingdee K3Cloud WebAPI credentials (金蝶云·星空, third-party app authorisation)."""

    _block_type_name = "Kingdee Credentials"
    _description = "Data centre, user and third-party app of the Kingdee K3Cloud WebAPI."

    server_url: str = Field(SANDBOX_KINGDEE_URL, description="https://<tenant>.ik3cloud.com/k3cloud")
    acct_id: str
    username: str
    app_id: str
    app_secret: SecretStr
    password: SecretStr | None = Field(None, description="Only for auth_mode 'password'")
    auth_mode: Literal["signature", "app_secret", "password"] = "signature"
    lcid: int = 2052


def token_block_name(name: str) -> str:
    return f"{name}-token"


def register_blocks(
    name: str = BLOCK_NAME,
    jushuitan: JushuitanSettings | None = None,
    kingdee: KingdeeSettings | None = None,
) -> list[str]:
    """Save both credential blocks from settings (the environment by default); returns their slugs."""
    saved = []
    for block in (
        JushuitanCredentials.from_settings(jushuitan or JushuitanSettings()),
        KingdeeCredentials.from_settings(kingdee or KingdeeSettings()),
    ):
        block.save(name, overwrite=True)
        saved.append(f"{block.get_block_type_slug()}/{name}")
    return saved


def _load(block_type: type[_Credentials], name: str) -> _Credentials | None:
    try:
        return block_type.load(name)
    except ValueError:  # Prefect's answer for "no block document of that name"
        return None


def connector_settings(name: str = BLOCK_NAME) -> tuple[JushuitanSettings, KingdeeSettings]:
    """Credentials from the blocks named `name` when registered, else from the environment.

    Everything that is not a credential (limits, timeouts, batch sizes) always comes from the environment,
    so a worker can be tuned without touching the blocks. With blocks, the token lives in a block too.
    """
    jst, kingdee = _load(JushuitanCredentials, name), _load(KingdeeCredentials, name)
    log.info(
        "credentials: Jushuitan from %s, Kingdee from %s",
        f"block {name!r}" if jst else "environment",
        f"block {name!r}" if kingdee else "environment",
    )
    try:
        return (
            JushuitanSettings(**jst.overrides(), token_block=token_block_name(name)) if jst else JushuitanSettings(),
            KingdeeSettings(**kingdee.overrides()) if kingdee else KingdeeSettings(),
        )
    except MissingCredentials as missing:
        if jst or kingdee:  # say where to set it: a block's values override the environment's
            raise MissingCredentials(f"{missing}; credentials come from block {name!r} where registered") from None
        raise


@contextmanager
def open_clients(name: str = BLOCK_NAME) -> Iterator[tuple[JushuitanClient, KingdeeClient]]:
    """Both clients of a flow run, with the credentials `connector_settings` finds."""
    jst_settings, kingdee_settings = connector_settings(name)
    with jushuitan_client(jst_settings) as jst, KingdeeClient(kingdee_settings) as kingdee:
        yield jst, kingdee


def token_store(settings: JushuitanSettings) -> TokenStore:
    """Where the Jushuitan token lives: the block `settings.token_block` names, else the token file."""
    return BlockTokenStore(settings.token_block) if settings.token_block else FileTokenStore(settings.token_store_path)


def jushuitan_client(settings: JushuitanSettings) -> JushuitanClient:
    """A client whose token lives in `token_store(settings)` and whose calls count in the state database's
    budget (SYNC_DATABASE_URL: on PostgreSQL, one budget for every host)."""
    budget = DatabaseRateLimiter(connect(SyncSettings()), call_limits(settings))
    return JushuitanClient(settings, token_store=token_store(settings), limiter=budget)
