"""Owner and admin powers (Art. 8, 9: who builds a group answers for it; who manages it too).

Every op asks :mod:`governance.permissions` whether the actor's role may act on
the target's role, claims the change in memory, writes it with its
enforcement-record entry in one transaction (undone in memory if that fails),
then tells the group.
"""

from __future__ import annotations

import time
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from governance import message_rules as rules
from governance import moderation, posting
from governance import permissions as perm
from governance.tiers import check_size_class
from protocol import events as ev
from protocol.enums import JoinPolicy, Role
from protocol.errors import ContractError, shown_id
from server.claims import FieldClaim, Loosening, Settles, Together, message_turn, turn
from server.fanout import publish, publish_paced
from server.handlers import handler, one_at_a_time, screening
from server.handlers.accounts import message_bucket
from server.handlers.common import (
    acts_as,
    banned_now,
    bring_back,
    can_post,
    caps_of,
    check_agreement,
    check_not_banned,
    commit,
    deletions_told,
    ending,
    held_until,
    lapse_requests,
    level_of,
    live_group,
    member_of,
    own_suspension,
    owned_count,
    seeing,
    settled_member,
    still_active,
    suspension_cause,
    take_down,
    user_view,
)
from server.handlers.groups import (
    admit,
    check_room,
    invitation_stands,
    may_let_in,
    remember_rejection,
    remove,
    request_decided,
    request_in_flight,
    validate_category,
    validate_group_name,
)
from server.state import NOTHING, Group, Member, User
from server.storage import changes as ch

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session

def _actor_role(ctx: Context, g: Group, user: User) -> Role:
    return posting.acting_role(Role(member_of(g, user).role), user.powers_suspended_until, ctx.now_ms())


def _target(ctx: Context, g: Group, uid: str) -> tuple[User, Member]:
    user = ctx.state.users.get(uid)
    m = g.members.get(uid)
    if user is None or m is None:
        raise ContractError("not_found", f"{shown_id(uid)} is not a member of group {g.group_id}")
    return user, m


async def _targeted(ctx: Context, sess: Session, gid: str, uid: str, op: str) -> tuple[Group, User, User, Member]:
    """The common start of an op on one member: the group, the actor, the target; permission checked.

    A change of a target whose join is still on its way to the store (a mute, a role, the
    ownership) is made once that join is decided: on the member it made, or ``not_found`` if it
    was refused (the change would be told to the group and recorded for someone who never was a
    member, and memory would keep it on a membership the store does not have). The only await;
    everything is looked up again after it. A kick does not wait: it takes the claimed membership
    back at once, and the store removes the row after the join's write, whatever became of it."""
    g = live_group(ctx, gid)
    if op != "kick" and (pending := g.members.get(uid)) is not None and pending.pending is not None:
        await settled_member(g, uid)
        still_active(sess.me)
        g = live_group(ctx, gid)
    actor = sess.me
    role = _actor_role(ctx, g, actor)
    target, m = _target(ctx, g, uid)
    perm.check(op, role, Role(m.role))
    return g, actor, target, m


def _managed(ctx: Context, sess: Session, gid: str, op: str) -> Group:
    """The common start of a target-less management op: the live group, permission checked."""
    g = live_group(ctx, gid)
    perm.check(op, _actor_role(ctx, g, sess.me))
    return g


def _audit(ctx: Context, actor: User, action: str, g: Group, target: str | None = None, **detail: Any) -> ch.Audit:
    return ch.Audit(ctx.now_ms(), "user", actor.user_id, action, g.group_id, target, detail=detail or None)


def _to_user(ctx: Context, uid: str) -> AbstractSet[Session]:
    u = ctx.state.users.get(uid)
    return u.sessions if u else NOTHING


# -- join verification -----------------------------------------------------------
@handler("join_requests")
async def join_requests(ctx: Context, sess: Session, req: rq.JoinRequests, enc: Encoding) -> dict[str, Any]:
    g = _managed(ctx, sess, req.group_id, "join_requests")
    out = []
    for uid, ts in sorted(g.join_requests.items(), key=lambda kv: kv[1]):
        if uid in g.request_writes:  # (still being stored: not a request before the store has it)
            continue
        u = user_view(ctx, uid, Role.MEMBER)
        out.append({"user_id": u.user_id, "display_name": u.display_name, "role": u.role, "requested_at": ts})
    return {"requests": out}


async def _decidable(ctx: Context, sess: Session, gid: str, uid: str, op: str) -> Group:
    """The group (permission checked), once no write about ``uid``'s joining it is in flight: an
    admission of the requester (their own join from a link, say: admit's "already in" must mean a
    stored membership) or their join request's ``PutJoinRequest`` (acted on while in flight, a
    request the store then refused could admit them, or come back when the decision's own write
    failed). Each wait is followed by every check again, and by another look for writes in flight."""
    g = _managed(ctx, sess, gid, op)
    while True:
        m = g.members.get(uid)
        if m is not None and m.pending is not None and not m.pending.refused:
            await settled_member(g, uid)
        elif (writing := request_in_flight(g, uid)) is not None:
            await writing.decided()
        else:
            return g
        still_active(sess.me)
        g = _managed(ctx, sess, gid, op)


def _pending(g: Group, uid: str) -> None:
    if uid not in g.join_requests:
        raise ContractError("not_found", f"no join request from {shown_id(uid)}")


@handler("approve_join")
async def approve_join(ctx: Context, sess: Session, req: rq.ApproveJoin, enc: Encoding) -> None:
    uid = req.user_id
    g = await _decidable(ctx, sess, req.group_id, uid, "approve_join")  # (no await from here to admit's claim)
    check_not_banned(ctx, g, uid, caller=False)
    _pending(g, uid)
    requester = ctx.state.users.get(uid)
    if requester is None or not requester.active:
        # The request goes, from memory and the store alike (in memory only, it came back at the
        # next start); the manager is told why nobody was let in.
        ts = g.join_requests.pop(uid)

        def undo() -> None:
            g.join_requests.setdefault(uid, ts)

        await commit(ctx, ch.DropJoinRequest(g.group_id, uid), undo=undo)
        request_decided(ctx, g, uid, "dropped", sess.me.user_id)
        raise ContractError("not_found", f"{uid} no longer has an account")
    await admit(ctx, g, requester, "approve", sess.me.user_id, audit=_audit(ctx, sess.me, "approve_join", g, uid),
                acting=acts_as(g, sess.me))
    # Dissolved or closed while the admission was stored: the requester is not told they are in a
    # group that is gone (they were never among its connections, so no group_dissolved reached them).
    live_group(ctx, g.group_id)
    publish(_to_user(ctx, uid), ev.JoinResult(group_id=g.group_id, status="approved", name=g.name))
    request_decided(ctx, g, uid, "approved", sess.me.user_id)


@handler("reject_join")
async def reject_join(ctx: Context, sess: Session, req: rq.RejectJoin, enc: Encoding) -> None:
    uid = req.user_id
    g = await _decidable(ctx, sess, req.group_id, uid, "reject_join")
    _pending(g, uid)
    ts = g.join_requests.pop(uid)
    # The rejection's wait starts with the request's removal, before the write: a request asked again
    # while it is stored met neither the pending request nor the rejection, and was stored anew.
    earlier = (g.rejected or {}).get(uid)
    at = remember_rejection(ctx, g, uid)

    def undo() -> None:
        if not banned_now(ctx, g, uid):  # (a ban meanwhile removed it from the store)
            g.join_requests.setdefault(uid, ts)
        rejected = g.rejected
        if at is not None and rejected is not None and rejected.get(uid) == at:
            if earlier is None:
                del rejected[uid]
            else:
                rejected[uid] = earlier

    await commit(ctx, acts_as(g, sess.me), ch.DropJoinRequest(g.group_id, uid),
                 audit=_audit(ctx, sess.me, "reject_join", g, uid),
                 undo=undo)
    publish(_to_user(ctx, uid), ev.JoinResult(group_id=g.group_id, status="rejected"))
    request_decided(ctx, g, uid, "rejected", sess.me.user_id)


@handler("invite")
# Invitations of one user to one group take turns: a second one decided on the first one's claim
# that the invitee was told already, and when the store refused the first, the one that stood had
# never been told.
# (and the bans' of that user: an invitation stored while a ban of them was in flight, which the store
# then refused, was left out of memory, the ban's claim having said they were banned)
@one_at_a_time(lambda req: turn(("ban", req.group_id, req.user_id)))
async def invite(ctx: Context, sess: Session, req: rq.Invite, enc: Encoding) -> None:
    """An invitation lets the invitee join (past ``approval`` and ``invite`` policies) with ``join_group``."""
    still_active(sess.me)  # (after the wait for the turn: blacklisted or cancelled meanwhile)
    g = live_group(ctx, req.group_id)
    joining = g.members.get(req.user_id)
    if joining is not None and joining.pending is not None:
        # Their join is still being stored: its outcome first (refused, they are no member, and the
        # invitation goes ahead; "already a member" would have been said of a join that never was).
        await settled_member(g, req.user_id)
        still_active(sess.me)
        g = live_group(ctx, req.group_id)
    actor = sess.me
    perm.check("invite", _actor_role(ctx, g, actor), join_policy=g.join_policy)
    uid = req.user_id
    invitee = ctx.state.users.get(uid)
    if invitee is None or not invitee.active:
        raise ContractError("not_found", f"no user {shown_id(uid)}")
    if uid in g.members:
        raise ContractError("conflict", "that user is already a member")
    check_not_banned(ctx, g, uid, caller=False)
    check_room(ctx, g, invitee, own=False)
    now = ctx.now_ms()
    # Told once per standing invitation: re-inviting someone who holds one changes who invited
    # them (as stored) but sends nothing, so nobody can flood a user with `invited`.
    tell = not invitation_stands(ctx, g, uid)
    earlier = g.invited.get(uid)
    if (not tell and earlier is not None and may_let_in(ctx, g, earlier, "invite")
            and not may_let_in(ctx, g, actor.user_id, "invite")):
        # A manager's invitation stands whatever the policy; a member's, put in its place, would lapse
        # once the group turns to invitations only: a member could so take back a manager's.
        return

    def stored(done: bool) -> None:
        # The invitation lets its invitee in once stored, not before: a join on it meanwhile, stored
        # after an invitation the store refused, let a stranger into the group. (Invitations of one
        # user to one group take turns: none other is in flight.) Not when a ban (or an account's
        # closing) took the earlier one out meanwhile: that stands. A join of theirs claimed meanwhile
        # is still in flight (its write came after this one): stored, it drops this invitation as the
        # store did (groups.admit); refused, the invitation stands, as in the store.
        if done and g.invited.get(uid) == earlier and g.settled_member(uid) is None and not banned_now(ctx, g, uid):
            g.invited[uid] = actor.user_id  # the latest inviter's (as stored): theirs decides whether it stands

    await commit(ctx, acts_as(g, actor), ch.PutInvitation(g.group_id, uid, actor.user_id, now),
                 audit=_audit(ctx, actor, "invite", g, uid), then=stored)
    if tell:
        by = user_view(ctx, actor.user_id, g.members[actor.user_id].role if actor.user_id in g.members else Role.MEMBER)
        publish(_to_user(ctx, uid), ev.Invited(group_id=g.group_id, name=g.name, by=by))


# -- acting on members --------------------------------------------------------------
@handler("kick")
async def kick(ctx: Context, sess: Session, req: rq.Kick, enc: Encoding) -> None:
    g, actor, target, _ = await _targeted(ctx, sess, req.group_id, req.user_id, "kick")
    kicked_sessions = set(target.sessions)
    await remove(ctx, g, target.user_id, "kick", actor.user_id, audit=_audit(ctx, actor, "kick", g, target.user_id),
                 acting=acts_as(g, actor))
    publish(g.online | kicked_sessions,
            ev.MemberRemoved(group_id=g.group_id, user_id=target.user_id, by=actor.user_id))


@handler("mute")
async def mute(ctx: Context, sess: Session, req: rq.Mute, enc: Encoding) -> None:
    seconds = moderation.check_mute_seconds(req.seconds)
    g, actor, target, m = await _targeted(ctx, sess, req.group_id, req.user_id, "mute")
    uid = target.user_id
    until = ctx.now_ms() + seconds * 1000 if seconds else 0
    # A mute in memory at once; an unmute (or a shorter mute) once stored: a send meanwhile is refused
    # as muted, never stored on an unmute the store then refuses.
    claim: Settles = FieldClaim(m, {"muted_until": until}) if until >= m.muted_until else Loosening(
        m, {"muted_until": until})
    await commit(ctx, acts_as(g, actor), ch.SetMuted(g.group_id, uid, until),
                 audit=_audit(ctx, actor, "mute", g, uid, seconds=seconds, until=until), claim=claim)
    publish(g.online, ev.MemberMuted(group_id=g.group_id, user_id=uid, until=until))


async def change_group(ctx: Context, actor: User, g: Group, op: str, *, queued: ch.Change | None = None,
                       held: dict[str, str] | None = None, supersede: tuple[str, ...] = (),
                       **fields: Any) -> list[Any]:
    """Claim group fields in memory, store them with the op's record entry, send ``group_updated``.

    ``queued``: a review-queue item stored in the same transaction (a name or announcement the
    word lists flagged or held, G10); ``held``: the held texts by field, for the record entry
    only (they are not applied: the group keeps showing what it showed); ``supersede``: the kinds
    (``group_name``, ``announcement``) given a new text, whose older held texts it closes. A write that only holds
    texts changes nothing the group sees: its entry is ``OP_held`` (``update_group_held``,
    ``set_announcement_held``), kept in the record for the operators and left out of
    ``group_log`` (``HIDDEN_ACTIONS``), since only the author may learn of a held text.
    Returns the write's results (``queued``'s last)."""
    detail = {**fields, **{f"held_{k}": v for k, v in (held or {}).items()}}
    writes = [*(screening.superseding(ctx, kind, g.group_id) for kind in supersede), acts_as(g, actor),
              *([ch.SetGroupFields(g.group_id, fields)] if fields else []), *([queued] if queued else [])]
    loose = {k: v for k, v in fields.items() if _loosens(g, k, v)}
    tight = {k: v for k, v in fields.items() if k not in loose}
    # What tightens (or only changes) the group is claimed at once, what loosens it applied once stored:
    # a join on an opening, or a send on slow mode lifted, the store then refuses would let one through.
    claim = Together(FieldClaim(g, tight), Loosening(g, loose)) if fields else None
    action = op if fields or not held else f"{op}_held"
    results = await commit(ctx, *writes, audit=_audit(ctx, actor, action, g, **detail), claim=claim)
    if fields:
        publish(g.online, ev.GroupUpdated(group_id=g.group_id, **fields))
    for kind, closed in zip(supersede, results, strict=False):
        screening.tell_superseded(ctx, closed, kind, group_id=g.group_id)
    return results[len(supersede) + 1:]


_POLICY_STRICTNESS = {JoinPolicy.OPEN: 0, JoinPolicy.APPROVAL: 1, JoinPolicy.INVITE: 2}


def _loosens(g: Group, field: str, value: Any) -> bool:
    """Whether setting ``field`` of ``g`` to ``value`` lets more through than it does now: a join
    policy that admits more, mute-all turned off, a shorter slow mode."""
    if field == "join_policy":
        return bool(_POLICY_STRICTNESS[JoinPolicy(value)] < _POLICY_STRICTNESS[JoinPolicy(g.join_policy)])
    if field == "mute_all":
        return bool(g.mute_all and not value)
    if field == "slow_mode_seconds":
        return bool(value < g.slow_mode_seconds)
    return False


@handler("mute_all")
async def mute_all(ctx: Context, sess: Session, req: rq.MuteAll, enc: Encoding) -> None:
    g = _managed(ctx, sess, req.group_id, "mute_all")
    await change_group(ctx, sess.me, g, "mute_all", mute_all=req.on)


@handler("set_role")
async def set_role(ctx: Context, sess: Session, req: rq.SetRole, enc: Encoding) -> None:
    new_role = perm.check_new_role(req.role)
    g, actor, target, m = await _targeted(ctx, sess, req.group_id, req.user_id, "set_role")
    if m.role == new_role:
        return
    max_admins = None
    if new_role is Role.ADMIN:
        admins = sum(1 for x in g.members.values() if x.role == Role.ADMIN)
        max_admins = caps_of(ctx, ctx.state.users[g.owner_id]).max_admins  # decided again by the store
        posting.check_admin_cap(admins, max_admins)
    claim = FieldClaim(m, {"role": new_role})
    await commit(ctx, acts_as(g, actor),
                 ch.SetMemberRole(g.group_id, target.user_id, new_role, max_admins, ctx.now_ms(), actor.user_id),
                 audit=_audit(ctx, actor, "set_role", g, target.user_id, role=new_role.value), claim=claim)
    publish(g.online, ev.RoleChanged(group_id=g.group_id, user_id=target.user_id, role=new_role))


@handler("transfer_owner")
async def transfer_owner(ctx: Context, sess: Session, req: rq.TransferOwner, enc: Encoding) -> None:
    """Hand the group on. Checked and claimed in memory in one step (so a second transfer from
    the same owner, or one more group for a new owner at their cap, is refused at once), then
    written by ``TransferOwner``, which re-checks in the database that the actor still owns it
    and that the new owner's caps hold: the groups they own, and the group's member and admin
    caps at their level (a join admitted meanwhile is checked against the new owner's cap,
    which memory holds from the claim on)."""
    g, actor, new_owner, m = await _targeted(ctx, sess, req.group_id, req.user_id, "transfer_owner")
    now = ctx.now_ms()
    posting.check_keeps_owner("handed on", own_suspension(ctx, g), now, "sanction")
    posting.check_can_own(owned=owned_count(ctx, new_owner),
                          max_groups_created=caps_of(ctx, new_owner).max_groups_created,
                          create_revoked=new_owner.create_revoked, by_transfer=True,
                          barred=new_owner.blacklisted, require_id=ctx.cfg.identity.require_id_to_create,
                          id_verified=new_owner.id_verified, held_until=held_until(ctx, new_owner), now=now)
    # The group's member and admin caps follow its owner's level: it must fit the new owner's.
    caps = caps_of(ctx, new_owner)
    admins = sum(1 for x in g.members.values() if x.role == Role.ADMIN) - (m.role == Role.ADMIN)
    posting.check_fits_new_owner(members=len(g.members), max_members=caps.max_members,
                                 admins=admins, max_admins=caps.max_admins)
    check_size_class(len(g.members), ctx.cfg.groups.size_classes,
                     owner_level=level_of(ctx, new_owner), owner_id_verified=new_owner.id_verified)
    old = g.members[actor.user_id]
    # Nobody may mute the owner, so nobody could lift a mute the new owner kept: it ends with the
    # transfer (the store's TransferOwner clears it too).
    was_muted = m.muted_until > now
    # Claimed field by field: a refused write takes back only what no later claim (the new owner
    # handing it on in turn, a role set meanwhile) has built on (server/claims.py).
    claim = Together(FieldClaim(g, {"owner_id": new_owner.user_id}),
                     FieldClaim(m, {"role": Role.OWNER, "muted_until": 0}), FieldClaim(old, {"role": Role.MEMBER}))

    # Decided again by the store, at the same level (no await since the checks above).
    again = ch.UserCaps(created=caps.max_groups_created, own=False)
    group_caps = ch.GroupCaps(max_members=caps.max_members, max_admins=caps.max_admins,
                              size_classes=tuple(ctx.cfg.groups.size_classes),
                              owner_level=level_of(ctx, new_owner), owner_id_verified=new_owner.id_verified)
    await commit(ctx, ch.TransferOwner(g.group_id, actor.user_id, new_owner.user_id, again, group_caps, now,
                                       actor.user_id),
                 audit=_audit(ctx, actor, "transfer_owner", g, new_owner.user_id), claim=claim)
    publish(g.online, ev.RoleChanged(group_id=g.group_id, user_id=new_owner.user_id, role=Role.OWNER))
    publish(g.online, ev.RoleChanged(group_id=g.group_id, user_id=actor.user_id, role=Role.MEMBER))
    if was_muted:
        publish(g.online, ev.MemberMuted(group_id=g.group_id, user_id=new_owner.user_id, until=0))


# -- the group itself -----------------------------------------------------------------
@handler("set_announcement")
async def set_announcement(ctx: Context, sess: Session, req: rq.SetAnnouncement,
                           enc: Encoding) -> dict[str, Any] | None:
    g = _managed(ctx, sess, req.group_id, "set_announcement")
    text = posting.check_text(req.text.strip(), max_chars=ctx.cfg.limits.max_text_chars, field="announcement",
                              allow_empty=True, arg="text")
    if text:
        # A new announcement reaches every member like a message, so whatever would stop this
        # manager's ``send`` now stops it: the platform's suspension of the group (or its
        # category's freeze), a mute, identity, the agreement. Clearing one stays allowed:
        # taking content down is what a suspended or warned group must still be able to do.
        can_post(ctx, g, member_of(g, sess.me), sess.me, ctx.now_ms())
    # The announcement it has, restated: refused if now listed, but not charged (nothing new written).
    screened = screening.screen(ctx, sess.me if text != g.announcement else None, text, "announcement",
                                "announcement", g.announcement, group_id=g.group_id)
    queued = (screened.queued(ctx, "announcement", g.group_id, sess.me.user_id,
                              expect=screened.shown(g.announcement)) if text != g.announcement else None)
    # A new announcement (or none) closes one still held for review: the newest change wins.
    supersede = ("announcement",) if text != g.announcement else ()
    if screened.held:  # waits for an operator; the group keeps its announcement meanwhile
        return screening.held_reply(sess, await change_group(ctx, sess.me, g, "set_announcement", queued=queued,
                                                       held={"announcement": text}, supersede=supersede))
    await change_group(ctx, sess.me, g, "set_announcement", queued=queued, supersede=supersede, announcement=text)
    return None


@handler("update_group")
async def update_group(ctx: Context, sess: Session, req: rq.UpdateGroup, enc: Encoding) -> dict[str, Any] | None:
    g = _managed(ctx, sess, req.group_id, "update_group")
    changed: dict[str, str] = {}
    held: dict[str, str] = {}
    queued: ch.Change | None = None
    supersede: tuple[str, ...] = ()
    category = None
    if req.category is not None:  # (first: a blocked name costs credit, not in a request refused anyway)
        # Restating the category it has is no move: a group frozen with its category stays as it is.
        if req.category != g.category:
            _check_not_frozen_in(ctx, g)
        category = req.category if req.category == g.category else validate_category(ctx, req.category)
    if req.name is not None:
        # A new name is shown to every member, like a post: not while the platform suspends posting.
        # (The category and the join policy may change; a suspended group may still tidy itself up.)
        name = validate_group_name(req.name, g.name)
        # The name it has, restated: refused if now listed, but not charged (the author writes nothing new).
        author = sess.me if name != g.name else None
        if name != g.name:  # (before the word lists: a blocked name costs credit, not when refused anyway)
            posting.check_keeps_owner("renamed", g.suspended_until, ctx.now_ms(), suspension_cause(ctx, g))
            check_agreement(ctx, sess.me)  # a new name is shown to every member: published (G5)
        screened = screening.screen(ctx, author, name, "name", "group_name", g.name, group_id=g.group_id)
        if name != g.name:
            # flagged: applied and queued; held for review: queued, the group keeps its name (G10)
            queued = screened.queued(ctx, "group_name", g.group_id, sess.me.user_id, expect=screened.shown(g.name))
            supersede = ("group_name",)  # a name still held for review is closed: the newest wins
        if screened.held:
            held["name"] = name
        else:
            changed["name"] = name
    if category is not None:
        changed["category"] = category
    if req.join_policy is not None:
        changed["join_policy"] = req.join_policy.value
    if not changed and not held:
        raise ContractError("bad_request", "update_group needs name, category or join_policy")
    results = await change_group(ctx, sess.me, g, "update_group", queued=queued, held=held, supersede=supersede,
                                 **changed)
    return screening.held_reply(sess, results) if held else None


def _check_not_frozen_in(ctx: Context, g: Group) -> None:
    """``group_suspended`` for a move out of a category whose freeze holds ``g``: the group would
    carry the freeze's suspension into a category that is not frozen, where nothing tells it from a
    sanction of the group itself, and its owner would be held as if sanctioned (no dissolving or
    handing it on, no new group) until the freeze ends."""
    now = ctx.now_ms()
    frozen_until = ctx.state.category_frozen_until.get(g.category, 0)
    if not own_suspension(ctx, g):
        # (Also before the freeze has suspended it: a freeze lists its groups at once, then waits for
        # each one's lock; moved out meanwhile, it was suspended all the same, elsewhere.)
        posting.check_keeps_owner("moved out of its frozen category", max(g.suspended_until, frozen_until), now,
                                  "category_freeze")


@handler("delete_message")
# (From the read to the commit: a release or a removal stored meanwhile would make the read stale.)
@one_at_a_time(lambda req: message_turn(req.group_id, req.seq))
async def delete_message(ctx: Context, sess: Session, req: rq.DeleteMessage, enc: Encoding) -> None:
    """Members see ``deleted``; the stored text is kept for the retention period (Art. 13)."""
    still_active(sess.me)  # (after the wait for the turn)
    g = live_group(ctx, req.group_id)
    actor = sess.me
    seq = req.seq
    role = Role(member_of(g, actor).role)
    info = await ctx.store.message_info(g.group_id, seq)
    still_active(actor)  # blacklisted or cancelled while we looked
    g = live_group(ctx, g.group_id)  # closed or dissolved while we looked: final for every op
    me = g.members.get(actor.user_id)
    if me is None:  # left or was removed while we looked
        raise ContractError("not_member", f"you are not a member of group {g.group_id}")
    # Someone else's message held for review was never delivered: managers do not know it
    # exists (deleting it would tell the group, and pre-empt the platform's decision).
    if info is None or seq <= me.joined_seq or not rules.known_to(actor.user_id, info.sender_id, info.held):
        raise ContractError("not_found", f"no message {seq} in group {g.group_id}")
    sender_id, already = info.sender_id, info.deleted
    own = sender_id == actor.user_id
    if not own:
        role = _actor_role(ctx, g, actor)
    sender = g.members.get(sender_id)
    perm.check("delete_message", role, Role(sender.role) if sender else None, own=own)
    if already:
        return
    now = ctx.now_ms()
    # A held message its sender deletes leaves the review queue with it (a platform's release of it
    # later would mark it delivered, and its record entry tell the group of a message it never had).
    settle = [ch.SettleMessageReviews(g.group_id, seq, "withdrawn", "deleted by its sender", now)] if info.held else []
    [*_, shown] = await commit(ctx, *([] if own else [acts_as(g, actor)]), *settle,
                               ch.DeleteMessages(((g.group_id, seq),), now, actor.user_id),
                               # (one held when read: it is named apart, as group_log does not list it)
                               audit=_audit(ctx, actor, "delete_message_held" if info.held else "delete_message",
                                            g, sender_id, seq=seq))
    ctx.forget_owed(g.group_id, seq)
    # The members who may see it are told (one who joined later never saw it) when the store hid
    # it shown. A held message (the caller's own) was never delivered: only its sender knows it.
    # Neither when the store found it deleted already (``remove-term`` meanwhile), which told them.
    deleted = ev.MessageDeleted(group_id=g.group_id, seq=seq, deleted_by="sender" if own else "manager")
    if shown:
        publish(seeing(g, seq), deleted)
    elif info.held:
        publish(g.online & actor.sessions, deleted)


USER_MESSAGES_PAGE = 500  # a person's messages deleted per delete_user_messages (the client asks again)


@handler("delete_user_messages")
# One clean-up of one person's messages in one group at a time: two at once would read the same page.
@one_at_a_time(lambda req: turn(("delete_user_messages", req.group_id, req.user_id)))
async def delete_user_messages(ctx: Context, sess: Session, req: rq.DeleteUserMessages, enc: Encoding
                               ) -> dict[str, Any]:
    """**[ext]** A raid's clean-up: the person's delivered messages the caller could see, newest first,
    :data:`USER_MESSAGES_PAGE` at a time (``more``: ask again), each as ``delete_message`` deletes one
    (the text kept for the record, ``message_deleted`` to those who saw it), in one write with one
    record entry naming them. Allowed as ``delete_message`` of that person's messages is; whether each
    is still shown is the store's to say as it hides them (a deletion or a platform removal meanwhile
    told the group already), so no per-message turn is taken."""
    still_active(sess.me)  # (after the wait for the turn)
    g = live_group(ctx, req.group_id)
    actor, uid = sess.me, req.user_id
    if uid not in ctx.state.users:
        raise ContractError("not_found", f"no user {shown_id(uid)}")
    own = uid == actor.user_id
    # Each request walks the group's messages since the caller joined (no index by sender) and tells the
    # group of each it deletes: a member's clean-up of their own costs one of their message tokens, as an
    # edit does (anyone may ask; a manager's clean-up of a raid is not held back by their own chatting).
    wait = message_bucket(ctx, actor).take(time.monotonic()) if own else 0.0
    if wait > 0:
        raise ContractError("rate_limited", "asking too fast", retry_after_ms=int(wait * 1000) + 1)

    def allowed() -> Member:
        me = member_of(g, actor)
        if not own:
            sender = g.members.get(uid)
            perm.check("delete_message", _actor_role(ctx, g, actor), Role(sender.role) if sender else None)
        return me

    seqs = await ctx.store.user_messages_shown(g.group_id, uid, allowed().joined_seq, USER_MESSAGES_PAGE + 1)
    # (Read with an await: checked again after it, as any role or membership may have changed meanwhile.)
    still_active(actor)
    g = live_group(ctx, g.group_id)
    me = allowed()
    more, seqs = len(seqs) > USER_MESSAGES_PAGE, sorted(s for s in seqs[:USER_MESSAGES_PAGE] if s > me.joined_seq)
    if not seqs:
        return {"deleted": 0, "more": False}
    gid, now = g.group_id, ctx.now_ms()
    # (the record names the messages this write hid, as it hid them: one a platform removal or another
    # manager hid first is not named as this one's)
    [*_, hidden] = await commit(ctx, *([] if own else [acts_as(g, actor)]),
                                ch.DeleteMessages(tuple((gid, seq) for seq in seqs), now, actor.user_id,
                                                  record=_audit(ctx, actor, "delete_user_messages", g, uid)))
    for seq in seqs:
        ctx.forget_owed(gid, seq)
    await publish_paced(deletions_told(ctx, hidden, "sender" if own else "manager"))
    return {"deleted": len(hidden), "more": more}


@handler("dissolve_group")
async def dissolve_group(ctx: Context, sess: Session, req: rq.DissolveGroup, enc: Encoding) -> None:
    """Members are told; the id stays taken for all time and the history stays stored."""
    g = _managed(ctx, sess, req.group_id, "dissolve_group")
    now = ctx.now_ms()
    posting.check_keeps_owner("dissolved", own_suspension(ctx, g), now, "sanction")
    users = ctx.state.users
    g.dissolved_at = now
    online = take_down(users, g)

    def undo() -> None:
        g.dissolved_at = None
        bring_back(users, g)

    with ending(ctx, g):
        await commit(ctx, acts_as(g, sess.me), ch.SetGroupFields(g.group_id, {"dissolved_at": now}),
                     ch.DropGroupRequests(g.group_id), audit=_audit(ctx, sess.me, "dissolve_group", g), undo=undo)
        g.departed.clear()  # (nobody rejoins a dissolved group: no mute of a leaver carries over)
        publish(online, ev.GroupDissolved(group_id=g.group_id, by=sess.me.user_id))
        lapse_requests(users, g, "group_dissolved")


