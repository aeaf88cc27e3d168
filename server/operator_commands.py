"""Operator commands on groups and people (Art. 11, 12, 13), reached through :mod:`server.operator`.

Each command that changes something writes the change, its sanction row and
its enforcement-record entry in one transaction, then tells connected clients.
"""

from __future__ import annotations

import json
from typing import Any

from governance.audit import first_broken
from governance.tiers import credit_level
from protocol.events import event
from server import repo
from server.fanout import publish
from server.handlers.common import penalize
from server.operator import OperatorError, Result, command
from server.repo import Audit
from server.state import Group, User

OPERATOR = "operator"
CLOSE_BLACKLISTED = 1008


def _reason(args: dict[str, Any]) -> str:
    reason = str(args.get("reason") or "").strip()
    if not reason:
        raise OperatorError("--reason is required")
    return reason


def _seconds(args: dict[str, Any]) -> int:
    seconds = args.get("seconds")
    if type(seconds) is not int or seconds <= 0:
        raise OperatorError("--seconds must be a positive whole number")
    return seconds


def _group(app, args: dict[str, Any]) -> Group:
    gid = str(args.get("group_id") or "")
    g = app.state.groups.get(gid)
    if g is None:
        raise OperatorError(f"unknown group {gid}")
    return g


def _live(g: Group) -> Group:
    if g.closed_at is not None:
        raise OperatorError(f"group {g.group_id} is already closed")
    if g.dissolved_at is not None:
        raise OperatorError(f"group {g.group_id} was dissolved")
    return g


def _user(app, args: dict[str, Any]) -> User:
    from governance.identity import username_key

    name = str(args.get("username") or "")
    uid = app.state.by_username.get(username_key(name)) if name else None
    if uid is None:
        raise OperatorError(f"unknown user {name}")
    return app.state.users[uid]


def sanction(kind: str, target_type: str, target_id: str, reason: str, now: int,
             expires_at: int | None = None, report_id: int | None = None) -> tuple[str, tuple]:
    return (
        "INSERT INTO sanctions (kind, target_type, target_id, reason, actor, starts_at, expires_at, report_id)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (kind, target_type, target_id, reason, OPERATOR, now, expires_at, report_id),
    )


def _audit(app, action: str, reason: str, group_id: str | None = None, target_id: str | None = None,
           **detail: Any) -> Audit:
    return Audit(app.now_ms(), "operator", OPERATOR, action, group_id, target_id, reason, detail or None)


def _report_id(args: dict[str, Any]) -> int | None:
    rid = args.get("report_id")
    if rid is not None and (type(rid) is not int or rid <= 0):
        raise OperatorError("--report must be a report id")
    return rid


def _stmts(*items: tuple[str, tuple] | None) -> list[tuple[str, tuple]]:
    return [s for s in items if s is not None]


# -- groups ------------------------------------------------------------------------
@command("warn-group")
async def warn_group(app, args: dict[str, Any]) -> Result:
    g = _live(_group(app, args))
    reason = _reason(args)
    deadline = args.get("deadline")
    now = app.now_ms()
    await app.store.write(repo.change(
        sanction("warning", "group", g.group_id, reason, now, deadline, _report_id(args)),
        audit=_audit(app, "warn_group", reason, g.group_id, deadline=deadline),
    ))
    notice = event("notice", group_id=g.group_id, kind="warning", text=reason)
    if deadline is not None:
        notice["deadline"] = deadline
    publish(g.online, notice)
    return Result([f"warned group {g.group_id}"])


@command("suspend-group")
async def suspend_group(app, args: dict[str, Any]) -> Result:
    g = _live(_group(app, args))
    reason, seconds = _reason(args), _seconds(args)
    now = app.now_ms()
    until = now + seconds * 1000
    await app.store.write(repo.change(
        ("UPDATE groups SET suspended_until = ? WHERE group_id = ?", (until, g.group_id)),
        sanction("suspend_group", "group", g.group_id, reason, now, until, _report_id(args)),
        audit=_audit(app, "suspend_group", reason, g.group_id, seconds=seconds),
    ))
    g.suspended_until = until
    publish(g.online, event("group_suspended", group_id=g.group_id, until=until, reason=reason))
    return Result([f"suspended group {g.group_id} until {until}"])


async def close_group_now(app, g: Group, reason: str, audit: Audit, extra: list | None = None,
                          report_id: int | None = None) -> None:
    now = app.now_ms()
    await app.store.write(repo.change(
        ("UPDATE groups SET closed_at = ?, closed_reason = ? WHERE group_id = ?", (now, reason, g.group_id)),
        sanction("close_group", "group", g.group_id, reason, now, None, report_id),
        *(extra or []),
        audit=audit,
    ))
    g.closed_at, g.closed_reason = now, reason
    online = set(g.online)
    for uid in g.members:
        app.state.users[uid].groups.discard(g.group_id)
    g.online.clear()
    publish(online, event("group_closed", group_id=g.group_id, reason=reason))


@command("close-group")
async def close_group(app, args: dict[str, Any]) -> Result:
    """Final: the group's id stays dead (the group blacklist of Art. 11); its owner is penalised."""
    g = _live(_group(app, args))
    reason = _reason(args)
    owner = app.state.users[g.owner_id]
    extra = _stmts(penalize(owner, app.cfg.credit.penalty_sanction))
    await close_group_now(app, g, reason, _audit(app, "close_group", reason, g.group_id), extra, _report_id(args))
    return Result([f"closed group {g.group_id}"])


# -- people --------------------------------------------------------------------------
@command("suspend-admin")
async def suspend_admin(app, args: dict[str, Any]) -> Result:
    user = _user(app, args)
    reason, seconds = _reason(args), _seconds(args)
    now = app.now_ms()
    until = now + seconds * 1000
    await app.store.write(repo.change(
        ("UPDATE users SET powers_suspended_until = ? WHERE user_id = ?", (until, user.user_id)),
        sanction("suspend_admin", "user", user.user_id, reason, now, until, _report_id(args)),
        *_stmts(penalize(user, app.cfg.credit.penalty_sanction)),
        audit=_audit(app, "suspend_admin", reason, target_id=user.user_id, seconds=seconds),
    ))
    user.powers_suspended_until = until
    publish(user.sessions, event("notice", kind="sanction", text=f"your management powers are suspended: {reason}"))
    return Result([f"suspended {user.username}'s owner/admin powers until {until}"])


@command("revoke-create")
async def revoke_create(app, args: dict[str, Any]) -> Result:
    user = _user(app, args)
    reason = _reason(args)
    now = app.now_ms()
    await app.store.write(repo.change(
        ("UPDATE users SET create_revoked_at = ? WHERE user_id = ?", (now, user.user_id)),
        sanction("revoke_create", "user", user.user_id, reason, now, None, _report_id(args)),
        *_stmts(penalize(user, app.cfg.credit.penalty_sanction)),
        audit=_audit(app, "revoke_create", reason, target_id=user.user_id),
    ))
    user.create_revoked = True
    return Result([f"revoked {user.username}'s right to create groups"])


@command("credit")
async def credit(app, args: dict[str, Any]) -> Result:
    user = _user(app, args)
    reason = _reason(args)
    delta = args.get("delta")
    if type(delta) is not int or delta == 0:
        raise OperatorError("--delta must be a non-zero whole number")
    score = user.credit_score + delta
    await app.store.write(repo.change(
        ("UPDATE users SET credit_score = ? WHERE user_id = ?", (score, user.user_id)),
        audit=_audit(app, "credit", reason, target_id=user.user_id, delta=delta, score=score),
    ))
    user.credit_score = score
    level = credit_level(score, app.cfg.credit.levels)
    return Result([f"{user.username}: credit score {score}, level {level}"])


@command("blacklist")
async def blacklist(app, args: dict[str, Any]) -> Result:
    """Close the account and bar its verified identity from every other account (Art. 11, P13)."""
    user = _user(app, args)
    reason = _reason(args)
    if user.blacklisted:
        raise OperatorError(f"{user.username} is already blacklisted")
    now = app.now_ms()
    await app.store.write(repo.change(
        ("UPDATE users SET blacklisted_at = ? WHERE user_id = ?", (now, user.user_id)),
        sanction("blacklist", "user", user.user_id, reason, now, None, _report_id(args)),
        audit=_audit(app, "blacklist", reason, target_id=user.user_id),
    ))
    user.blacklisted = True
    for sess in list(user.sessions):
        sess.send(event("notice", kind="blacklisted", text=reason))
        sess.close(CLOSE_BLACKLISTED, "account closed by the platform")
    return Result([f"blacklisted {user.username}"])


# -- the record ------------------------------------------------------------------------
@command("verify-audit")
async def verify_audit(app, args: dict[str, Any]) -> Result:
    entries = await repo.audit_entries(app.store)
    broken = first_broken(entries)
    if broken is None:
        return Result([f"enforcement record whole: {len(entries)} entries"])
    return Result([f"enforcement record broken at entry {broken}"], exit=1)


@command("ping")
async def ping(app, args: dict[str, Any]) -> Result:
    return Result([json.dumps({"groups": len(app.state.groups), "users": len(app.state.users),
                               "connections": len(app.sessions)})])


# -- complaints (Art. 12) -----------------------------------------------------------------
_REPORT_COLS = ("report_id", "reporter_id", "target_type", "group_id", "seq", "user_id", "reason", "detail",
                "created_at", "status", "outcome", "note", "resolved_at")


@command("reports")
async def reports(app, args: dict[str, Any]) -> Result:
    where = " WHERE status = 'open'" if args.get("open") else ""
    rows = await app.store.fetchall(f"SELECT {', '.join(_REPORT_COLS)} FROM reports{where} ORDER BY report_id")
    return Result([json.dumps({**dict(zip(_REPORT_COLS, r)), "report_id": str(r[0])}, ensure_ascii=False)
                   for r in rows])


@command("resolve")
async def resolve(app, args: dict[str, Any]) -> Result:
    report_id, outcome = args.get("report_id"), args.get("outcome")
    note = str(args.get("note") or "").strip()
    if outcome not in ("upheld", "rejected"):
        raise OperatorError("--outcome must be upheld or rejected")
    if not note:
        raise OperatorError("--note is required")
    row = await app.store.fetchone(
        "SELECT reporter_id, status, user_id FROM reports WHERE report_id = ?", (report_id,)
    )
    if row is None:
        raise OperatorError(f"unknown report {report_id}")
    reporter_id, status, target_uid = row
    if status != "open":
        raise OperatorError(f"report {report_id} is already resolved")
    now = app.now_ms()
    penalty = None
    target = app.state.users.get(target_uid) if target_uid else None
    if outcome == "upheld" and target is not None:
        penalty = penalize(target, app.cfg.credit.penalty_report_upheld)
    await app.store.write(repo.change(
        ("UPDATE reports SET status = 'resolved', outcome = ?, note = ?, resolved_at = ?, resolved_by = ?"
         " WHERE report_id = ?", (outcome, note, now, OPERATOR, report_id)),
        *_stmts(penalty),
        audit=_audit(app, "resolve_report", note, target_id=target_uid, report_id=report_id, outcome=outcome),
    ))
    reporter = app.state.users.get(reporter_id)
    if reporter is not None:
        publish(reporter.sessions, event("notice", kind="report_result", report_id=str(report_id),
                                         outcome=outcome, text=note))
    return Result([f"report {report_id} {outcome}"])


@command("report-stats")
async def report_stats(app, args: dict[str, Any]) -> Result:
    rows = await app.store.fetchall(
        "SELECT status, outcome, created_at, resolved_at FROM reports"
    )
    durations = sorted((r[3] - r[2]) / 3_600_000 for r in rows if r[0] == "resolved")
    stats: dict[str, Any] = {
        "open": sum(1 for r in rows if r[0] == "open"),
        "resolved": len(durations),
        "upheld": sum(1 for r in rows if r[1] == "upheld"),
        "rejected": sum(1 for r in rows if r[1] == "rejected"),
    }
    if durations:
        stats["median_hours_to_resolution"] = round(durations[len(durations) // 2], 3)
        stats["p90_hours_to_resolution"] = round(durations[min(len(durations) - 1, int(len(durations) * 0.9))], 3)
    return Result([json.dumps(stats)])
