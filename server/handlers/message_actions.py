"""Acting on a message already sent: ``edit_message``, ``react``, ``pin_message``.

Each checks what memory knows first (the live group, membership, a seq the group
has issued after the caller joined), then reads the message's facts from the
store (sender, time, deleted, held). After that ``await`` the group and the
caller's membership are looked up again, as either may have changed meanwhile.
What the store re-checks in the write's own transaction (the message still
exists and is not deleted; for an edit, still the caller's; a user's number of
reactions) cannot race: a message deleted in between is ``not_found``, never
edited. The pin cap is decided in memory with no ``await`` between the check
and the claim.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from governance import message_rules as rules
from governance import permissions as perm
from governance import posting
from governance.content import Action
from protocol import events as ev
from protocol.enums import Role
from protocol.errors import ContractError
from server.claims import message_turn
from server.fanout import publish
from server.handlers import handler, one_at_a_time, screening
from server.handlers.accounts import message_bucket
from server.handlers.common import (
    acts_as,
    can_post,
    commit,
    live_group,
    member_of,
    pins_seen,
    seeing,
    seeing_members,
    still_active,
)
from server.handlers.messages import record_blocked, review_item
from server.state import Group, Member, User
from server.storage import changes as ch
from server.storage.base import MessageInfo

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session


def _not_found(g: Group, seq: int) -> ContractError:
    return ContractError("not_found", f"no message {seq} in group {g.group_id}")


async def _stored(ctx: Context, user: User, gid: str, seq: int) -> tuple[Group, Member, MessageInfo]:
    """The live group, the caller's membership and the message's facts; ``not_found`` unless the
    caller may see the message (issued after they joined, stored, not deleted or rejected)."""
    g = live_group(ctx, gid)
    m = member_of(g, user)
    if not m.joined_seq < seq <= g.last_seq:
        raise _not_found(g, seq)
    info = await ctx.store.message_info(gid, seq)
    # The await: the group may have closed, the caller left, or their account been closed
    # meanwhile. Look again.
    still_active(user)
    g = live_group(ctx, gid)
    m = member_of(g, user)
    if info is None or info.deleted or info.held == 2 or not m.joined_seq < seq:  # (rejoined meanwhile: later)
        raise _not_found(g, seq)
    return g, m, info


def _throttle(ctx: Context, user: User, now: int) -> None:
    """Edits and reactions reach the whole group like messages: they share the sender's message rate."""
    wait = message_bucket(ctx, user).take(time.monotonic())  # (see message_bucket)
    if wait > 0:
        raise ContractError("rate_limited", "acting too fast", retry_after_ms=int(wait * 1000) + 1)


@handler("edit_message")
async def edit_message(ctx: Context, sess: Session, req: rq.EditMessage, enc: Encoding) -> dict[str, Any]:
    """Replace one's own message's text; the text it had is kept as an earlier version.

    Refusals beyond :func:`governance.message_rules.check_edit`: what would stop
    a ``send`` now (muted, suspended group, ...); the text's length (it may be
    empty only when the message has attachments); the content filter: a ``block``
    match is ``content_blocked`` (recorded and penalised like a message), and so
    is a ``review`` match, since an edit cannot be held back from members who
    already saw the message (send it as a new message, which is held for review);
    a ``flag`` match is applied and queued for the operators' review.
    """
    user = sess.me
    seq = req.seq
    g, m, info = await _stored(ctx, user, req.group_id, seq)
    own = info.sender_id == user.user_id
    if info.held and not own:
        raise _not_found(g, seq)  # held messages were never delivered: others do not know them
    now = ctx.now_ms()
    rules.check_edit(own=own, held=bool(info.held), now=now, sent_at=info.ts,
                     window_seconds=ctx.cfg.limits.edit_window_seconds)
    can_post(ctx, g, m, user, now)
    text = posting.check_text(req.text, max_chars=ctx.cfg.limits.max_text_chars, field="text",
                              allow_empty=info.has_attachments)
    _throttle(ctx, user, now)  # (before the word lists: a blocked text's penalty is a write too)
    verdict = ctx.content.check(text)
    if verdict is not None and verdict.action is Action.BLOCK:
        record_blocked(ctx, user, g.group_id, verdict)
        raise ContractError("content_blocked", f"the message contains prohibited content ({verdict.category})")
    if verdict is not None and verdict.action is Action.REVIEW:
        raise ContractError("content_blocked", f"the new text needs the platform's review ({verdict.category}); "
                                               "send it as a new message instead")
    edit: tuple[ch.Change, ...] = (ch.EditMessage(g.group_id, seq, user.user_id, text, now),)
    if verdict is not None:  # a flag: applied, and queued for the operators in the same write
        item = review_item(verdict)
        edit += (ch.QueueReview(g.group_id, seq, user.user_id, item.action, item.category, item.term, now),)
    await commit(ctx, *edit)
    ctx.forget_owed(g.group_id, seq)
    publish(seeing(g, seq), ev.MessageEdited(group_id=g.group_id, seq=seq, text=text, edited_at=now))
    return {"seq": seq, "edited_at": now}


@handler("react")
async def react(ctx: Context, sess: Session, req: rq.React, enc: Encoding) -> None:
    """Add or take back a reaction; members are told only when something changed.

    An emoji is any short text (:func:`governance.message_rules.check_emoji`);
    it is shown to others, so the content filter's ``block`` and ``review``
    matches are ``content_blocked``, and a ``block`` match is recorded and
    penalised like a message (field ``reaction``). A reaction speaks in the group,
    so whatever would stop a ``send`` now stops it too, with the same codes (muted,
    the group muted for plain members, the platform's suspension of the group,
    ...), checked first as for a ``send``; taking one back (``on: false``) as well. More than ``MAX_REACTIONS_PER_USER``
    different reactions of one user on one message is ``conflict`` (decided by
    the store, in the write's transaction).
    """
    emoji = rules.check_emoji(req.emoji)
    user = sess.me
    seq = req.seq
    g, m, info = await _stored(ctx, user, req.group_id, seq)
    if info.held:
        raise _not_found(g, seq)
    now = ctx.now_ms()
    can_post(ctx, g, m, user, now)
    flag = None
    _throttle(ctx, user, now)  # (before the word lists: a blocked emoji's penalty is a write too)
    if req.on:  # (taking a reaction back publishes nothing: never refused, nor charged, for its emoji)
        try:
            flag = screening.passed(ctx, None, emoji, "emoji", "reaction", group_id=g.group_id)
        except posting.ContentBlocked as hit:
            # A reaction the user has on the message already, added again, changes nothing and tells
            # nobody: refused (its emoji is listed now) but not charged, as a restated name is not.
            mine = await ctx.store.reactions_of(g.group_id, user.user_id, [seq])
            if emoji not in (e for _, e in mine) and user.active:
                screening.record_blocked(ctx, user, hit.verdict, "reaction", group_id=g.group_id)
            raise
    (changed,) = await commit(ctx, ch.SetReaction(g.group_id, seq, user.user_id, emoji, req.on, now,
                                                  rules.MAX_REACTIONS_PER_USER))
    if changed:
        screening.record_flagged(ctx, user, flag, "reaction", group_id=g.group_id)
        publish(seeing(g, seq), ev.Reaction(group_id=g.group_id, seq=seq, user_id=user.user_id, emoji=emoji, on=req.on))


def _manage(ctx: Context, g: Group, actor: User) -> None:
    role = posting.acting_role(Role(member_of(g, actor).role), actor.powers_suspended_until, ctx.now_ms())
    perm.check("pin_message", role)


@handler("pin_message")
# One change of this message's pin at a time, from the check to the commit: the undo of a refused
# pin took out the pin a later unpin and pin had stored meanwhile.
@one_at_a_time(lambda req: message_turn(req.group_id, req.seq))
async def pin_message(ctx: Context, sess: Session, req: rq.PinMessage, enc: Encoding) -> None:
    """Pin or unpin a message (owner and admins); the group is told its new ``pinned`` list (each
    member the pins they may see: :func:`_tell_pins`).

    Pinning a message already pinned, or unpinning one that is not, changes
    nothing and tells nobody. A pinned message that is deleted later stays
    pinned (shown as deleted) until someone unpins it.
    """
    actor = sess.me
    still_active(actor)  # (after the wait for the turn)
    gid, seq = req.group_id, req.seq
    g = live_group(ctx, gid)
    _manage(ctx, g, actor)
    if not member_of(g, actor).joined_seq < seq:  # (pinned or not: one sent before they joined is not theirs)
        raise _not_found(g, seq)
    if req.on:
        if seq in g.pinned:
            return
        g, _, info = await _stored(ctx, actor, gid, seq)
        if info.held:
            raise _not_found(g, seq)
        _manage(ctx, g, actor)  # again after the await: the actor's role may have changed
        if seq in g.pinned:
            return
        # A pin shows the message to the whole group again, as a new announcement would: not while
        # the platform suspends posting, nor before the rules are accepted (unpinning stays open).
        can_post(ctx, g, member_of(g, actor), actor, ctx.now_ms())
        rules.check_pin_room(len(g.pinned), ctx.cfg.limits.max_pins)
        pinned = g.pinned
        pinned.append(seq)

        def undo() -> None:
            if seq in pinned:
                pinned.remove(seq)
    else:
        if seq not in g.pinned:
            return
        pinned = g.pinned
        at = pinned.index(seq)
        pinned.remove(seq)

        def undo() -> None:
            if seq not in pinned:
                pinned.insert(at, seq)

    now = ctx.now_ms()
    pinned_at = now
    if req.on:  # (later than the pin before, whatever the clock says: the order a load reads them back in)
        pinned_at = g.last_pinned_at = max(now, g.last_pinned_at + 1)
    await commit(ctx, acts_as(g, actor), ch.SetPin(gid, seq, req.on, pinned_at, actor.user_id,
                                                   ctx.cfg.limits.max_pins),
                 audit=ch.Audit(now, "user", actor.user_id, "pin_message", gid, None,
                                detail={"seq": seq, "on": req.on}),
                 undo=undo)
    _tell_pins(g, seq)


def _tell_pins(g: Group, seq: int) -> None:
    """``group_updated {pinned}`` to the connections of members who may see message ``seq`` (for the
    others no pin they can see changed), each with the pins its member may see (:func:`pins_seen`);
    one event per distinct list."""
    audiences: dict[tuple[int, ...], list[Session]] = {}
    for s, m in seeing_members(g, seq):
        audiences.setdefault(tuple(pins_seen(g, m)), []).append(s)
    for pinned, sessions in audiences.items():
        publish(sessions, ev.GroupUpdated(group_id=g.group_id, pinned=list(pinned)))
