"""An emulator of the Jushuitan open platform (v2 openapi), written from JUSHUITAN_API.md alone.

It shares no code with `connectors/`: a server that signed, paged or checked limits with the client's own
code would agree with a wrong client. It answers like the platform — HTTP 200 with `{code, msg, data}`
for business errors too — and checks in the documented order, so a client's handling of every failure
(bad sign, stale timestamp, expired token, rate limits, bad parameters) can be tested over real sockets.

Modules: `signing` (the request sign), `tokens` (access and refresh tokens, the caller checks), `limits`
(rate limits, requests in flight), `wire` (the form body and the `{code, msg, data}` answer), `stores`
(documents in ts order), `queries` (the list and document query endpoints), `items` (item upload),
`emulator` (one platform's state), `admin` (`/__admin/...`) and `app` (`create_app`).

Admin endpoints under `/__admin` (JSON, no auth) let tests change the world and read what clients did:
`GET stats` (with `writes`, the item uploads), `POST limits`, `POST clock {"offset_seconds": n}` (the
platform's clock runs n seconds off the host's: code 180 beyond ten minutes), `POST expire_tokens`,
`GET items`, `POST outbound/{io_id}`, `POST outbound/plant {"like": io_id, "days_back": d}` (a copy modified
d days ago, behind a watermark), `POST refunds/{as_id}`, `POST refunds/{as_id}/receive`,
`POST records/{kind}`, `POST upload_answer`;
`POST faults` is served by the FaultMiddleware in front. A change moves the document's `modified` to now
(unless given) and gives it a new ts, as on the platform: `POST outbound/{io_id}` with `{"status": "Archive"}`
is how Jushuitan archives (归档) a shipped document.

`upload_answer {"datas": ...}` picks how an item upload lists its rows, since public integrations read two
shapes: `every` (default) lists every SKU with `is_success`; `failures` lists only the refused ones (an empty
list when none was); `absent` does the same but leaves `datas` out when nothing was refused.
"""

from sandbox.jushuitan.app import create_app
from sandbox.jushuitan.signing import sign, verify_sign

__all__ = ["create_app", "sign", "verify_sign"]
