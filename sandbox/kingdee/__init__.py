"""An emulator of the Kingdee K3Cloud (金蝶云·星空) WebAPI, served over real HTTP on 127.0.0.1.

It speaks the protocol of docs KINGDEE_API.md from the server side: both signatures of the API-signature
mode are verified here independently of any client code (an emulator sharing the client's signing would
agree with a wrong client), sessions slide and expire like the real ones, queries run through a real
FilterString parser, and saves validate bills with Kingdee's own wording so the sync meets the same
failures it will meet in production. Business faults (rate limits, failing bills, answers lost after
commit) are switched on through `/__admin/...`; transport faults come from `FaultMiddleware`.
`POST /__admin/login_answer` changes what a successful login answers (`LoginResultType`, `Message`,
`MessageCode`): real servers accept some logins with a notice, e.g. LoginResultType -5 for an administrator
or a password-policy warning, and `IsSuccessByAPI` true (KINGDEE_API_NOTES.md, login result).

Modules, one concern each: `signatures` (the signed headers), `auth` (logins and sessions), `wire`
(envelopes and case-insensitive model access), `forms` (what the emulator knows of each form), `store`
(saved bills), `filters` (the FilterString parser), `query`, `validation` (BatchSave checks), `saves`,
`operations` (Submit / Audit / UnAudit / Delete), `metadata` (QueryBusinessInfo), `state` (one data centre),
`admin` (`/__admin/...`), `app` (the service route and `create_app`).

Service paths: `POST /k3cloud/{ServiceName}.common.kdsvc` (prefix and service name case-insensitive).

Guesses where the spec is silent [U]: validation failures carry MsgCode 11, unknown numbers in
Submit/Audit/UnAudit/Delete MsgCode 10 and wrong states MsgCode 12; text compares case-insensitively in
filters and sorts (SQL Server's default collation); a bare reference key in FieldKeys (`FCustomerID`)
answers the referenced row's id; an entry field in FilterString or OrderString also yields one row per
line, like the join behind a real query; no timestamp window or nonce check on signatures (none was
observed on a live server).
"""

from sandbox.kingdee.app import create_app
from sandbox.kingdee.signatures import Account, api_signature, client_secret, kd_signature, login_sign

__all__ = ["Account", "api_signature", "client_secret", "create_app", "kd_signature", "login_sign"]
