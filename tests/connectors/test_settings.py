"""Credentials and where they may come from: the sandbox's own credentials stand in for missing ones only
when the URL is this machine; anywhere else a missing credential stops the run, named, before a request."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.settings import JushuitanSettings, KingdeeSettings, MissingCredentials
from deploy import blocks
from deploy.blocks import JushuitanCredentials, KingdeeCredentials, connector_settings
from sandbox import credentials

JST_URL = "https://openapi.jushuitan.invalid"
KINGDEE_URL = "https://tenant.ik3cloud.invalid/k3cloud"
# Recognisable values: a message that carried one of them would be caught.
GIVEN = {
    "JST_APP_KEY": "prod-app-key-1b2c",
    "JST_APP_SECRET": "prod-jst-secret-7d1e",
    "KINGDEE_ACCT_ID": "prod-acct-5a6b",
    "KINGDEE_USERNAME": "prod-user-9c0d",
    "KINGDEE_APP_ID": "prod-app-id-3e4f",
    "KINGDEE_APP_SECRET": "prod-kingdee-secret-8a9b",
    "KINGDEE_PASSWORD": "prod-password-2c3d",
}
SECRETS = ("JST_APP_SECRET", "KINGDEE_APP_SECRET", "KINGDEE_PASSWORD")
APP_CREDENTIALS = ["KINGDEE_ACCT_ID", "KINGDEE_USERNAME", "KINGDEE_APP_ID", "KINGDEE_APP_SECRET"]
REQUIRED = [
    (JushuitanSettings, None, ["JST_APP_KEY", "JST_APP_SECRET"]),
    (KingdeeSettings, "signature", APP_CREDENTIALS),
    (KingdeeSettings, "app_secret", APP_CREDENTIALS),
    (KingdeeSettings, "password", ["KINGDEE_ACCT_ID", "KINGDEE_USERNAME", "KINGDEE_PASSWORD"]),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Nothing from the caller's environment or a `.env` file decides these tests."""
    monkeypatch.chdir(tmp_path)
    for name in [*GIVEN, "JST_BASE_URL", "KINGDEE_SERVER_URL", "KINGDEE_AUTH_MODE"]:
        monkeypatch.delenv(name, raising=False)


def production(monkeypatch: pytest.MonkeyPatch, names: list[str], auth_mode: str | None) -> None:
    monkeypatch.setenv("JST_BASE_URL", JST_URL)
    monkeypatch.setenv("KINGDEE_SERVER_URL", KINGDEE_URL)
    if auth_mode:
        monkeypatch.setenv("KINGDEE_AUTH_MODE", auth_mode)
    for name in names:
        monkeypatch.setenv(name, GIVEN[name])


def assert_no_secret_in(message: str) -> None:
    for name in SECRETS:
        assert GIVEN[name] not in message


@pytest.mark.parametrize("absent", ["unset", "empty", "blank"])
@pytest.mark.parametrize(
    ("settings", "auth_mode", "missing"),
    [(settings, mode, name) for settings, mode, names in REQUIRED for name in names],
)
def test_a_production_url_with_a_credential_missing_names_it(monkeypatch, settings, auth_mode, missing, absent):
    required = next(names for cls, mode, names in REQUIRED if (cls, mode) == (settings, auth_mode))
    production(monkeypatch, [name for name in required if name != missing], auth_mode)
    if absent != "unset":
        monkeypatch.setenv(missing, "" if absent == "empty" else "   ")
    with pytest.raises(MissingCredentials, match=f"^{missing} is not set") as raised:
        settings()
    assert_no_secret_in(str(raised.value))


def test_every_missing_credential_is_named_at_once(monkeypatch):
    production(monkeypatch, [], None)
    with pytest.raises(MissingCredentials) as raised:
        KingdeeSettings()
    assert all(f"{name} is not set" in str(raised.value) for name in APP_CREDENTIALS)
    assert "tenant.ik3cloud.invalid" in str(raised.value)


@pytest.mark.parametrize(("settings", "auth_mode", "required"), REQUIRED)
def test_a_production_url_with_every_credential_given_keeps_them(monkeypatch, settings, auth_mode, required):
    production(monkeypatch, required, auth_mode)
    given = settings()
    for name in required:
        value = getattr(given, name.split("_", 1)[1].lower())
        assert (value.get_secret_value() if isinstance(value, SecretStr) else value) == GIVEN[name]


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8711", "127.8.9.10:1", "localhost:8712", "LOCALHOST", "[::1]:8711", "[0:0:0:0:0:0:0:1]"]
)
def test_a_loopback_url_with_nothing_set_uses_the_sandbox_credentials(monkeypatch, host):
    monkeypatch.setenv("JST_BASE_URL", f"http://{host}")
    monkeypatch.setenv("KINGDEE_SERVER_URL", f"http://{host}/k3cloud")
    jst, kingdee = JushuitanSettings(), KingdeeSettings()
    assert (jst.app_key, jst.app_secret.get_secret_value()) == (credentials.JST_APP_KEY, credentials.JST_APP_SECRET)
    assert (kingdee.acct_id, kingdee.username, kingdee.app_id, kingdee.app_secret.get_secret_value()) == (
        credentials.KINGDEE_ACCT_ID,
        credentials.KINGDEE_USERNAME,
        credentials.KINGDEE_APP_ID,
        credentials.KINGDEE_APP_SECRET,
    )


def test_the_defaults_are_the_sandbox_on_this_machine():
    assert JushuitanSettings().app_secret.get_secret_value() == credentials.JST_APP_SECRET
    assert KingdeeSettings().app_secret.get_secret_value() == credentials.KINGDEE_APP_SECRET


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1.nip.invalid:8711",
        "http://localhost.attacker.invalid",
        "http://10.0.0.5:8711",
        "http://0.0.0.0:8711",
        "http://[::ffff:7f00:1]:8711",
        "http://user@evil.invalid:8711",
        "openapi.jushuitan.invalid",
        "",
    ],
)
def test_only_a_loopback_host_counts_as_the_sandbox(monkeypatch, url):
    monkeypatch.setenv("JST_BASE_URL", url)
    with pytest.raises(MissingCredentials, match="^JST_APP_KEY is not set; JST_APP_SECRET is not set"):
        JushuitanSettings()


def test_settings_given_in_code_are_checked_too():
    with pytest.raises(MissingCredentials, match="^KINGDEE_APP_SECRET is not set"):
        KingdeeSettings(server_url=KINGDEE_URL, acct_id="a", username="u", app_id="i")


def test_credentials_from_blocks_are_checked_the_same_way(monkeypatch):
    saved = {
        JushuitanCredentials: JushuitanCredentials(base_url=JST_URL, app_key="k", app_secret=SecretStr("s")),
        KingdeeCredentials: KingdeeCredentials(
            server_url=KINGDEE_URL,
            acct_id="a",
            username="u",
            app_id="i",
            app_secret=SecretStr(""),
        ),
    }
    monkeypatch.setattr(blocks, "_load", lambda block_type, _name: saved[block_type])
    with pytest.raises(MissingCredentials, match="^KINGDEE_APP_SECRET is not set.*block 'jst-kingdee'"):
        connector_settings()
    saved[KingdeeCredentials] = saved[KingdeeCredentials].model_copy(update={"app_secret": SecretStr("s2")})
    jst, kingdee = connector_settings()
    assert (jst.base_url, kingdee.server_url, kingdee.app_secret.get_secret_value()) == (JST_URL, KINGDEE_URL, "s2")
