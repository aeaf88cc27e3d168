"""``report``: complaints from any client (Art. 12), rate-limited, de-duplicated.

A reporter whose resolved reports are mostly rejected is slowed down (P15:
malicious reporting) to ``rate_limits.reports_per_hour_when_mostly_rejected``.
"""

from __future__ import annotations

import time
from typing import Any

from protocol.errors import ContractError
from server import repo
from server.handlers import handler
from server.handlers.common import member_of

TARGET_TYPES = ("message", "user", "group")
MIN_RESOLVED_FOR_JUDGEMENT = 5


async def _target(app, sess, args: dict[str, Any]) -> tuple[str | None, int | None, str | None]:
    kind = args["target_type"]
    if kind not in TARGET_TYPES:
        raise ContractError("bad_request", "target_type must be message, user or group")
    gid, seq, uid = args.get("group_id"), args.get("seq"), args.get("user_id")
    if kind == "message":
        if gid is None or seq is None:
            raise ContractError("bad_request", "reporting a message needs group_id and seq")
        g = app.state.groups.get(gid)
        if g is None:
            raise ContractError("not_found", f"no group {gid}")
        m = member_of(g, sess.user)
        found = await repo.message_sender(app.store, gid, seq)
        if found is None or seq <= m.joined_seq:
            raise ContractError("not_found", f"no message {seq} in group {gid}")
        return gid, seq, found[0]
    if kind == "user":
        if uid is None:
            raise ContractError("bad_request", "reporting a user needs user_id")
        if uid not in app.state.users:
            raise ContractError("not_found", f"no user {uid}")
        return gid if gid in app.state.groups else None, None, uid
    if gid is None:
        raise ContractError("bad_request", "reporting a group needs group_id")
    if gid not in app.state.groups:
        raise ContractError("not_found", f"no group {gid}")
    return gid, None, None


@handler("report")
async def report(app, sess, req, enc) -> dict[str, Any]:
    args = req.args
    reason = args["reason"].strip()
    detail = (args.get("detail") or "").strip()
    if not 1 <= len(reason) <= 200:
        raise ContractError("bad_request", "reason is 1 to 200 characters")
    if len(detail) > 2000:
        raise ContractError("too_large", "detail is at most 2000 characters")
    gid, seq, uid = await _target(app, sess, args)
    reporter = sess.user.user_id
    kind = args["target_type"]
    existing = await app.store.fetchone(
        "SELECT report_id FROM reports WHERE reporter_id = ? AND target_type = ? AND status = 'open'"
        " AND group_id IS ? AND seq IS ? AND user_id IS ?",
        (reporter, kind, gid, seq, uid),
    )
    if existing:
        return {"report_id": str(existing[0]), "duplicate": True}
    resolved, rejected = await app.store.fetchone(
        "SELECT COUNT(*), COALESCE(SUM(outcome = 'rejected'), 0) FROM reports"
        " WHERE reporter_id = ? AND status = 'resolved'",
        (reporter,),
    )
    normal, slowed = app.reports_per_user, app.reports_when_mostly_rejected
    limiter = slowed if resolved >= MIN_RESOLVED_FOR_JUDGEMENT and rejected * 2 > resolved else normal
    now_mono = time.monotonic()
    wait = max(normal.peek(reporter, now_mono), limiter.peek(reporter, now_mono))
    if wait > 0:
        raise ContractError("rate_limited", "too many reports; try again later",
                            retry_after_ms=int(wait * 1000) + 1)
    normal.hit(reporter, now_mono)
    slowed.hit(reporter, now_mono)

    async def insert(db: Any) -> int:
        cur = await db.execute(
            "INSERT INTO reports (reporter_id, target_type, group_id, seq, user_id, reason, detail, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (reporter, kind, gid, seq, uid, reason, detail, app.now_ms()),
        )
        return cur.lastrowid

    return {"report_id": str(await app.store.write(insert))}
