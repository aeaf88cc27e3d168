"""Posts and comments of public accounts (P6, P10-P12).

A post reaches the subscribers online through the account's ``online`` set:
one ``post`` event, encoded once, queued on each of their sessions; nothing
is written per subscriber. Offline subscribers read ``posts`` later.

Titles, bodies and comments go through the prohibited-content filter like a
message: ``block`` refuses (``content_blocked``, recorded, credit lowered),
``review`` holds the post or comment for the platform (its author and the
account's managers still see it; it is not delivered) and queues it for the
operators' content review, where ``decide`` releases or rejects it
(server/operator/review_public.py), ``flag`` delivers it and records the hit.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from governance import posting
from governance import public_accounts as policy
from governance.content import Action, Verdict
from governance.ids import serial_id
from protocol import events as ev
from protocol.enums import CommentAction, CommentsMode, ReportTarget
from protocol.errors import ContractError, shown_id
from server.claims import turn
from server.fanout import publish_many
from server.handlers import handler
from server.handlers.accounts import message_bucket
from server.handlers.common import check_agreement, commit, still_active
from server.handlers.media import attachments_for, mark_attached, signed_url
from server.handlers.public_accounts import (
    account_audience,
    audit,
    find_account,
    level_of,
    managed_account,
    manager_sessions,
    record_hit,
)
from server.handlers.screening import checked
from server.media.service import post_carrier
from server.state import Account, User
from server.storage import changes as ch
from server.storage.public import GONE_COMMENT, CommentRow, PostRow

if TYPE_CHECKING:
    import asyncio

    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session

log = logging.getLogger("qunguan.posts")

POSTS_DEFAULT, POSTS_MAX = 20, 100
COMMENTS_DEFAULT, COMMENTS_MAX = 50, 200
MODERATED = {CommentAction.APPROVE: "visible", CommentAction.HIDE: "hidden", CommentAction.DELETE: "deleted"}


# -- helpers -----------------------------------------------------------------------------------
def _id(raw: str, what: str) -> int:
    """A post or comment id (``serial_id``: as issued); anything else names nothing: ``not_found``."""
    if (n := serial_id(raw)) is None:
        raise ContractError("not_found", f"no {what} {shown_id(raw)}")
    return n


def _before(raw: str | None) -> int | None:
    if raw is None:
        return None
    if (n := serial_id(raw)) is None:
        raise ContractError("bad_request", "'before' must be a post or comment id")
    return n


def _limit(raw: int | None, default: int, most: int) -> int:
    return default if raw is None else max(1, min(raw, most))


def _check_poster(ctx: Context, user: User) -> None:
    """The rules every publisher and commenter meets (as for ``send``): identity when required,
    and the current platform rules and service agreement accepted."""
    if ctx.cfg.identity.require_id_to_post and not user.id_verified:
        raise ContractError("verification_required", "posting needs a verified identity")
    check_agreement(ctx, user)


def _log_failure(fut: asyncio.Future[list[Any]]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("a content record could not be written: %r", fut.exception())


def _screen(ctx: Context, user: User, a: Account, texts: dict[str, str]) -> Verdict | None:
    """The filter over each text; a ``block`` hit is recorded, costs credit and refuses the whole
    request; otherwise the most severe of ``review`` and ``flag`` (or None)."""
    found: Verdict | None = None
    for arg, text in texts.items():
        field = "comment" if arg == "text" else arg  # (a post's title and body, or a comment's text)
        verdict = checked(ctx, user, text, arg, field,
                          on_block=partial(_record, ctx, user, a, "content_blocked", field=field))
        if verdict is not None and (found is None or verdict.action is Action.REVIEW):
            found = verdict
    return found


def _record(ctx: Context, user: User, a: Account, action: str, verdict: Verdict, **detail: Any) -> None:
    """An enforcement-record entry for a filter hit (a blocked one also lowers the author's credit)."""
    record_hit(ctx, user, a.account_id, action, verdict, **detail)


def announce_post(ctx: Context, a: Account, post_id: int, title: str, ts: int) -> None:
    """``post``: a post is published (``publish``, or the platform's release of a held one). To the
    account's subscribers online and to its owner's and editors' connections, each once: the
    managers' open list shows a new post, or a held one as released, without asking again."""
    publish_many(account_audience(ctx, a),
                 ev.PostEvent(account_id=a.account_id, post_id=str(post_id), title=title, ts=ts))


def announce_post_gone(ctx: Context, a: Account, post_id: int, held: bool) -> None:
    """[ext] ``post_deleted``: a post left ``posts`` and ``read_post`` (``delete_post``, the platform's
    ``remove-post`` and ``remove-term``, a held post rejected in review). To the account's subscribers
    online, who got its ``post`` event (through the same queue, so never before it), and to its owner's
    and editors' connections, each once; for a post still held only to these: nobody else was ever
    told it exists."""
    publish_many(account_audience(ctx, a, managers_only=held),
                 ev.PostDeleted(account_id=a.account_id, post_id=str(post_id)))


def announce_comment_gone(ctx: Context, a: Account, post: PostRow | None, comment_id: int, author_id: str,
                          was: str, now: str) -> None:
    """[ext] ``comment_deleted``: ``comment`` (whose status was ``was``) left what some readers see
    in ``comments`` (its status is ``now``: ``hidden``, ``deleted`` or ``rejected``), by
    ``moderate_comment``, the platform's ``remove-comment`` and ``remove-term``, or a held comment
    rejected in review. To the connections of those who saw it and see it no more, each once: for
    a visible comment the account's subscribers online (as ``post_deleted``, unless the post is
    still held: they never saw it), the account's owner and editors, and its author; for a held
    one the managers and its author (nobody else was shown it); for a hidden one the managers.
    A comment ``hidden`` stays shown to the managers, so they are left out then. Nobody is told
    about a comment on a post that is gone (``post`` None or gone: ``post_deleted`` said so). The
    ids alone: nothing about who wrote it or why it went."""
    if post is None or post.gone:
        return
    managers = set(manager_sessions(ctx, a))
    audience = set(managers)
    author = ctx.state.users.get(author_id)
    if author is not None and was in ("visible", "held"):
        audience.update(author.sessions)
    if was == "visible" and not post.held:
        audience.update(a.online)
    if now == "hidden":
        audience -= managers
    publish_many(audience, ev.CommentDeleted(account_id=a.account_id, post_id=str(post.post_id),
                                             comment_id=str(comment_id)))



def comment_event(ctx: Context, a: Account, c: CommentRow, status: str, moderated: bool = False) -> ev.CommentEvent:
    """The ``comment`` event of comment ``c`` showing ``status`` (``visible``, ``held`` or, **[ext]**,
    ``hidden``), its author's name as ``comments`` gives it (empty for a cancelled author);
    **[ext]** ``moderated``: its status changed, it is not a new comment."""
    author = ctx.state.users.get(c.user_id)
    return ev.CommentEvent(
        account_id=a.account_id, post_id=str(c.post_id), comment_id=str(c.comment_id),
        user=ev.PersonObj(user_id=c.user_id, display_name=author.display_name if author is not None else ""),
        text=c.text, ts=c.ts, reply_to=None if c.reply_to is None else str(c.reply_to),
        held=status == "held", hidden=status == "hidden", moderated=moderated)


def announce_comment_shown(ctx: Context, a: Account, post: PostRow | None, c: CommentRow, was: str, now: str) -> None:
    """[ext] ``comment`` again, with ``moderated: true``, for a comment still listed by someone whose
    status changed from ``was`` to ``now``. Made ``visible`` (``moderate_comment`` ``approve``, the
    platform's ``decide … release`` of a held or hidden one): the event of a new visible comment, to
    those a new comment goes to (the account's owner and editors) and to its author, who was shown it
    held, or told it went when it was hidden. Made ``hidden`` (``moderate_comment`` ``hide``): with
    ``hidden: true``, to the owner and editors (the moderator's own connections included), who still
    list it; the others were told it went (``comment_deleted``). Each connection once. Nothing when
    the status did not change (another manager did the same meanwhile) and nothing on a post that is
    gone (``post`` None or gone)."""
    if post is None or post.gone or was == now or now not in ("visible", "hidden"):
        return
    audience = set(manager_sessions(ctx, a))
    author = ctx.state.users.get(c.user_id)
    if now == "visible" and author is not None:
        audience.update(author.sessions)
    publish_many(audience, comment_event(ctx, a, c, now, moderated=True))  # (behind a post's broadcast)


def _with_urls(ctx: Context, post_id: int, attachments: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = msgspec.json.decode(attachments)
    carrier = post_carrier(post_id)
    for item in items:
        item["url"] = signed_url(ctx, item["media_id"], carrier)
        item.setdefault("name", None)  # stored before every field was kept: the contract lists it
    return items


def comments_open_now(ctx: Context, a: Account) -> bool:
    """Whether the account's posts take comments now: not while the platform restricts its comments
    (P12), nor while its credit level allows none (P6: service according to credit level; a post
    published at a higher level does not keep taking comments once the account's level falls)."""
    return not a.comments_restricted and policy.may_open_comments(level_of(ctx, a), ctx.cfg.public_accounts.levels)


def comments_in_force(ctx: Context, a: Account, mode: CommentsMode) -> CommentsMode:
    """A post's comment mode as it applies now: ``closed`` while :func:`comments_open_now` says no
    (the post keeps its own ``mode`` for when the restriction is lifted or the level rises)."""
    return mode if comments_open_now(ctx, a) else CommentsMode.CLOSED


def comments_closed_by(ctx: Context, a: Account, mode: CommentsMode) -> str | None:
    """[ext] Why a post takes no new comments now, when it takes none: ``platform`` (the platform
    restricts the account's comments, P12), ``credit`` (the account's credit level allows none, P6),
    ``post`` (the post's own mode is ``closed``). The platform's reason comes first: it is what holds
    now, whatever the post's own mode. None while comments are open or in review. ``comments`` stays
    ``closed`` in all three cases, as before: this field only says why."""
    if a.comments_restricted:
        return "platform"
    if not policy.may_open_comments(level_of(ctx, a), ctx.cfg.public_accounts.levels):
        return "credit"
    return "post" if mode is CommentsMode.CLOSED else None


def _mode_fields(ctx: Context, a: Account, mode: CommentsMode) -> dict[str, Any]:
    """``comments`` (the mode in force) and, when that is ``closed``, [ext] ``comments_closed_by``."""
    out: dict[str, Any] = {"comments": comments_in_force(ctx, a, mode).value}
    why = comments_closed_by(ctx, a, mode)
    if why is not None:
        out["comments_closed_by"] = why
    return out


def post_obj(ctx: Context, row: PostRow, a: Account) -> dict[str, Any]:
    """A post as readers get it, with its comment mode in force (:func:`comments_in_force`) and why
    it takes no comments when it takes none (:func:`comments_closed_by`)."""
    out: dict[str, Any] = {
        "post_id": str(row.post_id), "account_id": row.account_id, "title": row.title, "body": row.body,
        "ts": row.ts, "reads": row.reads, "comment_count": row.comment_count,
        **_mode_fields(ctx, a, CommentsMode(row.comments_mode)),
    }
    attachments = _with_urls(ctx, row.post_id, row.attachments)
    if attachments:
        out["attachments"] = attachments
    if row.held:
        out["held"] = True
    return out


async def _readable_post(ctx: Context, user: User, raw_id: str) -> tuple[PostRow, Account, bool]:
    """(the post, its account, whether ``user`` manages it) for a post ``user`` may see."""
    post_id = _id(raw_id, "post")
    row = await ctx.store.post(post_id)
    if row is None or row.gone:
        raise ContractError("not_found", f"no post {raw_id}")
    a = find_account(ctx, row.account_id)
    manager = a.role_of(user.user_id) is not None
    if row.held and not manager:  # (first: to them it does not exist, see _unseen_if_held)
        raise ContractError("not_found", f"no post {raw_id}")
    if a.closed_at is not None:
        raise ContractError("forbidden", f"public account {a.account_id} is closed")
    return row, a, manager


def _manages_still(a: Account, user: User, manager: bool) -> bool:
    """After a read's ``await``: the account is still open and the caller's account too (refused as
    before the read otherwise), and False when the read was made as a manager (held posts, held and
    hidden comments) by one who no longer manages the account: they were told so (``editor_changed``,
    ``account_closed``) before this answer, which must not show them what a manager sees."""
    still_active(user)
    if a.closed_at is not None:
        raise ContractError("forbidden", f"public account {a.account_id} is closed")
    return not manager or a.role_of(user.user_id) is not None


def _unseen_if_held(ctx: Context, user: User, row: PostRow, raw_id: str) -> None:
    """``not_found`` for a held post named by someone who does not manage its account: to them it
    does not exist (as in ``read_post``), so ``forbidden`` must not tell them it does."""
    if row.held and not _manages(ctx, row.account_id, user):
        raise ContractError("not_found", f"no post {raw_id}")


# -- posts -------------------------------------------------------------------------------------
@handler("publish")
async def publish_post(ctx: Context, sess: Session, req: rq.Publish, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    a = managed_account(ctx, user, req.account_id)
    cfg = ctx.cfg.public_accounts
    now = ctx.now_ms()
    level = level_of(ctx, a)
    policy.check_publish(status=a.status(now), category=a.category, labels=a.labels, level=level,
                         last_post_at=a.last_post_at, now=now, publisher_verified=user.id_verified,
                         levels=cfg.levels)
    _check_poster(ctx, user)
    title = posting.check_text(req.title.strip(), max_chars=cfg.max_title_chars, field="title")
    body = posting.check_text(req.body, max_chars=cfg.max_body_chars, field="body")
    attachments: list[ev.AttachmentObj] = []
    if req.attachments:
        attachments = attachments_for(ctx, user, list(dict.fromkeys(req.attachments)))  # (repeats dropped, as send's)
    # The mode asked for is stored as it is: while the account's credit level carries no comments
    # (P6) it is closed in force (comments_in_force), and it opens when the level rises. Stored as
    # closed, a post published at a low level stayed closed after the account earned its credit.
    mode = req.comments or CommentsMode.OPEN
    verdict = _screen(ctx, user, a, {"title": title, "body": body})
    held = verdict is not None and verdict.action is Action.REVIEW
    # The publishing interval and the uploads are checked above and claimed here, with no await in between.
    last = a.last_post_at
    a.last_post_at = now
    mark_attached(ctx, attachments, now)

    def undo() -> None:
        if a.last_post_at == now:
            a.last_post_at = last

    # A held post is queued for the operators' review (qunguan admin review-queue) in the same write.
    [_, post_id] = await commit(ctx, ch.ManagesAccount(a.account_id, user.user_id), ch.InsertPost(
        a.account_id, user.user_id, title, body, msgspec.json.encode(attachments).decode(),
        tuple(x.media_id for x in attachments), mode.value, now, int(held),
        verdict.category if held and verdict is not None else None,
        verdict.term if held and verdict is not None else ""), undo=undo)
    if verdict is not None:
        _record(ctx, user, a, "post_held" if held else "content_flagged", verdict, post_id=str(post_id))
    reply: dict[str, Any] = {"post_id": str(post_id), "ts": now, **_mode_fields(ctx, a, mode)}
    if held:
        reply["held"] = True  # stored; visible to the account's managers, delivered to nobody
    else:
        announce_post(ctx, a, post_id, title, now)
    return reply


@handler("posts")
async def posts(ctx: Context, sess: Session, req: rq.Posts, enc: Encoding) -> dict[str, Any]:
    a = find_account(ctx, req.account_id)
    if a.closed_at is not None:
        raise ContractError("forbidden", f"public account {a.account_id} is closed")
    user = sess.me
    manager = a.role_of(user.user_id) is not None
    before, limit = _before(req.before), _limit(req.limit, POSTS_DEFAULT, POSTS_MAX)
    rows = await ctx.store.account_posts(a.account_id, before, limit, include_held=manager)
    if not _manages_still(a, user, manager):  # (told editor_changed meanwhile: read again as a reader)
        rows = await ctx.store.account_posts(a.account_id, before, limit, include_held=False)
        _manages_still(a, user, False)
    ctx.state.reads_account(sess, user, a)  # [ext] its posts are open: account_updated reaches them
    return {"posts": [post_obj(ctx, r, a) for r in rows]}


@handler("read_post")
async def read_post(ctx: Context, sess: Session, req: rq.ReadPost, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    row, a, _ = await _readable_post(ctx, user, req.post_id)
    ctx.state.reads_account(sess, user, a)  # [ext] one of its posts is open: account_updated reaches it
    if row.held:  # (its managers reading it before the platform decides: no reader counted yet)
        return post_obj(ctx, row, a)
    # Awaited since the read: a post deleted meanwhile still gets this read counted, harmlessly.
    [counted] = await commit(ctx, ch.ReadPost(row.post_id, user.user_id, ctx.now_ms()))
    return post_obj(ctx, row._replace(reads=row.reads + 1) if counted else row, a)


async def _managed_post(ctx: Context, user: User, raw_id: str) -> tuple[int, PostRow, Account]:
    """(the post's id, the post, its account) for a post ``user`` manages: ``not_found`` for one gone
    (or held, to someone who does not manage it), ``forbidden`` for one they do not manage."""
    post_id = _id(raw_id, "post")
    row = await ctx.store.post(post_id)
    if row is None or row.gone:
        raise ContractError("not_found", f"no post {raw_id}")
    # Checked after the await: the role (and the account) is read from memory now, not before the read.
    still_active(user)
    _unseen_if_held(ctx, user, row, raw_id)
    return post_id, row, managed_account(ctx, user, row.account_id)


@handler("delete_post")
async def delete_post(ctx: Context, sess: Session, req: rq.DeletePost, enc: Encoding) -> None:
    user = sess.me
    post_id, _, a = await _managed_post(ctx, user, req.post_id)
    [_, held] = await commit(ctx, ch.ManagesAccount(a.account_id, user.user_id),
                             ch.DeletePost(post_id, ctx.now_ms(), user.user_id),
                             audit=audit(ctx, user, "delete_post", a, post_id=req.post_id))
    # (held as the store had it when it deleted the post: one released meanwhile was shown since)
    announce_post_gone(ctx, a, post_id, held)


@handler("set_post_comments")
async def set_post_comments(ctx: Context, sess: Session, req: rq.SetPostComments, enc: Encoding) -> dict[str, Any]:
    """[ext] A published post's comment mode, changed by its account's owner or an editor (P12: the
    account manages its comments; a post drawing abuse is closed to new comments, or held for
    approval). The comments it has stay as they are: held ones wait for approval still."""
    user = sess.me
    mode = req.comments
    # One change of a post's mode at a time, from reading it to its write's outcome: an undo puts back
    # the mode before it, which a second change claimed meanwhile would otherwise have its own undone by.
    async with turn(("post_comments", _id(req.post_id, "post"))):
        post_id, row, a = await _managed_post(ctx, user, req.post_id)
        modes = a.comment_modes
        before = modes.get(post_id)
        # A stricter mode binds at once, claimed in memory before the write (no await since the checks):
        # a comment whose read of the post was in flight decides by it (comment_mode). A looser one
        # reaches memory once stored: a comment let through by an opening the store then refused
        # would stay on a post that is closed.
        tightens = _STRICTNESS[mode] >= _STRICTNESS[comment_mode(a, row)]
        if tightens:
            modes[post_id] = mode.value

        def undo() -> None:
            if not tightens:
                return
            if before is None:
                del modes[post_id]
            else:
                modes[post_id] = before

        [_, held] = await commit(ctx, ch.ManagesAccount(a.account_id, user.user_id),
                                 ch.SetPostComments(post_id, mode.value),
                                 audit=audit(ctx, user, "set_post_comments", a, post_id=req.post_id,
                                             comments=mode.value), undo=undo)
        modes[post_id] = mode.value  # (no await since the write)
    fields = _mode_fields(ctx, a, mode)
    # To whom the post went (see announce_post_gone); the caller's other connections too.
    publish_many(account_audience(ctx, a, managers_only=held),
                 ev.PostComments(account_id=a.account_id, post_id=str(post_id), **fields))
    return fields


# How much a comment mode holds back: a change to one at least as strict is claimed before its write.
_STRICTNESS = {CommentsMode.OPEN: 0, CommentsMode.REVIEW: 1, CommentsMode.CLOSED: 2}


def comment_mode(a: Account, row: PostRow) -> CommentsMode:
    """The post's comment mode now: a change this process made since the post was read wins."""
    return CommentsMode(a.comment_modes.get(row.post_id, row.comments_mode))


# -- comments ----------------------------------------------------------------------------------
@handler("comment")
async def comment(ctx: Context, sess: Session, req: rq.Comment, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    row, a, _ = await _readable_post(ctx, user, req.post_id)
    reply_to = _id(req.reply_to, "comment") if req.reply_to is not None else None
    parent = await ctx.store.comment(reply_to) if reply_to is not None else None
    # Every read is done: from here to the write there is no await, so a closing or a restriction
    # the platform claimed while the reads awaited is seen below, not missed (and a blacklisting
    # or cancellation of the commenter's account).
    still_active(user)
    if row.held and a.role_of(user.user_id) is None:  # (an editor taken off while the parent was read)
        raise ContractError("not_found", f"no post {req.post_id}")
    # [ext] ``cause`` tells the refusals apart, so a client whose view of the post is older than the
    # measure still says why (the account's followers are not told of a restriction).
    if a.closed_at is not None:
        raise ContractError("forbidden", f"public account {a.account_id} is closed", cause="account_closed")
    mode = comment_mode(a, row)
    if mode == CommentsMode.CLOSED:
        raise ContractError("forbidden", "comments are closed on this post", cause="post")
    if a.comments_restricted:
        raise ContractError("forbidden", "the platform has restricted comments on this account", cause="platform")
    if not comments_open_now(ctx, a):
        raise ContractError("forbidden", f"at its credit level ({level_of(ctx, a)}) this account's posts take "
                                         "no comments", cause="credit")
    _check_poster(ctx, user)
    text = posting.check_text(req.text.strip(), max_chars=ctx.cfg.limits.max_text_chars, field="text")
    if reply_to is not None and (parent is None or parent.post_id != row.post_id or not (
            parent.status == "visible" or (parent.status == "held" and parent.user_id == user.user_id))):
        raise ContractError("not_found", f"no comment {req.reply_to} on post {req.post_id}")
    # The rate first (a blocked comment's penalty and record entry are writes too), then the word lists,
    # last of the refusals: a block costs credit.
    wait = message_bucket(ctx, user).take(time.monotonic())  # (see message_bucket)
    if wait > 0:
        raise ContractError("rate_limited", "commenting too fast", retry_after_ms=int(wait * 1000) + 1)
    verdict = _screen(ctx, user, a, {"text": text})
    now = ctx.now_ms()
    review = verdict.category if verdict is not None and verdict.action is Action.REVIEW else None
    # A reply to the caller's own held comment waits with it, shown to nobody else (it would point
    # them at a comment they cannot see): the managers approve it once its parent is shown.
    held = mode == CommentsMode.REVIEW or review is not None or (
        parent is not None and parent.status == "held")
    # A comment the filter held is queued for the operators' review in the same write.
    [comment_id] = await commit(ctx, ch.InsertComment(row.post_id, user.user_id, text, reply_to, now,
                                                      "held" if held else "visible", review,
                                                      verdict.term if review is not None and verdict else ""))
    if verdict is not None:
        _record(ctx, user, a, "comment_held" if review else "content_flagged", verdict,
                post_id=req.post_id, comment_id=str(comment_id))
    status = "held" if held else "visible"
    shown = CommentRow(comment_id, row.post_id, user.user_id, text, reply_to, now, status, review)
    # (publish_many: behind the post's broadcast if it is still under way, which a manager in one of
    # its later slices would otherwise get after this comment on it)
    publish_many(manager_sessions(ctx, a), comment_event(ctx, a, shown, status))
    return {"comment_id": str(comment_id), "held": held}


@handler("comments")
async def comments(ctx: Context, sess: Session, req: rq.Comments, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    row, a, manager = await _readable_post(ctx, user, req.post_id)
    before, limit = _before(req.before), _limit(req.limit, COMMENTS_DEFAULT, COMMENTS_MAX)
    rows = await ctx.store.post_comments(row.post_id, before, limit, user.user_id, manager)
    if not _manages_still(a, user, manager):  # (told editor_changed meanwhile: read again as a reader)
        if row.held:
            raise ContractError("not_found", f"no post {req.post_id}")
        rows = await ctx.store.post_comments(row.post_id, before, limit, user.user_id, False)
        _manages_still(a, user, False)
    users = ctx.state.users
    out = []
    for c in rows:
        author = users.get(c.user_id)
        item: dict[str, Any] = {
            "comment_id": str(c.comment_id),
            "user": {"user_id": c.user_id, "display_name": author.display_name if author else ""},
            "text": c.text, "ts": c.ts,
        }
        if c.reply_to is not None:
            item["reply_to"] = str(c.reply_to)
        if c.status != "visible":
            item[c.status] = True  # held: true or hidden: true
        out.append(item)
    return {"comments": out}


@handler("moderate_comment")
async def moderate_comment(ctx: Context, sess: Session, req: rq.ModerateComment, enc: Encoding) -> None:
    user = sess.me
    post_id, comment_id = _id(req.post_id, "post"), _id(req.comment_id, "comment")
    row = await ctx.store.post(post_id)
    if row is None or row.gone:
        raise ContractError("not_found", f"no post {req.post_id}")
    found = await ctx.store.comment(comment_id)
    # After the reads: the role comes from memory now; the change re-checks the comment's state.
    still_active(user)
    _unseen_if_held(ctx, user, row, req.post_id)
    a = managed_account(ctx, user, row.account_id)
    if found is None or found.post_id != post_id or found.status in GONE_COMMENT:
        raise ContractError("not_found", f"no comment {req.comment_id} on post {req.post_id}")
    status = MODERATED[req.action]
    # An approval is refused on these grounds whatever the status read above: another manager may have
    # hidden the comment since (the write reads the status it changes), and an approval decided on a
    # stale "visible" would show it again past the platform's restriction or its author's closing.
    if status == "visible" and not comments_open_now(ctx, a):
        # What the platform's restriction (or the account's credit level) keeps off the posts is not
        # let on by approving it: held and hidden comments wait until comments are open again.
        raise ContractError("forbidden", "comments are closed on this account for now: approve later")
    author = ctx.state.users.get(found.user_id)
    if status == "visible" and (author is None or not author.active):
        # (as the platform's own release is refused: a blacklisted or cancelled account speaks no more,
        # not even through what was kept back before it was closed)
        raise ContractError("forbidden", "its author's account is closed by the platform or cancelled: "
                                         "it cannot be shown now")
    # The status the comment had, and its post's, are read in the write's own transaction: who saw
    # it and who is told are decided by those, not by the reads above (another manager may have
    # hidden it meanwhile, the platform released the post or its account deleted it).
    [_, (was, held, gone)] = await commit(ctx, ch.ManagesAccount(a.account_id, user.user_id),
                                          ch.ModerateComment(comment_id, status, user.user_id, ctx.now_ms()),
                                          audit=audit(ctx, user, "moderate_comment", a, post_id=req.post_id,
                                                      comment_id=req.comment_id, action=req.action.value))
    row = row._replace(held=held, gone=gone)
    if status != "visible":
        announce_comment_gone(ctx, a, row, comment_id, found.user_id, was, status)
    if status != "deleted":
        announce_comment_shown(ctx, a, row, found, was, status)


# -- reports (P15) ---------------------------------------------------------------------------------
def _sees_comment(c: CommentRow, user: User, manager: bool) -> bool:
    """Whether ``user`` sees comment ``c`` in ``comments``: a visible one everybody, a held one its
    author and the account's managers, a hidden one the managers; a gone one nobody."""
    if c.status == "visible":
        return True
    if c.status == "held":
        return manager or c.user_id == user.user_id
    return c.status == "hidden" and manager


async def reported_content(ctx: Context, user: User, kind: ReportTarget, account_id: str | None,
                           post_id: str | None, comment_id: str | None
                           ) -> tuple[None, None, str, str, int | None, int | None]:
    """What a ``report`` by ``user`` on an account, a post or a comment names: (no group, no seq, the
    user answerable for it, the account, the post, the comment). ``not_found`` for unknown ids and
    for a post or comment the reporter cannot see (a held post, someone else's held comment, a
    hidden one): a report must not tell a stranger that it exists."""
    if kind is ReportTarget.ACCOUNT:
        if account_id is None:
            raise ContractError("bad_request", "reporting an account needs account_id")
        a = find_account(ctx, account_id)
        return None, None, a.owner_id, a.account_id, None, None
    if kind is ReportTarget.POST:
        if post_id is None:
            raise ContractError("bad_request", "reporting a post needs post_id")
        row = await ctx.store.post(_id(post_id, "post"))
        if row is None or row.gone:
            raise ContractError("not_found", f"no post {post_id}")
        _unseen_if_held(ctx, user, row, post_id)
        return None, None, row.author_id, row.account_id, row.post_id, None
    if comment_id is None:
        raise ContractError("bad_request", "reporting a comment needs comment_id")
    found = await ctx.store.comment(_id(comment_id, "comment"))
    parent = await ctx.store.post(found.post_id) if found is not None and found.status not in GONE_COMMENT else None
    if found is None or parent is None or parent.gone:
        raise ContractError("not_found", f"no comment {comment_id}")
    manager = _manages(ctx, parent.account_id, user)
    if (parent.held and not manager) or not _sees_comment(found, user, manager):
        raise ContractError("not_found", f"no comment {comment_id}")
    return None, None, found.user_id, parent.account_id, parent.post_id, found.comment_id


def _manages(ctx: Context, account_id: str, user: User) -> bool:
    a = ctx.state.accounts.get(account_id)
    return a is not None and a.role_of(user.user_id) is not None
