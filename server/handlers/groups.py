"""Groups: create, info, join, leave, members, my_groups (Art. 8); the categories a server accepts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from governance import moderation, names, posting, shown_text
from governance import permissions as perm
from governance.ids import new_group_id
from governance.retention import DAY_MS
from governance.tiers import activity_class, check_size_class, size_class
from protocol import events as ev
from protocol.enums import JoinPolicy, Role
from protocol.errors import ContractError
from server.fanout import publish, publish_elsewhere
from server.handlers import handler, screening
from server.handlers.common import (
    caps_of,
    check_agreement,
    check_not_banned,
    commit,
    group_max_members,
    held_until,
    joining,
    level_of,
    live_group,
    member_in_store,
    member_of,
    membership_claimed,
    membership_decided,
    owned_count,
    pins_seen,
    settled_member,
    start_write,
    still_active,
    suspension_cause,
    take_window,
    user_view,
)
from server.state import Admission, Group, InviteLink, Member, User
from server.storage import changes as ch

if TYPE_CHECKING:
    from protocol import messages as rq
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session

GROUP_ID_TRIES = 8  # a 9-to-12-digit random id collides rarely; the store has the last word


def validate_group_name(raw: str, current: str | None = None) -> str:
    """The trimmed name, 1 to 64 characters people can see as they are (:func:`names.check_name`;
    screen it with :func:`screening.screen`), not a group's stand-in unless it is the name the group
    shows now (``current``: restated). Refusals carry **[ext]** ``field: "name"``."""
    name = raw.strip()
    if not 1 <= len(name) <= 64:
        raise ContractError("bad_request", "a group name is 1 to 64 printable characters", field="name")
    name = names.check_name(name, "name")
    return name if name == current else names.check_group_name_stand_in(name)


def validate_category(ctx: Context, category: str) -> str:
    """A configured category, not frozen by the platform now (a group opened in it or moved into it)."""
    if category not in ctx.cfg.groups.categories:
        raise ContractError(
            "bad_request", f"category must be one of: {', '.join(ctx.cfg.groups.categories)}"
        )
    posting.check_category_open(category, ctx.state.category_frozen_until.get(category, 0), ctx.now_ms())
    return category


def check_can_create(ctx: Context, user: User) -> None:
    caps = caps_of(ctx, user)
    posting.check_can_own(
        owned=owned_count(ctx, user), max_groups_created=caps.max_groups_created,
        create_revoked=user.create_revoked, joined=len(user.groups), max_groups_joined=caps.max_groups_joined,
        require_id=ctx.cfg.identity.require_id_to_create, id_verified=user.id_verified,
        held_until=held_until(ctx, user), now=ctx.now_ms(),
    )
    check_size_class(1, ctx.cfg.groups.size_classes, owner_level=level_of(ctx, user),
                     owner_id_verified=user.id_verified)


@handler("categories")
async def categories(ctx: Context, sess: Session, req: rq.Categories, enc: Encoding) -> dict[str, Any]:
    """The categories ``create_group`` and ``create_account`` accept (``groups.categories``,
    ``public_accounts.categories``), as configured now: a reload changes them for the next request."""
    return {"groups": list(ctx.cfg.groups.categories), "accounts": list(ctx.cfg.public_accounts.categories)}


@handler("create_group")
async def create_group(ctx: Context, sess: Session, req: rq.CreateGroup, enc: Encoding) -> dict[str, Any]:
    user = sess.me
    name = validate_group_name(req.name)
    # The refusals the contract lists first, before the word lists (a blocked name costs credit: not
    # for a request refused anyway); checked again below, with the claim.
    validate_category(ctx, req.category)
    check_can_create(ctx, user)
    check_agreement(ctx, user)  # a new group's name is new words shown to others, as a rename's (G5)
    # A name held for review (G10): the group opens under its neutral name (which needs the id
    # drawn below) until an operator releases it. Nothing is shown before the group exists.
    screened = screening.screen(ctx, user, name, "name", "group_name", "")
    policy = req.join_policy
    groups = ctx.state.groups
    for _ in range(GROUP_ID_TRIES):
        # Checked and claimed with no await in between: concurrent creates (and
        # transfers to this user) see this group at once and cannot pass the caps,
        # and a freeze-category claimed while a taken id was being refused is seen.
        category = validate_category(ctx, req.category)
        check_can_create(ctx, user)
        gid = new_group_id(ctx.randbelow)
        # (memory holds the live groups and the closed ones; an ended group's id, kept only by the
        # store, is refused by it, GroupIdTaken, and drawn again)
        while gid in groups or gid in ctx.state.closed:
            gid = new_group_id(ctx.randbelow)
        now = ctx.now_ms()
        shown = screened.shown(shown_text.neutral("group_name", group_id=gid))
        g = Group(gid, shown, category, policy.value, user.user_id, now)
        owner = g.members[user.user_id] = Member(Role.OWNER, 0)
        admission = Admission(owner)
        groups[gid] = g
        user.add_group(gid)

        def undo(g: Group = g) -> None:
            if groups.get(g.group_id) is g:
                del groups[g.group_id]
            user.drop_group(g.group_id)

        try:
            caps = caps_of(ctx, user)  # decided above in memory; the store decides them again
            again = ch.UserCaps(joined=caps.max_groups_joined, created=caps.max_groups_created)
            queued = screened.queued(ctx, "group_name", gid, user.user_id, expect=shown)
            # The first name, category and policy in the record (G13): a rename replaces the row's name,
            # and the record then has every name the group was shown under (a held one as held_name,
            # which group_log never shows: its text is the author's and the operators' only).
            entry = ch.Audit(now, "user", user.user_id, "create_group", gid, detail={
                "name": shown, "category": category, "join_policy": policy.value,
                **({"held_name": name} if screened.held else {})})
            results = await commit(ctx, ch.CreateGroup(gid, shown, category, policy.value, user.user_id, now, again),
                                   *([queued] if queued else []), audit=entry, undo=undo, claim=admission)
        except ch.GroupIdTaken:
            continue  # issued before (another node, or a group this node never loaded): draw again
        if groups.get(gid) is g and g.alive and user.user_id in g.members:  # (not dissolved meanwhile)
            g.online.update(user.sessions)
            # [ext] The creator's other devices list the new group (they get its events from now on).
            publish_elsewhere(sess, user.sessions,
                              ev.MemberJoined(group_id=gid, user=user_view(ctx, user.user_id, Role.OWNER)))
        return screening.held_reply(sess, results, group_id=gid) if screened.held else {"group_id": gid}
    raise ContractError("internal", "could not find a free group id; try again")


def info(ctx: Context, g: Group, viewer: Member | None) -> dict[str, Any]:
    """The info map as ``viewer`` sees it; non-members (``None``) of a public (large) group do not see
    the announcement or the pins, and a member sees only the pins they may read (:func:`pins_seen`)."""
    member = viewer is not None
    window = ctx.cfg.groups.activity_window_days
    today = ctx.now_ms() // DAY_MS
    recent = sum(n for day, n in g.daily.items() if day > today - window)
    count = g.member_count()
    size = size_class(count, ctx.cfg.groups.size_classes)
    activity = activity_class(recent, window, ctx.cfg.groups.activity_classes)
    return {
        "group_id": g.group_id,
        "name": g.name,
        "category": g.category,
        "member_count": count,
        "max_members": group_max_members(ctx, g),
        "owner": user_view(ctx, g.owner_id, Role.OWNER),
        "join_policy": g.join_policy,
        "announcement": g.announcement if member else "",
        "created_at": g.created_at,
        "mute_all": g.mute_all,
        "pinned": pins_seen(g, viewer) if viewer is not None else [],
        "slow_mode_seconds": g.slow_mode_seconds,
        "size_class": size.name if size else None,
        "activity_class": activity.name if activity else None,
    }


@handler("group_info")
async def group_info(ctx: Context, sess: Session, req: rq.GroupInfo, enc: Encoding) -> dict[str, Any]:
    g = live_group(ctx, req.group_id)
    # (a membership whose write is in flight is none yet, as for every read a member makes: member_of;
    # refused by the store, the person would have read a private group's announcement and pins)
    viewer = g.settled_member(sess.me.user_id)
    if viewer is None and g.member_count() < ctx.cfg.groups.info_page_min_members:
        raise ContractError("not_member", "this group's information is visible to its members only")
    return info(ctx, g, viewer)


def check_room(ctx: Context, g: Group, user: User, own: bool) -> None:
    """The group's member cap and the user's joined-groups cap (both follow credit levels). ``own``:
    the user is the caller; a manager inviting or approving them is not told their cap, which
    follows their credit level, the platform's judgement of them."""
    posting.check_member_cap(len(g.members), group_max_members(ctx, g), g.group_id)
    joined_cap = caps_of(ctx, user).max_groups_joined
    if len(user.groups) >= joined_cap:
        raise ContractError("join_cap_reached", f"you may be in at most {joined_cap} groups" if own
                            else f"{user.display_name} is in as many groups as they may be in")


@dataclass(frozen=True, slots=True)
class Rider:
    """A change stored in the same transaction as an admission, claimed in memory in the same
    step as the membership and undone with it (an invite link's use)."""

    change: ch.Change
    claim: Callable[[], None]
    undo: Callable[[], None]


def count_join(ctx: Context, user: User) -> float:
    """``rate_limits.joins_per_minute``: one more join (or request to join) by ``user``, or
    ``rate_limited``. Every join is announced to the group and every request to its managers, so
    alternating ``join_group`` and ``leave_group`` would flood a group's members. Called right
    before the claim, with no await in between: two connections cannot both slip past the limit.
    Returns the hit's time: a join or request the store then refuses gives it back (it joined or
    asked nothing, as a refused display name costs no rename)."""
    return take_window(ctx.joins_per_user, user.user_id, "too many groups joined or asked to join; try again later")


async def admit(ctx: Context, g: Group, user: User, action: str, actor: str | None,
                audit: ch.Audit | None = None, rider: Rider | None = None, counted: bool = False,
                acting: ch.ActsAs | None = None) -> None:
    """Check every cap (and bans), add ``user`` to ``g`` in memory and store, announce it.
    ``counted``: the user's own join, counted by :func:`count_join` once every check has passed.
    ``acting``: the role of the manager who let them in (an approval), confirmed by the store first.

    The checks and the in-memory insert happen with no await in between, so
    concurrent joins can never overshoot a cap. The caller has waited for any admission of
    ``user`` to ``g`` in flight (:func:`settled_member`) before its own checks: a membership found
    here is a stored one.
    """
    uid = user.user_id
    if uid in g.members:
        return
    check_not_banned(ctx, g, uid, caller=action != "approve")
    check_room(ctx, g, user, own=counted)
    owner = ctx.state.users[g.owner_id]
    # check_room's member cap and this size class, decided again by the store (no await in between)
    room = ch.GroupRoom(group_max_members(ctx, g), tuple(ctx.cfg.groups.size_classes),
                        owner_level=level_of(ctx, owner), owner_id_verified=owner.id_verified)
    check_size_class(
        len(g.members) + 1,
        room.size_classes,
        owner_level=room.owner_level,
        owner_id_verified=room.owner_id_verified,
    )
    counted_at = count_join(ctx, user) if counted else None
    now = ctx.now_ms()
    before = g.departed.pop(uid, None)  # a mute or slow mode that bound them when they left still does
    muted_until, last_sent = moderation.carried_over(before.muted_until, before.last_sent_ms, now) if before else (0, 0)
    writes = membership_claimed(g, uid)
    joined = g.members[uid] = Member(Role.MEMBER, g.last_seq, muted_until, last_sent)
    g.joined_high = max(g.joined_high, g.last_seq)
    admission = Admission(joined)
    user.add_group(g.group_id)
    # Their invitation and join request stay until the join is stored (``stored``, below): one refused
    # left them standing in the store, and taken out of memory here they were gone for good whenever
    # the undo could not put them back (a ban claimed meanwhile, which the store then refused too), or
    # when one was stored while this join was in flight (invite's ``stored`` saw them a member), and a
    # request whose own write the store refused meanwhile came back with this join's undo. Nobody else
    # uses them meanwhile: another join of theirs waits for this one (settled_member), an invite of
    # them too, and an approval or a rejection of the request (listed meanwhile: the store holds it).
    if rider is not None:
        rider.claim()

    def undo() -> None:
        # (The membership itself, and a connection of theirs that signed in meanwhile and joined the
        # group's with this claim: membership_decided, after this.)
        if before is not None:
            g.departed.setdefault(uid, before)
        if rider is not None:
            rider.undo()
        if counted_at is not None:  # a join refused joined nothing: it counts against no limit
            ctx.joins_per_user.take_back(uid, counted_at)

    requested: int | None = None  # the join request the stored join used up

    def stored(done: bool) -> None:
        nonlocal requested
        if done:  # AddMember dropped their invitation and request (any stored before it, as above)
            g.invited.pop(uid, None)
            requested = g.join_requests.pop(uid, None)
        membership_decided(g, user, writes, done, joined)

    # check_room's, decided again by the store
    again = ch.UserCaps(joined=caps_of(ctx, user).max_groups_joined, own=counted)
    add = ch.AddMember(g.group_id, uid, Role.MEMBER, now, g.members[uid].joined_seq, action, actor, again,
                       muted_until, room)
    write = start_write(ctx, *([acting] if acting is not None else []), add,
                        *([] if rider is None else [rider.change]), audit=audit, undo=undo, claim=admission,
                        then=stored)
    with joining(g, uid, joined, write):  # (left with no await before the connections join the group's, below)
        await asyncio.shield(write)
    if requested is not None and action != "approve" and g.alive:  # (an approval tells it as a decision)
        request_decided(ctx, g, uid, "joined", uid)  # (they came in without one: invited, a link, an open group)
    if g.members.get(uid) is not joined or not g.alive:
        # Kicked, banned or gone while the join was stored (that change told the group and took
        # the user's connections out), or the group ended: its connections are not put back.
        return
    g.online.update(user.sessions)
    publish(g.online, ev.MemberJoined(group_id=g.group_id, user=user_view(ctx, uid, Role.MEMBER)))


@handler("join_group")
async def join_group(ctx: Context, sess: Session, req: rq.JoinGroup, enc: Encoding) -> dict[str, Any]:
    if req.invite_code is not None and req.group_id is not None:
        # The code names its group: a second name could only disagree with it or say nothing.
        raise ContractError("bad_request", "join_group: give either 'group_id' or 'invite_code', not both")
    if req.invite_code is not None:
        return await join_by_link(ctx, sess.me, req.invite_code)
    if req.group_id is None:
        raise ContractError("bad_request", "join_group: missing argument 'group_id' (or 'invite_code')")
    user = sess.me
    while True:  # again after waiting for another connection's join request to be stored or refused
        if await settled_member(live_group(ctx, req.group_id), user.user_id) is not None:
            return {"status": "joined"}
        still_active(user)  # (after a wait for another connection's join, which was refused)
        g = live_group(ctx, req.group_id)
        check_not_banned(ctx, g, user.user_id)
        if g.join_policy == JoinPolicy.OPEN or invitation_stands(ctx, g, user.user_id):
            await admit(ctx, g, user, "join", user.user_id, counted=True)
            live_group(ctx, g.group_id)  # (dissolved or closed while the join was stored: said so, not "joined")
            return {"status": "joined"}
        if g.join_policy == JoinPolicy.INVITE:
            writing = request_in_flight(g, user.user_id)
            if writing is not None:  # (asked on another connection, still being stored: its outcome first)
                await writing.decided()
                continue
            if user.user_id in g.join_requests:
                # Asked while the group took requests: it stands, and the managers may still approve
                # it (join_requests lists it), so it is what the asker is told, as in an approval group.
                return {"status": "pending"}
            raise ContractError("forbidden", "this group is joined by invitation only")
        if await request_to_join(ctx, g, user):
            return {"status": "pending"}


def invitation_stands(ctx: Context, g: Group, uid: str) -> bool:
    """Whether ``uid`` holds an invitation to ``g`` that still lets them in: its inviter may
    invite now (a member of the group whose role, under the group's current join policy,
    allows ``invite``; not while the platform suspends their management powers, nor once it
    blacklisted them: they stay members, without the power to let people in). An invitation
    from someone since demoted, removed or gone lapses: nobody else can see or withdraw it."""
    inviter_id = g.invited.get(uid)
    return inviter_id is not None and may_let_in(ctx, g, inviter_id, g.join_policy)


def may_let_in(ctx: Context, g: Group, inviter_id: str, join_policy: str) -> bool:
    """Whether an invitation from ``inviter_id`` lets its invitee into ``g`` under ``join_policy``."""
    inviter = ctx.state.users.get(inviter_id)
    m = g.members.get(inviter_id)
    if inviter is None or m is None or inviter.blacklisted:  # a closed account lets nobody in
        return False
    try:
        role = posting.acting_role(Role(m.role), inviter.powers_suspended_until, ctx.now_ms())
    except ContractError:
        return False
    return perm.may("invite", role, join_policy=join_policy)


UNUSABLE_LINK = "this invite link is unknown, used up, expired or revoked"


def usable_link(ctx: Context, link: InviteLink | None, now: int) -> tuple[InviteLink, Group]:
    """The link and its group when the link admits someone now: ``not_found`` otherwise (unknown,
    revoked, used up, expired, its maker no longer managing the group), ``group_closed`` for a group
    the platform closed (the code alone: the reason is the members', GroupClosed)."""
    if link is None or link.revoked:
        raise ContractError("not_found", UNUSABLE_LINK)
    g, closed = ctx.state.groups.get(link.group_id), ctx.state.closed.get(link.group_id)
    if (g.dissolved_at is not None) if g is not None else (closed is None or closed.dissolved):
        raise ContractError("not_found", UNUSABLE_LINK)  # (a dissolved group's: as unknown, its id unsaid)
    g = live_group(ctx, link.group_id)  # (not_found for a dissolved group, group_closed for a closed one)
    if not moderation.link_usable(link.uses, link.max_uses, link.expires_at, link.revoked, now):
        raise ContractError("not_found", UNUSABLE_LINK)  # members too: a dead code is not_found for whoever holds it
    creator = g.members.get(link.created_by)
    maker = ctx.state.users.get(link.created_by)
    if not moderation.link_admits(creator.role if creator is not None else None,
                                  maker.powers_suspended_until if maker is not None else 0, now,
                                  barred=maker is None or maker.blacklisted):
        # its maker no longer manages the group (demoted, removed, ownership passed on), or the
        # platform suspended their management powers or closed their account
        raise ContractError("not_found", UNUSABLE_LINK)
    return link, g


@handler("invite_info")
async def invite_info(ctx: Context, sess: Session, req: rq.InviteInfo, enc: Encoding) -> dict[str, Any]:
    """[ext] What an invite link would join, before it is used: the web client asked "join this
    group?" without naming it, and one click on a planted link put the user in a group they never
    saw described (a link passes the ``approval`` and ``invite`` policies). Counts no use."""
    link = ctx.state.invite_links.get(moderation.code_hash(req.invite_code))
    _, g = usable_link(ctx, link, ctx.now_ms())
    return {"group_id": g.group_id, "name": g.name, "category": g.category, "member_count": g.member_count(),
            "member": g.settled_member(sess.me.user_id) is not None}


async def join_by_link(ctx: Context, user: User, code: str) -> dict[str, Any]:
    """Join with an invite link's code: past the ``approval`` and ``invite`` policies, not past
    caps or bans. The use is claimed in memory with the membership (no await in between), so a
    link with ``max_uses`` admits exactly that many however many try at once; ``UseInviteLink``
    re-checks it in the database."""
    link = ctx.state.invite_links.get(moderation.code_hash(code))
    target = ctx.state.groups.get(link.group_id) if link is not None else None
    if target is not None:  # a join of it in flight from another connection: its outcome first
        await settled_member(target, user.user_id)
        still_active(user)
        if user.user_id in target.members and target.alive:
            # In already (that join, or an earlier one): whatever the link's state now, as for a
            # join by the group's id; that join may have taken the link's last use.
            return {"status": "joined", "group_id": target.group_id}
        link = ctx.state.invite_links.get(moderation.code_hash(code))  # (all checked below, after any wait)
    now = ctx.now_ms()
    link, g = usable_link(ctx, link, now)
    reply = {"status": "joined", "group_id": g.group_id}
    if user.user_id in g.members:
        return reply  # already in: no use of the link is counted

    def claim() -> None:
        link.uses += 1

    def undo() -> None:
        link.uses -= 1
        # A listing meanwhile may have forgotten the link as used up, counting this use: usable
        # again, it is known again (the store never counted the use).
        links = ctx.state.invite_links
        if link.code_hash not in links and moderation.link_usable(link.uses, link.max_uses, link.expires_at,
                                                                  link.revoked, ctx.now_ms()):
            links[link.code_hash] = link
            g.invite_links.add(link.code_hash)

    rider = Rider(ch.UseInviteLink(link.code_hash, now), claim, undo)
    await admit(ctx, g, user, "invite_link", link.created_by, rider=rider, counted=True)
    live_group(ctx, g.group_id)  # (as join_group)
    return reply


class _RequestWrite:
    """A join request claimed in memory whose ``PutJoinRequest`` write is in flight: another of the
    user's connections asking meanwhile waits for :meth:`decided` (as a repeat join waits for an
    :class:`Admission`), rather than answering ``pending`` for a request the store may still refuse.
    Settled from the write's own completion (``commit(claim=...)``): refused, the request is taken
    out of memory before any waiter wakes; so also when the asking handler was cancelled."""

    __slots__ = ("group", "uid", "ts", "_decided")

    def __init__(self, g: Group, uid: str, ts: int) -> None:
        self.group, self.uid, self.ts = g, uid, ts
        self._decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        g.request_writes[uid] = self

    def settle(self, stored: bool) -> None:
        if self.group.request_writes.get(self.uid) is self:
            del self.group.request_writes[self.uid]
        if not stored and self.group.join_requests.get(self.uid) == self.ts:
            del self.group.join_requests[self.uid]
        if not self._decided.done():
            self._decided.set_result(stored)

    async def decided(self) -> bool:
        """Whether the request was stored, once its write is decided (a cancelled waiter cancels nothing)."""
        return await asyncio.shield(self._decided)


def request_in_flight(g: Group, uid: str) -> _RequestWrite | None:
    """``uid``'s join request to ``g`` whose write is still in flight, if any: an approval or a
    rejection waits for its :meth:`_RequestWrite.decided` before acting on it (the store may
    still refuse it), then checks again that the request is there."""
    w: _RequestWrite | None = g.request_writes.get(uid)
    return w


async def request_to_join(ctx: Context, g: Group, user: User) -> bool:
    """``approval`` policy: record the request and tell the owner and admins, once per pending
    request (as ``invite`` tells the invitee once per standing invitation): asking again while it
    is pending stores nothing, sends nothing and keeps the first request time, so nobody can
    flood a group's managers with ``join_request``. The managers' ``join_requests`` lists it.

    True when the request stands (stored). False after waiting for another connection's request
    whose write was in flight: stored, refused, or approved or declined meanwhile, the caller checks
    everything again, as after any await (answering ``pending`` at once would acknowledge what the
    store might yet refuse)."""
    uid = user.user_id
    writing = request_in_flight(g, uid)
    if writing is not None:
        await writing.decided()
        return False
    if uid in g.join_requests:
        return True
    wait = moderation.request_again_in((g.rejected or {}).get(uid), ctx.cfg.groups.join_request_cooldown_seconds,
                                       ctx.now_ms())
    if wait:
        raise ContractError("rate_limited", "the group's managers declined your request to join; you may ask "
                            "again later (or be invited)", retry_after_ms=wait, cause="request_rejected")
    counted_at = count_join(ctx, user)
    now = ctx.now_ms()
    g.join_requests[uid] = now
    claim = _RequestWrite(g, uid, now)

    def refused() -> None:  # a request never stored asked nothing: it counts against no limit
        ctx.joins_per_user.take_back(uid, counted_at)

    try:
        written = commit(ctx, ch.PutJoinRequest(g.group_id, uid, now), claim=claim, undo=refused)
    except BaseException:  # (a store that refused the write at once: nobody may wait for it)
        claim.settle(False)
        refused()
        raise
    await written
    if g.join_requests.get(uid) == now and g.alive:  # (not decided, its account closed or the group ended meanwhile)
        publish(to_managers(ctx, g),
                ev.JoinRequest(group_id=g.group_id, user=user_view(ctx, uid, Role.MEMBER)))
    return True


def remember_rejection(ctx: Context, g: Group, uid: str) -> int | None:
    """A manager rejected ``uid``'s request: they may not ask again for a while (the rejections whose
    wait is over are forgotten here, so the map holds only the waiting ones). When it was, or None
    (no wait is configured)."""
    now, cooldown = ctx.now_ms(), ctx.cfg.groups.join_request_cooldown_seconds
    if not cooldown:
        return None
    rejected = g.rejected if g.rejected is not None else {}
    for old in [u for u, at in rejected.items() if not moderation.request_again_in(at, cooldown, now)]:
        del rejected[old]
    rejected[uid] = now
    g.rejected = rejected
    return now


def to_managers(ctx: Context, g: Group) -> list[Session]:
    """The connections of the owner and admins of ``g`` who may manage it now (not while the platform
    suspends their powers): those who may read its bans, join requests and invite links, so who are
    told when they change. One walk of the members."""
    users, now = ctx.state.users, ctx.now_ms()
    return [s for uid, m in g.members.items() if m.role != Role.MEMBER
            and users[uid].powers_suspended_until <= now for s in users[uid].sessions]


def request_decided(ctx: Context, g: Group, uid: str, status: Literal["approved", "rejected", "dropped", "joined"],
                    by: str) -> None:
    """**[ext]** Tell the group's acting managers that ``uid``'s request left their ``join_requests``
    (the one who decided included: their other connections' lists follow)."""
    publish(to_managers(ctx, g),
            ev.JoinRequestDecided(group_id=g.group_id, user_id=uid, status=status, by=by))


@dataclass(slots=True)
class ClosedRequests:
    """The pending join requests of a user whose account closes (cancelled or blacklisted), taken out
    of every group's ``join_requests`` in memory before the write (nobody can let them in any more):
    :meth:`undo` puts them back if it fails, :meth:`tell` tells each live group's managers they were
    ``dropped`` once it is stored. (A scan of every group: rare requests and commands.)"""

    ctx: Context
    uid: str
    asked: dict[str, int]  # group id -> when the request was made

    @classmethod
    def take(cls, ctx: Context, uid: str) -> ClosedRequests:
        return cls(ctx, uid, {g.group_id: ts for g in ctx.state.groups.values()
                              if (ts := g.join_requests.pop(uid, None)) is not None})

    def undo(self) -> None:
        for gid, ts in self.asked.items():
            g = self.ctx.state.groups.get(gid)
            # (a group ended meanwhile lapsed its requests: lapse_requests, with its end's write; it may
            # have left memory since, State.retire. A join of theirs stored meanwhile used it up.)
            if g is not None and g.alive and not member_in_store(g, self.uid):
                g.join_requests.setdefault(self.uid, ts)

    def drops(self) -> list[ch.Change]:
        """Their rows' removals, for a write that does not remove them itself (``CancelAccount`` does)."""
        return [ch.DropJoinRequest(gid, self.uid) for gid in self.asked]

    def tell(self) -> None:
        """**[ext]** The requests left the managers' queues (``by``: the requester)."""
        for gid in self.asked:
            if (g := self.ctx.state.groups.get(gid)) is not None and g.alive:
                request_decided(self.ctx, g, self.uid, "dropped", self.uid)


def remember_departed(ctx: Context, g: Group, uid: str, m: Member) -> None:
    """Keep a leaving member's mute and last send while they still bind, for a rejoin to carry over.
    The ones that bind no more (the mute over, the send past the longest slow mode) are swept at
    each departure: kept until a rejoin or a restart, a busy group's grew by every member who had
    spoken in the last hour and left (the leak reviewer's 2,850 cycles, never shrinking), and one
    swept only past 64 kept up to 63 stale ones in every group (a soak's 4,757 → 13,377 in 15
    minutes). A sweep looks at what the group keeps, as many as left while bound."""
    now = ctx.now_ms()
    for gone in [k for k, d in g.departed.items()
                 if not any(moderation.carried_over(d.muted_until, d.last_sent_ms, now))]:
        del g.departed[gone]
    if any(moderation.carried_over(m.muted_until, m.last_sent_ms, now)):
        g.departed[uid] = m


async def remove(ctx: Context, g: Group, uid: str, action: str, actor: str | None,
                 audit: ch.Audit | None = None, acting: ch.ActsAs | None = None) -> None:
    """Take ``uid`` out of ``g`` in memory and store (claimed first; refused, the membership is as the
    store holds it once no other write about it is in flight: :func:`membership_decided`);
    ``acting``: the manager's role, confirmed by the store first (a kick)."""
    user = ctx.state.users[uid]
    writes = membership_claimed(g, uid)
    m = g.members.pop(uid)
    user.drop_group(g.group_id)
    g.online.difference_update(user.sessions)
    remember_departed(ctx, g, uid, m)
    # (Refused, the membership comes back unless a later removal took it out of the store meanwhile.)
    await commit(ctx, *([acting] if acting is not None else []),
                 ch.RemoveMember(g.group_id, uid, ctx.now_ms(), action, actor), audit=audit,
                 then=lambda stored: membership_decided(g, user, writes, stored, None))


@handler("leave_group")
async def leave_group(ctx: Context, sess: Session, req: rq.LeaveGroup, enc: Encoding) -> None:
    g = live_group(ctx, req.group_id)
    user = sess.me
    m = member_of(g, user)
    if m.role == Role.OWNER:
        raise ContractError("forbidden", "the owner must transfer ownership or dissolve the group first")
    await remove(ctx, g, user.user_id, "leave", user.user_id)
    left = ev.MemberLeft(group_id=g.group_id, user_id=user.user_id)
    publish(g.online, left)
    publish_elsewhere(sess, user.sessions, left)  # [ext] the leaver's other devices drop the group too


@handler("members")
async def members(ctx: Context, sess: Session, req: rq.Members, enc: Encoding) -> dict[str, Any]:
    g = live_group(ctx, req.group_id)
    member_of(g, sess.me)
    now = ctx.now_ms()
    users = ctx.state.users
    out = []
    for uid, m in g.members.items():
        if m.pending is not None:  # (a join still being stored: nobody is told of it before member_joined)
            continue
        u = users.get(uid)
        out.append(ev.MemberObj(user_id=uid, display_name=u.display_name if u else "", role=Role(m.role),
                                muted_until=m.muted_until if m.muted_until > now else None))
    return {"members": out}


MY_GROUPS_RECOUNTS = 3  # counts of a my_groups at most (see there)


def _moved(counted: tuple[Member, int, int] | None, g: Group, user: User) -> bool:
    """Whether the caller's membership of ``g`` or their read point in it is no longer the one counted."""
    m = g.members[user.user_id]
    return counted is not None and (counted[0] is not m or counted[1] != max(m.read_seq, m.joined_seq))


@handler("my_groups")
async def my_groups(ctx: Context, sess: Session, req: rq.MyGroups, enc: Encoding) -> dict[str, Any]:
    groups = ctx.state.groups
    user = sess.me
    # group -> (membership, read point, last_seq) its count starts from
    counted: dict[str, tuple[Member, int, int]] = {}
    counts: dict[str, tuple[int, bool]] = {}
    asking = set(user.groups)
    # Counted again (a few times at most) for a group whose read point moved or whose membership is
    # a new one (kicked and back) while the store counted: the answer would otherwise give the old
    # read point after the `read_marker` that moved it, and a client would show read messages unread.
    for _ in range(MY_GROUPS_RECOUNTS):
        floors: dict[str, int] = {}  # groups with messages after the read point: counted by the store
        for gid in asking:
            g = groups[gid]
            if g.alive:
                m = g.members[user.user_id]
                read = max(m.read_seq, m.joined_seq)  # what came before joining counts as read
                counted[gid] = (m, read, g.last_seq)
                counts.pop(gid, None)
                if g.last_seq > read:
                    floors[gid] = read
        # The count is one moment's view; a message committed during this await may be counted (or,
        # while in flight, be in last_seq and not yet counted). Either settles at once.
        if floors:
            counts.update(await ctx.store.unread_counts(user.user_id, floors))
        asking = {gid for gid in user.groups if groups[gid].alive and _moved(counted.get(gid), groups[gid], user)}
        if not asking:
            break
    # The list is the state after the await: an event sent meanwhile (a mute, a suspension, a removal,
    # a dissolution) comes before this answer, and a client applies the answer over it. Built before
    # the await, the answer undid it there (a removed group back in the list, a lifted mute again).
    out: list[dict[str, Any]] = []
    now = ctx.now_ms()
    for gid in sorted(user.groups):
        g = groups[gid]
        if not g.alive:
            continue
        m = g.members[user.user_id]
        if m.pending is not None:  # (a join still being stored: not theirs yet, as group_info and send say)
            continue
        _, read, last = counted.get(gid) or (m, max(m.read_seq, m.joined_seq), g.last_seq)  # (joined meanwhile)
        # The posting state in force, as send would find it, so that a client that was away (or
        # reloaded) shows it without waiting for a refused send: the events that announce it
        # (member_muted, group_updated, group_suspended, sanction_lifted) are not queued.
        suspended = g.suspended_until if g.suspended_until > now else 0
        unread, mentioned = counts.get(gid, (0, False))
        entry: dict[str, Any] = {
            "group_id": gid, "name": g.name, "role": m.role, "last_seq": last, "read_seq": read,
            "unread": unread, "muted_until": m.muted_until if m.muted_until > now else 0,
            "mute_all": g.mute_all, "suspended_until": suspended, "mentioned": mentioned,
        }
        if suspended:
            entry["suspension_cause"] = suspension_cause(ctx, g)
        out.append(entry)
    return {"groups": out}
