"""``report``: complaints from any client (Art. 12), rate-limited, de-duplicated;
``my_reports``: the reporter's own reports and how each was handled.

A reporter whose resolved reports are mostly rejected is slowed down (P15:
malicious reporting) to ``rate_limits.reports_per_hour_when_mostly_rejected``.
The ``report_result`` notice reaches only a reporter connected when the report is
resolved; ``my_reports`` gives every reporter the outcome and the operator's note
whenever they look (feedback to the reporter, Art. 12).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, NamedTuple

from governance import message_rules as rules
from governance import posting
from protocol.enums import ReportTarget
from protocol.errors import ContractError, shown_id
from server.claims import turn
from server.handlers import handler
from server.handlers.common import GroupClosed, known_group, member_of, own_page, still_active
from server.handlers.posts import reported_content
from server.storage import changes as ch

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session
    from server.state import Account, Group, User

MAX_REASON_CHARS = 200
MAX_DETAIL_CHARS = 2000


async def _known_group(ctx: Context, gid: str) -> Group:
    """The group a report names, live or dissolved (its members may still report it and what was
    said in it; memory keeps no ended group, so a dissolved one is read from the store: known_group):
    ``not_found`` for an unknown group, ``group_closed`` for one the platform closed (every op naming
    a closed group fails, a report too)."""
    closed = ctx.state.closed.get(gid)
    g = await known_group(ctx, gid) if closed is None else None
    closed = ctx.state.closed.get(gid)  # (again: the read awaited)
    if closed is not None:
        raise GroupClosed(closed)
    if g is None:
        raise ContractError("not_found", f"no group {gid}")
    if g.closed_at is not None:
        raise GroupClosed(g)
    return g


class Target(NamedTuple):
    group_id: str | None = None
    seq: int | None = None
    user_id: str | None = None  # the user answerable: the sender, the author, the account's owner
    account_id: str | None = None
    post_id: int | None = None
    comment_id: int | None = None


async def _target(ctx: Context, sess: Session, req: rq.Report) -> Target:
    try:
        kind = ReportTarget(req.target_type)
    except ValueError:
        raise ContractError("bad_request",
                            "target_type must be message, user, group, account, post or comment") from None
    if kind in (ReportTarget.ACCOUNT, ReportTarget.POST, ReportTarget.COMMENT):
        return Target(*await reported_content(ctx, sess.me, kind, req.account_id, req.post_id, req.comment_id))
    gid, seq, uid = req.group_id, req.seq, req.user_id
    if kind is ReportTarget.MESSAGE:
        if gid is None or seq is None:
            raise ContractError("bad_request", "reporting a message needs group_id and seq")
        g = await _known_group(ctx, gid)
        if sess.me.user_id not in g.members:
            return await _former_members_message(ctx, sess, gid, seq)
        member_of(g, sess.me)
        info = await ctx.store.message_info(gid, seq)
        g = await _known_group(ctx, gid)  # again after the read: the group may have been closed meanwhile
        m = member_of(g, sess.me)  # and the reporter removed
        if info is not None and seq <= m.joined_seq:
            # Sent before this membership: one of an earlier membership (kicked, then back) is
            # theirs to report as a former member's is.
            return await _former_members_message(ctx, sess, gid, seq)
        # Only a message the reporter could see: one held for review (someone else's) or
        # rejected was never delivered to them, and a report must not tell them it exists.
        if info is None or not rules.known_to(sess.me.user_id, info.sender_id, info.held):
            raise ContractError("not_found", f"no message {seq} in group {gid}")
        return Target(gid, seq, info.sender_id)
    if kind is ReportTarget.USER:
        if uid is None:
            raise ContractError("bad_request", "reporting a user needs user_id")
        # Optional context: a group the reporter is in (one they are not in tells the platform nothing
        # they saw, and would file the complaint, and its handling, in that group's record and export).
        context = await known_group(ctx, gid) if gid is not None else None
        named = gid if context is not None and sess.me.user_id in context.members else None
        if (context is not None and named is None
                and await ctx.store.membership_actions(context.group_id, sess.me.user_id)):
            named = context.group_id  # (a former member: what happened there, as they saw it, before they left)
        if named is not None:
            await _known_group(ctx, named)  # a closed group fails every op naming it, this one too
        if uid not in ctx.state.users:
            raise ContractError("not_found", f"no user {shown_id(uid)}")
        return Target(named, None, uid)
    if gid is None:
        raise ContractError("bad_request", "reporting a group needs group_id")
    await _known_group(ctx, gid)
    return Target(gid)


async def _former_members_message(ctx: Context, sess: Session, gid: str, seq: int) -> Target:
    """A message reported by someone no longer in the group (left, kicked, banned), or by a member
    from before their present membership: one sent while they were a member, by the group's
    membership log, and known to them then (message_rules). A member an admin harassed and then
    removed can still report what was said, also once back. Never a member: ``not_member``."""
    me = sess.me.user_id
    log = await ctx.store.membership_actions(gid, me)
    info = await ctx.store.message_info(gid, seq) if log else None
    await _known_group(ctx, gid)  # again after the reads: the group may have been closed meanwhile
    if not log:
        raise ContractError("not_member", f"you are not a member of group {gid}")
    if info is None or not rules.was_member_at(log, info.ts) or not rules.known_to(me, info.sender_id, info.held):
        raise ContractError("not_found", f"no message {seq} in group {gid}")
    return Target(gid, seq, info.sender_id)


@handler("report")
async def report(ctx: Context, sess: Session, req: rq.Report, enc: Encoding) -> dict[str, Any]:
    # (too_large with field and max_chars over a limit, bad_request for an empty reason or a NUL,
    # as every other text)
    reason = posting.check_text(req.reason.strip(), max_chars=MAX_REASON_CHARS, field="reason")
    detail = posting.check_text((req.detail or "").strip(), max_chars=MAX_DETAIL_CHARS, field="detail",
                                allow_empty=True)
    t = await _target(ctx, sess, req)
    reporter = sess.me.user_id
    kind = req.target_type
    # One turn per reporter and target (claims.turn): a second report of the same target from
    # another of their connections is decided once the first is stored, as its duplicate, and so
    # costs nothing against the rate limits.
    async with turn(("report", reporter, kind, t.group_id, t.seq, t.user_id, t.account_id, t.post_id,
                     t.comment_id)):
        return await _filed(ctx, sess.me, kind, t, reason, detail)


async def _filed(ctx: Context, user: User, kind: str, t: Target, reason: str, detail: str) -> dict[str, Any]:
    reporter = user.user_id
    existing = await ctx.store.open_report_id(reporter, kind, t.group_id, t.seq, t.user_id, t.account_id,
                                              t.post_id, t.comment_id)
    if existing is not None:
        return {"report_id": str(existing), "duplicate": True}
    record = await ctx.store.reporter_record(reporter)
    still_active(user)  # (after the turn and the reads: blacklisted or cancelled meanwhile, nothing is filed)
    normal, slowed = ctx.reports_per_user, ctx.reports_when_mostly_rejected
    limiter = slowed if posting.mostly_rejected(record.resolved, record.rejected) else normal
    now_mono = time.monotonic()
    wait = max(normal.peek(reporter, now_mono), limiter.peek(reporter, now_mono))
    if wait > 0:
        raise ContractError("rate_limited", "too many reports; try again later",
                            retry_after_ms=int(wait * 1000) + 1)
    normal.hit(reporter, now_mono)
    slowed.hit(reporter, now_mono)
    # InsertReport checks again in its transaction and answers with the open report of the same
    # target then (filed on another node meanwhile; the rate limit's hit above stays counted). A
    # report the store refuses (what it names was purged meanwhile, a failing write) files nothing:
    # its hit is taken back, as a refused message's is.
    try:
        [(report_id, duplicate)] = await ctx.store.apply(
            ch.InsertReport(reporter, kind, t.group_id, t.seq, t.user_id, reason, detail, ctx.now_ms(),
                            t.account_id, t.post_id, t.comment_id)
        )
    except BaseException:
        normal.take_back(reporter, now_mono)
        slowed.take_back(reporter, now_mono)
        raise
    if duplicate:
        return {"report_id": str(report_id), "duplicate": True}
    return {"report_id": str(report_id)}


MY_REPORTS_DEFAULT, MY_REPORTS_MAX = 20, 100
_TARGET_KEYS = ("group_id", "seq", "user_id", "account_id", "post_id", "comment_id")
# Reports whose stored user_id the reporter never named and may not learn: nothing else shows who
# runs a public account or wrote its post.
_OWNER_HIDDEN = frozenset({"account", "post"})


def _post_title(user: User, a: Account, r: dict[str, Any]) -> str | None:
    """[ext] The title of the post report ``r`` names (a post, or the one a comment is on), only while
    ``user`` may read it (``read_post``): not once it is deleted or removed, nor while it is held for
    review unless they manage account ``a`` now, nor once the account is closed (nobody reads its posts)."""
    if r["post_title"] is None or r["post_gone"] or a.closed_at is not None:
        return None
    if r["post_held"] and a.role_of(user.user_id) is None:
        return None
    return str(r["post_title"])


@handler("my_reports")
async def my_reports(ctx: Context, sess: Session, req: rq.MyReports, enc: Encoding) -> dict[str, Any]:
    """The caller's reports, newest first: what they named, the status, and once resolved the outcome,
    the operator's note and when. Nothing about anyone else's reports, nor the reporter's own
    ``detail`` (they wrote it), nor who resolved it."""
    before, limit = own_page(req.before, req.limit, "a report id", MY_REPORTS_DEFAULT, MY_REPORTS_MAX)
    rows = await ctx.store.reports_by(sess.me.user_id, before, limit)
    out = []
    for r in rows:
        item: dict[str, Any] = {"report_id": str(r["report_id"]), "target_type": r["target_type"],
                                "reason": r["reason"], "created_at": r["created_at"], "status": r["status"]}
        for key in _TARGET_KEYS:
            if key == "user_id" and r["target_type"] in _OWNER_HIDDEN:
                continue  # (stored for the operators: who runs the account, who wrote the post)
            if r[key] is not None:
                item[key] = str(r[key]) if key in ("post_id", "comment_id") else r[key]
        # [ext] the public account by the name it shows now (its number alone told the reporter
        # nothing): a name anyone may read with account_info, never who runs it.
        a = ctx.state.accounts.get(r["account_id"]) if r["account_id"] is not None else None
        if a is not None:
            item["account_name"] = a.name
            if (title := _post_title(sess.me, a, r)) is not None:
                item["post_title"] = title
        if r["status"] != "open":
            item.update(outcome=r["outcome"], note=r["note"], resolved_at=r["resolved_at"])
        out.append(item)
    return {"reports": out}
