"""Operator commands for content review, rules and agreement, and emergencies (Art. 5, 10)."""

from __future__ import annotations

import json
from typing import Any

from governance.content import normalize
from protocol.events import event, message_obj
from server import repo
from server.fanout import publish
from server.operator import OperatorError, Result, command
from server.handlers.common import penalize, user_view
from server.operator_commands import _audit, _reason, _seconds, _stmts, sanction
from server.state import Agreement

_QUEUE_COLS = ("item_id", "group_id", "seq", "sender_id", "action", "category", "term", "created_at",
               "status", "decision", "note", "decided_at")
DECISIONS = {"review": ("release", "reject"), "flag": ("keep", "remove")}


# -- content review queue (Art. 10) -------------------------------------------------------
@command("review-queue")
async def review_queue(app, args: dict[str, Any]) -> Result:
    where = " WHERE q.status = 'open'" if args.get("open") else ""
    rows = await app.store.fetchall(
        f"SELECT {', '.join('q.' + c for c in _QUEUE_COLS)}, m.text FROM review_queue q"
        f" JOIN messages m ON m.group_id = q.group_id AND m.seq = q.seq{where} ORDER BY q.item_id"
    )
    return Result([json.dumps(dict(zip((*_QUEUE_COLS, "text"), r)), ensure_ascii=False) for r in rows])


@command("decide")
async def decide(app, args: dict[str, Any]) -> Result:
    """``release``/``reject`` a held message; ``keep``/``remove`` a flagged one."""
    item_id, decision = args.get("item_id"), args.get("decision")
    note = _reason({"reason": args.get("note")})
    row = await app.store.fetchone(
        "SELECT q.group_id, q.seq, q.sender_id, q.action, q.status, m.ts, m.sender_role, m.text"
        " FROM review_queue q JOIN messages m ON m.group_id = q.group_id AND m.seq = q.seq WHERE q.item_id = ?",
        (item_id,),
    )
    if row is None:
        raise OperatorError(f"unknown review item {item_id}")
    gid, seq, sender_id, action, status, ts, role, text = row
    if status != "open":
        raise OperatorError(f"review item {item_id} is already decided")
    if decision not in DECISIONS[action]:
        raise OperatorError(f"a {action} item takes --decision {' or '.join(DECISIONS[action])}")
    now = app.now_ms()
    sender = app.state.users.get(sender_id)
    stmts: list = [("UPDATE review_queue SET status = 'decided', decision = ?, note = ?, decided_at = ?"
                    " WHERE item_id = ?", (decision, note, now, item_id))]
    if decision == "release":
        stmts.append(("UPDATE messages SET held = 0 WHERE group_id = ? AND seq = ?", (gid, seq)))
    elif decision == "reject":
        stmts.append(("UPDATE messages SET held = 2 WHERE group_id = ? AND seq = ?", (gid, seq)))
    elif decision == "remove":
        stmts.append(("UPDATE messages SET deleted_at = ?, deleted_by = 'operator' WHERE group_id = ? AND seq = ?",
                      (now, gid, seq)))
    if decision in ("reject", "remove") and sender is not None:
        stmts.extend(_stmts(penalize(sender, app.cfg.credit.penalty_report_upheld)))
    await app.store.write(repo.change(
        *stmts, audit=_audit(app, f"review_{decision}", note, gid, sender_id, seq=seq, item_id=item_id)
    ))
    g = app.state.groups.get(gid)
    if g is not None:
        if decision == "release":
            publish(g.online, {"ev": "message", **message_obj(gid, seq, ts, user_view(app, sender_id, role), text)})
        elif decision == "remove":
            publish(g.online, event("message_deleted", group_id=gid, seq=seq))
    if decision in ("reject", "remove") and sender is not None:
        publish(sender.sessions, event("notice", group_id=gid, kind="content_removed",
                                       text=f"message {seq} was {'rejected' if decision == 'reject' else 'removed'} by the platform: {note}"))
    return Result([f"review item {item_id}: {decision}"])


# -- rules and agreement (Art. 5) ----------------------------------------------------------
@command("set-agreement")
async def set_agreement(app, args: dict[str, Any]) -> Result:
    version = str(args.get("version") or "").strip()
    rules, text = str(args.get("rules") or ""), str(args.get("agreement") or "")
    if not version or not rules.strip() or not text.strip():
        raise OperatorError("--version, --rules-file and --agreement-file must all be non-empty")
    if app.agreement is not None and app.agreement.version == version:
        raise OperatorError(f"version {version} is already current")
    if await app.store.fetchone("SELECT 1 FROM agreements WHERE version = ?", (version,)):
        raise OperatorError(f"version {version} was used before; pick a new one")
    now = app.now_ms()
    await app.store.write(repo.change(
        ("INSERT INTO agreements VALUES (?, ?, ?, ?)", (version, rules, text, now)),
        audit=_audit(app, "set_agreement", f"version {version}", version=version),
    ))
    app.agreement = Agreement(version, rules, text, now)
    publish((s for s in app.sessions if s.user is not None), event("notice", kind="agreement", version=version,
                                text="the platform rules and service agreement changed; accept them to keep posting"))
    return Result([f"agreement version {version} is current"])


# -- emergencies (Art. 5) --------------------------------------------------------------------
@command("notice")
async def notice(app, args: dict[str, Any]) -> Result:
    text = str(args.get("text") or "").strip()
    if not text:
        raise OperatorError("--text is required")
    category = args.get("category")
    if category is None:
        targets = {s for s in app.sessions if s.user is not None}
    else:
        if category not in app.cfg.groups.categories:
            raise OperatorError(f"unknown category {category}")
        targets = {s for g in app.state.groups.values() if g.category == category and g.alive for s in g.online}
    await app.store.write(repo.change(audit=_audit(app, "platform_notice", text, category=category)))
    ev = event("notice", kind="platform", text=text)
    if category is not None:
        ev["category"] = category
    publish(targets, ev)
    return Result([f"notice sent to {len(targets)} connections"])


@command("freeze-category")
async def freeze_category(app, args: dict[str, Any]) -> Result:
    category = args.get("category")
    if category not in app.cfg.groups.categories:
        raise OperatorError(f"unknown category {category}")
    reason, seconds = _reason(args), _seconds(args)
    now = app.now_ms()
    until = now + seconds * 1000
    groups = [g for g in app.state.groups.values() if g.category == category and g.alive]
    await app.store.write(repo.change(
        ("UPDATE groups SET suspended_until = MAX(suspended_until, ?) WHERE category = ?"
         " AND dissolved_at IS NULL AND closed_at IS NULL", (until, category)),
        *[sanction("suspend_group", "group", g.group_id, reason, now, until) for g in groups],
        audit=_audit(app, "freeze_category", reason, category=category, seconds=seconds, groups=len(groups)),
    ))
    for g in groups:
        g.suspended_until = max(g.suspended_until, until)
        publish(g.online, event("group_suspended", group_id=g.group_id, until=g.suspended_until, reason=reason))
    return Result([f"froze {len(groups)} groups in {category} until {until}"])


@command("remove-term")
async def remove_term(app, args: dict[str, Any]) -> Result:
    """Hide every stored message containing the term (normalised like the filter); keep them for the record."""
    term = normalize(str(args.get("term") or ""))
    if len(term) < 2:
        raise OperatorError("the term must have at least 2 letters or digits")
    reason = _reason(args)
    hits: list[tuple[str, int]] = []
    last = ("", -1)
    while True:
        rows = await app.store.fetchall(
            "SELECT group_id, seq, text FROM messages WHERE (group_id, seq) > (?, ?) AND deleted_at IS NULL"
            " ORDER BY group_id, seq LIMIT 2000", last,
        )
        if not rows:
            break
        hits.extend((gid, seq) for gid, seq, text in rows if term in normalize(text))
        last = (rows[-1][0], rows[-1][1])
    now = app.now_ms()
    await app.store.write(repo.change(
        *[("UPDATE messages SET deleted_at = ?, deleted_by = 'operator' WHERE group_id = ? AND seq = ?",
           (now, gid, seq)) for gid, seq in hits],
        audit=_audit(app, "remove_term", reason, term=term, removed=len(hits)),
    ))
    for gid, seq in hits:
        g = app.state.groups.get(gid)
        if g is not None:
            publish(g.online, event("message_deleted", group_id=gid, seq=seq))
    return Result([f"removed {len(hits)} messages containing {term!r}"])
