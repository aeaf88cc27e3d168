"""The word lists on every text others see (G10), and what a ``block`` hit costs.

:func:`checked` is the one way a user's text other than a message reaches the lists: a ``block``
hit refuses it (``content_blocked``), costs its author ``credit.penalty_blocked_content`` and writes
a ``content_blocked`` entry to the enforcement record (:func:`record_blocked`, which a refused
message's, edit's and public account's text use too), naming the ``field`` refused. On names and
announcements, and on public accounts' names and introductions (P10), :func:`screen` goes on: a
``flag`` hit is applied and queued, a ``review`` hit is held in the queue while the old value stays
shown. That policy is ``governance/shown_text.py``; this module only screens the text and builds
the queue item (``changes.QueueShownText``) the handler stores in the same transaction as its change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from governance import posting, shown_text
from governance.content import Action
from governance.shown_text import Outcome
from protocol import events as ev
from protocol.errors import ContractError
from server.fanout import publish, publish_elsewhere
from server.handlers.common import record_penalized
from server.storage import changes as ch

if TYPE_CHECKING:
    from collections.abc import Callable

    from governance.content import Verdict
    from server.context import Context
    from server.session import Session
    from server.state import User

# What the ``field`` of a ``content_blocked`` entry names: in the refusal's reason ("the group name
# contains ...") and in the notice the author gets. One table, so the two never name a text
# differently. (A public account's texts name their field beside the ``account_id``.)
FIELD_NOUNS: Final = {
    "message": "message",
    "group_name": "group name",
    "announcement": "announcement",
    "display_name": "display name",
    "username": "username",
    "reaction": "reaction",
    "file_name": "file name",
    "ban_reason": "ban's reason",
    "invite_note": "invite link's note",
    "name": "account name",
    "intro": "account introduction",
    "org_name": "organisation name",
    "title": "post's title",
    "body": "post's body",
    "comment": "comment",
}


@dataclass(frozen=True, slots=True)
class Screened:
    """A text that passed the ``block`` lists: what to do with it, and why."""

    text: str
    outcome: Outcome
    verdict: Verdict | None

    @property
    def held(self) -> bool:
        return self.outcome is Outcome.HOLD

    def shown(self, meanwhile: str) -> str:
        """What the field shows from now: the text, or ``meanwhile`` while it is held."""
        return meanwhile if self.held else self.text

    def queued(self, ctx: Context, kind: str, group_id: str | None, sender_id: str,
               expect: str, account_id: str | None = None) -> ch.QueueShownText | None:
        """The queue item to store with the change (None for clean text); ``expect``: what the field
        must still show for the operator's decision to change it; ``account_id``: the public account
        whose name or introduction it is."""
        if self.verdict is None:  # (clean text: the outcome is APPLY)
            return None
        return ch.QueueShownText(kind, group_id, sender_id, self.outcome.value, self.verdict.category,
                                 self.verdict.term, self.text, expect, ctx.now_ms(), account_id)


def superseding(ctx: Context, kind: str, target_id: str) -> ch.SupersedeHeldTexts:
    """The write that closes the held texts still waiting for the field ``kind`` of the group, user or
    account ``target_id``, stored with a new text for it (first among the op's writes: the order an
    operator's decision takes its locks in, the review item before the field's row)."""
    return ch.SupersedeHeldTexts(kind, target_id, ctx.now_ms())


def tell_superseded(ctx: Context, closed: list[tuple[int, str]], kind: str, *, group_id: str | None = None,
                    account_id: str | None = None) -> None:
    """``held_text_settled {outcome: "superseded"}`` to the author of each held text a newer change of
    its field closed (``closed``: the result of :func:`superseding`'s write)."""
    for item_id, author_id in closed:
        author = ctx.state.users.get(author_id)
        if author is not None:
            publish(author.sessions, ev.HeldTextSettled(held_id=str(item_id), kind=kind, outcome="superseded",
                                                        group_id=group_id, account_id=account_id))


def held_reply(sess: Session, results: list[Any], **reply: Any) -> dict[str, Any]:
    """The reply to an op whose text was held: ``held: true`` and the ``held_id`` the author can
    withdraw it by (``withdraw_held_text``); ``results``: the commit's, the queue item's last. The
    author's other connections are told (:func:`tell_held_elsewhere`)."""
    tell_held_elsewhere(sess)
    return {**reply, "held": True, "held_id": str(results[-1])}


def tell_held_elsewhere(sess: Session) -> None:
    """[ext] ``self_changed {what: "held_texts"}`` to the author's other connections: a text of
    theirs waits for review now, which a second device shows only once it reads ``my_held_texts``
    again (the connection that asked has ``held: true``; nobody else is told, as the text is
    not shown). At ``register`` there is no one to tell yet."""
    if sess.user is not None:
        publish_elsewhere(sess, sess.user.sessions, ev.SelfChanged(what="held_texts"))


def record_blocked(ctx: Context, author: User, verdict: Verdict, field: str, *, group_id: str | None = None,
                   why: str | None = None, **told: Any) -> None:
    """A ``block`` hit on what ``author`` wrote as ``field`` (a key of :data:`FIELD_NOUNS`, or a public
    account's field): it costs them ``credit.penalty_blocked_content`` (Art. 7) and is written to the
    enforcement record, actor ``system``, with the group (``group_id``) and the category; its detail is
    the matched term, the penalty and ``field``, never the text, nor anything about anyone else.
    ``told`` goes into the record's detail and the author's credit notice (``account_id``); ``why``:
    that notice's text, by default the field's."""
    penalty = ctx.cfg.credit.penalty_blocked_content
    noun = FIELD_NOUNS.get(field, field)
    if why is None:
        why = f"the {noun} you wrote was refused for prohibited content ({verdict.category})"
    where = {"group_id": group_id} if group_id is not None else {}
    record_penalized(ctx, author, penalty, ch.Audit(
        ctx.now_ms(), "system", None, "content_blocked", group_id, author.user_id, verdict.category,
        {"term": verdict.term, "penalty": penalty, "field": field, **told},
    ), f"a blocked text ({field})", why, **where, **told)


def checked(ctx: Context, author: User | None, text: str, arg: str, field: str, *,
            group_id: str | None = None, on_block: Callable[[Verdict], None] | None = None) -> Verdict | None:
    """:func:`governance.posting.screen_text` over ``text`` (the request's argument ``arg``, which
    the refusal's reason names), with a ``block`` hit recorded and charged to ``author`` as ``field``
    (:func:`record_blocked`) before ``content_blocked`` goes back; ``author`` None: a text written
    before there is an account (``register``), refused only. ``on_block``: records the hit instead
    (a public account's texts, recorded with the account). A ``review`` or ``flag`` hit is returned,
    clean text gives None."""
    try:
        return posting.screen_text(ctx.content, text, arg, FIELD_NOUNS.get(field, field))
    except posting.ContentBlocked as hit:
        if on_block is not None:
            on_block(hit.verdict)
        elif author is not None:
            record_blocked(ctx, author, hit.verdict, field, group_id=group_id)
        raise


def passed(ctx: Context, author: User | None, text: str, arg: str, field: str, *,
           group_id: str | None = None) -> Verdict | None:
    """:func:`checked` for a text that cannot be held for review (nothing stands in for it while
    it waits: a reaction, a file name, a ban's reason, an invite link's note, a username): a
    ``review`` hit is refused too, ``content_blocked`` naming the category (no credit taken: the
    list holds such texts, it does not punish them). A ``flag`` hit goes through and is returned:
    nothing can queue such a text for review, so the caller writes it to the enforcement record
    with :func:`record_flagged` once what carries it is stored (not for a request refused after)."""
    verdict = checked(ctx, author, text, arg, field, group_id=group_id)
    if verdict is not None and verdict.action is Action.REVIEW:
        raise ContractError("content_blocked", f"that {FIELD_NOUNS.get(field, field)} is not allowed "
                                               f"({verdict.category})")
    return verdict


def neutral_display_name(ctx: Context, username: str, user_id: str) -> str:
    """What stands in for a user's held or removed display name: their username, unless the word
    lists hold it (:func:`governance.shown_text.neutral`)."""
    try:
        listed = posting.screen_text(ctx.content, username, "username", "username") is not None
    except posting.ContentBlocked:
        listed = True
    return shown_text.neutral("display_name", username=username, user_id=user_id, username_listed=listed)


def record_flagged(ctx: Context, author: User, verdict: Verdict | None, field: str, *,
                   group_id: str | None = None) -> None:
    """A ``flag`` hit on a text :func:`passed` let through, now stored and shown: a ``content_flagged``
    entry in the enforcement record (actor ``system``, the author, the group, the category; detail the
    matched term and ``field``, never the text), for the operators; no credit taken. None: nothing."""
    if verdict is None:
        return
    record_penalized(ctx, author, 0, ch.Audit(
        ctx.now_ms(), "system", None, "content_flagged", group_id, author.user_id, verdict.category,
        {"term": verdict.term, "field": field, "penalty": 0},
    ), f"a flagged text ({field})", "")


def screen(ctx: Context, author: User | None, text: str, arg: str, field: str, shown: str, *,
           group_id: str | None = None) -> Screened:
    """Run the word lists over ``text`` (the argument ``arg``, recorded as ``field``; see
    :func:`checked`): ``content_blocked`` on a ``block`` hit; ``shown`` is what the field would
    show meanwhile if the text were held."""
    verdict = checked(ctx, author, text, arg, field, group_id=group_id)
    return Screened(text, shown_text.outcome(verdict, text, shown), verdict)
