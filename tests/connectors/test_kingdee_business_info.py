"""KingdeeClient.query_business_info against the Kingdee emulator over real sockets on 127.0.0.1: a form's
field keys as the tenant answers them, the admin knob that drops one, and an unknown form's error."""

from __future__ import annotations

import httpx
import pytest

from connectors.kingdee import KingdeeBusinessError, KingdeeClient
from sandbox.server import BackgroundServer
from tests.connectors.test_kingdee_sandbox import settings_for


def keys(client: KingdeeClient, form_id: str) -> set[str]:
    return {key.lower() for key in client.query_business_info(form_id)["key"]}


def test_the_bill_forms_list_their_keys_and_the_custom_ones(kingdee_server: BackgroundServer) -> None:
    with KingdeeClient(settings_for(kingdee_server)) as client:
        outstock = client.query_business_info("SAL_OUTSTOCK")
        assert {"fbillno", "fcustomerid", "fcarriageno", "f_paez_onlineorderno", "fmaterialid"} <= set(outstock["key"])
        assert outstock.filter(outstock["key"] == "fdate")["must_input"].item() is True
        assert {"fretcustid", "freturntype", "fheadnote"} <= keys(client, "SAL_RETURNSTOCK")
        assert {"fnumber", "fbaseunitid", "f_paez_sellonline"} <= keys(client, "BD_MATERIAL")


def test_a_dropped_field_is_gone_from_the_answer_and_nothing_is_written(kingdee_server: BackgroundServer) -> None:
    httpx.post(f"{kingdee_server.url}/__admin/metadata/drop", json={"BD_MATERIAL": ["F_PAEZ_SellOnline"]})
    with KingdeeClient(settings_for(kingdee_server)) as client:
        assert "f_paez_sellonline" not in keys(client, "BD_MATERIAL")
        assert "f_paez_onlineorderno" in keys(client, "SAL_OUTSTOCK")
    stats = httpx.get(f"{kingdee_server.url}/__admin/stats").json()
    assert stats["calls"]["QueryBusinessInfo"] == 2
    assert stats["writes"] == 0


def test_an_unknown_form_is_a_business_error(kingdee_server: BackgroundServer) -> None:
    with KingdeeClient(settings_for(kingdee_server)) as client, pytest.raises(KingdeeBusinessError, match="MsgCode 4"):
        client.query_business_info("STK_OutStock")
