"""The credit one message costs its sender, taken once whatever measures it meets.

A message can meet several of the platform's measures: a complaint about it upheld (``resolve``), its
removal (``remove-message``, as ``docs/operator.md`` recommends after an upheld complaint), a decision on
its review item (``decide`` ``reject`` or ``remove``). Each costs the sender
``credit.penalty_report_upheld`` points, but one message is paid for once: all three go through
:func:`message_cost`, whose change (``MessagePenalty``) decides in the transaction, from the record,
whether an earlier measure on the message took the points, and writes the measure's record entry with
the points it took (``credit_taken``). Race-free in the store: memory claims the points first, as every
penalty does, and gives back what the store did not take.

A public account's comment is paid for once by its author the same way (:func:`comment_cost`, the
change ``CommentPenalty``): a complaint about it upheld, ``remove-comment``, ``decide`` ``reject`` of
its review item; and a post (:func:`post_cost`, the change ``PostPenalty``): complaints about it
upheld, ``decide`` ``reject`` of its review item (a held post's managers see it, and may report it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.handlers.common import give_back_credit
from server.operator.common import penalty
from server.storage.changes import AddCredit, CommentPenalty, MessagePenalty, PostPenalty

if TYPE_CHECKING:
    from collections.abc import Callable

    from server.context import Context
    from server.state import User
    from server.storage.changes import Audit


@dataclass
class MessageCost:
    """A message's (a comment's) penalty claimed in memory (:func:`message_cost`, :func:`comment_cost`):
    ``change`` stores it with the measure's record entry; ``undo`` takes the claim back should the write
    fail. ``what`` names the content in the command's output."""

    user: User | None
    claimed: int
    what: str
    change: MessagePenalty | CommentPenalty | PostPenalty
    undo: Callable[[], None]
    told: int  # the user's credit_told when claimed (give_back_credit)

    def settle(self, app: Context, taken: int) -> AddCredit | None:
        """After the write, with the points the store took: gives back in memory what it did not take
        (an earlier measure on the message took them), told again if a notice went out meanwhile
        (:func:`give_back_credit`); the penalty to tell (``tell_penalty``), or None."""
        if self.user is None:
            return None
        if taken < self.claimed:
            give_back_credit(app, self.user, self.claimed - taken, self.told)
        return AddCredit(self.user.user_id, -taken) if taken else None

    def said(self, taken: int) -> list[str]:
        """The command's output line when the sender was not charged again."""
        if self.user is None or not self.claimed or taken:
            return []
        return [f"no credit taken from {self.user.username}: it was already taken for {self.what}"]


def _claim(app: Context, user: User | None) -> tuple[int, Callable[[], None], int]:
    """The points claimed from ``user`` in memory now (none from no user, or a penalty of 0), the undo,
    and the user's ``credit_told`` before the claim (:meth:`MessageCost.settle`)."""
    told = user.credit_told if user is not None else 0
    points = app.cfg.credit.penalty_report_upheld
    pen, undo = penalty(app, user, points)
    return (points if pen is not None else 0), undo, told


def message_cost(app: Context, sender: User | None, group_id: str, seq: int, record: Audit) -> MessageCost:
    """Claim in memory the sender's penalty for message (``group_id``, ``seq``) and the change that stores
    it once (the last of the op's changes, with ``record`` as the op's entry: ``apply`` gets no
    ``audit``). No await: the caller applies it at once."""
    claimed, undo, told = _claim(app, sender)
    change = MessagePenalty(sender.user_id if sender is not None else None, claimed, group_id, seq, record)
    return MessageCost(sender, claimed, f"message {seq} of group {group_id}", change, undo, told)


def comment_cost(app: Context, author: User | None, comment_id: int, record: Audit) -> MessageCost:
    """:func:`message_cost` for public-account comment ``comment_id``, whose ``author`` pays."""
    claimed, undo, told = _claim(app, author)
    change = CommentPenalty(author.user_id if author is not None else None, claimed, comment_id, record)
    return MessageCost(author, claimed, f"comment {comment_id}", change, undo, told)


def post_cost(app: Context, author: User | None, post_id: int, record: Audit) -> MessageCost:
    """:func:`message_cost` for public-account post ``post_id``, whose ``author`` pays once however
    many reports about it are upheld, and whether it was rejected in review before or after."""
    claimed, undo, told = _claim(app, author)
    change = PostPenalty(author.user_id if author is not None else None, claimed, post_id, record)
    return MessageCost(author, claimed, f"post {post_id}", change, undo, told)
