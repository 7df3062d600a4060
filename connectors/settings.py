"""Connection settings for both systems. Defaults point at the embedded sandbox (see README);
production sets JST_* / KINGDEE_* in the environment or in `.env`, nothing else changes.

The sandbox's credentials stand in for missing ones only while the URL is this machine: anywhere else
a credential left out would be sent to the real system, so building the settings fails instead, naming
every credential that is missing (`MissingCredentials`), before any client exists.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SANDBOX_JST_URL = "http://127.0.0.1:8711"
SANDBOX_KINGDEE_URL = "http://127.0.0.1:8712/k3cloud"
# The emulators' fixed development credentials (sandbox/credentials.py, which the product does not import).
SANDBOX_JST_CREDENTIALS = {"app_key": "jst-sandbox-app", "app_secret": "jst-sandbox-secret"}
# The emulator's Qimen app and the merchant's customer_id it routes by (sandbox/jushuitan/qimen.py).
SANDBOX_QIMEN_CREDENTIALS = {
    "app_key": "qimen-sandbox-app",
    "app_secret": "qimen-sandbox-secret",
    "customer_id": "10012345",
}
SANDBOX_KINGDEE_CREDENTIALS = {
    "acct_id": "S20240101",
    "username": "administrator",
    "app_id": "300123_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY",
    "app_secret": "sandbox-kingdee-app-secret",
}
# What each Kingdee auth mode sends: signature and LoginByAppSecret the third-party app, ValidateUser the
# user's password (KINGDEE_API.md §2).
KINGDEE_REQUIRED = {
    "signature": ("acct_id", "username", "app_id", "app_secret"),
    "app_secret": ("acct_id", "username", "app_id", "app_secret"),
    "password": ("acct_id", "username", "password"),
}
LOOPBACK_V6 = ipaddress.ip_address("::1")


class MissingCredentials(Exception):
    """A credential the run needs is not set, and the URL is not the local sandbox.

    Not a ValueError, so pydantic passes it through as it is: its message names settings, never values.
    """


def is_loopback_url(url: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the only hosts the sandbox credentials may be sent to."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return address == LOOPBACK_V6 if address.version == 6 else address.is_loopback


def _blank(value: str | SecretStr | None) -> bool:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text is None or not text.strip()


def fill_sandbox_credentials(settings: BaseSettings, sandbox: dict[str, str]) -> None:
    """Blank credentials take the sandbox's: only ever for a URL on this machine."""
    for name, value in sandbox.items():
        if _blank(getattr(settings, name)):
            setattr(settings, name, SecretStr(value) if name == "app_secret" else value)


def _require_credentials(
    settings: BaseSettings, url_setting: str, required: tuple[str, ...], sandbox: dict[str, str]
) -> None:
    """On a loopback URL fill blank credentials from `sandbox`; anywhere else raise MissingCredentials
    naming every one of `required` that is blank (names only: a message never carries a value)."""
    url = getattr(settings, url_setting)
    if is_loopback_url(url):
        fill_sandbox_credentials(settings, sandbox)
        return
    prefix = settings.model_config["env_prefix"]
    if blank := [name for name in required if _blank(getattr(settings, name))]:
        names = "; ".join(f"{prefix}{name.upper()} is not set" for name in blank)
        host = urlsplit(url).hostname or repr(url)
        raise MissingCredentials(
            f"{names} ({prefix}{url_setting.upper()} points at {host}, not this machine, so the sandbox "
            "credentials do not apply)"
        )


class JushuitanSettings(BaseSettings):
    """Jushuitan open platform (v2 openapi) credentials and client limits."""

    model_config = SettingsConfigDict(env_prefix="JST_", env_file=".env", extra="ignore")

    base_url: str = SANDBOX_JST_URL
    # Blank: the sandbox's on a loopback base_url, else an error (see the module docstring).
    app_key: str = ""
    app_secret: SecretStr = SecretStr("")
    # Self-developed apps obtain tokens with getInitToken; a token copied from the console can be
    # given here instead and is then refreshed like any other.
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_store_path: Path = Path(".state/jushuitan_token.json")
    # Name of a Prefect block holding the token instead of the file, so every worker on every host uses
    # one token (flows/blocks.py; set automatically when credentials come from blocks).
    token_block: str | None = None
    # Refresh when less than this remains (the platform issues 30-day tokens).
    refresh_margin_seconds: int = 24 * 3600
    # Per token and API, counted by every process on every host in the state database (state/budget.py).
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

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        _require_credentials(self, "base_url", ("app_key", "app_secret"), SANDBOX_JST_CREDENTIALS)
        return self


class QimenSettings(BaseSettings):
    """The second after-sales route (docs/wire_facts.md, "Qimen after-sales route"): Taobao/Tmall-family
    shops' after-sales through the Qimen router (`jushuitan.refund.list.query`), for the shops listed in
    `shop_ids`; every other shop keeps the standard /open/refund/single/query."""

    model_config = SettingsConfigDict(env_prefix="JST_QIMEN_", env_file=".env", extra="ignore")

    # The shops whose after-sales come from the Qimen route: "10086,10091" or a JSON list. Empty: none.
    shop_ids: Annotated[list[int], NoDecode] = []
    # Production: https://<the app's router>.api.taobao.com/router/qm (/router/qmtest for Qimen's test env).
    # Blank: the emulator's, beside a loopback JST_BASE_URL; with any other base URL the route is unusable.
    router_url: str = ""
    # The Qimen (Taobao open platform) app, not the Jushuitan one. Blank: the sandbox's on a loopback
    # router_url; elsewhere required once shop_ids is set.
    app_key: str = ""
    app_secret: SecretStr = SecretStr("")
    customer_id: str = ""  # the merchant's id the router routes by (Jushuitan's co_id in public code)
    target_app_key: str = "23060081"  # Jushuitan's app on Qimen (two public sources agree)
    customer_id_key: Literal["customer_id", "customerid"] = "customer_id"  # the name public code disagrees on
    page_size: int = Field(50, ge=1, le=100)  # the route's maximum is undocumented: the standard query's 50
    timeout_seconds: float = 60.0
    verify_tls: bool = True

    @field_validator("shop_ids", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [part for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if not self.router_url:  # the emulator's, if JST_BASE_URL is on this machine (JushuitanClient decides)
            fill_sandbox_credentials(self, SANDBOX_QIMEN_CREDENTIALS)
        elif is_loopback_url(self.router_url) or self.shop_ids:
            _require_credentials(
                self, "router_url", ("app_key", "app_secret", "customer_id"), SANDBOX_QIMEN_CREDENTIALS
            )
        return self


class KingdeeSettings(BaseSettings):
    """Kingdee K3Cloud WebAPI credentials (third-party app authorisation) and save options."""

    model_config = SettingsConfigDict(env_prefix="KINGDEE_", env_file=".env", extra="ignore")

    server_url: str = SANDBOX_KINGDEE_URL
    # Blank: the sandbox's on a loopback server_url, else an error (see the module docstring).
    acct_id: str = ""
    username: str = ""
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    # Only for auth_mode="password" (ValidateUser); the sandbox supplies none.
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

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        _require_credentials(self, "server_url", KINGDEE_REQUIRED[self.auth_mode], SANDBOX_KINGDEE_CREDENTIALS)
        return self
