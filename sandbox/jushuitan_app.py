"""An emulator of the Jushuitan open platform (v2 openapi), written from JUSHUITAN_API.md alone.

It shares no code with `connectors/`: a server that signed, paged or checked limits with the client's own
code would agree with a wrong client. It answers like the platform — HTTP 200 with `{code, msg, data}`
for business errors too — and checks in the documented order, so a client's handling of every failure
(bad sign, stale timestamp, expired token, rate limits, bad parameters) can be tested over real sockets.

Admin endpoints under `/__admin` (JSON, no auth) let tests change the world and read what clients did:
`GET stats`, `POST limits`, `POST expire_tokens`, `GET items`, `POST outbound/{io_id}`,
`POST refunds/{as_id}`, `POST refunds/{as_id}/receive`, `POST records/{kind}`, `POST upload_answer`;
`POST faults` is served by the FaultMiddleware in front. A change moves the document's `modified` to now
(unless given) and gives it a new ts, as on the platform: `POST outbound/{io_id}` with `{"status": "Archive"}`
is how Jushuitan archives (归档) a shipped document.

`upload_answer {"datas": ...}` picks how an item upload lists its rows, since public integrations read two
shapes: `every` (default) lists every SKU with `is_success`; `failures` lists only the refused ones (an empty
list when none was); `absent` does the same but leaves `datas` out when nothing was refused.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import math
import random
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.credentials import JST_APP_KEY, JST_APP_SECRET
from sandbox.data import JST_TIME, SHANGHAI, SandboxWorld, received_record
from sandbox.faults import ADMIN_PREFIX, FaultMiddleware, Faults

SUCCESS = "执行成功"
UPLOAD_ANSWERS = ("every", "failures", "absent")
BUSINESS_PARAMS = ("app_key", "access_token", "timestamp", "charset", "version", "biz", "sign")
INIT_TOKEN_PARAMS = ("app_key", "timestamp", "grant_type", "charset", "code", "sign")
REFRESH_TOKEN_PARAMS = ("app_key", "timestamp", "grant_type", "charset", "refresh_token", "scope", "sign")
MAX_CLOCK_SKEW_SECONDS = 600  # the platform allows ten minutes
MAX_WINDOW = timedelta(days=7)
MAX_ID_LIST = 50
_CACHED_QUERIES = 64


def sign(secret: str, params: Mapping[str, str]) -> str:
    """docId=70: MD5 (lower hex) of the secret, then key+value of every non-empty param except
    `sign`, keys in ascending order."""
    signed = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")
    return hashlib.md5(f"{secret}{signed}".encode()).hexdigest()


def verify_sign(secret: str, params: Mapping[str, str]) -> bool:
    """Whether the request's `sign` is the one the server computes (compared in constant time)."""
    return hmac.compare_digest(params.get("sign", "").encode(), sign(secret, params).encode())


class _Rejected(Exception):
    """A business error: answered as HTTP 200 with this code and message."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


# --- document stores ------------------------------------------------------------------------------


def _id_key(value: Any) -> tuple[int, Any]:
    """Orders ids numerically when they are numbers, and never fails on dirty ids."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


class _Store:
    """One kind of document, kept in ts order (for start_ts queries) with a cache of window queries.

    Rows live in the world's own list, so a test sees every change the emulator makes.
    """

    def __init__(self, rows: list[dict], id_field: str) -> None:
        self.rows = rows
        self.id_field = id_field
        self._by_id = {_id_key(row.get(id_field)): row for row in rows}
        self._ts_rows = sorted(rows, key=lambda row: row["ts"])
        self._ts = [row["ts"] for row in self._ts_rows]
        self._matches: dict[str, list[dict]] = {}

    def get(self, doc_id: Any) -> dict | None:
        return self._by_id.get(_id_key(doc_id))

    def max_ts(self) -> int:
        return self._ts[-1] if self._ts else 0

    def touch(self, row: dict, ts: int) -> None:
        """Give a changed row its new ts (it moves to the end of the ts order)."""
        self._unindex(row)
        row["ts"] = ts
        self._ts.append(ts)
        self._ts_rows.append(row)
        self._matches.clear()

    def put(self, row: dict, ts: int) -> None:
        """Store a row as given; one with the id of a stored row replaces it."""
        old = self._by_id.get(_id_key(row.get(self.id_field)))
        if old is not None:
            self._unindex(old)
            self.rows.remove(old)
        self.rows.append(row)
        self._by_id[_id_key(row.get(self.id_field))] = row
        row["ts"] = ts
        self._ts.append(ts)
        self._ts_rows.append(row)
        self._matches.clear()

    def _unindex(self, row: dict) -> None:
        at = bisect.bisect_left(self._ts, row["ts"])
        while self._ts_rows[at] is not row:  # equal ts only from injected data; scan the run
            at += 1
        del self._ts[at]
        del self._ts_rows[at]

    def matching(self, signature: str, predicate: Callable[[dict], bool]) -> list[dict]:
        """Every row passing `predicate`, in the stable (modified, id) order; cached until a change."""
        found = self._matches.get(signature)
        if found is None:
            found = sorted(
                (row for row in self.rows if predicate(row)),
                key=lambda row: (str(row.get("modified") or ""), _id_key(row.get(self.id_field))),
            )
            if len(self._matches) >= _CACHED_QUERIES:
                self._matches.pop(next(iter(self._matches)))
            self._matches[signature] = found
        return found

    def after_ts(self, start_ts: int, predicate: Callable[[dict], bool], limit: int) -> tuple[list[dict], bool]:
        """Up to `limit` rows with ts > start_ts passing `predicate`, in ts order, and whether more remain."""
        page: list[dict] = []
        for at in range(bisect.bisect_right(self._ts, start_ts), len(self._ts_rows)):
            row = self._ts_rows[at]
            if predicate(row):
                if len(page) == limit:
                    return page, True
                page.append(row)
        return page, False

    def count_after_ts(self, start_ts: int, predicate: Callable[[dict], bool]) -> int:
        start = bisect.bisect_right(self._ts, start_ts)
        return sum(1 for row in self._ts_rows[start:] if predicate(row))


@dataclass(frozen=True)
class _DocumentQuery:
    """What one document query endpoint accepts (JUSHUITAN_API.md §5)."""

    store: str
    id_lists: Mapping[str, str]  # biz key -> record field
    filters: Mapping[str, str]  # biz key -> record field, exact match
    date_types: Mapping[int, str]  # date_type -> the record field the modified_* window applies to
    max_page_size: int = 50
    default_page_size: int = 30


_QUERIES: dict[str, _DocumentQuery] = {
    "/open/orders/out/simple/query": _DocumentQuery(
        store="outbound",
        id_lists={"so_ids": "so_id", "o_ids": "o_id", "io_ids": "io_id"},
        filters={"status": "status", "shop_id": "shop_id", "wms_co_id": "wms_co_id"},
        date_types={0: "modified", 2: "io_date"},
    ),
    "/open/refund/single/query": _DocumentQuery(
        store="refunds",
        id_lists={"so_ids": "so_id", "o_ids": "o_id", "as_ids": "as_id"},
        filters={"status": "status", "shop_id": "shop_id", "good_status": "good_status", "type": "type"},
        date_types={0: "modified"},
    ),
    "/open/aftersale/received/query": _DocumentQuery(
        store="received",
        id_lists={"so_ids": "so_id", "o_ids": "o_id", "as_ids": "as_id", "io_ids": "io_id"},
        filters={"shop_id": "shop_id"},
        # 2 is the order date, which receipts do not carry: their io_date stands in for it (a guess).
        date_types={0: "modified", 1: "created", 2: "io_date", 4: "io_date"},
    ),
}
# Shops: max 100 per the spec; warehouses: the maximum is undocumented, 100 is a guess.
_LISTS: dict[str, tuple[str, int, int]] = {  # path -> (world attribute, default page_size, max page_size)
    "/open/shops/query": ("shops", 100, 100),
    "/open/wms/partner/query": ("warehouses", 30, 100),
}


# --- tokens and limits ----------------------------------------------------------------------------


@dataclass
class _Token:
    label: str  # what stats show instead of the token itself
    expires_at: float
    refresh_expires_at: float


@dataclass
class _Traffic:
    """Sliding-window rate limits per (token, path), and what clients did (for the stats endpoint)."""

    per_second: int
    per_minute: int
    calls: Counter[str] = field(default_factory=Counter)
    rejected: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    _admitted: defaultdict[tuple[str, str], deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _seen: defaultdict[tuple[str, str], deque[float]] = field(default_factory=lambda: defaultdict(deque))
    peak_second: Counter[tuple[str, str]] = field(default_factory=Counter)
    peak_minute: Counter[tuple[str, str]] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)  # per path, injected latency included
    peak_in_flight: Counter[str] = field(default_factory=Counter)

    def admit(self, key: tuple[str, str], now: float) -> None:
        """Count the call, then reject it if the last second or minute is already full."""
        seen = self._seen[key]
        seen.append(now)
        _prune(seen, now - 60)
        self.peak_second[key] = max(self.peak_second[key], _count_since(seen, now - 1))
        self.peak_minute[key] = max(self.peak_minute[key], len(seen))
        admitted = self._admitted[key]
        _prune(admitted, now - 60)
        if _count_since(admitted, now - 1) >= self.per_second:
            raise _Rejected(199, "调用太频繁，请稍后再试（每秒调用次数超过限制）")
        if len(admitted) >= self.per_minute:
            raise _Rejected(200, "调用频次超过限制（每分钟调用次数超过限制）")
        admitted.append(now)


class _InFlight:
    """Outermost layer: counts each path's requests being answered at once, injected latency included, so
    the stats show how many requests a client really had in flight."""

    def __init__(self, app: ASGIApp, traffic: _Traffic) -> None:
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        traffic = self.traffic
        traffic.in_flight[path] += 1
        traffic.peak_in_flight[path] = max(traffic.peak_in_flight[path], traffic.in_flight[path])
        try:
            await self.app(scope, receive, send)
        finally:
            traffic.in_flight[path] -= 1


def _prune(times: deque[float], older_than: float) -> None:
    while times and times[0] <= older_than:
        times.popleft()


def _count_since(times: deque[float], since: float) -> int:
    count = 0
    for moment in reversed(times):
        if moment <= since:
            break
        count += 1
    return count


# --- request parsing ------------------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise _Rejected(130, "传输数据不能为空：请求体不是 UTF-8 表单") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def _require(params: Mapping[str, str], names: tuple[str, ...]) -> None:
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise _Rejected(130, f"传输数据不能为空：缺少参数 {', '.join(missing)}")
    if params["charset"] != "utf-8":
        raise _Rejected(130, "charset 只能传 utf-8")


def _int(biz: Mapping[str, Any], key: str, default: int) -> int:
    value = biz.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _Rejected(140, f"参数 {key} 必须是整数")


def _page(biz: Mapping[str, Any], default_size: int, max_size: int) -> tuple[int, int]:
    page_index = _int(biz, "page_index", 1)
    page_size = _int(biz, "page_size", default_size)
    if page_index < 1:
        raise _Rejected(140, "page_index 必须大于等于1")
    if not 1 <= page_size <= max_size:
        raise _Rejected(140, f"page_size 必须在1到{max_size}之间")
    return page_index, page_size


def _id_list(biz: Mapping[str, Any], key: str) -> list[str]:
    values = biz.get(key)
    if values is None:
        return []
    if not isinstance(values, list):
        raise _Rejected(140, f"参数 {key} 必须是数组")
    if len(values) > MAX_ID_LIST:
        raise _Rejected(140, f"参数 {key} 最多{MAX_ID_LIST}个")
    return [str(value) for value in values]


def _window(biz: Mapping[str, Any]) -> tuple[str, str] | None:
    begin, end = biz.get("modified_begin"), biz.get("modified_end")
    if not begin and not end:
        return None
    if not begin or not end:
        raise _Rejected(140, "modified_begin 和 modified_end 必须同时存在")
    try:
        first = datetime.strptime(str(begin), JST_TIME)
        last = datetime.strptime(str(end), JST_TIME)
    except ValueError:
        raise _Rejected(140, "日期格式错误，应为 yyyy-MM-dd HH:mm:ss") from None
    if last < first:
        raise _Rejected(140, "modified_end 不能早于 modified_begin")
    if last - first > MAX_WINDOW:
        raise _Rejected(140, "查询时间间隔不能超过7天")
    return str(begin), str(end)


def _page_data(page_index: int, page_size: int, total: int, has_next: bool, rows: list[dict]) -> dict:
    return {
        "page_index": page_index,
        "page_size": page_size,
        "data_count": total,
        "page_count": math.ceil(total / page_size),
        "has_next": has_next,
        "datas": rows,
    }


_INVALID = object()  # an admin body that is not JSON at all


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return _INVALID


def _admin_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# --- the emulator ---------------------------------------------------------------------------------


class _Emulator:
    def __init__(
        self,
        world: SandboxWorld,
        *,
        calls_per_second: int,
        calls_per_minute: int,
        token_ttl_seconds: int,
        max_upload_items: int,
        clock: Callable[[], float],
        app_key: str,
        app_secret: str,
    ) -> None:
        self.world = world
        self.clock = clock
        self.app_key = app_key
        self._app_secret = app_secret
        self.token_ttl_seconds = token_ttl_seconds
        self.max_upload_items = max_upload_items
        self.upload_answer = "every"  # one of UPLOAD_ANSWERS
        self.stores = {
            "outbound": _Store(world.outbound, "io_id"),
            "refunds": _Store(world.refunds, "as_id"),
            "received": _Store(world.received, "io_id"),
        }
        self.traffic = _Traffic(calls_per_second, calls_per_minute)
        self._ts = max(
            [store.max_ts() for store in self.stores.values()] + [item.get("ts", 0) for item in world.items.values()],
            default=0,
        )
        self._rng = random.Random(world.seed)
        self._tokens: dict[str, _Token] = {}
        self._refresh_index: dict[str, str] = {}  # refresh_token -> access_token
        self._issued = 0

    def next_ts(self) -> int:
        self._ts += 1
        return self._ts

    def now_text(self) -> str:
        return datetime.fromtimestamp(self.clock(), SHANGHAI).strftime(JST_TIME)

    # --- authentication ---

    def _check_caller(self, params: Mapping[str, str]) -> None:
        """App key, clock skew and signature — the checks every endpoint makes, in this order."""
        if params["app_key"] != self.app_key:
            raise _Rejected(10, "验证失败！无效的app_key")
        try:
            skew = abs(int(params["timestamp"]) - self.clock())
        except ValueError:
            skew = math.inf
        if skew > MAX_CLOCK_SKEW_SECONDS:
            raise _Rejected(180, "timestamp 无效（与服务器时间相差超过10分钟）")
        if not verify_sign(self._app_secret, params):
            raise _Rejected(120, "验证失败!无效签名")

    def _issue_token(self) -> dict:
        access, refresh = (f"{self._rng.getrandbits(128):032x}" for _ in range(2))
        expires_at = self.clock() + self.token_ttl_seconds
        self._issued += 1
        self._tokens[access] = _Token(f"token-{self._issued}", expires_at, expires_at)
        self._refresh_index[refresh] = access
        return {
            "access_token": access,
            "expires_in": self.token_ttl_seconds,
            "refresh_token": refresh,
            "scope": "all",
        }

    def init_token(self, params: dict[str, str]) -> dict:
        _require(params, INIT_TOKEN_PARAMS)
        self._check_caller(params)
        if params["grant_type"] != "authorization_code":
            raise _Rejected(140, "grant_type 只能为 authorization_code")
        if len(params["code"]) != 6:
            raise _Rejected(140, "code 必须是6位随机码")
        return self._issue_token()

    def refresh_token(self, params: dict[str, str]) -> dict:
        _require(params, REFRESH_TOKEN_PARAMS)
        self._check_caller(params)
        if params["grant_type"] != "refresh_token" or params["scope"] != "all":
            raise _Rejected(140, "grant_type 只能为 refresh_token，scope 只能为 all")
        access = self._refresh_index.get(params["refresh_token"])
        token = self._tokens.get(access) if access else None
        if token is None or token.refresh_expires_at < self.clock():
            raise _Rejected(100, "无效的refresh_token或refresh_token已过期")
        del self._tokens[access]  # the old access token and refresh token die with the refresh
        del self._refresh_index[params["refresh_token"]]
        return self._issue_token()

    def expire_tokens(self) -> int:
        """Every access token answers 100 from now on; refresh tokens stay valid, as after a real expiry."""
        for token in self._tokens.values():
            token.expires_at = -math.inf
        return len(self._tokens)

    def authorize(self, params: dict[str, str], path: str) -> dict:
        """Checks for business calls in the platform's order; returns the parsed biz object."""
        _require(params, BUSINESS_PARAMS)
        if params["version"] != "2":
            raise _Rejected(130, "version 只能传 2")
        self._check_caller(params)
        token = self._tokens.get(params["access_token"])
        if token is None or token.expires_at < self.clock():
            raise _Rejected(100, "无效的access_token或access_token已过期")
        try:
            biz = json.loads(params["biz"])
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            raise _Rejected(140, "biz 必须是 JSON 对象")
        self.traffic.admit((token.label, path), self.clock())
        return biz

    # --- business endpoints ---

    def list_page(self, path: str, biz: dict) -> dict:
        attribute, default_size, max_size = _LISTS[path]
        page_index, page_size = _page(biz, default_size, max_size)
        rows: list[dict] = getattr(self.world, attribute)
        shop_ids = _id_list(biz, "shop_ids") if attribute == "shops" else []
        if shop_ids:
            rows = [row for row in rows if str(row["shop_id"]) in shop_ids]
        page = rows[(page_index - 1) * page_size : page_index * page_size]
        return _page_data(page_index, page_size, len(rows), page_index * page_size < len(rows), page)

    def query(self, spec: _DocumentQuery, biz: dict) -> dict:
        page_index, page_size = _page(biz, spec.default_page_size, spec.max_page_size)
        ids = {spec.id_lists[key]: _id_list(biz, key) for key in spec.id_lists}
        ids = {record_field: values for record_field, values in ids.items() if values}
        window = _window(biz)
        date_type = biz.get("date_type", 0)
        if not isinstance(date_type, int) or isinstance(date_type, bool):
            raise _Rejected(130, "date_type 参数类型错误，必须是整数")
        if date_type not in spec.date_types:
            raise _Rejected(140, f"date_type 只能为 {'/'.join(map(str, spec.date_types))}")
        start_ts = biz.get("start_ts")
        if start_ts is not None:
            if isinstance(start_ts, str) and start_ts.isdigit():
                start_ts = int(start_ts)
            if not isinstance(start_ts, int) or isinstance(start_ts, bool):
                raise _Rejected(140, "start_ts 必须是整数")
            if page_index != 1:
                raise _Rejected(140, "使用 start_ts 查询时 page_index 只能为1")
        if window is None and not ids and start_ts is None:
            raise _Rejected(140, "查询条件不能为空：请传入 modified_begin/modified_end、单号列表或 start_ts")
        is_get_total = biz.get("is_get_total", True)
        if not isinstance(is_get_total, bool):
            raise _Rejected(140, "is_get_total 必须是布尔值")

        equals = {spec.filters[key]: str(biz[key]) for key in spec.filters if biz.get(key) not in (None, "")}
        in_lists = {record_field: frozenset(values) for record_field, values in ids.items()}
        window_field = spec.date_types[date_type]

        def predicate(row: dict) -> bool:
            if any(str(row.get(name)) != value for name, value in equals.items()):
                return False
            if any(str(row.get(name)) not in values for name, values in in_lists.items()):
                return False
            if window is not None:
                moment = row.get(window_field)
                return isinstance(moment, str) and window[0] <= moment[:19] <= window[1]
            return True

        store = self.stores[spec.store]
        if start_ts is not None:
            rows, has_next = store.after_ts(start_ts, predicate, page_size)
            total = store.count_after_ts(start_ts, predicate) if is_get_total else 0
            return _page_data(1, page_size, total, has_next, rows)
        signature = json.dumps(
            [equals, sorted((k, sorted(v)) for k, v in in_lists.items()), window, window_field],
            ensure_ascii=False,
        )
        matches = store.matching(signature, predicate)
        page = matches[(page_index - 1) * page_size : page_index * page_size]
        return _page_data(page_index, page_size, len(matches), page_index * page_size < len(matches), page)

    def upload_items(self, biz: dict) -> dict:
        items = biz.get("items")
        if not isinstance(items, list) or not items:
            raise _Rejected(140, "items 不能为空")
        if len(items) > self.max_upload_items:
            raise _Rejected(140, f"items 每次最多上传{self.max_upload_items}个")
        results = []
        for row in items:
            problem = _item_problem(row)
            sku_id = row.get("sku_id") if isinstance(row, dict) else None
            if problem:
                results.append({"sku_id": sku_id, "is_success": False, "msg": problem})
                continue
            now = self.now_text()
            stored = self.world.items.get(sku_id)
            created = stored["created"] if stored else now
            self.world.items[sku_id] = {
                **(stored or {}),
                **row,
                "created": created,
                "modified": now,
                "ts": self.next_ts(),
            }
            results.append({"sku_id": sku_id, "is_success": True, "msg": SUCCESS})
        if self.upload_answer == "every":
            return {"datas": results}
        failures = [row for row in results if not row["is_success"]]
        return {} if self.upload_answer == "absent" and not failures else {"datas": failures}

    # --- admin actions ---

    def update(self, kind: str, doc_id: int, changes: dict) -> dict | None:
        doc = self.stores[kind].get(doc_id)
        if doc is None:
            return None
        doc.update(changes)
        if "modified" not in changes:
            doc["modified"] = self.now_text()
        self.stores[kind].touch(doc, self.next_ts())
        return doc

    def receive(self, refund: dict, r_qty: Mapping[str, int]) -> dict:
        """The goods of an after-sale arrive: the refund is seller-received and a receipt is created."""
        now = self.now_text()
        for line in refund.get("items") or []:
            line["r_qty"] = r_qty.get(str(line.get("asi_id")), line.get("qty"))
            line["receive_date"] = now
        refund["good_status"] = "SELLER_RECEIVED"
        refund["modified"] = now
        self.stores["refunds"].touch(refund, self.next_ts())
        receipts = self.stores["received"]
        io_ids = [doc["io_id"] for doc in receipts.rows if isinstance(doc.get("io_id"), int)]
        line_ids = [
            line["ioi_id"]
            for doc in receipts.rows
            for line in doc.get("items") or []
            if isinstance(line, dict) and isinstance(line.get("ioi_id"), int)
        ]
        record = received_record(
            refund,
            io_id=max(io_ids, default=50_000_000) + 1,
            first_ioi_id=max(line_ids, default=60_000_000) + 1,
            io_date=now,
        )
        receipts.put(record, self.next_ts())
        return record

    def inject(self, kind: str, records: list[dict]) -> list[int]:
        store = self.stores[kind]
        stamps = []
        for record in records:
            stamp = self.next_ts()
            store.put(dict(record), stamp)
            stamps.append(stamp)
        return stamps

    def stats(self) -> dict:
        traffic = self.traffic
        return {
            "limits": {"calls_per_second": traffic.per_second, "calls_per_minute": traffic.per_minute},
            "calls": dict(traffic.calls),
            "rejected": {path: {str(code): n for code, n in codes.items()} for path, codes in traffic.rejected.items()},
            "peaks": [
                {
                    "token": label,
                    "path": path,
                    "max_calls_per_second": traffic.peak_second[(label, path)],
                    "max_calls_per_minute": traffic.peak_minute[(label, path)],
                }
                for label, path in traffic.peak_second
            ],
            "max_in_flight": dict(traffic.peak_in_flight),
        }


def _item_problem(row: Any) -> str | None:
    """Why one uploaded item would be refused, or None (JUSHUITAN_API.md §5.c)."""
    if not isinstance(row, dict):
        return "商品数据必须是对象"
    for key, label in (("sku_id", "商品编码"), ("i_id", "款式编码"), ("name", "商品名称")):
        if row.get(key) in (None, ""):
            return f"{label}({key})不能为空"
    if len(str(row.get("properties_value") or "")) > 100:
        return "颜色及规格(properties_value)不能超过100个字符"
    enabled = row.get("enabled", 1)
    if isinstance(enabled, bool) or enabled not in (1, 0, -1):
        return "是否启用(enabled)只能为 1、0 或 -1"
    return None


def create_app(
    world: SandboxWorld,
    *,
    faults: Faults | None = None,
    calls_per_second: int = 5,
    calls_per_minute: int = 100,
    token_ttl_seconds: int = 30 * 24 * 3600,
    max_upload_items: int = 50,
    clock: Callable[[], float] = time.time,
    app_key: str = JST_APP_KEY,
    app_secret: str = JST_APP_SECRET,
) -> ASGIApp:
    """The Jushuitan emulator serving `world` (which it changes in place), behind fault injection.

    `app_key`/`app_secret` replace the sandbox credentials (secret-leak tests use recognisable ones).
    """
    emulator = _Emulator(
        world,
        calls_per_second=calls_per_second,
        calls_per_minute=calls_per_minute,
        token_ttl_seconds=token_ttl_seconds,
        max_upload_items=max_upload_items,
        clock=clock,
        app_key=app_key,
        app_secret=app_secret,
    )
    traffic = emulator.traffic

    def platform(handler: Callable[[str, dict[str, str]], Any]) -> Callable[[Request], Any]:
        """Wrap a handler in the platform's envelope and keep the per-path statistics."""

        async def endpoint(request: Request) -> JSONResponse:
            path = request.url.path
            traffic.calls[path] += 1
            try:
                data = handler(path, await _form(request))
            except _Rejected as rejected:
                traffic.rejected[path][rejected.code] += 1
                return JSONResponse({"code": rejected.code, "msg": rejected.msg, "data": None})
            return JSONResponse({"code": 0, "msg": SUCCESS, "data": data})

        return endpoint

    def business(handler: Callable[[str, dict], Any]) -> Callable[[Request], Any]:
        return platform(lambda path, params: handler(path, emulator.authorize(params, path)))

    routes = [
        Route("/openWeb/auth/getInitToken", platform(lambda _path, p: emulator.init_token(p)), methods=["POST"]),
        Route(
            "/openWeb/auth/refreshToken",
            platform(lambda _path, p: emulator.refresh_token(p)),
            methods=["POST"],
        ),
        *(Route(path, business(emulator.list_page), methods=["POST"]) for path in _LISTS),
        *(
            Route(path, business(lambda p, biz: emulator.query(_QUERIES[p], biz)), methods=["POST"])
            for path in _QUERIES
        ),
        Route(
            "/open/jushuitan/itemsku/upload",
            business(lambda _path, biz: emulator.upload_items(biz)),
            methods=["POST"],
        ),
    ]

    async def stats(_request: Request) -> JSONResponse:
        return JSONResponse(emulator.stats())

    async def limits(request: Request) -> JSONResponse:
        body = _json_body(await request.body())
        if not isinstance(body, dict) or not all(
            isinstance(body.get(key, 1), int) and body.get(key, 1) >= 1
            for key in ("calls_per_second", "calls_per_minute")
        ):
            return _admin_error(400, "expected {calls_per_second, calls_per_minute} as positive integers")
        traffic.per_second = body.get("calls_per_second", traffic.per_second)
        traffic.per_minute = body.get("calls_per_minute", traffic.per_minute)
        return JSONResponse(emulator.stats()["limits"])

    async def expire_tokens(_request: Request) -> JSONResponse:
        return JSONResponse({"expired": emulator.expire_tokens()})

    async def items(_request: Request) -> JSONResponse:
        return JSONResponse(world.items)

    def updater(kind: str, id_param: str) -> Callable[[Request], Any]:
        async def update(request: Request) -> JSONResponse:
            changes = _json_body(await request.body())
            if not isinstance(changes, dict):
                return _admin_error(400, "expected a JSON object of field changes")
            doc = emulator.update(kind, int(request.path_params[id_param]), changes)
            return JSONResponse(doc) if doc is not None else _admin_error(404, f"no {kind} document")

        return update

    async def receive(request: Request) -> JSONResponse:
        body = _json_body(await request.body()) or {}
        r_qty = body.get("r_qty", {}) if isinstance(body, dict) else None
        if not isinstance(r_qty, dict) or not all(isinstance(q, int) for q in r_qty.values()):
            return _admin_error(400, 'expected {"r_qty": {"<asi_id>": <int>}} or no body')
        refund = emulator.stores["refunds"].get(request.path_params["as_id"])
        if refund is None:
            return _admin_error(404, "no such after-sale")
        if refund.get("good_status") == "SELLER_RECEIVED":
            return _admin_error(409, "after-sale already received")
        record = emulator.receive(refund, {str(k): q for k, q in r_qty.items()})
        return JSONResponse({"refund": refund, "received": record})

    async def upload_answer(request: Request) -> JSONResponse:
        body = _json_body(await request.body())
        if not isinstance(body, dict) or body.get("datas") not in UPLOAD_ANSWERS:
            return _admin_error(400, f'expected {{"datas": one of {list(UPLOAD_ANSWERS)}}}')
        emulator.upload_answer = body["datas"]
        return JSONResponse({"datas": emulator.upload_answer})

    async def records(request: Request) -> JSONResponse:
        kind = request.path_params["kind"]
        if kind not in emulator.stores:
            return _admin_error(404, "kind must be outbound, refunds or received")
        body = _json_body(await request.body())
        if not isinstance(body, list) or not all(isinstance(record, dict) for record in body):
            return _admin_error(400, "expected a JSON list of documents")
        return JSONResponse({"ts": emulator.inject(kind, body)})

    routes += [
        Route("/__admin/stats", stats, methods=["GET"]),
        Route("/__admin/limits", limits, methods=["POST"]),
        Route("/__admin/expire_tokens", expire_tokens, methods=["POST"]),
        Route("/__admin/items", items, methods=["GET"]),
        Route("/__admin/outbound/{io_id:int}", updater("outbound", "io_id"), methods=["POST"]),
        Route("/__admin/refunds/{as_id:int}", updater("refunds", "as_id"), methods=["POST"]),
        Route("/__admin/refunds/{as_id:int}/receive", receive, methods=["POST"]),
        Route("/__admin/records/{kind}", records, methods=["POST"]),
        Route("/__admin/upload_answer", upload_answer, methods=["POST"]),
    ]
    return _InFlight(FaultMiddleware(Starlette(routes=routes), faults), traffic)
