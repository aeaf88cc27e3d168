"""``send`` (the hot path), ``history`` and ``message_changes``.

``send`` checks everything from memory, assigns the group's next seq, queues
the row for the group commit and returns without awaiting: the ack and the
``message`` event go out from the commit callback, so nothing is acknowledged
or delivered before it is durable. A reply alone first awaits one store read
(is the message it answers one the sender may see?); all the checks run after it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from governance import moderation, posting
from governance.content import Action, Verdict
from governance.retention import DAY_MS
from protocol import events as ev
from protocol.enums import Role
from protocol.errors import ContractError
from protocol.requests import error_reply, ok_reply
from server.fanout import publish
from server.handlers import DEFERRED, handler, screening
from server.handlers.accounts import message_bucket
from server.handlers.common import joiners_of, live_group, member_of, still_active, still_reader, suspension_cause
from server.handlers.message_extras import check_extras, claim, message_event, message_obj, reply_visible
from server.logs import Repeats
from server.metrics import METRICS
from server.sent_ids import Key
from server.state import Group, SentMessage, User
from server.storage.base import HistoryRow, MessageRow, ReviewItem

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session

log = logging.getLogger("qunguan.messages")
T = TypeVar("T")

STORE_BEHIND_RETRY_MS = 1000  # when a send is refused because the store's writer is far behind
NOT_STORED = "the message could not be stored; send it again"
# A send's reads failing while the database is out of reach: one warning, then one every 30 s.
_UNREADABLE = Repeats(30.0)

DEDUP_WINDOW_MS = DAY_MS
MAX_RETRIES_WAITING = 16  # retries of one send answered when its commit settles; more are rate_limited
HISTORY_DEFAULT, HISTORY_MAX = 50, 500
CHANGES_DEFAULT, CHANGES_MAX = 100, 500


@handler("send")
async def send(ctx: Context, sess: Session, req: rq.Send, enc: Encoding) -> Any:
    user = sess.me
    cmid = req.client_msg_id
    if cmid is not None:  # an id with U+0000 cannot be stored, so it was never used: not a retry either
        if not cmid:  # "" names no message: as an id, every later send with it would be a "retry"
            raise ContractError("bad_request", "client_msg_id must not be empty (leave it out for no id)")
        posting.check_no_nul(cmid, "client_msg_id")
    key = (req.group_id, user.user_id, cmid) if cmid is not None else None
    reply_to, reply_seen, reply_checked = req.reply_to, True, False
    refuted = None  # the seq of an older message whose digest this key shares (read, not ours)
    # A retry is answered before any other check: what was acked once stays acked. A send
    # awaits at most twice (a retry's read, a reply's read), and after each await the retry
    # check runs again: a copy may have been accepted, committed, even aged, meanwhile.
    while True:
        if key is not None:
            first = recent_copy(ctx, sess, req.rid, enc, key)
            if first is not None:
                return first
            seq = ctx.state.sent_ids.older_seq(key)
            if seq is not None and seq != refuted:  # a lead only: read the message to be sure
                first = await store_read(ctx, older_copy(ctx, key, seq))
                if first is not None:
                    return first
                refuted = seq
                continue
        if reply_to is None or reply_checked:
            break
        reply_seen = await store_read(ctx, reply_visible(ctx, user, req.group_id, reply_to))
        reply_checked = True
    # No await from here on: every group and member check, and the change, run from memory.
    # The account first if a read awaited above: it may have been blacklisted or cancelled
    # meanwhile (the dispatcher checked it just before a send that did not wait).
    if reply_checked or refuted is not None:
        still_active(user)
    now = ctx.now_ms()
    g = live_group(ctx, req.group_id)
    m = member_of(g, user)  # (not while their join, from another connection, is still being stored)
    role = Role(m.role)  # once: the posting check, slow mode and the event's sender all need it
    agreement = ctx.agreement
    posting.check_can_post(
        now=now, role=role, muted_until=m.muted_until, group_mute_all=g.mute_all,
        group_suspended_until=g.suspended_until, require_id=ctx.cfg.identity.require_id_to_post,
        id_verified=user.id_verified, agreement_version=agreement.version if agreement else None,
        accepted_version=user.accepted_version, text=None if req.attachments else req.text,
        max_text_chars=ctx.cfg.limits.max_text_chars, powers_suspended_until=user.powers_suspended_until,
        # (the cause only for a group suspended now: a send in a live group looks up nothing more)
        group_suspension_cause=suspension_cause(ctx, g) if g.suspended_until > now else None,
    )
    text = req.text
    extras = None  # the v2 fields (reply, mentions, @all, attachments): checked only when set
    if req.reply_to is not None or req.mentions or req.mention_all or req.attachments:
        extras = check_extras(ctx, g, m, user, req, now, reply_seen)
    # The rate before the word lists: a blocked message writes a credit penalty and an enforcement-record
    # entry (kept for good), so a client sending them as fast as it can must be held to the message
    # rate, and to the store's backlog, as much as one whose messages go through.
    backlog = ctx.cfg.storage.max_queued_writes
    if backlog and ctx.store.queued() >= backlog:
        raise ContractError("rate_limited", "the server is behind in storing messages; send it again shortly",
                            retry_after_ms=STORE_BEHIND_RETRY_MS)
    wait = message_bucket(ctx, user).take(time.monotonic())  # (see message_bucket)
    if wait > 0:
        raise ContractError("rate_limited", "sending too fast", retry_after_ms=int(wait * 1000) + 1)
    # Slow mode is step 8 with the rate, before the word lists (step 9): a slowed member's text is
    # refused anyway, so a listed word in it costs no credit and writes no record entry.
    if g.slow_mode_seconds and moderation.slowed(role, user.powers_suspended_until, now):
        moderation.slow_mode_slot(m.last_sent_ms, g.slow_mode_seconds, now)  # set_slow_mode
    verdict = ctx.content.check(text)
    held = 0
    if verdict is not None:
        if verdict.action is Action.BLOCK:
            if not blocked_before(ctx, key, text, now):
                record_blocked(ctx, user, g.group_id, verdict)
            raise ContractError("content_blocked", f"the message contains prohibited content ({verdict.category})")
        held = 1 if verdict.action is Action.REVIEW else 0

    # Accepted. Every accepted send is remembered, so slow mode switched on later counts it.
    m.last_sent_ms = now
    seq = g.last_seq + 1
    g.last_seq = seq
    sent = SentMessage(seq, now, False, held=bool(held)) if key is not None else None
    sender = ev.UserObj(user_id=user.user_id, display_name=user.display_name, role=role)
    if extras is None:
        msg = ev.MessageEvent(group_id=g.group_id, seq=seq, ts=now, text=text, sender=sender)
        row = MessageRow(g.group_id, seq, now, user.user_id, m.role, text, cmid, held)
    else:
        claim(ctx, g, extras, now)
        msg = message_event(ctx, g, seq, now, sender, text, extras)
        row = MessageRow(g.group_id, seq, now, user.user_id, m.role, text, cmid, held, *extras.columns())
    if verdict is not None:  # held or flagged: its review item is stored with it, or neither is
        row = row._replace(review=review_item(verdict))
    rid = req.rid
    if key is not None and sent is not None:  # with the append: nothing can raise in between
        ctx.state.sent_ids.remember(key, sent, now)
    ctx.store.append_message(row, Stored(ctx, sess, enc, rid, key, sent, seq, now, bool(held), g, msg))
    return DEFERRED


class Stored:
    """A send's commit callback: acks it, delivers the event, answers the retries that waited.

    One object with slots, not a closure: a closure over these eleven names is twelve
    objects the collector tracks, and a busy server always has thousands of messages
    awaiting their commit, which the GC policy's clock walks on every tick.
    """

    __slots__ = ("ctx", "sess", "enc", "rid", "key", "sent", "seq", "now", "held", "g", "msg")

    def __init__(self, ctx: Context, sess: Session, enc: Encoding, rid: Any, key: Key | None,
                 sent: SentMessage | None, seq: int, now: int, held: bool, g: Group, msg: ev.MessageEvent) -> None:
        self.ctx, self.sess, self.enc, self.rid, self.key = ctx, sess, enc, rid, key
        self.sent, self.seq, self.now, self.held, self.g, self.msg = sent, seq, now, held, g, msg

    def __call__(self, exc: BaseException | None) -> None:
        ctx, sent = self.ctx, self.sent
        if exc is not None:
            if self.key is not None and sent is not None:
                ctx.state.sent_ids.forget(self.key, sent)
                # The row may be stored all the same: a commit whose WAL fsync failed (wal_sync),
                # a connection lost after COMMIT. Its seq stays a lead, so the retry this reply
                # asks for reads the store and is answered with this copy if it is there,
                # instead of storing the message a second time.
                ctx.state.sent_ids.add_older(self.key, self.seq, self.now)
            fail = ContractError("internal", NOT_STORED)
            self.sess.send(error_reply(self.rid, fail), self.enc)
            for s, r, e in sent.waiters if sent else ():
                s.send(error_reply(r, fail), e)
            METRICS.op("send", "internal").inc(1 + (len(sent.waiters) if sent else 0))
            return
        reply: dict[str, Any] = {"seq": self.seq, "ts": self.now}
        if self.held:
            reply["held"] = True  # stored; delivered only if an operator releases it
        if sent is not None:  # first: whatever raises below, the stored message's id stays known
            sent.committed = True
            for s, r, e in sent.waiters:
                s.send(ok_reply(r, reply), e)
            METRICS.op("send", "ok").inc(len(sent.waiters))
            sent.waiters.clear()
        g = self.g
        if self.seq > g.stored_seq:  # (before the ack: a history read after it includes this one)
            g.stored_seq = self.seq
        self.sess.send(ok_reply(self.rid, reply), self.enc)
        METRICS.op("send", "ok").inc()
        if not self.held:
            publish(g.online, self.msg)
            if g.joining is not None:  # (rare: a join settled in this batch, its connections not yet in)
                publish(joiners_of(g, ctx.state.users, self.seq), self.msg)
        count_activity(g, self.now, ctx.cfg.groups.activity_window_days)


async def store_read(ctx: Context, read: Awaitable[T]) -> T:
    """A read that a send awaits (a retry's first copy, the message a reply answers). The database
    out of reach (an outage: a failed send's retry reads it, see Stored) is not a fault of the
    server: the send is answered as its commit would be then, ``internal`` "could not be stored;
    send it again", and a warning without a traceback is logged, at most one every 30 s."""
    try:
        return await read
    except Exception as err:
        if not ctx.store.unreachable(err):
            raise  # (a fault: answered "internal server error" with its traceback)
        _UNREADABLE.log(log, logging.WARNING, "a send could not read the database and was answered internal "
                        "(the client sends it again): %s: %s", type(err).__name__, err)
        raise ContractError("internal", NOT_STORED) from None


def recent_copy(ctx: Context, sess: Session, rid: Any, enc: Encoding, key: Key) -> Any:
    """The answer to a retry of a send accepted in the last minutes, from memory; None if none was."""
    seen = ctx.state.sent_ids.recent.get(key)
    if seen is None or ctx.now_ms() - seen.ts >= DEDUP_WINDOW_MS:
        return None
    if seen.committed:
        return seen.reply()
    if len(seen.waiters) >= MAX_RETRIES_WAITING:
        # (Each waiting retry is kept until the commit settles, and a retry skips the rate bucket and
        # the write queue's bound: without this, one client repeating an id through a slow commit
        # could make the server hold any number of them.)
        raise ContractError("rate_limited", "that message is still being stored; wait for its answer",
                            retry_after_ms=1000)
    seen.waiters.append((sess, rid, enc))  # answered when the first copy's commit settles
    return DEFERRED


async def older_copy(ctx: Context, key: Key, seq: int) -> dict[str, Any] | None:
    """The answer to a retry of a send accepted earlier in the last day, or None (not its copy).

    Past the last minutes only a digest of the key is in memory (server/sent_ids.py), mapped
    to ``seq``, so the hit is confirmed by reading that one message: a colliding digest never
    answers a new message with another's seq. Only a retry (or a collision) pays for the read;
    a confirmed copy goes back into the recent tier, so retrying it again reads nothing for a while.
    """
    gid, sender_id, cmid = key
    stored = await ctx.store.sent_copy(gid, seq, sender_id, cmid)
    if ctx.store.fatal_why is not None:
        # The store failed for good (a failed WAL fsync): the copy read may be in memory only, never
        # to reach the disk. Not acknowledged; the server exits, and the retry after its restart
        # reads what the disk holds.
        raise ContractError("internal", NOT_STORED)
    if stored is None or ctx.now_ms() - stored[0] >= DEDUP_WINDOW_MS:
        return None  # another message's digest, or over a day old
    ts, held = stored
    first = SentMessage(seq, ts, True, held=bool(held))
    if key not in ctx.state.sent_ids.recent:
        ctx.state.sent_ids.remember(key, first, ctx.now_ms())
    return first.reply()


# How long, and for how many sends at most, a blocked send's client_msg_id is remembered as charged.
BLOCKED_RESEND_MS = 10 * 60 * 1000
BLOCKED_RESENDS_KEPT = 100_000


def blocked_before(ctx: Context, key: tuple[str, str, str] | None, text: str, now: int) -> bool:
    """Whether a send with ``key`` (group, sender, client_msg_id) and ``text`` was refused
    ``content_blocked`` and charged within :data:`BLOCKED_RESEND_MS`: a client whose connection dropped
    before the refusal came sends it again with its id, and one typed message cost its sender twice (a
    credit review). Remembered here when not (in memory, bounded: a restart forgets them). A send without
    an id is charged each time, and so is another text under the same id (the text's hash is part of
    the key): the lists cannot be probed for free by reusing one id."""
    if key is None:
        return False
    kept = ctx.state.blocked_sends
    sent = (*key, hash(text))
    while kept and (len(kept) >= BLOCKED_RESENDS_KEPT or next(iter(kept.values())) <= now - BLOCKED_RESEND_MS):
        kept.popitem(last=False)
    if sent in kept:
        return True
    kept[sent] = now
    return False


def record_blocked(ctx: Context, user: User, gid: str, verdict: Verdict) -> None:
    """Blocked content costs credit (Art. 7) and is written to the record (field ``message``), as any
    other blocked text is (:func:`screening.record_blocked`); the text is not kept."""
    screening.record_blocked(ctx, user, verdict, "message", group_id=gid,
                             why=f"a message you sent to group {gid} was refused for prohibited content "
                                 f"({verdict.category})")


def review_item(verdict: Verdict) -> ReviewItem:
    """A held or flagged message's content-review item, written in the message's own write (a
    ``send``'s row, an edit's change): a message the operators cannot see in their queue is never
    stored, delivered or acknowledged."""
    return ReviewItem(verdict.action.value, verdict.category, verdict.term)


def count_activity(g: Group, now_ms: int, window_days: int) -> None:
    day = now_ms // DAY_MS
    daily = g.daily
    if day not in daily:
        for old in [d for d in daily if d <= day - window_days]:
            del daily[old]
        daily[day] = 1
    else:
        daily[day] += 1


def durable_before(g: Group, before: int | None) -> int:
    """A read's ``before_seq`` bound kept at or below the group's durable messages (``Group.stored_seq``)."""
    bound = g.stored_seq + 1
    return bound if before is None or before > bound else before


@handler("history")
async def history(ctx: Context, sess: Session, req: rq.History, enc: Encoding) -> dict[str, Any]:
    g = live_group(ctx, req.group_id)
    m = member_of(g, sess.me)
    limit = req.limit if req.limit is not None else HISTORY_DEFAULT
    limit = max(1, min(limit, HISTORY_MAX))
    rows = await ctx.store.history(g.group_id, m.joined_seq, req.after_seq, durable_before(g, req.before_seq), limit)
    mine = await own_reactions(ctx, g.group_id, sess.me.user_id, rows)
    still_reader(ctx, sess, g.group_id)
    gid = g.group_id
    return {"messages": [message_obj(ctx, gid, r, counted(r, mine.get(r.seq))) for r in rows]}


@handler("message_changes")
async def message_changes(ctx: Context, sess: Session, req: rq.MessageChanges, enc: Encoding) -> dict[str, Any]:
    """**[ext]** What changed in messages a client already had, while it was away: each message
    edited, recalled or deleted, released from review, or reacted to after ``since``, once, as
    ``history`` has it now (deleted ones as tombstones). ``history`` with ``after_seq`` brings only
    new seqs; this brings the changes below them. Without ``since``: only the cursor, to ask for
    before reading the first page (a change between the two then shows in both, never in neither).
    ``joined_seq``: the reader's join point (a client holding messages at or below it from an earlier
    membership drops them); ``reset``: the cursor is from before the database was restored from a
    backup, and the client reads what it shows again."""
    g = live_group(ctx, req.group_id)
    m = member_of(g, sess.me)
    if req.since is None:
        cursor = await ctx.store.message_clock()
        m = still_reader(ctx, sess, g.group_id)
        return {"messages": [], "cursor": cursor, "more": False, "reset": False, "joined_seq": m.joined_seq}
    if req.since < 0:
        raise ContractError("bad_request", "since must be a cursor from message_changes (0 or more)")
    limit = req.limit if req.limit is not None else CHANGES_DEFAULT
    limit = max(1, min(limit, CHANGES_MAX))
    # Up to the group's durable messages only (a newer one comes whole with history after_seq).
    page = await ctx.store.message_changes(g.group_id, m.joined_seq, g.stored_seq, req.since, limit)
    mine = await own_reactions(ctx, g.group_id, sess.me.user_id, page.rows)
    # The join point as it is after the read: one who left and joined again during it is told the new
    # one, and nothing at or below it is listed.
    m = still_reader(ctx, sess, g.group_id)
    gid = g.group_id
    return {"messages": [message_obj(ctx, gid, r, counted(r, mine.get(r.seq))) for r in page.rows
                         if r.seq > m.joined_seq],
            "cursor": page.cursor, "more": page.more, "reset": page.reset, "joined_seq": m.joined_seq}


async def own_reactions(ctx: Context, gid: str, user_id: str, rows: list[HistoryRow]) -> dict[int, list[str]]:
    """Which of the reaction chips on ``rows`` are the reader's own: a second read, only for a page
    with reactions."""
    mine: dict[int, list[str]] = {}
    reacted = [r.seq for r in rows if r.reactions is not None and not r.deleted]
    if reacted:
        for seq, emoji in await ctx.store.reactions_of(gid, user_id, reacted):
            mine.setdefault(seq, []).append(emoji)
    return mine


def counted(r: HistoryRow, mine: list[str] | None) -> list[str] | None:
    """The reader's own reactions among those ``r`` counts: the two are read one after the other, and
    one the reader left in between is not on the page's counts (its event brings both)."""
    if not mine or r.reactions is None:
        return None
    counts = json.loads(r.reactions)
    kept = [emoji for emoji in mine if emoji in counts]
    return kept or None
