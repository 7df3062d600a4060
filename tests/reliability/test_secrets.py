"""Secrets: full syncs with recognisable credentials (in every Kingdee auth mode, and in runs that fail
because an answer echoes the request back) leave them in no log line, Prefect run log, artifact, report
file, state file or exception text. TLS certificates are verified by default."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prefect.client.orchestration import get_client

from connectors.jushuitan import JushuitanClient, JushuitanTransportError
from connectors.kingdee import KingdeeClient, KingdeeTransportError
from connectors.kingdee.auth import decode_client_secret
from connectors.settings import JushuitanSettings, KingdeeSettings
from flows import sync
from flows.all import sync_all
from flows.master_data import load_master_data
from flows.outbound import sync_outbound
from sandbox.kingdee import Account
from tests.reliability.stage import OUTBOUND_QUERY, Stage

JST_SECRET = "JSTSECRET-3e1f0c9a7b"
KINGDEE_SECRET = "KDSECRET-5d2b8e4f61"
KINGDEE_PASSWORD = "KDPASSWORD-9a7c3e1b20"


@pytest.fixture
def secret_stage(make_stage, caplog) -> Stage:
    caplog.set_level(logging.DEBUG)
    return make_stage(
        jst_options={"app_secret": JST_SECRET},
        kingdee_options={"account": Account(app_secret=KINGDEE_SECRET, password=KINGDEE_PASSWORD)},
        settings={
            "JST_APP_SECRET": JST_SECRET,
            "KINGDEE_APP_SECRET": KINGDEE_SECRET,
            "KINGDEE_PASSWORD": KINGDEE_PASSWORD,
            "JST_RETRY_ATTEMPTS": "2",
            "KINGDEE_RETRY_ATTEMPTS": "2",
        },
    )


def _secrets(stage: Stage) -> dict[str, str]:
    """Every secret the run held: configured ones, the derived signing key, and the issued tokens."""
    found = {
        "jst app secret": JST_SECRET,
        "kingdee app secret": KINGDEE_SECRET,
        "kingdee password": KINGDEE_PASSWORD,
        "kingdee client secret": decode_client_secret(KingdeeSettings().app_id),
    }
    token_file = stage.state / "jushuitan_token.json"
    if token_file.exists():
        token = json.loads(token_file.read_text())
        found |= {"jst access token": token["access_token"], "jst refresh token": token["refresh_token"]}
    return found


def _prefect_texts() -> Iterator[tuple[str, str]]:
    with get_client(sync_client=True) as client:
        offset = 0
        while logs := client.read_logs(limit=200, offset=offset):
            yield from ((f"prefect log {log.id}", log.message) for log in logs)
            offset += len(logs)
        for artifact in client.read_artifacts():
            yield f"artifact {artifact.key}", f"{artifact.data} {artifact.description}"


def _file_texts(root: Path) -> Iterator[tuple[str, str]]:
    """Reports and state (the ledger included); the token store is where the tokens belong."""
    for path in root.rglob("*"):
        if path.is_file() and path.name != "jushuitan_token.json" and "prefect-home" not in path.parts:
            yield str(path.relative_to(root)), path.read_bytes().decode("utf-8", errors="replace")


def assert_no_secret(stage: Stage, caplog, *errors: BaseException, also: set[str] = frozenset()) -> None:
    secrets = _secrets(stage) | {f"credential header {n}": value for n, value in enumerate(also) if len(value) > 8}
    texts = [("caplog", caplog.text), *((f"log {r.name}", r.getMessage()) for r in caplog.records)]
    texts += [(f"exception {type(e).__name__}", "".join(traceback.format_exception(e)) + repr(e)) for e in errors]
    texts += [*_prefect_texts(), *_file_texts(stage.root)]
    leaks = [(where, name) for where, text in texts for name, secret in secrets.items() if secret in text]
    assert not leaks, leaks
    assert len(texts) > 20  # the check looked at real output


def _window(stage: Stage) -> dict:
    return {"since": stage.world.start - dt.timedelta(days=1), "until": stage.world.end + dt.timedelta(minutes=1)}


@pytest.mark.slow
@pytest.mark.parametrize("auth_mode", ["signature", "app_secret", "password"])
def test_a_full_sync_leaves_no_secret_anywhere(secret_stage, caplog, monkeypatch, auth_mode):
    monkeypatch.setenv("KINGDEE_AUTH_MODE", auth_mode)
    result = sync_all(**_window(secret_stage))
    assert result["outbound"]["written"] > 0 and result["returns"]["written"] > 0  # the secrets worked
    assert result["materials"]["written"] > 0
    assert_no_secret(secret_stage, caplog)


CREDENTIAL_HEADERS = ("cookie", "kdservice-sessionid", "x-kd-signature", "x-api-signature")


class Gateway:
    """A broken gateway that shows the request it could not pass on: credential headers first, then the
    body. It remembers the credential header values it saw (session cookies, signatures): secrets too."""

    def __init__(self, as_business_error: bool) -> None:
        self.as_business_error = as_business_error
        self.seen: set[str] = set()

    def __call__(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        shown = {name: value for name, value in headers.items() if name in CREDENTIAL_HEADERS}
        self.seen |= {part.partition("=")[2] or part for value in shown.values() for part in value.split("; ")}
        echo = f"{json.dumps(shown)} {body.decode()}"
        if self.as_business_error:  # Jushuitan: HTTP 200, code 160, the form echoed in msg
            return 200, json.dumps({"code": 160, "msg": f"参数错误: {echo}", "data": None}).encode()
        return 500, f"upstream error; request was: {echo}".encode()


@pytest.mark.parametrize(
    ("auth_mode", "system", "marker"),
    [
        ("app_secret", "kingdee", "LoginByAppSecret"),
        ("password", "kingdee", "ValidateUser"),
        ("signature", "kingdee", "ExecuteBillQuery"),
        ("app_secret", "kingdee", "BatchSave"),
        ("signature", "jst", OUTBOUND_QUERY),
    ],
)
def test_a_run_failing_on_an_echoed_request_leaks_nothing(secret_stage, caplog, monkeypatch, auth_mode, system, marker):
    monkeypatch.setenv("KINGDEE_AUTH_MODE", auth_mode)
    # Prefect retries the master-data task after 5 and 30 s: keep the retries (more log lines to
    # check), not the waits.
    monkeypatch.setattr(sync, "load_master_data", load_master_data.with_options(retry_delay_seconds=0))
    tap = secret_stage.kingdee_tap if system == "kingdee" else secret_stage.jst_tap
    gateway = Gateway(as_business_error=system == "jst")
    for nth in range(1, 30):  # every such request, retries included, meets the broken gateway
        tap.at(marker, nth, answer=gateway)
    with pytest.raises(Exception) as failure:
        sync_outbound(**_window(secret_stage))
    assert "upstream error" in str(failure.value) or "code 160" in str(failure.value)
    assert "***" in str(failure.value)  # the echo reached the message, with its credentials blanked
    assert_no_secret(secret_stage, caplog, failure.value, also=gateway.seen)


def test_a_wrong_secret_fails_without_showing_it(secret_stage, caplog, monkeypatch):
    monkeypatch.setenv("JST_APP_SECRET", "JSTSECRET-wrong-0000")
    with pytest.raises(Exception) as failure:
        sync_outbound(**_window(secret_stage))
    assert "120" in str(failure.value)  # refused signature
    assert "JSTSECRET-wrong-0000" not in "".join(traceback.format_exception(failure.value)) + caplog.text
    assert_no_secret(secret_stage, caplog, failure.value)


# --- TLS --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def https_server(tmp_path_factory) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate no trust store knows."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"code":0,"msg":"ok","data":{"datas":[]}}'})

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(folder / "cert.pem"),
        ssl_keyfile=str(folder / "key.pem"),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"https://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_tls_verification_is_on_by_default():
    assert JushuitanSettings().verify_tls is True and KingdeeSettings().verify_tls is True


def test_the_jushuitan_client_refuses_an_unverified_certificate(https_server, tmp_path):
    def client(**overrides) -> JushuitanClient:
        return JushuitanClient(
            JushuitanSettings(
                base_url=https_server,
                access_token="t",
                token_store_path=tmp_path / "token.json",
                retry_attempts=1,
                **overrides,
            )
        )

    with client() as jst, pytest.raises(JushuitanTransportError, match="CERTIFICATE_VERIFY_FAILED"):
        list(jst.shops())
    with client(verify_tls=False) as jst:  # the same server answers once verification is off
        assert list(jst.shops()) == []


def test_the_kingdee_client_refuses_an_unverified_certificate(https_server):
    def query(**overrides) -> None:
        settings = KingdeeSettings(server_url=f"{https_server}/k3cloud", retry_attempts=1, **overrides)
        with KingdeeClient(settings) as kingdee:
            kingdee.existing_bill_numbers("SAL_OUTSTOCK", ["1"])

    with pytest.raises(KingdeeTransportError, match="cannot connect"):  # the TLS handshake is refused
        query()
    with pytest.raises(KingdeeTransportError, match="not a list of rows"):  # verification off: it gets through
        query(verify_tls=False)
