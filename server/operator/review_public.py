"""Content review of public accounts' posts and comments (P10-P12), through the one review queue.

A post or comment the word lists held (``review``) is queued when it is stored
(kind ``post`` or ``comment``); ``review-queue`` lists it beside held and
flagged messages and ``decide ITEM_ID --decision release|reject --note TEXT``
settles it here (:func:`server.operator.platform.decide` hands these kinds on):

- release: a post becomes public (``posts``, ``read_post``) and its subscribers
  online get the ``post`` event; a comment loses the platform's hold (visible,
  or still waiting for the account's approval on a post in ``review`` mode); one
  made visible is announced with the ``comment`` event to the account's owner
  and editors and to its author, as an approved one is. A comment is not
  released while the account takes no comments (the platform restricts them,
  its credit level allows none, or it is closed): the operator releases it
  once they are open again, or rejects it;
- reject: it is never shown (a post is kept as removed, a comment as
  ``rejected``), and its author gets ``notice {kind: "content_removed"}`` and
  loses ``credit.penalty_report_upheld`` points (a ``credit`` notice), as for a rejected message;
  once per post or comment: when an upheld complaint about it took them already (a held post's
  managers may report it), the rejection takes nothing again and says so
  (``server/operator/message_penalty.py``).

The decision, the content's new state and the penalty are one transaction,
with the enforcement-record entry (``review_release``/``review_reject``, target:
the account) under the operator's name; ``DecideReview`` re-checks in it that
the item is still open, so two operators cannot both decide it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from governance import public_accounts as policy
from protocol import events as ev
from protocol.errors import ContractError
from server.fanout import publish
from server.handlers.posts import (
    announce_comment_gone,
    announce_comment_shown,
    announce_post,
    announce_post_gone,
    comments_open_now,
)
from server.operator.channel import OperatorError, Result
from server.operator.common import apply, audit, operator_name, tell_penalty
from server.operator.message_penalty import comment_cost, post_cost
from server.storage.changes import Change, DecideHeldComment, DecideHeldPost, DecideReview

if TYPE_CHECKING:
    from server.context import Context

KINDS = ("post", "comment")


async def decide_public(app: Context, item: dict[str, Any], decision: str, note: str) -> Result:
    """Release or reject the held post or comment of the open review ``item``."""
    item_id, kind, aid, post_id = item["item_id"], item["kind"], item["account_id"], item["post_id"]
    comment_id, author_id = item["comment_id"], item["sender_id"]
    release = decision == "release"
    now = app.now_ms()
    account = app.state.accounts.get(aid)
    author = app.state.users.get(author_id)
    if release and (author is None or not author.active):
        # (as for a held group message, name or announcement: a blacklisted or cancelled account speaks
        # no more, not even through what the platform kept back)
        raise OperatorError(f"review item {item_id}: its author's account is blacklisted or cancelled, and a "
                            f"release would publish their {kind} as if they spoke now; reject it, or lift the "
                            "blacklisting first")
    if release and kind == "post" and account is not None and author_id != account.owner_id \
            and author_id not in account.editors:
        # (the owner took them off the account's editors since: it would go out in the account's name)
        raise OperatorError(f"review item {item_id}: its author no longer edits the account, and a release "
                            "would publish the post in its name; reject it")
    if release and kind == "post" and account is not None:
        try:  # (right before the write: a suspension claimed while it is stored came after the release)
            policy.check_release(status=account.status(now), category=account.category, labels=account.labels)
        except ContractError as refused:
            raise OperatorError(f"review item {item_id}: the post cannot be released now ({refused.reason});"
                                " release it once the account may publish again, or reject it") from None
    if release and kind == "comment" and account is not None and (
            account.closed_at is not None or not comments_open_now(app, account)):
        # As a manager's approval is refused then: what the platform's restriction (or the account's
        # credit level, or its closing) keeps off the posts is not let on by lifting the hold. Checked
        # right before the write, as for a post: a restriction claimed while it is stored came after.
        why = "the account is closed" if account.closed_at is not None else "comments are closed on the account"
        raise OperatorError(f"review item {item_id}: the comment cannot be released now ({why}); release it "
                            "once the account's comments are open again, or reject it")
    settle: Change = (DecideHeldPost(post_id, release, now, note) if kind == "post"
                      else DecideHeldComment(comment_id, release, operator_name(), now))
    named: dict[str, Any] = {"post_id": post_id} if kind == "post" else {"post_id": post_id, "comment_id": comment_id}
    record = audit(app, f"review_{decision}", note, None, aid, target_type="account", kind=kind, item_id=item_id,
                   author_id=author_id, **named)
    already = f"review item {item_id} is already decided"
    lines: list[str] = []
    pen: Change | None
    if not release:
        # A comment or a post is paid for once: a complaint upheld about it (a post's managers see it
        # held, and may report it) may have taken the points.
        cost = (comment_cost(app, author, int(comment_id), record) if kind == "comment"
                else post_cost(app, author, int(post_id), record))
        outcome, taken = (await apply(app, DecideReview(item_id, decision, note, now), settle, cost.change,
                                      undo=cost.undo, conflict=already))[1:]
        pen = cost.settle(app, taken)  # (no await since the write)
        lines = cost.said(taken)
    else:
        pen = None  # (a release costs nothing)
        outcome = (await apply(app, DecideReview(item_id, decision, note, now), settle, audit=record,
                               conflict=already))[1]
    a = app.state.accounts.get(aid)
    if release and kind == "post" and outcome is True and a is not None and a.closed_at is None:
        announce_post(app, a, post_id, item["title"], item["ts"])  # (its managers listed it held)
    if not release and author is not None:
        what = f"post {item['title']!r}" if kind == "post" else f"comment {comment_id} on post {item['title']!r}"
        said = f"your {what} was rejected by the platform: {note}"
        publish(author.sessions, ev.Notice(
            kind="content_removed", account_id=aid, post_id=str(post_id),
            comment_id=None if comment_id is None else str(comment_id), by=operator_name(),
            text=said, content=kind, outcome="rejected", reason=note, title=item["title"]))
        tell_penalty(app, author, pen, said, reason=note)
    if not release and kind == "post" and a is not None:
        announce_post_gone(app, a, post_id, held=True)  # its other managers listed it, held
    if release and kind == "comment" and outcome == "visible" and a is not None:
        # Released and shown now (not one still waiting for the account's approval, nor one its
        # managers hid or deleted meanwhile): announced as a comment approved by the account is.
        # Read after the write: a post deleted meanwhile, or the comment gone since, tells nobody.
        row = await app.store.comment(comment_id)
        if row is not None and row.status == "visible":
            announce_comment_shown(app, a, await app.store.post(post_id), row, "held", "visible")
    if not release and kind == "comment" and a is not None:
        # Held until now: its author and the account's managers listed it (the author is told with
        # the notice above anyway). Read after the write: a post deleted meanwhile tells nobody.
        announce_comment_gone(app, a, await app.store.post(post_id), comment_id, author_id, "held", "rejected")
    if release and kind == "post" and outcome is not True:
        lines.insert(0, f"review item {item_id}: release (not applied: the post was deleted or removed meanwhile)")
        return Result(lines)
    return Result([f"review item {item_id}: {decision}", *lines])
