"""The fixed development credentials of the sandbox emulators (also printed by `sandbox serve` and
listed in the README). They open nothing but the emulators on 127.0.0.1."""

JST_APP_KEY = "jst-sandbox-app"
JST_APP_SECRET = "jst-sandbox-secret"

KINGDEE_ACCT_ID = "S20240101"
KINGDEE_USERNAME = "administrator"
KINGDEE_APP_ID = "300123_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY"
KINGDEE_APP_SECRET = "sandbox-kingdee-app-secret"
KINGDEE_PASSWORD = "sandbox-kingdee-password"
KINGDEE_LCID = 2052
