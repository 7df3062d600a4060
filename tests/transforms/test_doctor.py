"""The doctor's decisions on tiny inputs: field keys derived from the bill models, missing and unsent
must-input keys, clock skew, Jushuitan auth answers, outbound statuses and the exit code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from transforms import doctor
from transforms.mappings import SchemeConfig

CONFIG = SchemeConfig()


def tenant(*keys: str, must: tuple[str, ...] = ()) -> pl.DataFrame:
    return pl.DataFrame({"key": [*keys, *must], "must_input": [False] * len(keys) + [True] * len(must)})


def test_the_keys_come_from_the_bill_models_with_the_configured_custom_fields() -> None:
    used = doctor.field_keys_used(SchemeConfig(online_order_field="F_XY_Order", sell_online_field="F_XY_Web"))
    assert {"FCustomerID", "F_XY_Order", "FSettleCurrID", "FMaterialID", "FLot"} <= used["SAL_OUTSTOCK"]
    assert {"FRetcustId", "FReturnType", "FHeadNote"} <= used["SAL_RETURNSTOCK"]
    assert {"FBaseUnitId", "F_XY_Web"} <= used["BD_MATERIAL"]
    assert "SubHeadEntity" not in used["SAL_OUTSTOCK"] and "FEntity" not in used["SAL_OUTSTOCK"]


def test_a_missing_custom_key_fails_naming_its_setting_case_insensitively() -> None:
    used = {"FBillNo", CONFIG.online_order_field}
    assert (
        doctor.fields_on_tenant("SAL_OUTSTOCK", used, tenant("fbillno", "f_paez_onlineorderno"), CONFIG)["status"]
        == doctor.PASS
    )
    failed = doctor.fields_on_tenant("SAL_OUTSTOCK", used, tenant("FBillNo"), CONFIG)
    assert failed["status"] == doctor.FAIL
    assert CONFIG.online_order_field in failed["detail"] and "SYNC_ONLINE_ORDER_FIELD" in failed["fix"]


def test_must_input_fields_a_bill_leaves_out_are_a_warning_on_bill_forms_only() -> None:
    table = tenant("FBillNo", must=("F_XY_Region",))
    assert doctor.fields_on_tenant("SAL_OUTSTOCK", {"FBillNo"}, table, CONFIG)["status"] == doctor.WARN
    assert doctor.fields_on_tenant("BD_MATERIAL", {"FBillNo"}, table, CONFIG)["status"] == doctor.PASS


def test_clock_skew_passes_warns_and_fails_by_the_ten_minute_window() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert doctor.clock_skew(now - timedelta(seconds=5), now, False)["status"] == doctor.PASS
    assert doctor.clock_skew(now - timedelta(seconds=120), now, False)["status"] == doctor.WARN
    assert doctor.clock_skew(now + timedelta(seconds=700), now, False)["status"] == doctor.FAIL
    assert doctor.clock_skew(now, now, True)["status"] == doctor.FAIL
    assert doctor.clock_skew(None, now, False)["status"] == doctor.WARN


def test_jushuitan_auth_names_the_fix_for_each_refusal() -> None:
    assert "JST_APP_SECRET" in doctor.jushuitan_auth(120, "验证失败!无效签名", None)["fix"]
    assert doctor.jushuitan_auth(None, None, 20 * 86400)["status"] == doctor.PASS
    assert doctor.jushuitan_auth(None, None, None)["status"] == doctor.WARN


def test_unknown_outbound_statuses_warn_and_the_exit_code_follows_fails() -> None:
    seen = pl.Series(["Confirmed", "Archive", "Cancelled", "OuterConfirming"])
    warned = doctor.outbound_statuses(seen, CONFIG)
    assert warned["status"] == doctor.WARN and "OuterConfirming" in warned["fix"]
    assert doctor.outbound_statuses(seen.head(3), CONFIG)["status"] == doctor.PASS
    rows = doctor.table([doctor.row("a", doctor.PASS, ""), doctor.row("b", doctor.WARN, "")])
    assert doctor.exit_code(rows) == 0
    assert doctor.exit_code(pl.concat([rows, doctor.table([doctor.row("c", doctor.FAIL, "")])])) == 1


def test_after_sales_routes_warn_on_a_quiet_shop_unless_the_qimen_route_has_none_either() -> None:
    shops = pl.DataFrame({"id": ["1", "2", "3"], "name": ["天猫店", "京东店", "抖音店"]})
    outbound = pl.DataFrame({"shop_id": [1, 2, 3, 3], "io_id": [10, 11, 12, 13]})
    refunds = pl.DataFrame({"shop_id": [3], "as_id": [20]}, schema={"shop_id": pl.Int64, "as_id": pl.Int64})
    assert doctor.quiet_shops(outbound, refunds) == ["1", "2"]
    rows = {r["check"]: r for r in doctor.after_sales_routes(shops, outbound, refunds, [], {"1": 4, "2": 0}, 7)}
    assert rows["after-sales route, shop 1 天猫店"]["status"] == doctor.WARN
    assert "the Qimen route returns 4" in rows["after-sales route, shop 1 天猫店"]["detail"]
    assert "JST_QIMEN_SHOP_IDS" in rows["after-sales route, shop 1 天猫店"]["fix"]
    assert rows["after-sales route, shop 2 京东店"]["status"] == doctor.PASS
    assert rows["after-sales route, shop 3 抖音店"]["detail"].endswith("1 after-sales, 2 outbound in 7 days")
    unasked = doctor.after_sales_routes(shops, outbound, refunds, [1], {}, 7)
    assert [r["status"] for r in unasked] == [doctor.WARN, doctor.WARN, doctor.PASS]
    assert unasked[0]["detail"].startswith("Qimen ") and "Qimen authorisation" in unasked[0]["fix"]


def test_owner_type_bill_type_row_cap_key_case_and_main_warehouse_decisions() -> None:
    assert doctor.owner_type("SAL_OUTSTOCK", "BD_OwnerOrg", pl.Series([], dtype=pl.String))["status"] == doctor.PASS
    assert doctor.owner_type("SAL_OUTSTOCK", "BD_OwnerOrg", pl.Series(["BD_OwnerOrg"]))["status"] == doctor.PASS
    assert doctor.owner_type("SAL_OUTSTOCK", "BD_OwnerOrg", pl.Series(["BD_Supplier"]))["status"] == doctor.WARN
    assert doctor.bill_type("SAL_OUTSTOCK", "XSCKD01_SYS", ["SAL_OUTSTOCK"])["status"] == doctor.PASS
    assert doctor.bill_type("SAL_OUTSTOCK", "XSCKD01_SYS", ["SAL_RETURNSTOCK"])["status"] == doctor.FAIL
    assert doctor.bill_type("SAL_OUTSTOCK", "XSCKD01_SYS", [])["status"] == doctor.FAIL
    assert doctor.query_row_cap(2000, 500, 0)["status"] == doctor.PASS
    assert doctor.query_row_cap(2000, 2000, 0)["status"] == doctor.PASS
    assert doctor.query_row_cap(2000, 1000, 3)["status"] == doctor.FAIL
    assert doctor.key_case("SAL_OUTSTOCK", 40, None)["status"] == doctor.PASS
    assert doctor.key_case("SAL_OUTSTOCK", 40, "FCustomerID 不存在")["status"] == doctor.FAIL
    assert doctor.main_warehouse([10001, 10002], [10001, 10002], 10012345)["status"] == doctor.PASS
    assert doctor.main_warehouse([0, 10001], [10001], 10012345)["status"] == doctor.FAIL
    assert doctor.main_warehouse([10012345], [10012345], 10012345)["status"] == doctor.PASS
