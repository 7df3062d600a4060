"""KingdeeClient against the Kingdee emulator over real sockets on 127.0.0.1: signatures, sessions,
paging, batch saves with per-row results, idempotency checks, filter escaping and bill operations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.kingdee import (
    Filter,
    KingdeeAuthError,
    KingdeeClient,
    KingdeeSessionExpired,
    KingdeeTransportError,
)
from connectors.settings import KingdeeSettings
from sandbox import credentials
from sandbox.data import SandboxWorld
from sandbox.server import BackgroundServer

OUTSTOCK = "SAL_OUTSTOCK"


def settings_for(server: BackgroundServer, **overrides: Any) -> KingdeeSettings:
    values: dict[str, Any] = {
        "server_url": server.url + "/k3cloud",
        "acct_id": credentials.KINGDEE_ACCT_ID,
        "username": credentials.KINGDEE_USERNAME,
        "app_id": credentials.KINGDEE_APP_ID,
        "app_secret": SecretStr(credentials.KINGDEE_APP_SECRET),
        "lcid": credentials.KINGDEE_LCID,
        "timeout_seconds": 5.0,
        "retry_attempts": 3,
        "retry_base_seconds": 0.01,
        "retry_cap_seconds": 0.05,
    }
    values.update(overrides)
    return KingdeeSettings(**values)


@pytest.fixture
def client(kingdee_server: BackgroundServer) -> Iterator[KingdeeClient]:
    with KingdeeClient(settings_for(kingdee_server)) as signed:
        yield signed


def admin(server: BackgroundServer, method: str, path: str, payload: Any = None) -> Any:
    response = httpx.request(method, f"{server.url}/__admin/{path}", json=payload, timeout=5)
    response.raise_for_status()
    return response.json()


def usable_materials(world: SandboxWorld) -> list[dict[str, Any]]:
    return sorted(
        (
            row
            for row in world.kingdee["BD_MATERIAL"]
            if row["FDocumentStatus"] == "C" and row["FForbidStatus"] == "A" and row["FUseOrgId.FNumber"] == "100"
        ),
        key=lambda row: row["FNumber"],
    )


def outstock(bill_no: str, material: dict[str, Any], customer: str = "CUST001") -> dict[str, Any]:
    """A minimal valid SAL_OUTSTOCK model (the real mapping lives in transforms/, not here)."""
    line: dict[str, Any] = {
        "FMaterialID": {"FNumber": material["FNumber"]},
        "FUnitID": {"FNumber": material["FBaseUnitId.FNumber"]},
        "FRealQty": 2,
        "FTaxPrice": 9.9,
        "FStockID": {"FNumber": "CK001"},
        "FOwnerTypeID": "BD_OwnerOrg",
        "FOwnerID": {"FNumber": "100"},
    }
    if material["FIsBatchManage"]:
        line["FLot"] = {"FNumber": "0"}
    return {
        "FBillTypeID": {"FNUMBER": "XSCKD01_SYS"},
        "FBillNo": bill_no,
        "FDate": "2025-11-20 10:00:00",
        "FSaleOrgId": {"FNumber": "100"},
        "FStockOrgId": {"FNumber": "100"},
        "FCustomerID": {"FNumber": customer},
        "FOwnerTypeIdHead": "BD_OwnerOrg",
        "FOwnerIdHead": {"FNumber": "100"},
        "SubHeadEntity": {"FSettleCurrID": {"FNumber": "PRE001"}, "FSettleOrgID": {"FNumber": "100"}},
        "FEntity": [line],
    }


def test_signed_query_pages_over_all_materials(
    world: SandboxWorld, kingdee_server: BackgroundServer, client: KingdeeClient
) -> None:
    expected = sorted(row["FNumber"] for row in world.kingdee["BD_MATERIAL"])
    frame = client.execute_bill_query(
        "BD_MATERIAL", ["FMaterialId", "FNumber", "FBaseUnitId.FNumber"], order_by="FNumber ASC", page_size=7
    )
    assert frame["FNumber"].to_list() == expected
    assert frame.columns == ["FMaterialId", "FNumber", "FBaseUnitId.FNumber"]
    pages = -(-len(expected) // 7) + (len(expected) % 7 == 0)
    stats = admin(kingdee_server, "GET", "stats")
    assert stats["calls"]["ExecuteBillQuery"] == pages >= 3
    assert stats["sessions_created"] == 1  # the session cookie of the first answer was sent back


def test_filtered_query_matches_the_world(world: SandboxWorld, client: KingdeeClient) -> None:
    online = Filter.eq("FDocumentStatus", "C") & Filter.eq("FForbidStatus", "A") & Filter.eq("F_PAEZ_SellOnline", True)
    frame = client.execute_bill_query("BD_MATERIAL", ["FNumber"], online, order_by="FNumber")
    expected = sorted(
        row["FNumber"]
        for row in world.kingdee["BD_MATERIAL"]
        if row["FDocumentStatus"] == "C" and row["FForbidStatus"] == "A" and row["F_PAEZ_SellOnline"]
    )
    assert frame["FNumber"].to_list() == expected
    assert 0 < len(expected) < len(world.kingdee["BD_MATERIAL"])


def test_by_number_query_keeps_its_within_condition_on_every_chunk(world: SandboxWorld, client: KingdeeClient) -> None:
    rows = world.kingdee["BD_MATERIAL"]
    online = {row["FNumber"] for row in rows if row["F_PAEZ_SellOnline"]}
    offline = [row["FNumber"] for row in rows if row["FNumber"] not in online][:5]
    numbers = sorted(online)[:5] + offline + ["NO-SUCH-MATERIAL"]
    frame = client.execute_bill_query_by_number(
        "BD_MATERIAL",
        ["FNumber"],
        numbers,
        number_key="FNumber",
        within=Filter.eq("F_PAEZ_SellOnline", True),
        chunk_size=4,
    )
    assert sorted(frame["FNumber"]) == sorted(set(numbers) & online)
    assert frame.height == 5 and offline


@pytest.mark.parametrize("mode", ["app_secret", "password"])
def test_session_mode_relogs_in_after_the_sessions_expire(kingdee_server: BackgroundServer, mode: str) -> None:
    settings = settings_for(kingdee_server, auth_mode=mode, password=SecretStr(credentials.KINGDEE_PASSWORD))
    with KingdeeClient(settings) as client:
        first = client.execute_bill_query("BD_STOCK", ["FNumber"], order_by="FNumber")
        client.execute_bill_query("BD_UNIT", ["FNumber"])
        assert admin(kingdee_server, "GET", "stats")["logins"] == 1
        assert admin(kingdee_server, "POST", "expire_sessions")["expired"] >= 1
        again = client.execute_bill_query("BD_STOCK", ["FNumber"], order_by="FNumber")
    assert again["FNumber"].to_list() == first["FNumber"].to_list() == ["CK001", "CK002", "CK003", "CK099"]
    assert admin(kingdee_server, "GET", "stats")["logins"] == 2


# Logins a real server accepts with a notice: IsSuccessByAPI true, LoginResultType not 1 (an administrator's
# -5; a password-policy notice). The messages are illustrative, the codes from KINGDEE_API_NOTES.md.
LOGIN_NOTICES = [
    {"LoginResultType": -5, "Message": "管理员账号登录，请注意账号安全"},
    {"LoginResultType": 2, "MessageCode": "CheckPasswordPolicy", "Message": "您的密码将在3天后过期，请及时修改"},
]


@pytest.mark.parametrize("notice", LOGIN_NOTICES, ids=["admin-minus-5", "password-policy-2"])
@pytest.mark.parametrize("mode", ["app_secret", "password"])
def test_a_login_accepted_with_a_notice_opens_the_session(
    kingdee_server: BackgroundServer, mode: str, notice: dict[str, Any]
) -> None:
    admin(kingdee_server, "POST", "login_answer", notice)
    settings = settings_for(kingdee_server, auth_mode=mode, password=SecretStr(credentials.KINGDEE_PASSWORD))
    with KingdeeClient(settings) as client:
        stocks = client.execute_bill_query("BD_STOCK", ["FNumber"], order_by="FNumber")
    assert stocks["FNumber"].to_list() == ["CK001", "CK002", "CK003", "CK099"]
    assert admin(kingdee_server, "GET", "stats")["logins"] == 1


@pytest.mark.parametrize("mode", ["app_secret", "password"])
def test_a_refused_login_stays_an_error_whatever_the_notice_setting(
    kingdee_server: BackgroundServer, mode: str
) -> None:
    admin(kingdee_server, "POST", "login_answer", LOGIN_NOTICES[0])
    wrong = {"app_secret": SecretStr("wrong-secret"), "password": SecretStr("wrong-password")}
    with KingdeeClient(settings_for(kingdee_server, auth_mode=mode, **wrong)) as client:
        with pytest.raises(KingdeeAuthError, match="login refused"):
            client.execute_bill_query("BD_UNIT", ["FNumber"])


def test_write_on_an_expired_session_is_not_replayed(world: SandboxWorld, kingdee_server: BackgroundServer) -> None:
    material = usable_materials(world)[0]
    with KingdeeClient(settings_for(kingdee_server, auth_mode="app_secret")) as client:
        client.execute_bill_query("BD_UNIT", ["FNumber"])
        admin(kingdee_server, "POST", "expire_sessions")
        with pytest.raises(KingdeeSessionExpired):
            client.batch_save(OUTSTOCK, [outstock("JST-EXP-1", material)])
        assert admin(kingdee_server, "GET", f"bills/{OUTSTOCK}") == []
        assert client.existing_bill_numbers(OUTSTOCK, ["JST-EXP-1"]) == set()
        assert client.batch_save(OUTSTOCK, [outstock("JST-EXP-1", material)])[0].ok
    assert admin(kingdee_server, "GET", "stats")["logins"] == 2


def test_batch_save_reports_each_bill_and_rejects_duplicates(
    world: SandboxWorld, kingdee_server: BackgroundServer, client: KingdeeClient
) -> None:
    materials = usable_materials(world)
    models = [outstock(f"JST-{i}", materials[i % len(materials)]) for i in range(5)]
    models[2] = outstock("JST-2", materials[0], customer="CUST999")
    results = client.batch_save(OUTSTOCK, models, batch_size=3)
    assert [(r.index, r.bill_no, r.ok) for r in results] == [
        (0, "JST-0", True),
        (1, "JST-1", True),
        (2, "JST-2", False),
        (3, "JST-3", True),
        (4, "JST-4", True),
    ]
    assert any("CUST999" in error for error in results[2].errors)
    assert all(r.fid and r.number == r.bill_no for r in results if r.ok)
    saved = {bill["FBillNo"] for bill in admin(kingdee_server, "GET", f"bills/{OUTSTOCK}")}
    assert saved == {"JST-0", "JST-1", "JST-3", "JST-4"}
    assert admin(kingdee_server, "GET", "stats")["batch_sizes"] == [3, 2]

    again = client.batch_save(OUTSTOCK, [models[0], outstock("JST-5", materials[0])])
    assert [r.ok for r in again] == [False, True]
    assert any("已经存在" in error for error in again[0].errors)
    assert client.existing_bill_numbers(OUTSTOCK, ["JST-0", "JST-2", "JST-5", "JST-9"], chunk_size=2) == {
        "JST-0",
        "JST-5",
    }


def test_preserialized_models_are_saved_as_sent(world: SandboxWorld, client: KingdeeClient) -> None:
    material = usable_materials(world)[0]
    raw = [json.dumps(outstock(f"RAW-{i}", material), ensure_ascii=False).encode() for i in range(2)]
    assert [(r.bill_no, r.ok) for r in client.batch_save(OUTSTOCK, raw)] == [("RAW-0", True), ("RAW-1", True)]


def test_a_quote_in_a_bill_number_finds_exactly_that_bill(world: SandboxWorld, client: KingdeeClient) -> None:
    material = usable_materials(world)[0]
    numbers = ["O'B-1", "O'B-1' or '1'='1", "O", "B-1"]
    assert all(r.ok for r in client.batch_save(OUTSTOCK, [outstock(n, material) for n in numbers]))
    for number in numbers:
        found = client.execute_bill_query(OUTSTOCK, ["FBillNo"], Filter.eq("FBillNo", number))
        assert found["FBillNo"].to_list() == [number]
    assert client.existing_bill_numbers(OUTSTOCK, ["O'B-1", "nothing'"]) == {"O'B-1"}


def test_submit_then_audit_moves_bills_to_audited(world: SandboxWorld, client: KingdeeClient) -> None:
    material = usable_materials(world)[0]
    client.batch_save(OUTSTOCK, [outstock("AUD-1", material), outstock("AUD-2", material)])

    early = client.audit(OUTSTOCK, ["AUD-1"])
    assert not early[0].ok and early[0].errors  # not submitted yet
    assert client.bill_statuses(OUTSTOCK, ["AUD-2", "AUD-404", "AUD-1"]) == {"AUD-1": "A", "AUD-2": "A"}
    submitted = client.submit(OUTSTOCK, ["AUD-1", "AUD-2", "AUD-404"])
    assert [(r.number, r.ok) for r in submitted] == [("AUD-1", True), ("AUD-2", True), ("AUD-404", False)]
    assert all(r.ok for r in client.audit(OUTSTOCK, ["AUD-1", "AUD-2"]))
    status = client.execute_bill_query(OUTSTOCK, ["FBillNo", "FDocumentStatus"], order_by="FBillNo")
    assert status.rows() == [("AUD-1", "C"), ("AUD-2", "C")]
    assert client.bill_statuses(OUTSTOCK, ["AUD-1"]) == {"AUD-1": "C"}


def test_save_answer_lost_after_commit_means_maybe_committed(
    world: SandboxWorld, kingdee_server: BackgroundServer
) -> None:
    material = usable_materials(world)[0]
    admin(kingdee_server, "POST", "save_faults", {"timeout_after_commit_seconds": 1.0})
    with KingdeeClient(settings_for(kingdee_server, timeout_seconds=0.3)) as client:
        with pytest.raises(KingdeeTransportError) as caught:
            client.batch_save(OUTSTOCK, [outstock("LOST-1", material)])
        assert caught.value.maybe_committed
        assert admin(kingdee_server, "GET", "stats")["calls"]["BatchSave"] == 1
        assert client.existing_bill_numbers(OUTSTOCK, ["LOST-1"]) == {"LOST-1"}


def test_call_limits_and_5xx_bursts_are_ridden_out(kingdee_server: BackgroundServer, client: KingdeeClient) -> None:
    admin(kingdee_server, "POST", "save_faults", {"msgcode14_next": 2})
    assert client.execute_bill_query("BD_UNIT", ["FNumber"]).height == 5
    admin(kingdee_server, "POST", "faults", {"burst_5xx": 2})
    assert client.execute_bill_query("BD_UNIT", ["FNumber"]).height == 5
    assert admin(kingdee_server, "GET", "stats")["calls"]["ExecuteBillQuery"] == 4


@pytest.mark.parametrize(
    "overrides",
    [
        {"app_secret": SecretStr("wrong-secret")},
        {"acct_id": "S19990101"},
        {"auth_mode": "password", "password": SecretStr("wrong-password")},
        {"auth_mode": "app_secret", "app_secret": SecretStr("wrong-secret")},
    ],
    ids=["bad-signature", "bad-account", "bad-password", "bad-app-secret"],
)
def test_refused_credentials_raise_auth_errors_without_secrets(
    kingdee_server: BackgroundServer, overrides: dict[str, Any]
) -> None:
    with KingdeeClient(settings_for(kingdee_server, **overrides)) as client:
        with pytest.raises(KingdeeAuthError) as caught:
            client.execute_bill_query("BD_UNIT", ["FNumber"])
    text = str(caught.value)
    for secret in (
        "wrong-secret",
        "wrong-password",
        credentials.KINGDEE_APP_SECRET,
        credentials.KINGDEE_PASSWORD,
    ):
        assert secret not in text
