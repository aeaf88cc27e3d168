"""What the group handlers share: lookups that raise the contract's errors, and the write rule.

The write rule (docs/architecture.md, "Memory and store"): a handler checks
and *claims* its change in memory with no ``await`` in between, then hands the
change to the store with :func:`commit`, which undoes the claim if the write
fails. So a concurrent request always sees the claim (caps, one owner, ...
cannot be overshot), and a failed write leaves memory as it was.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from governance import moderation, posting
from governance.ids import serial_id
from governance.tiers import Caps, caps_for, credit_level
from protocol.enums import Role
from protocol.errors import ContractError
from protocol.events import JoinEndCause, JoinResult, MessageDeleted, Notice, SuspensionCause, UserObj, UserRenamed
from server.answer_writes import after_answer, answer_waits_for
from server.claims import Settles, settle_when_done
from server.context import Context
from server.fanout import publish, publish_many
from server.state import ClosedGroup, Group, Member, MembershipWrites, User
from server.storage.changes import ActsAs, AddCredit, Audit, Change

log = logging.getLogger("qunguan.handlers")

if TYPE_CHECKING:
    from governance.ratelimit import WindowCounter
    from server.session import Session


def commit(ctx: Context, *changes: Change, audit: Audit | None = None,
           undo: Callable[[], None] | None = None, claim: Settles | None = None,
           then: Callable[[bool], None] | None = None) -> asyncio.Future[list[Any]]:
    """:func:`start_write`, for the caller to await (a shield of the write)."""
    return asyncio.shield(start_write(ctx, *changes, audit=audit, undo=undo, claim=claim, then=then))


def start_write(ctx: Context, *changes: Change, audit: Audit | None = None,
                undo: Callable[[], None] | None = None, claim: Settles | None = None,
                then: Callable[[bool], None] | None = None) -> asyncio.Future[list[Any]]:
    """Write ``changes`` (and ``audit``) in one transaction; run ``undo`` if that fails. Returns the
    store's own future, done the moment the store settles the write (before any callback of it runs).

    ``undo`` runs from the write's own completion, before whoever awaits it
    wakes up: the claim in memory is undone exactly when the store refused the
    write. The waiter gets a shield of the write: cancelling it (a job stopped,
    a cluster home closing) does not cancel the write, which the store carries
    out anyway, so its outcome, not the cancellation, decides the undo.
    ``claim`` (e.g. fields set through :class:`server.claims.FieldClaim`) is settled the
    same way, and also told when the write was stored: a field that another write
    may claim meanwhile is taken back right only with both answers. ``then`` is told
    whether the write was stored, after ``undo``, in the same callback.
    """
    fut = ctx.store.apply(*changes, audit=audit)
    if claim is not None:
        settle_when_done(fut, claim)
    if undo is not None or then is not None:
        def on_done(f: asyncio.Future[list[Any]]) -> None:
            stored = not f.cancelled() and f.exception() is None
            try:
                if not stored and undo is not None:
                    undo()
            finally:  # (an undo that raised must not leave ``then``'s bookkeeping waiting for good)
                if then is not None:
                    then(stored)

        fut.add_done_callback(on_done)
    return fut


@contextmanager
def joining(g: Group, uid: str, member: Member, write: asyncio.Future[Any]) -> Iterator[None]:
    """While the block runs (a join's wait for its ``write``), ``g.joining`` holds the join, for
    :func:`joiners_of`; None again once no join waits (as almost always)."""
    if g.joining is None:
        g.joining = {}
    g.joining[uid] = (member, write)
    try:
        yield
    finally:
        if g.joining is not None and g.joining.get(uid, (None, None))[0] is member:
            del g.joining[uid]
            if not g.joining:
                g.joining = None


def joiners_of(g: Group, users: dict[str, User], seq: int) -> set[Session]:
    """The connections of members whose join is stored but not yet among the group's (``g.joining``):
    the store settles a batch's writes and then, at once, its messages, while a join's own code runs
    a step later. A message ``seq`` after such a member's join point goes to them too, or the first
    messages of their membership would reach them only through ``history``."""
    out: set[Session] = set()
    for uid, (member, write) in (g.joining or {}).items():
        if member.joined_seq < seq and write.done() and not write.cancelled() and write.exception() is None \
                and (user := users.get(uid)) is not None and g.members.get(uid) is member:
            out.update(s for s in user.sessions if s not in g.online)
    return out


def acts_as(g: Group, user: User) -> ActsAs:
    """The role ``user`` acts in, as memory has it now (the one the op was allowed on), for the
    store to confirm in the op's transaction (:class:`~server.storage.changes.ActsAs`)."""
    return ActsAs(g.group_id, user.user_id, g.members[user.user_id].role)


# The acts counted by rate_limits.managing_per_minute: a manager's acts on a group or its people, and
# the acts on one's groups and public accounts (a post too: at the top credit level nothing else
# spaces them, and a blocked one writes a penalty and a record entry). Each writes an
# enforcement-record entry kept for good, and most are announced to every member online; none had
# a limit, so a loop of any of them (an announcement of 4,000 characters to 2,000 members, a link
# made to expire at once, a ban and an invitation in turn) wrote and sent without end. Counted as
# asked (a refusal counts too), before the handler: one place every path goes through
# (server/app.py: on_frame).
MANAGING_OPS = frozenset({
    "approve_join", "reject_join", "invite", "kick", "mute", "mute_all", "set_role", "transfer_owner",
    "set_announcement", "update_group", "delete_user_messages", "dissolve_group", "ban", "unban",
    "set_slow_mode", "create_invite_link", "revoke_invite_link", "pin_message", "create_group",
    "create_account", "update_account", "set_editor", "close_account", "delete_post", "moderate_comment",
    "set_post_comments", "subscribe", "unsubscribe", "publish",
})


def count_managing(ctx: Context, user: User) -> None:
    """One more of ``user``'s :data:`MANAGING_OPS` in this minute, or ``rate_limited``."""
    take_window(ctx.managing_per_user, user.user_id, "too many management acts this minute; try again shortly")


def take_window(counter: WindowCounter, key: str, reason: str) -> float:
    """One more in ``counter``'s window for ``key``, or ``rate_limited`` with ``reason`` and the wait.
    Looked at and counted with no await between: two connections cannot both slip past the limit.
    (The limits run on the monotonic clock: a wall clock stepped back stalls none.) Returns the
    hit's time, for ``counter.take_back`` when what it counted is then refused."""
    now_s = time.monotonic()
    wait = counter.peek(key, now_s)
    if wait > 0:
        raise ContractError("rate_limited", reason, retry_after_ms=int(wait * 1000) + 1)
    counter.hit(key, now_s)
    return now_s


def still_active(user: User) -> None:
    """After an ``await``: refuse as the dispatcher would have if the account was blacklisted or
    cancelled (on another connection, or by an operator) while the handler waited."""
    if user.blacklisted:
        raise ContractError("blacklisted", "this account is closed")
    if user.deleted:
        raise ContractError("unauthenticated", "this account is cancelled")


def still_reader(ctx: Context, sess: Session, gid: str) -> Member:
    """After a read's ``await`` (history, search, media_url): the caller may still read the group,
    as the membership it has now. One removed, blacklisted or cancelled meanwhile (or whose group
    was dissolved or closed) has been told so by then, and gets the refusal rather than the page
    (with fresh media URLs) after that event."""
    still_active(sess.me)
    return member_of(live_group(ctx, gid), sess.me)


class GroupClosed(ContractError):
    """``group_closed`` for an op naming a group the platform closed. The operator's reason is for
    the group's members (they were told it with ``group_closed``): anyone else who names the group
    (a stranger with its id, a dead invite link) gets the code without it (:meth:`for_user`). A
    closing for the owner's blacklisting gave a stranger the reason the owner was blacklisted."""

    def __init__(self, g: Group | ClosedGroup) -> None:
        super().__init__("group_closed", f"group {g.group_id} was closed by the platform: {g.closed_reason}")
        self.group = g

    def for_user(self, user_id: str | None) -> ContractError:
        if user_id is not None and user_id in self.group.members:
            return self
        return ContractError("group_closed", f"group {self.group.group_id} was closed by the platform")


def live_group(ctx: Context, gid: str) -> Group:
    g = ctx.state.groups.get(gid)
    if g is None:
        closed = ctx.state.closed.get(gid)
        if closed is not None and not closed.dissolved:
            raise GroupClosed(closed)
        raise ContractError("not_found", f"no group {gid}")
    if g.dissolved_at is not None:
        raise ContractError("not_found", f"no group {gid}")
    if g.closed_at is not None:
        raise GroupClosed(g)
    return g


async def known_group(ctx: Context, gid: str) -> Group | None:
    """The group ``gid``, live or ended, for the few who act on ended groups too (a report on a
    dissolved group's messages, an appeal, an operator's commands): the group in memory (live, or
    its end in flight), else an ended one as the store holds it (State.retire), else None. An ended
    group read from the store is a copy: nothing changes an ended group any more but a closing of a
    dissolved one, which takes the copy into memory first (operator/groups_people.py: close-group).
    Awaits only for a group not in memory: callers check again whatever may have changed."""
    g = ctx.state.groups.get(gid)
    if g is not None or not gid:
        return g
    return await ctx.store.ended_group(gid)


@contextmanager
def ending(ctx: Context, g: Group) -> Iterator[None]:
    """Around the write that ends ``g`` (a dissolution, a closing) and what is told after it: one
    more end in flight, and once none is, the ended group leaves memory (State.retire)."""
    g.ends_in_flight += 1
    decided = True
    try:
        yield
    except asyncio.CancelledError:
        # Cancelled at the write's await, its outcome perhaps still out (retired now, a refusal's undo
        # put the group's id back in its members' lists with no group behind it).
        decided = False
        raise
    finally:
        ctx.state.end_settled(g, decided)


def member_of(g: Group, user: User) -> Member:
    """The user's membership of ``g``, for an op that acts as a member.

    A membership whose write is still in flight (``Member.pending``: a join or a new group's owner,
    from another of the user's connections) does not count yet: a message, reaction, read marker
    or report stored meanwhile would stay if the admission were then refused."""
    m = g.members.get(user.user_id)
    if m is None:
        raise ContractError("not_member", f"you are not a member of group {g.group_id}")
    if m.pending is not None:
        raise ContractError("not_member", f"your joining group {g.group_id} is still being stored; "
                                          "try again once join_group has answered")
    return m


async def settled_member(g: Group, uid: str) -> Member | None:
    """``uid``'s membership of ``g`` once no admission of it is in flight: a join (or a new group's
    owner) whose write is still pending, from another of the user's connections, is waited for and
    its outcome taken (stored: the member; refused: None, its undo has run). Answering ``joined``
    on the strength of a pending one would acknowledge what the store may still refuse.

    Awaits only while an admission is in flight; a caller that did wait checks again everything
    it acts on (the group, the caller's account, a link), as after any await."""
    while (m := g.members.get(uid)) is not None and (admission := m.pending) is not None and not admission.refused:
        await admission.decided()
    return m


def take_down(users: dict[str, User], g: Group) -> set[Session]:
    """A group dissolved or closed, in memory: its members' lists of groups and its connections no
    longer hold it. Returns the connections it had (to tell).

    Its join requests and invitations stay until the end is stored (:func:`lapse_requests`): nothing
    acts on them meanwhile (every op refuses a group that is not alive), so a write that fails has
    none of them to put back, and one whose own write was refused meanwhile is gone from memory as
    from the store."""
    online = set(g.online)
    for uid in g.members:
        users[uid].drop_group(g.group_id)
    g.online.clear()
    return online


def bring_back(users: dict[str, User], g: Group) -> None:
    """Undo :func:`take_down` when its write was refused: for the members the group has now, with
    their connections now (a join refused meanwhile is not put back, a connection closed meanwhile
    does not come back). Only for a group alive again: one that another end claimed meanwhile (a
    closing while a dissolution was in flight, or a dissolution before a closing) stays out of its
    members' lists."""
    if not g.alive:
        return
    for uid in g.members:
        user = users[uid]
        user.add_group(g.group_id)
        g.online.update(user.sessions)


def lapse_requests(users: dict[str, User], g: Group, cause: JoinEndCause) -> None:
    """Once a group's end is stored (with :class:`DropGroupRequests`): its pending join requests and
    invitations go from memory, and each requester learns that theirs will never be decided (a
    client showed it pending for good; the managers who would have decided it are gone)."""
    # (Not one whose join is still in flight: stored, it used the request up; its answer tells them.)
    requesters = [uid for uid in g.join_requests if uid not in g.members]
    g.join_requests.clear()
    g.invited.clear()
    for uid in requesters:
        if (user := users.get(uid)) is not None:
            publish(user.sessions, JoinResult(group_id=g.group_id, status="rejected", cause=cause))


def members_sessions(users: dict[str, User], g: Group) -> set[Session]:
    """The connections of ``g``'s members now, whether or not the group's own list holds them."""
    return {s for uid in g.members if (u := users.get(uid)) is not None for s in u.sessions}


def membership_claimed(g: Group, uid: str) -> MembershipWrites:
    """Called just before a join or a removal of ``uid`` is claimed in ``g`` (memory still as the
    store will hold it once every write in flight is decided): one more write in flight about that
    membership. Its commit tells :func:`membership_decided` how it went."""
    if g.membership_writes is None:
        g.membership_writes = {}
    writes = g.membership_writes.get(uid)
    if writes is None:
        writes = g.membership_writes[uid] = MembershipWrites(g.members.get(uid))
    writes.in_flight += 1
    return writes


def membership_in_flight(g: Group, uid: str) -> bool:
    """Whether a join or removal of ``uid`` in ``g`` is in flight: memory may then show them out while
    the store still has their row (a removal it will refuse), so a ban or a cancellation removes
    them all the same (a removal of no row is harmless)."""
    return g.membership_writes is not None and uid in g.membership_writes


def membership_decided(g: Group, user: User, writes: MembershipWrites, stored: bool, leaves: Member | None) -> None:
    """One write about ``user``'s membership of ``g`` was decided (after its undo, if refused):
    stored, the store now holds ``leaves`` (the member a join made, None after a removal); refused,
    what it held. After the last of them, memory is set to what the store holds: the membership a
    refused removal leaves comes back unless a later removal took it out of the store, a refused
    join goes, and a join's member never stored is never put back (as a ghost nobody would settle).
    The undos of these writes therefore leave the membership itself alone."""
    if stored:
        writes.stored = leaves
    writes.in_flight -= 1
    if writes.in_flight:
        return
    uid, gid = user.user_id, g.group_id
    assert g.membership_writes is not None  # (this one was in it)
    del g.membership_writes[uid]
    if not g.membership_writes:
        g.membership_writes = None
    m, now = writes.stored, g.members.get(uid)
    if now is m:
        return
    if now is not None:
        del g.members[uid]
        user.drop_group(gid)
        g.online.difference_update(user.sessions)
    if m is not None:
        g.members[uid] = m
        g.departed.pop(uid, None)
        if g.alive:  # (a group dissolved or closed meanwhile: its undo brings back the members it has then)
            user.add_group(gid)
            g.online.update(user.sessions)


def seeing(g: Group, seq: int) -> Iterable[Session]:
    """The group's connections whose member may see message ``seq``: one sent after they joined.

    For the events about one message after it was sent (an edit, a reaction, a held one
    released): a member who joined later never sees it in ``history``, so is not told of it
    either. Not for ``send``: a new message comes after every member's join point. A message
    sent after the last join (``Group.joined_high``, the usual case) is seen by all of them: the
    group's connections themselves, which :func:`server.fanout.publish` writes by their plan,
    without a lookup per connection.
    """
    if seq > g.joined_high:
        return g.online
    return (s for s, _ in seeing_members(g, seq))


def deletions_told(ctx: Context, hidden: Iterable[tuple[str, int]], by: Literal["sender", "manager", "platform"]
                   ) -> Iterator[tuple[Iterable[Session], MessageDeleted]]:
    """``message_deleted`` for each (group id, seq) a deletion hid while shown, to those who may see it
    (:func:`seeing`), each group looked up when its turn comes: for :func:`server.fanout.publish_paced`
    (a clean-up or a mass removal tells thousands)."""
    for gid, seq in hidden:
        g = ctx.state.groups.get(gid)
        if g is not None:
            yield seeing(g, seq), MessageDeleted(group_id=gid, seq=seq, deleted_by=by)


def seeing_members(g: Group, seq: int) -> Iterator[tuple[Session, Member]]:
    """:func:`seeing`, each connection with its member (for events that differ per member)."""
    members = g.members
    for s in g.online:
        user = s.user
        m = members.get(user.user_id) if user is not None else None
        if m is not None and m.joined_seq < seq:
            yield s, m


def pins_seen(g: Group, m: Member) -> list[int]:
    """The group's pinned seqs that member ``m`` may see, in the order pinned: only messages sent
    after they joined, as ``history`` shows them (a pin names no message they could not read)."""
    return [seq for seq in g.pinned if seq > m.joined_seq]


def check_agreement(ctx: Context, user: User) -> None:
    """``forbidden`` (with ``agreement_version``) until ``user`` accepted the current platform rules
    and service agreement (G5): asked of whatever publishes new text to others outside a group's
    posting (a post, a comment, a new display name, a group's new name, a public account's name
    or intro); a group's posting asks it through :func:`can_post`."""
    agreement = ctx.agreement
    if agreement is not None and user.accepted_version != agreement.version:
        raise ContractError("forbidden", f"accept the platform rules and service agreement (version "
                            f"{agreement.version}) first", agreement_version=agreement.version)


def can_post(ctx: Context, g: Group, m: Member, user: User, now: int) -> None:
    """What would stop a ``send`` by this member now (the same refusals, in the same order): also
    asked of what reaches the group like a message (an edit, a reaction, a new announcement)."""
    agreement = ctx.agreement
    posting.check_can_post(
        now=now, role=Role(m.role), muted_until=m.muted_until, group_mute_all=g.mute_all,
        group_suspended_until=g.suspended_until, require_id=ctx.cfg.identity.require_id_to_post,
        id_verified=user.id_verified, agreement_version=agreement.version if agreement else None,
        accepted_version=user.accepted_version, powers_suspended_until=user.powers_suspended_until,
        # (the cause only for a group suspended now: a send in a live group looks up nothing more)
        group_suspension_cause=suspension_cause(ctx, g) if g.suspended_until > now else None,
    )


def check_not_banned(ctx: Context, g: Group, uid: str, caller: bool = True) -> None:
    """``forbidden`` while ``uid`` has a ban in force in ``g`` (joining, being invited, approved).
    ``caller``: ``uid`` made the request, and is told until when (``banned_until``)."""
    ban = g.bans.get(uid)
    moderation.check_not_banned(ban.until if ban is not None else None, ctx.now_ms(), caller)


def banned_now(ctx: Context, g: Group, uid: str) -> bool:
    """Whether ``uid`` has a ban in force in ``g``. An undo does not give back a join request or an
    invitation then: the ban's write removed them from the store (a ban claimed after the op)."""
    ban = g.bans.get(uid)
    return ban is not None and moderation.ban_in_force(ban.until, ctx.now_ms())


def member_in_store(g: Group, uid: str) -> bool:
    """Whether the store holds ``uid``'s membership of ``g`` as of the writes decided so far (memory's,
    when none about it is in flight; else :attr:`MembershipWrites.stored`). For the undo of a write that
    took ``uid``'s join request or invitation out of memory: a join stored meanwhile dropped them from
    the store (``AddMember``), and put back they would be a member's, which no write would ever take
    out (nor does the store hold one for a member: an invitation or a request is made for a non-member)."""
    writes = g.membership_writes.get(uid) if g.membership_writes is not None else None
    return (writes.stored is not None) if writes is not None else uid in g.members


def level_of(ctx: Context, user: User) -> int:
    return credit_level(user.credit_score, ctx.cfg.credit.levels)


def caps_of(ctx: Context, user: User) -> Caps:
    return caps_for(level_of(ctx, user), ctx.cfg.limits.caps, ctx.cfg.credit.levels)


def group_max_members(ctx: Context, g: Group) -> int:
    """A group's member cap follows its owner's credit level (Art. 7, 8)."""
    return caps_of(ctx, ctx.state.users[g.owner_id]).max_members


def user_view(ctx: Context, uid: str, role: str) -> UserObj:
    """A user as members of a group see them: id, display name, role there (never identity data)."""
    u = ctx.state.users.get(uid)
    return UserObj(user_id=uid, display_name=u.display_name if u else "", role=Role(role))


def announce_rename(ctx: Context, user: User) -> None:
    """Tell the user's own connections and every member online in a live group they are in that
    they now show under a new name (``user_renamed``): each connection once, however many groups
    it shares with them. Bounded by the connections online, and names change seldom."""
    groups = ctx.state.groups
    audience: set[Session] = set(user.sessions)
    for gid in user.groups:
        g = groups.get(gid)
        if g is not None and g.alive:
            audience.update(g.online)
    publish_many(audience, UserRenamed(user_id=user.user_id, display_name=user.display_name))


def penalize(user: User, points: int) -> AddCredit | None:
    """Lower a user's credit in memory (the level follows); returns the change that stores it.

    The change subtracts ``points`` from the stored score rather than storing the score: a
    penalty whose write fails is taken back in memory, and a later change claimed meanwhile
    must not have stored it already."""
    if points <= 0:
        return None
    user.credit_score -= points
    return AddCredit(user.user_id, -points)


def tell_credit(ctx: Context, user: User, score: int, delta: int, why: str, **extra: Any) -> int:
    """The one credit notice: tell ``user`` their score changed by ``delta`` to ``score`` (``notice
    {kind: "credit"}`` with ``credit_score``, ``credit_level``, ``delta`` and ``extra``); returns the level.
    (An operator's command tells it through ``server.operator.common.tell_credit``, which adds ``by``.)"""
    level = credit_level(score, ctx.cfg.credit.levels)
    user.credit_told += 1
    publish(user.sessions, Notice(kind="credit", text=f"your credit score is now {score} (level {level}): {why}",
                                       credit_score=score, credit_level=level, delta=delta, **extra))
    return level


def give_back_credit(ctx: Context, user: User, points: int, told: int) -> None:
    """Points claimed from ``user`` in memory and not taken after all (their write failed, or the store
    found them taken already by another measure): back in memory. ``told``: ``user.credit_told`` when
    they were claimed. A credit notice sent since then (another command's, stored while this claim
    was in flight) said a score with them in it, and nothing would correct it: the user is told their
    score as it is now, ``cause: "given_back"`` (a complaints review: two operators upholding one
    report at once left the user's screen 10 points below ``me`` and the database for good)."""
    user.credit_score += points
    if user.credit_told != told:
        tell_credit(ctx, user, user.credit_score, points, "points counted while another measure was stored "
                    "were not taken after all", cause="given_back")


def record_penalized(ctx: Context, user: User, points: int, audit: Audit, what: str, why: str,
                     **told: Any) -> None:
    """Store an enforcement-record entry and a credit penalty taken now, without waiting for the
    write here (the caller goes on, or raises its refusal, with no await); the answer to the request
    waits for it all the same (server/answer_writes.py: a ``kill -9`` right after a refusal lost the
    entry and the penalty). Should it fail, the points are given back in memory, as
    :func:`penalize` promises, and the failure is logged (``what`` was not recorded).

    Once stored, a penalty that took points is told to the user (:func:`tell_credit`, with ``why`` and
    ``told``, and ``cause: "content_blocked"``), as every operator's penalty is: one notice per change,
    none when nothing was taken (``points`` 0) or the write failed. The score told is the user's when
    the notice goes (after the answer): one told as claimed said points another measure gave back
    meanwhile, which nothing corrected (a review of give_back_credit)."""
    notices_before = user.credit_told
    change = penalize(user, points)

    def settled(fut: asyncio.Future[list[Any]]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            if change is not None:
                give_back_credit(ctx, user, points, notices_before)
            log.error("%s could not be recorded: %r", what, None if fut.cancelled() else fut.exception())
            return
        if change is not None:  # (after the refusal, which waited for this write: the cost follows it)
            delta = change.delta

            def tell() -> None:
                tell_credit(ctx, user, user.credit_score, delta, why, cause="content_blocked", **told)
            after_answer(tell)

    written = ctx.store.apply(*([change] if change is not None else []), audit=audit)
    written.add_done_callback(settled)
    answer_waits_for(written)


def own_page(before: str | None, limit: int | None, what: str, default: int = 20, most: int = 100,
             ) -> tuple[int | None, int]:
    """The ``before`` id and the page size of a listing of one's own items (``my_reports``,
    ``my_appeals``): ``bad_request`` for a ``before`` that is no id of ``what``; the size clamped."""
    after = None
    if before is not None:
        if (after := serial_id(before)) is None:
            raise ContractError("bad_request", f"'before' must be {what}")
    return after, default if limit is None else max(1, min(limit, most))


def owned_count(ctx: Context, user: User) -> int:
    groups = ctx.state.groups
    return sum(1 for gid in user.groups if groups[gid].owner_id == user.user_id)


def own_suspension(ctx: Context, g: Group) -> int:
    """The end of the platform's suspension of ``g`` as a sanction of the group itself (0: none).

    A ``freeze-category`` suspends every group of a category for an emergency, through no fault of
    theirs: it stops posting (``g.suspended_until``) but does not follow the owners. So a suspension
    that ends no later than the category's freeze counts as the freeze's. (A group's own shorter
    suspension inside a longer freeze is then taken for the freeze's: the owner is free to open a
    group elsewhere meanwhile, as every owner in the category is.)"""
    return g.suspended_until if g.suspended_until > ctx.state.category_frozen_until.get(g.category, 0) else 0


def suspension_cause(ctx: Context, g: Group) -> SuspensionCause:
    """What the suspension of ``g`` in force is, for clients (``group_suspended``'s ``cause``): the
    platform's sanction of the group itself (no renaming, dissolving or handing on), or the freeze of
    its category (no renaming only); decided as :func:`own_suspension` decides what holds the owner."""
    return "sanction" if own_suspension(ctx, g) else "category_freeze"


def held_until(ctx: Context, user: User) -> int:
    """The latest end of the platform's suspensions of the live groups ``user`` owns (0: none):
    while it is ahead they take on no new group (``posting.check_can_own``'s ``held_until``)."""
    groups = ctx.state.groups
    return max((own_suspension(ctx, g) for g in (groups[gid] for gid in user.groups)
                if g.owner_id == user.user_id), default=0)
