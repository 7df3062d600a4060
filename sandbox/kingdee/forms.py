"""What the emulator knows of Kingdee's forms: the two bill forms (keys, labels, bill types), the
base-data forms the sync references, and which reference field points into which of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUS_NAMES = {"Z": "暂存", "A": "创建", "B": "审核中", "C": "已审核", "D": "重新审核"}


# reference field (lower-cased, same on both bill forms) -> the base-data form it points into
REFERENCES = {
    **dict.fromkeys(
        [
            "fcustomerid",
            "fretcustid",
            "freceiverid",
            "fsettleid",
            "fpayerid",
            "freceivecustid",
            "fsettlecustid",
            "fpaycustid",
        ],
        "BD_Customer",
    ),
    "fmaterialid": "BD_MATERIAL",
    **dict.fromkeys(["funitid", "fsalunitid", "fpriceunitid", "fbaseunitid"], "BD_UNIT"),
    "fstockid": "BD_STOCK",
    **dict.fromkeys(["fsaleorgid", "fstockorgid", "fowneridhead", "fownerid", "fsettleorgid"], "ORG_Organizations"),
    **dict.fromkeys(["fsettlecurrid", "flocalcurrid"], "BD_Currency"),
}
# the primary-key field key of each base-data form, answered for a bare reference key such as FCustomerID
BASE_IDS = {
    "bd_material": "fmaterialid",
    "bd_customer": "fcustid",
    "bd_stock": "fstockid",
    "bd_unit": "funitid",
    "org_organizations": "forgid",
    "bd_currency": "fcurrencyid",
    "bos_billtype": "fbilltypeid",
}


def _lower_set(keys: str) -> frozenset[str]:
    return frozenset(keys.lower().split())


@dataclass(frozen=True)
class BillForm:
    """What the emulator knows of one bill form: its keys, labels and required references."""

    form_id: str
    number_prefix: str
    bill_types: frozenset[str]
    stock_org_label: str
    customer_key: str
    customer_label: str
    currency_key: str
    material_key: str
    stock_key: str
    qty_label: str
    header_fields: frozenset[str]
    entry_fields: frozenset[str]


_COMMON_HEADER = (
    "FID FBillNo FDocumentStatus FBillTypeID FDate FSaleOrgId FStockOrgId FOwnerTypeIdHead FOwnerIdHead "
    "FCreateDate FModifyDate FApproveDate FSettleOrgId FLocalCurrId FExchangeTypeId FExchangeRate"
)
_COMMON_ENTRY = (
    "FEntity_FEntryID FRowType FMaterialId FUnitID FSalUnitID FPriceUnitId FRealQty FMustQty FTaxPrice "
    "FPrice FEntryTaxRate FAllAmount FAmount FIsFree FOwnerTypeId FOwnerId FStockId FStockStatusId FLot"
)

BILL_FORMS = {
    form.form_id.lower(): form
    for form in (
        BillForm(
            form_id="SAL_OUTSTOCK",
            number_prefix="XSCKD",
            bill_types=frozenset({"XSCKD01_SYS"}),
            stock_org_label="发货组织",
            customer_key="FCustomerID",
            customer_label="客户",
            currency_key="FSettleCurrID",
            material_key="FMaterialID",
            stock_key="FStockID",
            qty_label="实发数量",
            header_fields=_lower_set(
                f"{_COMMON_HEADER} FCustomerID FReceiverID FSettleID FPayerID FSaleDeptID "
                "FSalesManID FStockerID FCarriageNO FNote FBussinessType FSettleCurrID "
                "FIsIncludedTax"
            ),
            entry_fields=_lower_set(f"{_COMMON_ENTRY} FEntrynote"),
        ),
        BillForm(
            form_id="SAL_RETURNSTOCK",
            number_prefix="XSTHD",
            bill_types=frozenset({"XSTHD01_SYS", "XSTHD06_SYS"}),
            stock_org_label="库存组织",
            customer_key="FRetcustId",
            customer_label="退货客户",
            currency_key="FSettleCurrId",
            material_key="FMaterialId",
            stock_key="FStockId",
            qty_label="实退数量",
            header_fields=_lower_set(
                f"{_COMMON_HEADER} FRetcustId FReceiveCustId FSettleCustId FPayCustId "
                "FSaledeptid FSalesManId FStockDeptId FStockerId FHeadNote FSettleCurrId"
            ),
            entry_fields=_lower_set(f"{_COMMON_ENTRY} FReturnType FNote FBarcode"),
        ),
    )
}


@dataclass
class BaseForm:
    form_id: str
    rows: list[dict[str, Any]]  # keys lower-cased

    def find(self, number: str, use_org: str = "") -> dict[str, Any] | None:
        """The row with this number, in the bill's organisation when the form is kept per use org."""
        for row in self.rows:
            if str(row.get("fnumber", "")) != number:
                continue
            row_org = row.get("fuseorgid.fnumber")
            if not use_org or row_org in (None, "", use_org):
                return row
        return None


def usable(row: dict[str, Any] | None) -> bool:
    """Audited and enabled: Kingdee treats anything else as absent ("禁用也视为不存在")."""
    return row is not None and row.get("fdocumentstatus", "C") == "C" and row.get("fforbidstatus", "A") == "A"
