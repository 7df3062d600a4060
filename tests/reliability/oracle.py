"""What Kingdee must hold once the syncs have converged, computed from the Jushuitan data alone.

Extends the independent reading of SCHEME.md in tests/flows/oracle.py from "which documents" to "which
bill, field by field", and compares it with the bills the Kingdee emulator stores:
lost (expected, not stored), duplicated (a number stored twice, or a save the emulator refused as an
existing number), mismatched (stored with a field different from the expectation, or not expected at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.flows.oracle import Scheme, _date

OUTBOUND_FORM = "SAL_OUTSTOCK"
RETURNS_FORM = "SAL_RETURNSTOCK"
ORG = {"FNumber": "100"}


def _text(value) -> str | None:
    return None if value is None else str(value)


def _ref(value) -> str | None:
    return value.get("FNumber") if isinstance(value, dict) else None


class BillOracle(Scheme):
    """The expected bills, projected onto the fields SCHEME.md §4/§5 define."""

    def _lot(self, sku_id: str) -> str | None:
        return "0" if self.materials[sku_id]["FIsBatchManage"] else None

    def outbound_bill(self, doc: dict) -> dict:
        stock = self.warehouses[str(doc["wms_co_id"])]["stock_number"]
        so_id = _text(doc.get("so_id"))
        return {
            "FBillNo": str(doc["io_id"]),
            "FDate": _date(doc["io_date"]),
            "orgs": [ORG, ORG, ORG],
            "customer": self.shops[str(doc["shop_id"])]["customer_number"],
            "currency": "PRE001",
            "carriage": _text(doc.get("l_id")),
            "online_order": so_id,
            "note": "聚水潭" + (so_id or ""),
            "lines": [
                (
                    line["sku_id"],
                    self.materials[line["sku_id"]]["FBaseUnitId.FNumber"],
                    float(line["qty"]),
                    float(line["sale_price"]),
                    stock,
                    self._lot(line["sku_id"]),
                )
                for line in doc["items"]
            ],
        }

    def return_bill(self, refund: dict) -> dict:
        stock = self.warehouses[str(refund["wms_co_id"])]["stock_number"]
        return {
            "FBillNo": str(refund["as_id"]),
            "FDate": self.return_date(refund),
            "orgs": [ORG, ORG, ORG],
            "customer": self.shops[str(refund["shop_id"])]["customer_number"],
            "currency": "PRE001",
            "lines": [
                (
                    line["sku_id"],
                    self.materials[line["sku_id"]]["FBaseUnitId.FNumber"],
                    float(line["r_qty"]),
                    float(line["qty"]),
                    float(line["price"]),
                    stock,
                    "0" if self.return_lot(line["i_id"]) == "0" else None,
                )
                for line in self.returned_lines(refund)
            ],
        }

    def expected(self, form: str) -> dict[str, dict]:
        if form == OUTBOUND_FORM:
            return {number: self.outbound_bill(doc) for number, doc in self.outbound_bookable().items()}
        return {number: self.return_bill(refund) for number, refund in self.returns_bookable().items()}


def stored_outbound(bill: dict) -> dict:
    """A stored SAL_OUTSTOCK bill, projected like `BillOracle.outbound_bill`."""
    return {
        "FBillNo": bill.get("FBillNo"),
        "FDate": bill.get("FDate"),
        "orgs": [bill.get("FSaleOrgId"), bill.get("FStockOrgId"), bill.get("FOwnerIdHead")],
        "customer": _ref(bill.get("FCustomerID")),
        "currency": _ref((bill.get("SubHeadEntity") or {}).get("FSettleCurrID")),
        "carriage": bill.get("FCarriageNO"),
        "online_order": bill.get("F_PAEZ_OnlineOrderNo"),
        "note": bill.get("FNote"),
        "lines": [
            (
                _ref(entry.get("FMaterialID")),
                _ref(entry.get("FUnitID")),
                entry.get("FRealQty"),
                entry.get("FTaxPrice"),
                _ref(entry.get("FStockID")),
                _ref(entry.get("FLot")),
            )
            for entry in bill.get("FEntity") or []
        ],
    }


def stored_return(bill: dict) -> dict:
    return {
        "FBillNo": bill.get("FBillNo"),
        "FDate": bill.get("FDate"),
        "orgs": [bill.get("FSaleOrgId"), bill.get("FStockOrgId"), bill.get("FOwnerIdHead")],
        "customer": _ref(bill.get("FRetcustId")),
        "currency": _ref((bill.get("SubHeadEntity") or {}).get("FSettleCurrId")),
        "lines": [
            (
                _ref(entry.get("FMaterialId")),
                _ref(entry.get("FUnitID")),
                entry.get("FRealQty"),
                entry.get("FMustQty"),
                entry.get("FTaxPrice"),
                _ref(entry.get("FStockId")),
                _ref(entry.get("FLot")),
            )
            for entry in bill.get("FEntity") or []
        ],
    }


PROJECTIONS = {OUTBOUND_FORM: stored_outbound, RETURNS_FORM: stored_return}


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    mismatched: dict[str, str] = field(default_factory=dict)  # number -> what differs

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.mismatched)

    def __str__(self) -> str:
        return (
            f"lost={len(self.lost)} {self.lost[:5]} duplicated={len(self.duplicated)} {self.duplicated[:5]} "
            f"mismatched={len(self.mismatched)} {dict(list(self.mismatched.items())[:3])}"
        )


def compare(
    expected: dict[str, dict], stored: list[dict], form: str, duplicate_rejections: int = 0, *, partial: bool = False
) -> Verdict:
    """Stored bills against the expectation. `partial`: a run was cut short, so missing bills are not
    lost yet — but whatever is stored must already be exact and unique."""
    verdict = Verdict()
    seen: set[str] = set()
    for bill in stored:
        number = str(bill.get("FBillNo"))
        if number in seen:
            verdict.duplicated.append(number)
            continue
        seen.add(number)
        if number not in expected:
            verdict.mismatched[number] = "stored but not expected"
            continue
        actual = PROJECTIONS[form](bill)
        differences = [key for key, value in expected[number].items() if actual.get(key) != value]
        if differences:
            verdict.mismatched[number] = ", ".join(
                f"{key}: {actual.get(key)!r} != {expected[number][key]!r}" for key in differences
            )
    verdict.duplicated += ["(refused as existing number)"] * duplicate_rejections
    if not partial:
        verdict.lost = sorted(set(expected) - seen)
    return verdict
