"""QueryBusinessInfo: the field keys of SAL_OUTSTOCK, SAL_RETURNSTOCK and BD_MATERIAL as a tenant answers
them (KINGDEE_API_NOTES.md: Keys, MustInput), and `POST /__admin/metadata` to drop a field, so the doctor's
"field missing on the tenant" can be tested. Keys are answered lower-cased: the emulator keeps them so, and
Kingdee matches keys case-insensitively (docs/wire_facts.md, QueryBusinessInfo)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.kingdee.forms import BILL_FORMS, BaseForm
from sandbox.kingdee.store import root_key
from sandbox.kingdee.wire import ServiceError, get_key, response_status

# The tenant custom fields the sandbox tenant has (the product's SYNC_*_FIELD defaults): a real tenant names
# its own F_<prefix>_<name>.
CUSTOM_FIELDS = {
    "SAL_OUTSTOCK": ("F_PAEZ_OnlineOrderNo",),
    "SAL_RETURNSTOCK": (),
    "BD_MATERIAL": ("F_PAEZ_SellOnline",),
}
FORM_NAMES = {"SAL_OUTSTOCK": "销售出库单", "SAL_RETURNSTOCK": "销售退货单", "BD_MATERIAL": "物料"}
# Must-input fields the sandbox knows of (what a save fails without).
MUST_INPUT = frozenset({"fbilltypeid", "fdate", "fsaleorgid", "fstockorgid", "fcustomerid", "fretcustid", "fnumber"})


class Metadata:
    """The forms' field keys by entity, less the fields an admin call dropped."""

    def __init__(self, base: dict[str, BaseForm]) -> None:
        self._base = base
        self.dropped: defaultdict[str, set[str]] = defaultdict(set)  # FormId -> lower-cased keys

    def entities(self, form_id: str) -> dict[str, list[str]]:
        bill = BILL_FORMS.get(form_id.lower())
        custom = [key.lower() for key in CUSTOM_FIELDS.get(form_id, ())]
        if bill is not None:
            header, entry = sorted(bill.header_fields | set(custom)), sorted(bill.entry_fields)
            found = {"FBillHead": header, "FEntity": entry}
        elif form_id == "BD_MATERIAL" and "bd_material" in self._base:
            rows = self._base["bd_material"].rows
            found = {"FBillHead": sorted({root_key(key) for row in rows for key in row} | set(custom))}
        else:
            raise ServiceError(4, f"标识为“{form_id}”的业务对象不存在，或者被删除")
        dropped = self.dropped[form_id]
        return {entity: [key for key in keys if key not in dropped] for entity, keys in found.items()}

    def business_info(self, data: dict) -> dict:
        form_id = str(get_key(data, "FormId") or "")
        form_id = next((name for name in FORM_NAMES if name.lower() == form_id.lower()), form_id)
        entrys = [
            {
                "Key": entity,
                "Fields": [{"Key": key, "Name": [], "MustInput": int(key in MUST_INPUT)} for key in keys],
            }
            for entity, keys in self.entities(form_id).items()
        ]
        info = {"Id": form_id, "Name": [{"Key": 2052, "Value": FORM_NAMES.get(form_id, form_id)}], "Entrys": entrys}
        return {"Result": {"ResponseStatus": response_status([], [], 0), "NeedReturnData": info}}

    def routes(self) -> list[Route]:
        async def drop(request: Request) -> Response:
            """`{"FormId": [keys]}`: those keys are gone from QueryBusinessInfo's answer from now on."""
            try:
                body: Any = json.loads(await request.body() or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict) or not all(isinstance(keys, list) for keys in body.values()):
                return JSONResponse({"error": 'expected {"FormId": ["FKey", ...]}'}, status_code=400)
            for form_id, keys in body.items():
                self.dropped[form_id].update(str(key).lower() for key in keys)
            return JSONResponse({form: sorted(keys) for form, keys in self.dropped.items()})

        return [Route("/__admin/metadata/drop", drop, methods=["POST"])]
