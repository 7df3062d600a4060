"""What every worker must share when the syncs run as deployments: the credentials (Prefect blocks, secrets
masked in the UI and API), the Jushuitan token (one per app, so its per-token limits are one budget), and
the Jushuitan call budget itself (a limiter every process on the host counts in).

Nothing is read at import time. Without registered blocks the flows fall back to the JST_* / KINGDEE_*
settings and the token file, so development and tests need no Prefect server.
"""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any, Literal, Self

import typer
from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from connectors.http import RateLimiter
from connectors.jushuitan import JushuitanClient
from connectors.jushuitan.tokens import Token
from connectors.settings import SANDBOX_JST_URL, SANDBOX_KINGDEE_URL, JushuitanSettings, KingdeeSettings

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


class JushuitanTokenState(Block):
    """The current Jushuitan token pair; written by whichever worker obtains or refreshes it."""

    _block_type_name = "Jushuitan Token State"
    _description = "Kept by the syncs themselves: the access token every worker uses."

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: float | None = None


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
    return (
        JushuitanSettings(**jst.overrides(), token_block=token_block_name(name)) if jst else JushuitanSettings(),
        KingdeeSettings(**kingdee.overrides()) if kingdee else KingdeeSettings(),
    )


# --- the token every worker sees -------------------------------------------------------------


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


# --- the call budget every process on the host shares ------------------------------------------


@dataclass
class SharedRateLimiter(RateLimiter):
    """RateLimiter whose call times live in a file under an exclusive lock, so every process and thread
    on the host (two workers, a CLI run beside a deployment) counts in one budget per token and API.

    `margin_seconds` widens each window: a call is counted when it leaves here, the platform counts it
    when it arrives, and two processes' requests can arrive closer together than they left.
    """

    path: Path = field(kw_only=True)
    margin_seconds: float = field(default=0.1, kw_only=True)

    def acquire(self, key: Hashable) -> None:
        name = "|".join(map(str, key)) if isinstance(key, tuple) else str(key)
        longest = max((window for _, window in self.limits), default=0.0) + self.margin_seconds
        while True:
            with _locked(self.path) as handle:
                now = self.clock()
                state = {
                    key: kept
                    for key, times in _read(handle).items()
                    if (kept := [t for t in times if t > now - longest])
                }
                calls = state.get(name, [])
                wait = max((self._wait(calls, now, n, window) for n, window in self.limits), default=0.0)
                if wait <= 0:
                    state[name] = [*calls, now]
                    _write(handle, state)
                    return
            self.sleep(wait)

    def _wait(self, calls: list[float], now: float, max_calls: int, window: float) -> float:
        window += self.margin_seconds
        in_window = [t for t in calls if t > now - window]
        return in_window[-max_calls] + window - now if len(in_window) >= max_calls else 0.0


@contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, even if the process dies
        yield handle


def _read(handle: IO[str]) -> dict[str, list[float]]:
    handle.seek(0)
    try:
        state = json.loads(handle.read() or "{}")
    except ValueError:  # a process killed mid-write: forgetting the last minute's calls is the only cost
        return {}
    return state if isinstance(state, dict) else {}


def _write(handle: IO[str], state: dict[str, list[float]]) -> None:
    handle.seek(0)
    handle.truncate()
    json.dump(state, handle)
    handle.flush()


def jushuitan_client(settings: JushuitanSettings) -> JushuitanClient:
    """A client whose token and call budget are shared as `settings` say (token_block, shared_limits_path)."""
    store = BlockTokenStore(settings.token_block) if settings.token_block else None
    client = JushuitanClient(settings, token_store=store)
    if settings.shared_limits_path is not None:
        # JushuitanClient builds its own per-process limiter; swap in the shared one.
        limits = ((settings.calls_per_second, 1.0), (settings.calls_per_minute, 60.0))
        client._limiter = SharedRateLimiter(limits=limits, path=settings.shared_limits_path)
    return client


# --- `jst-kingdee blocks ...` ----------------------------------------------------------------

blocks_app = typer.Typer(help="Credentials as Prefect blocks, for deployments.", no_args_is_help=True)


@blocks_app.command("register")
def register_command(
    name: Annotated[str, typer.Option(help="Block document name the flows look for")] = BLOCK_NAME,
) -> None:
    """Save JST_* and KINGDEE_* credentials (environment or .env) as Prefect blocks on PREFECT_API_URL."""
    for slug in register_blocks(name):
        typer.echo(f"saved {slug}")
    typer.echo("Secrets are stored as secret fields: masked in the UI and in API reads.")
