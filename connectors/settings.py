"""Connection settings for both systems. Defaults point at the embedded sandbox (see README);
production sets JST_* / KINGDEE_* in the environment or in `.env`, nothing else changes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_JST_URL = "http://127.0.0.1:8711"
SANDBOX_KINGDEE_URL = "http://127.0.0.1:8712/k3cloud"


class JushuitanSettings(BaseSettings):
    """Jushuitan open platform (v2 openapi) credentials and client limits."""

    model_config = SettingsConfigDict(env_prefix="JST_", env_file=".env", extra="ignore")

    base_url: str = SANDBOX_JST_URL
    app_key: str = "jst-sandbox-app"
    app_secret: SecretStr = SecretStr("jst-sandbox-secret")
    # Self-developed apps obtain tokens with getInitToken; a token copied from the console can be
    # given here instead and is then refreshed like any other.
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_store_path: Path = Path(".state/jushuitan_token.json")
    # Name of a Prefect block holding the token instead of the file, so every worker on every host uses
    # one token (flows/blocks.py; set automatically when credentials come from blocks).
    token_block: str | None = None
    # A file every process on this host shares to count calls per token and API, so concurrent runs stay
    # within the platform's limits together (connectors/http.py SharedRateLimiter); None: per-process limits.
    shared_limits_path: Path | None = None
    # Refresh when less than this remains (the platform issues 30-day tokens).
    refresh_margin_seconds: int = 24 * 3600
    calls_per_second: int = Field(5, ge=1)
    calls_per_minute: int = Field(100, ge=1)
    # Page requests of one page_index walk in flight at once, all within the limits above: one at a time,
    # a walk waits out every answer's latency and cannot use a quota faster than one page per latency.
    # start_ts walks are one at a time whatever this says (each cursor comes from the answer before).
    pages_in_flight: int = Field(2, ge=1, le=8)
    timeout_seconds: float = 60.0
    retry_attempts: int = Field(6, ge=1)
    retry_base_seconds: float = 0.5
    retry_cap_seconds: float = 60.0
    verify_tls: bool = True


class KingdeeSettings(BaseSettings):
    """Kingdee K3Cloud WebAPI credentials (third-party app authorisation) and save options."""

    model_config = SettingsConfigDict(env_prefix="KINGDEE_", env_file=".env", extra="ignore")

    server_url: str = SANDBOX_KINGDEE_URL
    acct_id: str = "S20240101"
    username: str = "administrator"
    app_id: str = "300123_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY"
    app_secret: SecretStr = SecretStr("sandbox-kingdee-app-secret")
    # Only for auth_mode="password" (ValidateUser).
    password: SecretStr | None = None
    lcid: int = 2052
    org_num: int = 0
    # "signature": per-request HMAC headers (official SDK 8.x); "app_secret": LoginByAppSecret
    # session; "password": ValidateUser session.
    auth_mode: Literal["signature", "app_secret", "password"] = "signature"
    batch_size: int = Field(100, ge=1, le=1000)
    query_page_size: int = Field(2000, ge=1, le=10000)
    timeout_seconds: float = 120.0
    retry_attempts: int = Field(4, ge=1)
    retry_base_seconds: float = 0.5
    retry_cap_seconds: float = 30.0
    verify_tls: bool = True
