"""Kingdee's own Python SDK (`k3cloud_webapi_sdk`, unmodified) against the emulator over real HTTP.

If the real client cannot talk to the emulator, the emulator is wrong, whatever our own client says.
"""

from __future__ import annotations

import json

import httpx
from k3cloud_webapi_sdk.main import K3CloudApiSdk

from sandbox import credentials
from sandbox.data import SandboxWorld
from sandbox.server import BackgroundServer


def official_sdk(server: BackgroundServer, app_secret: str = credentials.KINGDEE_APP_SECRET) -> K3CloudApiSdk:
    url = f"{server.url}/k3cloud"
    sdk = K3CloudApiSdk(url, timeout=10)
    sdk.InitConfig(credentials.KINGDEE_ACCT_ID, credentials.KINGDEE_USERNAME, credentials.KINGDEE_APP_ID,
                   app_secret, server_url=url, lcid=credentials.KINGDEE_LCID)  # fmt: skip
    return sdk


def outstock(bill_no: str, material: dict, stock: str, customer: str, qty: int) -> dict:
    line = {"FMaterialID": {"FNumber": material["FNumber"]}, "FUnitID": {"FNumber": material["FBaseUnitId.FNumber"]},
            "FRealQty": qty, "FTaxPrice": 12.5, "FStockID": {"FNumber": stock}}  # fmt: skip
    if material["FIsBatchManage"]:
        line["FLot"] = {"FNumber": "0"}
    return {
        "FID": 0,
        "FBillTypeID": {"FNUMBER": "XSCKD01_SYS"},
        "FBillNo": bill_no,
        "FDate": "2025-11-02 10:30:00",
        "FSaleOrgId": {"FNumber": "100"},
        "FStockOrgId": {"FNumber": "100"},
        "FCustomerID": {"FNumber": customer},
        "SubHeadEntity": {"FSettleCurrID": {"FNumber": "PRE001"}},
        "FEntity": [line],
    }


def test_sdk_queries_materials_saves_two_outbound_bills_and_reads_them_back(
    world: SandboxWorld, kingdee_server: BackgroundServer
) -> None:
    sdk = official_sdk(kingdee_server)
    materials = json.loads(sdk.ExecuteBillQuery({
        "FormId": "BD_MATERIAL", "FieldKeys": "FNumber,FBaseUnitId.FNumber,FIsBatchManage",
        "FilterString": "FDocumentStatus='C' AND F_PAEZ_SellOnline='1'", "OrderString": "FNumber ASC",
        "TopRowCount": 0, "StartRow": 0, "Limit": 2000, "SubSystemId": "",
    }))  # fmt: skip
    expected = sorted(
        m["FNumber"] for m in world.kingdee["BD_MATERIAL"] if m["FDocumentStatus"] == "C" and m["F_PAEZ_SellOnline"]
    )
    assert [row[0] for row in materials] == expected
    by_lot = {bool(row[2]): {"FNumber": row[0], "FBaseUnitId.FNumber": row[1], "FIsBatchManage": row[2]}
              for row in materials}  # fmt: skip
    stock = world.kingdee["BD_STOCK"][0]["FNumber"]
    customer = world.kingdee["BD_Customer"][0]["FNumber"]

    answer = json.loads(sdk.BatchSave("SAL_OUTSTOCK", {
        "NeedUpDateFields": [], "NeedReturnFields": [], "IsDeleteEntry": "true", "SubSystemId": "",
        "IsVerifyBaseDataField": "true", "IsEntryBatchFill": "true", "ValidateFlag": "true", "NumberSearch": "true",
        "InterationFlags": "", "IsAutoSubmitAndAudit": "false", "BatchCount": 2,
        "Model": [outstock("30000001", by_lot[True], stock, customer, 2),
                  outstock("30000002", by_lot[False], stock, customer, 5)],
    }))  # fmt: skip
    status = answer["Result"]["ResponseStatus"]
    assert status["IsSuccess"] is True, status["Errors"]
    assert [(s["Number"], s["DIndex"]) for s in status["SuccessEntitys"]] == [("30000001", 0), ("30000002", 1)]

    rows = json.loads(sdk.ExecuteBillQuery({
        "FormId": "SAL_OUTSTOCK", "FieldKeys": "FBillNo,FDocumentStatus,FCustomerID.FNumber,FMaterialID.FNumber,"
        "FRealQty,FLot.FNumber", "FilterString": "FBillNo IN ('30000001','30000002')", "OrderString": "FBillNo",
    }))  # fmt: skip
    assert rows == [
        ["30000001", "A", customer, by_lot[True]["FNumber"], 2, "0"],
        ["30000002", "A", customer, by_lot[False]["FNumber"], 5, None],
    ]
    # the SDK replays the session cookie it was given, so the three calls shared one session
    assert httpx.get(kingdee_server.url + "/__admin/stats").json()["sessions_created"] == 1


def test_sdk_with_a_wrong_app_secret_gets_session_lost(kingdee_server: BackgroundServer) -> None:
    answer = json.loads(official_sdk(kingdee_server, app_secret="not-the-app-secret").ExecuteBillQuery(
        {"FormId": "BD_MATERIAL", "FieldKeys": "FNumber"}
    ))  # fmt: skip
    assert answer[0][0]["Result"]["ResponseStatus"]["MsgCode"] == 1


def test_sdk_lists_data_centres(kingdee_server: BackgroundServer) -> None:
    centres = json.loads(official_sdk(kingdee_server).GetDataCenters())
    assert credentials.KINGDEE_ACCT_ID in [centre["Id"] for centre in centres]
