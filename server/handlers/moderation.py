"""Group moderation by its owner and admins: bans, slow mode, invite links, the group log.

Like the other management ops (``management.py``): permission from
:mod:`governance.permissions`, claim in memory, write with the enforcement-record
entry in one transaction (undone in memory if that fails), then tell whom it
concerns. The rules themselves (ranges, when a ban or link stops applying, what
the log shows) are :mod:`governance.moderation`. Joining by an invite link is
``join_group`` (``groups.py``); the slow-mode check is in ``send``.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from governance import moderation, posting
from governance import permissions as perm
from protocol import events as ev
from protocol.enums import Role
from protocol.errors import ContractError, shown_id
from protocol.messages import entry_id
from server.claims import turn
from server.fanout import publish
from server.handlers import handler, one_at_a_time, screening
from server.handlers.common import (
    acts_as,
    banned_now,
    commit,
    live_group,
    member_in_store,
    member_of,
    membership_claimed,
    membership_decided,
    membership_in_flight,
    still_active,
)
from server.handlers.groups import remember_departed, request_decided, to_managers
from server.handlers.management import _actor_role, _audit, _managed, _to_user, change_group
from server.state import Ban, Group, InviteLink, User
from server.storage import changes as ch

if TYPE_CHECKING:
    from governance.content import Verdict
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session

MAX_REASON_CHARS = 200
MAX_NOTE_CHARS = 200
CODE_BYTES = 18  # 144 random bits: a 24-character URL-safe code


def _text(ctx: Context, author: User, g: Group, raw: str | None, arg: str, field: str,
          max_chars: int) -> tuple[str | None, Verdict | None]:
    """An optional free text others will see (the argument ``arg``): length-checked and content-screened
    (a ``block`` hit recorded as ``field`` and charged to ``author``; a ``review`` hit refused too,
    since nothing would stand in for the text while it waited); None when blank. With it, a ``flag``
    hit, for :func:`screening.record_flagged` once the text is stored."""
    if raw is None or not raw.strip():
        return None, None
    text = posting.check_text(raw.strip(), max_chars=max_chars, field=arg)
    return text, screening.passed(ctx, author, text, arg, field, group_id=g.group_id)


# -- bans ---------------------------------------------------------------------------------
def _owner_confirmed(g: Group, role: Role, standing: Ban | None) -> list[ch.Change]:
    """For an admin changing a standing ban (lifting or replacing it): the store confirms that the
    owner is whom memory shows. Only a ban the owner made is out of an admin's reach, and memory
    shows a new owner from a transfer's claim on: a transfer refused after an admin lifted the old
    owner's ban would leave that owner's ban lifted by an admin."""
    if role is not Role.ADMIN or standing is None:
        return []
    return [ch.ActsAs(g.group_id, g.owner_id, Role.OWNER.value,
                      refusal="the group's ownership was changing as you acted; try again")]


@handler("ban")
# Bans of one user in one group take turns, from the check to the commit: two at once, both
# refused by the store, left the second's undo putting back the first's ban, never stored.
@one_at_a_time(lambda req: turn(("ban", req.group_id, req.user_id)))
async def ban(ctx: Context, sess: Session, req: rq.Ban, enc: Encoding) -> None:
    """Remove (when a member) and keep out: their join request and invitation go with it."""
    seconds = moderation.check_ban_seconds(req.seconds)
    still_active(sess.me)  # (after the wait for the turn)
    g = live_group(ctx, req.group_id)
    actor = sess.me
    member_of(g, actor)
    uid = req.user_id
    target = ctx.state.users.get(uid)
    if target is None:  # (before forbidden, as the contract orders them: also for suspended powers)
        raise ContractError("not_found", f"no user {shown_id(uid)}")
    role = _actor_role(ctx, g, actor)
    m = g.members.get(uid)
    perm.check("ban", role, Role(m.role) if m is not None else None)
    standing = _bans_in_force(ctx, g).get(uid)
    if standing is not None:  # (a new ban replaces it: an admin may not shorten the owner's)
        perm.check_ban_change(role, standing.by == g.owner_id)
    reason, flag = _text(ctx, actor, g, req.reason, "reason", "ban_reason", MAX_REASON_CHARS)
    now = ctx.now_ms()
    until = now + seconds * 1000 if seconds else 0
    gid = g.group_id
    # (an admin's ban, or one replacing the ban of someone who was an admin then: the owner's to lift)
    of_admin = (m is not None and m.role == Role.ADMIN) or (standing is not None and standing.of_admin)
    changes: list[ch.Change] = [acts_as(g, actor), *_owner_confirmed(g, role, standing),
                                ch.PutBan(gid, uid, until, actor.user_id, reason, now, of_admin)]
    # Claimed with no await before the write: from here on, joins, invitations and approvals
    # of this user are refused, and they are no longer a member.
    earlier = g.bans.get(uid)
    banned = g.bans[uid] = Ban(until, actor.user_id, reason, now, of_admin)
    requested = g.join_requests.pop(uid, None)
    invited_by = g.invited.pop(uid, None)
    removed_sessions = set(target.sessions) if m is not None else set()
    writes = membership_claimed(g, uid) if m is not None or membership_in_flight(g, uid) else None
    if writes is not None:
        changes.append(ch.RemoveMember(gid, uid, now, "ban", actor.user_id))
    if m is not None:
        del g.members[uid]
        target.drop_group(gid)
        g.online.difference_update(target.sessions)
        remember_departed(ctx, g, uid, m)

    def undo() -> None:
        if g.bans.get(uid) is banned:  # (not if unbanned or banned again meanwhile: that change stands)
            if earlier is not None:
                g.bans[uid] = earlier
            else:
                del g.bans[uid]
        # (Not what a join of theirs stored meanwhile used up: its undo had left them to be dropped then.)
        if not banned_now(ctx, g, uid) and not member_in_store(g, uid):
            if requested is not None:
                g.join_requests.setdefault(uid, requested)
            if invited_by is not None:
                g.invited.setdefault(uid, invited_by)
        # (The membership: membership_decided, after this.)

    audit = ch.Audit(now, "user", actor.user_id, "ban", gid, uid, reason or "",
                     {"seconds": seconds, "until": until})
    decided = None if writes is None else (lambda stored: membership_decided(g, target, writes, stored, None))
    await commit(ctx, *changes, audit=audit, undo=undo, then=decided)
    screening.record_flagged(ctx, actor, flag, "ban_reason", group_id=gid)
    if m is not None:
        publish(g.online | removed_sessions,
                ev.MemberRemoved(group_id=gid, user_id=uid, by=actor.user_id, banned=True))
    if requested is not None:
        publish(_to_user(ctx, uid), ev.JoinResult(group_id=gid, status="rejected"))
    publish(to_managers(ctx, g), ev.BanChanged(group_id=gid, user_id=uid, by=actor.user_id,
                                                       ban=ev.BanObj(**_ban_fields(uid, banned))))
    if requested is not None:
        request_decided(ctx, g, uid, "rejected", actor.user_id)


def _ban_fields(uid: str, b: Ban) -> dict[str, Any]:
    """A ban as ``bans`` lists it and **[ext]** ``ban_changed`` tells it: phone and ID numbers in its
    reason masked, as in ``group_log``."""
    return {"user_id": uid, "until": b.until or 0, "by": b.by, "of_admin": b.of_admin,
            "reason": moderation.redact(b.reason) if b.reason else None}


def _bans_in_force(ctx: Context, g: Group) -> dict[str, Ban]:
    """The group's bans still in force; ended ones are dropped from memory (their rows are inert)."""
    now = ctx.now_ms()
    for uid in [u for u, b in g.bans.items() if not moderation.ban_in_force(b.until, now)]:
        del g.bans[uid]
    return g.bans


@handler("unban")
# In the bans' turn: an unban of a ban still in flight took it out of memory, so the ban's refusal
# left nothing to take back, and the unban's own refusal then put back a ban never stored (or a
# ban after a refused unban put back, at its refusal, no ban while the store kept the first).
@one_at_a_time(lambda req: turn(("ban", req.group_id, req.user_id)))
async def unban(ctx: Context, sess: Session, req: rq.Unban, enc: Encoding) -> None:
    still_active(sess.me)  # (after the wait for the turn)
    g = _managed(ctx, sess, req.group_id, "unban")
    uid = req.user_id
    b = _bans_in_force(ctx, g).get(uid)
    if b is None:
        raise ContractError("not_found", f"{shown_id(uid)} is not banned from group {g.group_id}")
    role = _actor_role(ctx, g, sess.me)
    perm.check_unban(role, b.of_admin)

    def stored(done: bool) -> None:
        # The ban leaves memory once its removal is stored, not before: a join meanwhile is refused as
        # banned, never stored on an unban the store then refuses. (Bans of one user take turns.)
        if done and g.bans.get(uid) is b:
            del g.bans[uid]

    await commit(ctx, acts_as(g, sess.me), *_owner_confirmed(g, role, b), ch.DropBan(g.group_id, uid),
                 audit=_audit(ctx, sess.me, "unban", g, uid), then=stored)
    publish(to_managers(ctx, g), ev.BanChanged(group_id=g.group_id, user_id=uid, by=sess.me.user_id))


@handler("bans")
async def bans(ctx: Context, sess: Session, req: rq.Bans, enc: Encoding) -> dict[str, Any]:
    """The bans in force, oldest first; phone and ID numbers in a reason are masked, as in ``group_log``."""
    g = _managed(ctx, sess, req.group_id, "bans")
    in_force = sorted(_bans_in_force(ctx, g).items(), key=lambda kv: kv[1].created_at)
    return {"bans": [_ban_fields(uid, b) for uid, b in in_force]}


# -- slow mode ----------------------------------------------------------------------------
@handler("set_slow_mode")
async def set_slow_mode(ctx: Context, sess: Session, req: rq.SetSlowMode, enc: Encoding) -> None:
    seconds = moderation.check_slow_mode_seconds(req.seconds)
    g = _managed(ctx, sess, req.group_id, "set_slow_mode")
    await change_group(ctx, sess.me, g, "set_slow_mode", slow_mode_seconds=seconds)


# -- invite links -------------------------------------------------------------------------
def _drop_dead_links(ctx: Context, g: Group, now: int) -> None:
    """Forget the group's links that can no longer be used (expired, used up): memory only."""
    links = ctx.state.invite_links
    for h in list(g.invite_links):
        link = links.get(h)
        if link is None or not moderation.link_usable(link.uses, link.max_uses, link.expires_at, link.revoked, now):
            g.invite_links.discard(h)
            links.pop(h, None)


def _creator_manages(g: Group, link: InviteLink) -> bool:
    creator = g.members.get(link.created_by)
    return moderation.link_creator_manages(creator.role if creator is not None else None)


def _links_in_force(ctx: Context, g: Group) -> int:
    """The group's links not revoked, expired or used up, whoever made them: one whose creator no
    longer manages the group admits nobody, but works again if they manage it again, so it counts
    until it is revoked (counted only while it worked, links brought back so passed the cap)."""
    links = ctx.state.invite_links
    return sum(1 for h in g.invite_links if h in links)


@handler("create_invite_link")
async def create_invite_link(ctx: Context, sess: Session, req: rq.CreateInviteLink,
                             enc: Encoding) -> dict[str, Any]:
    g = _managed(ctx, sess, req.group_id, "create_invite_link")
    moderation.check_link_limits(req.max_uses, req.expires_in_seconds)
    note, flag = _text(ctx, sess.me, g, req.note, "note", "invite_note", MAX_NOTE_CHARS)
    actor = sess.me
    now = ctx.now_ms()
    _drop_dead_links(ctx, g, now)
    cap = ctx.cfg.limits.max_invite_links
    if _links_in_force(ctx, g) >= cap:
        raise ContractError("conflict", f"a group may have at most {cap} invite links that are not revoked, expired "
                            "or used up (also those of former managers, which work again if they manage it "
                            "again); revoke one first")
    code = secrets.token_urlsafe(CODE_BYTES)
    h = moderation.code_hash(code)
    expires_at = now + req.expires_in_seconds * 1000 if req.expires_in_seconds else None
    link = InviteLink(h, g.group_id, actor.user_id, now, expires_at, req.max_uses, note=note)
    ctx.state.invite_links[h] = link
    g.invite_links.add(h)

    def undo() -> None:
        ctx.state.invite_links.pop(h, None)
        g.invite_links.discard(h)

    detail = {"link": moderation.link_id(h), "max_uses": req.max_uses, "expires_at": expires_at, "note": note}
    audit = ch.Audit(now, "user", actor.user_id, "create_invite_link", g.group_id,
                     detail={k: v for k, v in detail.items() if v is not None})
    await commit(ctx, acts_as(g, actor),
                 ch.InsertInviteLink(h, g.group_id, actor.user_id, now, expires_at, req.max_uses, note or ""),
                 audit=audit, undo=undo)
    screening.record_flagged(ctx, actor, flag, "invite_note", group_id=g.group_id)
    made = ev.InviteLinkObj(**_link_fields(link))
    publish(to_managers(ctx, g), ev.InviteLinkChanged(group_id=g.group_id, link_id=made.link_id,
                                                              by=actor.user_id, link=made))
    out: dict[str, Any] = {"code": code, "link_id": moderation.link_id(h)}  # [ext] link_id, as invite_links names it
    if expires_at is not None:
        out["expires_at"] = expires_at
    if req.max_uses is not None:
        out["max_uses"] = req.max_uses
    return out


def _link_named(ctx: Context, g: Group, req: rq.RevokeInviteLink, now: int) -> str:
    """The code hash of the link ``revoke_invite_link`` names, by ``code`` or **[ext]** ``link_id``
    (exactly one of them); ``not_found`` unless it is one of this group's links that can still be used."""
    if (req.code is None) == (req.link_id is None):
        raise ContractError("bad_request", "revoke_invite_link: give either 'code' or 'link_id', not both"
                            if req.code is not None else "revoke_invite_link: missing argument 'code' (or 'link_id')")
    links = ctx.state.invite_links
    if req.code is not None:
        h = moderation.code_hash(req.code)
        link = links.get(h)
        if link is None or link.group_id != g.group_id:
            raise ContractError("not_found", "no such invite link in this group")
        if not moderation.link_usable(link.uses, link.max_uses, link.expires_at, link.revoked, now):
            raise ContractError("not_found", "this invite link expired or was used up already")
        return h
    # By link_id: a scan of the group's own links, a short list (limits.max_invite_links caps those in force).
    found = [h for h in g.invite_links if moderation.link_id(h) == req.link_id and h in links
             and moderation.link_usable(links[h].uses, links[h].max_uses, links[h].expires_at, links[h].revoked, now)]
    if not found:
        raise ContractError("not_found", "no invite link of this group that can still be used has that link_id")
    if len(found) > 1:
        raise ContractError("conflict", "two invite links of this group share that link_id; revoke one by its code")
    return found[0]


@handler("revoke_invite_link")
async def revoke_invite_link(ctx: Context, sess: Session, req: rq.RevokeInviteLink, enc: Encoding) -> None:
    g = _managed(ctx, sess, req.group_id, "revoke_invite_link")
    now = ctx.now_ms()
    h = _link_named(ctx, g, req, now)
    link = ctx.state.invite_links[h]
    del ctx.state.invite_links[h]
    g.invite_links.discard(h)
    link.revoked = True

    def undo() -> None:
        link.revoked = False
        ctx.state.invite_links.setdefault(h, link)
        g.invite_links.add(h)

    await commit(ctx, acts_as(g, sess.me), ch.RevokeInviteLink(h, now, sess.me.user_id),
                 audit=_audit(ctx, sess.me, "revoke_invite_link", g, link=moderation.link_id(h)), undo=undo)
    publish(to_managers(ctx, g), ev.InviteLinkChanged(group_id=g.group_id, link_id=moderation.link_id(h),
                                                              by=sess.me.user_id))


@handler("invite_links")
async def invite_links(ctx: Context, sess: Session, req: rq.InviteLinks, enc: Encoding) -> dict[str, Any]:
    """**[ext]** The group's links that can still be used (not revoked, expired or used up), oldest
    first, with their uses: never a code (only its hash is kept). A link whose creator no longer
    manages the group is listed too (it works again if they do), so that it can be revoked for
    good. Phone and ID numbers in a note are masked, as in ``group_log``."""
    g = _managed(ctx, sess, req.group_id, "invite_links")
    _drop_dead_links(ctx, g, ctx.now_ms())
    links = ctx.state.invite_links
    usable = sorted((links[h] for h in g.invite_links), key=lambda link: (link.created_at, link.code_hash))
    return {"links": [_link_fields(link) for link in usable]}


def _link_fields(link: InviteLink) -> dict[str, Any]:
    """A link as ``invite_links`` lists it and **[ext]** ``invite_link_changed`` tells it: never its
    code; phone and ID numbers in its note masked, as in ``group_log``."""
    return {"link_id": moderation.link_id(link.code_hash), "created_by": link.created_by,
            "created_at": link.created_at, "expires_at": link.expires_at, "max_uses": link.max_uses,
            "uses": link.uses, "note": moderation.redact(link.note) if link.note else None}


# -- the group log --------------------------------------------------------------------------
@handler("group_log")
async def group_log(ctx: Context, sess: Session, req: rq.GroupLog, enc: Encoding) -> dict[str, Any]:
    """Management actions in the group and platform measures on it, newest first (for its managers)."""
    g = _managed(ctx, sess, req.group_id, "group_log")
    limit = moderation.log_limit(req.limit)
    rows = await ctx.store.group_log(g.group_id, entry_id(req.before_id), limit, moderation.HIDDEN_ACTIONS)
    # Again after the read: a manager removed, demoted or closed meanwhile was told so before this
    # answer, which must not hand them the log they no longer may read.
    still_active(sess.me)
    _managed(ctx, sess, req.group_id, "group_log")
    entries = [moderation.log_entry(*row) for row in rows]
    # [ext] the display names of the users the page names: a member who left, was kicked or was
    # refused is named in the log as one still in the group is (a display name, never identity data)
    users = ctx.state.users
    named = {uid for e in entries for uid in (e["actor"], e.get("target_user_id")) if uid in users}
    return {"entries": entries, "users": {uid: users[uid].display_name for uid in sorted(named)}}
