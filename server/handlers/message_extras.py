"""The v2 parts of a message (a reply, mentions, @all, attachments) and message objects from stored rows.

``send`` calls :func:`check_extras` only when a request sets one of these
fields, so a plain text message costs what it always did. Everything but a reply
is decided from memory: ``reply_to`` must name a message the sender may see (a
seq the group issued after they joined, from memory, and a store read, made only
for a reply, by :func:`reply_visible`, that it is stored, not deleted and not
held), ``mentions`` current members; ``mention_all`` is for the owner and admins and limited per
group (``rate_limits.mention_all_per_group_per_hour``); ``attachments`` are the
sender's own finished uploads (the media module answers from its in-memory
index). Attachments are stored with the message without their ``url``: a
fresh signed one is made whenever the message is shown.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from governance import permissions as perm
from governance import posting
from governance.ids import is_user_id
from protocol import events as ev
from protocol.enums import Role
from protocol.errors import ContractError, shown
from server.handlers import media
from server.handlers.common import user_view
from server.media.service import group_carrier
from server.state import Group, Member, User

if TYPE_CHECKING:
    from protocol import messages as rq
    from server.context import Context
    from server.storage.base import HistoryRow

_ATTACHMENTS = msgspec.json.Decoder(list[ev.AttachmentObj])


@dataclass(frozen=True, slots=True)
class Extras:
    """The checked v2 fields of one ``send`` (attachments without their url)."""

    reply_to: int | None
    mentions: list[str] | None
    mention_all: bool
    attachments: list[ev.AttachmentObj] | None

    def columns(self) -> tuple[int | None, str | None, int, str | None]:
        """The trailing columns of :class:`~server.storage.base.MessageRow`, as stored."""
        return (
            self.reply_to,
            json.dumps(self.mentions) if self.mentions else None,
            1 if self.mention_all else 0,
            msgspec.json.encode(self.attachments).decode() if self.attachments else None,
        )


async def reply_visible(ctx: Context, user: User, gid: str, seq: int) -> bool:
    """Whether the message ``seq`` that a ``send`` answers is one the sender may see: stored,
    not deleted, not held for review (nor rejected). False also for a seq outside what the
    group issued after the sender joined (no read then). When the group or the membership
    is not valid, True: ``send`` refuses that itself, with its own codes, in its own order.

    The caller awaits this before its checks: :func:`check_extras` re-checks the seq's range
    against the membership as it is after the await (the sender may have left and joined
    again). A message deleted after the read is treated as if it was deleted after the reply.
    """
    g = ctx.state.groups.get(gid)
    m = g.members.get(user.user_id) if g is not None else None
    if g is None or m is None:
        return True
    if not m.joined_seq < seq <= g.last_seq:
        return False
    info = await ctx.store.message_info(gid, seq)
    return info is not None and not info.deleted and not info.held


def check_extras(ctx: Context, g: Group, m: Member, user: User, req: rq.Send, now: int,
                 reply_seen: bool = True) -> Extras:
    """Check a ``send``'s v2 fields; raises the contract's refusal.

    In order: ``reply_to`` is ``not_found`` unless it names a message the sender may
    see (``reply_seen``: :func:`reply_visible`'s answer; the seq's range is checked here
    again, from memory, against the current membership); a mention of
    someone who is not a member is ``bad_request`` (mentions are de-duplicated);
    ``mention_all`` by a plain member (or a manager whose powers are suspended) is
    ``forbidden``, past the group's hourly number ``rate_limited``; with
    attachments the text may be empty, and each media id must be a finished
    upload of the sender's (the media module's refusals).
    """
    reply_to = req.reply_to
    if reply_to is not None and not (reply_seen and m.joined_seq < reply_to <= g.last_seq):
        raise ContractError("not_found", f"no message {reply_to} you can see in group {g.group_id}")
    mentions = None
    if req.mentions:
        mentions = list(dict.fromkeys(req.mentions))
        # (a membership whose write is in flight is none yet, as member_of says: refused, it would
        # leave a stored message mentioning someone who never was a member)
        members = g.members
        strangers = [uid for uid in mentions if (mm := members.get(uid)) is None or mm.pending is not None]
        if strangers:
            raise ContractError("bad_request", "mentions must be members of the group: "
                                                 + ", ".join(shown(uid, 32) for uid in strangers[:5]))
    mention_all = bool(req.mention_all)
    if mention_all:
        perm.check("mention_all", posting.acting_role(Role(m.role), user.powers_suspended_until, now))
        wait = ctx.mention_all_per_group.peek(g.group_id, time.monotonic())
        if wait > 0:
            raise ContractError("rate_limited", "@all was used too often in this group; try again later",
                                retry_after_ms=int(wait * 1000) + 1)
    attachments = None
    if req.attachments:
        posting.check_text(req.text, max_chars=ctx.cfg.limits.max_text_chars, field="text", allow_empty=True)
        attachments = media.attachments_for(ctx, user, list(dict.fromkeys(req.attachments)))
    return Extras(reply_to, mentions, mention_all, attachments)


def claim(ctx: Context, g: Group, extras: Extras, now: int) -> None:
    """Count an accepted message's ``mention_all`` against the group's limit and mark its
    uploads attached (both checked by :func:`check_extras`, with no await since)."""
    if extras.mention_all:
        ctx.mention_all_per_group.hit(g.group_id, time.monotonic())
    if extras.attachments:
        media.mark_attached(ctx, extras.attachments, now)


def with_urls(ctx: Context, group_id: str, attachments: list[ev.AttachmentObj] | None) -> list[ev.AttachmentObj] | None:
    """The attachments as the group's members see them: each with a fresh signed ``url`` for the group."""
    if not attachments:
        return None
    carrier = group_carrier(group_id)
    return [msgspec.structs.replace(a, url=media.signed_url(ctx, a.media_id, carrier)) for a in attachments]


def message_event(ctx: Context, g: Group, seq: int, ts: int, sender: ev.UserObj, text: str,
                  extras: Extras) -> ev.MessageEvent:
    """The ``message`` event of a new message with v2 fields."""
    return ev.MessageEvent(group_id=g.group_id, seq=seq, ts=ts, sender=sender, text=text,
                           reply_to=extras.reply_to, mentions=extras.mentions, mention_all=extras.mention_all,
                           attachments=with_urls(ctx, g.group_id, extras.attachments))


def message_obj(ctx: Context, gid: str, r: HistoryRow, mine: list[str] | None = None) -> ev.MessageObj:
    """A stored message as a member sees it in ``history`` (and other reads of messages).

    A deleted message shows only that it was deleted. Otherwise the v2 fields
    that are set: ``reply_to``, ``mentions``, ``mention_all``, ``attachments``
    (with fresh signed urls), ``edited_at`` after an edit, ``reactions``
    ({emoji: count}) once someone reacted, and ``mine`` as ``my_reactions`` (the reader's own).
    """
    sender = user_view(ctx, r.sender_id, r.sender_role)
    if r.deleted:
        return ev.MessageObj.of(gid, r.seq, r.ts, sender, None, deleted_by_whom(r.deleted_by, r.sender_id))
    if (r.reply_to is None and r.mentions is None and not r.mention_all and r.attachments is None
            and r.edited_at is None and r.reactions is None):
        return ev.MessageObj.of(gid, r.seq, r.ts, sender, r.text)
    return ev.MessageObj(
        group_id=gid, seq=r.seq, ts=r.ts, sender=sender, text=r.text, reply_to=r.reply_to,
        mentions=json.loads(r.mentions) if r.mentions else None, mention_all=bool(r.mention_all),
        attachments=with_urls(ctx, gid, _ATTACHMENTS.decode(r.attachments)) if r.attachments else None,
        edited_at=r.edited_at, reactions=_counts(r.reactions), my_reactions=mine,
    )


def deleted_by_whom(deleted_by: str | None, sender_id: str) -> ev.DeletedBy | None:
    """Who hid a message, as members are told it: its sender, a manager (a member's user id other
    than the sender's: which one is not said), or the platform (an operator's name)."""
    if deleted_by is None:
        return None
    if deleted_by == sender_id:
        return "sender"
    return "manager" if is_user_id(deleted_by) else "platform"


def _counts(reactions: str | None) -> dict[str, int] | None:
    counts: dict[str, Any] = json.loads(reactions) if reactions else {}
    return {emoji: int(n) for emoji, n in counts.items()} or None


def event_of(msg: ev.MessageObj, kind: type[ev.MessageEvent] = ev.MessageEvent) -> ev.MessageEvent:
    """The ``message`` event (or ``kind``: ``message_released`` for a held one an operator released)
    of a stored message that is not deleted."""
    if msg.text is None:
        raise ValueError("a deleted message is not sent as a message event")
    return kind(group_id=msg.group_id, seq=msg.seq, ts=msg.ts, sender=msg.sender, text=msg.text,
                           reply_to=msg.reply_to, mentions=msg.mentions, mention_all=msg.mention_all,
                           attachments=msg.attachments, edited_at=msg.edited_at)
