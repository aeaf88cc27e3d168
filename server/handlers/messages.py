"""``send`` (the hot path) and ``history``.

``send`` checks everything from memory, assigns the group's next seq, queues
the row for the group commit and returns without awaiting: the ack and the
``message`` event go out from the commit callback, so nothing is acknowledged
or delivered before it is durable.
"""

from __future__ import annotations

import logging
from typing import Any

from governance.content import Action
from governance.retention import DAY_MS

from protocol.codec import encode
from protocol.errors import ContractError
from protocol.events import message_obj, user_obj
from protocol.requests import error_reply, ok_reply
from server import repo
from server.fanout import publish
from server.handlers import DEFERRED, handler
from server.handlers.accounts import message_bucket
from server.handlers.common import live_group, member_of, penalize, user_view
from server.state import SentMessage

log = logging.getLogger("qunguan.messages")

DEDUP_WINDOW_MS = DAY_MS
HISTORY_DEFAULT, HISTORY_MAX = 50, 500


@handler("send")
async def send(app, sess, req, enc) -> Any:
    args = req.args
    user = sess.user
    now = app.now_ms()
    # A retry is answered before any other check: what was acked once stays acked.
    cmid = args.get("client_msg_id")
    key = (args["group_id"], user.user_id, cmid) if cmid is not None else None
    if key is not None:
        seen = app.state.sent.get(key)
        if seen is not None and now - seen.ts < DEDUP_WINDOW_MS:
            if seen.committed:
                return seen.reply()
            seen.waiters.append((sess, req.rid, enc))
            return DEFERRED
    g = live_group(app, args["group_id"])
    m = member_of(g, user)
    if g.suspended_until > now:
        raise ContractError("group_suspended", "posting in this group is suspended", until=g.suspended_until)
    if m.muted_until > now:
        raise ContractError("muted", "you are muted in this group", until=m.muted_until)
    if g.mute_all and m.role == "member":
        raise ContractError("muted", "the group is muted; only the owner and admins can speak")
    if app.cfg.identity.require_id_to_post and not user.id_verified:
        raise ContractError("verification_required", "posting needs a verified identity")
    text = args["text"]
    if len(text) > app.cfg.limits.max_text_chars:
        raise ContractError("too_large", f"text is longer than {app.cfg.limits.max_text_chars} characters")
    if not text.strip():
        raise ContractError("bad_request", "text is empty")
    if app.agreement is not None and user.accepted_version != app.agreement.version:
        raise ContractError(
            "forbidden", f"accept the platform rules and service agreement (version {app.agreement.version}) first",
            agreement_version=app.agreement.version,
        )
    verdict = app.content.check(text)
    held = 0
    if verdict is not None:
        if verdict.action is Action.BLOCK:
            _record_blocked(app, user, g.group_id, verdict, now)
            raise ContractError("content_blocked", f"the message contains prohibited content ({verdict.category})")
        held = 1 if verdict.action is Action.REVIEW else 0

    wait = message_bucket(app, user).take(now / 1000)
    if wait > 0:
        raise ContractError("rate_limited", "sending too fast", retry_after_ms=int(wait * 1000) + 1)

    seq = g.last_seq + 1
    g.last_seq = seq
    sent = None
    if key is not None:
        sent = app.state.sent[key] = SentMessage(seq, now, False, held=bool(held))
    msg = message_obj(g.group_id, seq, now, user_obj(user.user_id, user.display_name, m.role), text)
    rid = req.rid
    if verdict is not None:
        _queue_for_review(app, g.group_id, seq, user.user_id, verdict, now)

    def done(exc: BaseException | None) -> None:
        if exc is not None:
            if key is not None and app.state.sent.get(key) is sent:
                del app.state.sent[key]
            fail = ContractError("internal", "the message could not be stored; send it again")
            sess.send(error_reply(rid, fail), enc)
            for s, r, e in sent.waiters if sent else ():
                s.send(error_reply(r, fail), e)
            return
        reply = {"seq": seq, "ts": now}
        if held:
            reply["held"] = True  # stored; delivered only if an operator releases it
        sess.write(encode(ok_reply(rid, reply), enc))
        if not held:
            publish(g.online, {"ev": "message", **msg})
        count_activity(g, now, app.cfg.groups.activity_window_days)
        if sent is not None:
            sent.committed = True
            for s, r, e in sent.waiters:
                s.send(ok_reply(r, reply), e)
            sent.waiters.clear()

    app.store.append_message((g.group_id, seq, now, user.user_id, m.role, text, cmid, held), done)
    return DEFERRED


def _log_write_failure(fut) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("a content-review record could not be written: %r", fut.exception())


def _record_blocked(app, user, gid: str, verdict, now: int) -> None:
    """Blocked content costs credit (Art. 7) and is written to the record; the text is not kept."""
    penalty = app.cfg.credit.penalty_blocked_content
    app.store.write(repo.change(
        *filter(None, [penalize(user, penalty)]),
        audit=repo.Audit(now, "system", None, "content_blocked", gid, user.user_id, verdict.category,
                         {"term": verdict.term, "penalty": penalty}),
    )).add_done_callback(_log_write_failure)


def _queue_for_review(app, gid: str, seq: int, sender: str, verdict, now: int) -> None:
    app.store.write(repo.change((
        "INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (gid, seq, sender, verdict.action.value, verdict.category, verdict.term, now),
    ))).add_done_callback(_log_write_failure)


def count_activity(g, now_ms: int, window_days: int) -> None:
    day = now_ms // DAY_MS
    daily = g.daily
    if day not in daily:
        for old in [d for d in daily if d <= day - window_days]:
            del daily[old]
        daily[day] = 1
    else:
        daily[day] += 1


@handler("history")
async def history(app, sess, req, enc) -> dict[str, Any]:
    args = req.args
    g = live_group(app, args["group_id"])
    m = member_of(g, sess.user)
    limit = args.get("limit", HISTORY_DEFAULT)
    limit = max(1, min(limit, HISTORY_MAX))
    rows = await repo.history(
        app.store, g.group_id, m.joined_seq, args.get("after_seq"), args.get("before_seq"), limit
    )
    gid = g.group_id
    messages = [
        message_obj(gid, seq, ts, user_view(app, sender, role), None if deleted else text)
        for seq, ts, sender, role, text, deleted in rows
    ]
    return {"messages": messages}
