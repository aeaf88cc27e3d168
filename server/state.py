"""In-memory caches of what the hot path needs. The store is the truth.

Loaded once at start; every handler that writes the store updates these in the
same step. ``Group.online`` holds the live sessions of its members so fan-out
never walks the member list looking for connections.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from server.fanout import Online
from server.media.index import MediaIndex
from server.sent_ids import SentIds

if TYPE_CHECKING:
    from governance.ratelimit import TokenBucket
    from server.session import Session


T = TypeVar("T")
NOTHING: frozenset[Any] = frozenset()  # the empty set every user starts with (never changed)


def _with(items: AbstractSet[T], item: T) -> AbstractSet[T]:
    """``items`` plus ``item``: the same set, changed in place, or a new one instead of NOTHING."""
    if isinstance(items, set):
        items.add(item)
        return items
    return {*items, item}


def _without(items: AbstractSet[T], item: T) -> AbstractSet[T]:
    """``items`` less ``item``, in place; back to NOTHING once empty, so its memory goes."""
    if isinstance(items, set):
        items.discard(item)
        return items if items else NOTHING
    return items


@dataclass(slots=True, eq=False)
class User:
    user_id: str
    username: str
    display_name: str
    credit_score: int
    id_verified: bool
    created_at: int
    blacklisted: bool = False
    deleted: bool = False
    powers_suspended_until: int = 0
    create_revoked: bool = False
    accepted_version: str | None = None  # of the platform rules and service agreement
    # The four sets below start as the one shared empty set and are changed only through the
    # methods that follow: most users are offline, follow nothing and manage nothing, and four
    # empty sets were 860 of a loaded user's 1,385 bytes (python -m bench.state_load).
    groups: AbstractSet[str] = NOTHING  # live groups joined
    sessions: AbstractSet[Session] = NOTHING
    bucket: TokenBucket | None = None
    subscriptions: AbstractSet[str] = NOTHING  # public accounts followed
    managed: AbstractSet[str] = NOTHING  # public accounts owned or edited
    # A lift of its blacklisting is being stored: the write that also revokes its old tokens is still
    # in flight, so ``auth`` and ``login`` answer as for a blacklisted account until it settles.
    # (Last: the store builds users by position.)
    reopening: bool = False
    # How many credit notices the user was sent (handlers.common.tell_credit): a penalty given back
    # after one went out while it was claimed is told again (give_back_credit), that notice's score
    # having counted it.
    credit_told: int = 0

    @property
    def active(self) -> bool:
        return not (self.blacklisted or self.deleted)

    def add_group(self, gid: str) -> None:
        self.groups = _with(self.groups, gid)

    def drop_group(self, gid: str) -> None:
        self.groups = _without(self.groups, gid)

    def add_session(self, sess: Session) -> None:
        self.sessions = _with(self.sessions, sess)

    def drop_session(self, sess: Session) -> None:
        self.sessions = _without(self.sessions, sess)

    def add_subscription(self, aid: str) -> None:
        self.subscriptions = _with(self.subscriptions, aid)

    def drop_subscription(self, aid: str) -> None:
        self.subscriptions = _without(self.subscriptions, aid)

    def add_managed(self, aid: str) -> None:
        self.managed = _with(self.managed, aid)

    def drop_managed(self, aid: str) -> None:
        self.managed = _without(self.managed, aid)



@dataclass(slots=True)
class Member:
    role: str
    joined_seq: int
    muted_until: int = 0
    last_sent_ms: int = 0  # the member's last accepted send (for slow mode); after a restart: loaded, last hour only
    read_seq: int = 0  # how far the member has read (mark_read, all their devices); never moves back
    # Claimed in memory and not yet stored: a join (or a new group's owner) whose write is in flight.
    # Such a member cannot send (not_member): a message from another of their connections meanwhile
    # would be stored even if the admission were then refused. None once stored; a refused
    # admission stays here (``refused``): the member is out (MembershipWrites) and waits for no one.
    pending: Admission | None = None


class Admission:
    """A membership claimed in memory (a join, a new group's owner), pending until its write is
    decided: stored, the member may send from then on (``Member.pending`` goes); refused, the member
    is taken out once no other write about the membership is in flight (:class:`MembershipWrites`),
    and :meth:`refused` says so to whoever waited. Settled from the write's
    own completion (``server.handlers.common.commit(claim=...)``), so a handler cancelled meanwhile
    leaves no member pending for good. Another request about the same membership (a second
    connection's join, an approval) waits for :meth:`decided` rather than answering before the
    store did."""

    __slots__ = ("member", "_decided")

    def __init__(self, member: Member) -> None:
        self.member = member
        self._decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        member.pending = self

    def settle(self, stored: bool) -> None:
        if stored:
            self.member.pending = None
        if not self._decided.done():
            self._decided.set_result(stored)

    @property
    def refused(self) -> bool:
        return self._decided.done() and not self._decided.result()

    async def decided(self) -> bool:
        """Whether the admission was stored, once its write is decided (settled and undone by then;
        a waiter cancelled meanwhile cancels nothing for the others)."""
        return await asyncio.shield(self._decided)


class MembershipWrites:
    """The writes about one user's membership of one group that are in flight (joins and
    removals), and the membership the store holds once those decided so far are applied.

    Each is claimed in memory as it is queued, on top of the claims before it, and the store
    decides them in that order, each on the row the ones before left: a join is refused while the
    row of a refused removal is still there, a removal deletes whatever row is there. So after a
    refusal, what memory shows no longer tells what the store will hold once the later writes are
    decided (a kick refused while a later kick of the user's rejoin is still in flight: nobody is
    in memory, yet the store still has the row, which the later kick will delete or not). Memory
    is set to :attr:`stored` when the last of them is decided
    (``server.handlers.common.membership_decided``)."""

    __slots__ = ("stored", "in_flight")

    def __init__(self, stored: Member | None) -> None:
        self.stored = stored  # the store's membership as of the writes decided so far
        self.in_flight = 0


@dataclass(slots=True)
class Ban:
    """A group's ban of one user: ``until`` epoch ms, 0 until unbanned; ``by`` the manager's user id."""

    until: int
    by: str
    reason: str | None
    created_at: int
    of_admin: bool = False  # the banned user was an admin then: the owner's to lift (admins act on members only)


@dataclass(slots=True)
class InviteLink:
    """An invite link, known by its code's hash (``code_hash``); ``uses`` is claimed before the write.
    ``note``: its creator's text for the group's managers (checked at creation), None when none."""

    code_hash: str
    group_id: str
    created_by: str
    created_at: int
    expires_at: int | None
    max_uses: int | None
    uses: int = 0
    revoked: bool = False
    note: str | None = None


@dataclass(slots=True, eq=False)
class Group:
    group_id: str
    name: str
    category: str
    join_policy: str
    owner_id: str
    created_at: int
    announcement: str = ""
    mute_all: bool = False
    last_seq: int = 0
    dissolved_at: int | None = None
    closed_at: int | None = None
    closed_reason: str | None = None
    suspended_until: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    online: Online = field(default_factory=Online)  # (fan-out keeps its plan there: server/fanout.py)
    join_requests: dict[str, int] = field(default_factory=dict)
    # user id -> their join request claimed here whose write is in flight (handlers/groups.py:
    # _RequestWrite): another connection of theirs asking meanwhile waits for it.
    request_writes: dict[str, Any] = field(default_factory=dict)
    invited: dict[str, str] = field(default_factory=dict)  # invitee's user id -> the inviter's
    daily: dict[int, int] = field(default_factory=dict)  # day number -> messages, for activity classes
    pinned: list[int] = field(default_factory=list)  # seqs of pinned messages, in the order pinned
    # The latest pin's stored time: each pin is stored later than the one before it (the same
    # millisecond or a clock stepped back included), so a load reads them back in the order pinned.
    last_pinned_at: int = 0
    slow_mode_seconds: int = 0  # set_slow_mode: plain members send at most once per this many seconds
    # The highest seq whose message the store has confirmed durable (a send's commit callback; at a
    # load, last_seq). Reads stop there: SQLite's readers see a commit before its WAL fsync, and a
    # message must not be shown before it is durable (nor its seq, if lost, be given to another).
    stored_seq: int = 0
    # The highest ``joined_seq`` any member of the group was given (joins and the load set it; it
    # never goes down): a message after it was sent after every member joined, so an event about it
    # goes to all the group's connections at once (handlers/common.py: seeing).
    joined_high: int = 0
    bans: dict[str, Ban] = field(default_factory=dict)  # user id -> ban (expired ones may linger)
    invite_links: set[str] = field(default_factory=set)  # code hashes of links not revoked
    # Members who left or were removed while a mute or slow mode still bound them: user id ->
    # their membership as it was. A rejoin carries both over (governance.moderation.carried_over).
    departed: dict[str, Member] = field(default_factory=dict)
    # user id -> the writes about their membership in flight (see MembershipWrites); None while there
    # are none, as almost always (no empty dict in each of millions of groups)
    membership_writes: dict[str, MembershipWrites] | None = None
    # user id -> (the membership a join claimed, its write) from the claim until the join adds the
    # user's connections to ``online``: a message settled in the same batch as the join, after its
    # join point, goes to them too (handlers/common.py: joiners_of). None while there are none.
    joining: dict[str, tuple[Member, asyncio.Future[Any]]] | None = None
    # user id -> when a manager last rejected their join request (groups.join_request_cooldown_seconds);
    # None until a first rejection. Kept in memory only: a restart forgets it.
    rejected: dict[str, int] | None = None
    # Writes ending the group (a dissolution, a closing) in flight: while there is one, memory may say
    # ended what the store does not yet, so the group stays in memory (State.retire).
    ends_in_flight: int = 0

    @property
    def alive(self) -> bool:
        return self.dissolved_at is None and self.closed_at is None

    def settled_member(self, uid: str) -> Member | None:
        """``uid``'s membership as stored: none while its join is still being written (see ``member_count``)."""
        m = self.members.get(uid)
        return m if m is not None and m.pending is None else None

    def member_count(self) -> int:
        """The members as stored: a join still being written is nobody's yet (the store may refuse it),
        as ``members`` and ``member_joined`` have it. (Caps count ``members`` whole: they hold for it.)"""
        return len(self.members) - sum(1 for m in self.members.values() if m.pending is not None)


@dataclass(slots=True, frozen=True)
class ClosedGroup:
    """What memory keeps of a group the platform closed once the closing is stored
    (:meth:`State.retire`): enough to refuse every op naming it with ``group_closed``, the reason
    for its members only (handlers/common.py: GroupClosed). ``dissolved``: its owner had dissolved
    it first (an op naming it is then refused as for an unknown group, ``not_found``)."""

    group_id: str
    closed_reason: str | None
    members: frozenset[str]
    dissolved: bool


@dataclass(slots=True, eq=False)
class Account:
    """A public account (P4-P13). ``online``: the live sessions of its subscribers, so a post
    reaches them without walking the subscriber list or writing a row per subscriber."""

    account_id: str
    name: str
    name_key: str
    category: str
    intro: str
    subject_type: str
    subject_key: str
    org_name: str | None
    owner_id: str
    created_at: int
    labels: tuple[str, ...] = ()
    credit_score: int = 0
    comments_restricted: bool = False
    suspended_until: int = 0
    closed_at: int | None = None
    # A closing claimed in memory (``closed_at`` set) whose write is in flight (:class:`Closing`)
    closing: asyncio.Future[None] | None = None
    opener_key: str | None = None  # the person key of the user who opened it (organisations' too)
    # The suspensions it carries from its subject's accounts (P13): sanction id -> (the account it
    # stands on, its end), each dropped once it is lifted there (``State.carried_by``).
    carried: dict[int, tuple[str, int]] = field(default_factory=dict)
    last_post_at: int = 0  # for the credit level's publishing interval
    # [ext] Posts whose comment mode set_post_comments changed in this process: post id -> the mode
    # (``open``, ``review``, ``closed``). A comment reads its post from the store and then decides
    # from this, with no await between: a change claimed while that read awaited is not missed.
    # Kept for the process's life (one entry per change made; the store has them all at a load).
    comment_modes: dict[int, str] = field(default_factory=dict)
    editors: set[str] = field(default_factory=set)
    subscribers: set[str] = field(default_factory=set)
    online: set[Session] = field(default_factory=set)
    # [ext] The connections that have it open: its information, its posts or one of its posts was the
    # last account they read (``State.reads_account``), followers or not. Told of what it shows anew
    # (account_updated) beside ``online`` and its managers' connections.
    readers: set[Session] = field(default_factory=set)
    # How many account_credit notices its managers were sent: points given back after one went out
    # while they were claimed are told again (operator/public_accounts.py: give_back_account_credit).
    credit_told: int = 0

    def suspension_end(self) -> int:
        """Its own suspension's end or the latest it carries, whichever is later (ms; past: none)."""
        if not self.carried:
            return self.suspended_until
        return max(self.suspended_until, *(until for _, until in self.carried.values()))

    def status(self, now: int) -> str:
        if self.closed_at is not None:
            return "closed"
        if self.suspension_end() > now:
            return "suspended"
        if self.comments_restricted:
            return "restricted"
        return "active"

    def role_of(self, user_id: str) -> str | None:
        if user_id == self.owner_id:
            return "owner"
        return "editor" if user_id in self.editors else None


class Closing:
    """A closing of account ``a`` claimed in memory (``closed_at`` set before the write, so that
    publishing stops at once) whose write is in flight. Until the write is decided, whether the
    account is closed is not known: the store may refuse it and the write's undo open it again. An
    operator's measure that needs the account open waits for it (``Account.closing``), rather than
    answer "already closed" for an account that then stays open with no measure on it. Settled from
    the write's own completion (``commit(claim=...)``), whatever became of the handler."""

    __slots__ = ("_account", "_decided")

    def __init__(self, a: Account) -> None:
        self._account = a
        self._decided: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        a.closing = self._decided

    def settle(self, stored: bool) -> None:
        if self._account.closing is self._decided:
            self._account.closing = None
        if not self._decided.done():
            self._decided.set_result(None)


@dataclass(slots=True)
class SentMessage:
    """A ``client_msg_id`` seen recently: retries get the first seq (and wait for its commit)."""

    seq: int
    ts: int
    committed: bool
    waiters: list[Any] = field(default_factory=list)
    held: bool = False

    def reply(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "held": True} if self.held else {"seq": self.seq, "ts": self.ts}


# Logged at start and said by `qunguan admin ping` while no version of the rules and agreement is published.
NO_AGREEMENT = ("no platform rules and service agreement are published yet, so nothing is gated: users post "
                "without accepting any; publish them with `qunguan admin set-agreement`")


@dataclass(frozen=True, slots=True)
class Agreement:
    """The current platform rules and service agreement (Art. 5)."""

    version: str
    rules: str
    agreement: str
    created_at: int


# How long the platform's notices are kept for the users who were not connected when they went out.
PLATFORM_NOTICES_KEPT_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class PlatformNotice:
    """A notice the operator sent (``qunguan admin notice``), from its ``platform_notice`` record.
    ``category``: only to the members of the live groups of that category, or with ``accounts`` to
    the followers, owners and editors of the live public accounts of that category."""

    at: int
    text: str
    category: str | None
    accounts: bool
    by: str | None


class State:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.by_username: dict[str, str] = {}
        # Live groups, and ended ones only while an end of theirs is in flight (see retire).
        self.groups: dict[str, Group] = {}
        self.closed: dict[str, ClosedGroup] = {}  # group id -> a group the platform closed (see retire)
        self.category_frozen_until: dict[str, int] = {}  # group category -> end of its freeze (G5)
        self.sent_ids = SentIds()  # the last day's client_msg_ids (server/sent_ids.py)
        # (group, sender, client_msg_id, hash of the text) of sends refused content_blocked and charged, with
        # when: a resend of one (its answer lost) is refused again, not charged again (handlers.messages)
        self.blocked_sends: OrderedDict[tuple[str, str, str, int], int] = OrderedDict()
        self.accounts: dict[str, Account] = {}
        self.account_names: dict[str, str] = {}  # name_key -> account_id, closed accounts included
        # A lookalike reading of an account's name -> that account, closed ones included: one account per
        # reading (governance.public_accounts.name_readings; the store's account_name_readings).
        self.account_readings: dict[str, str] = {}
        self.barred_subjects: set[str] = set()  # subject keys barred from running accounts (P13)
        self.carried_by: dict[int, set[str]] = {}  # a suspension's sanction id -> the accounts carrying it
        # Account suspensions lifted since start: an account whose insert read one standing just before
        # its lift was stored does not carry it (one id each; lifts are an operator's, and rare).
        self.suspensions_lifted: set[int] = set()
        # user id -> the accounts whose editor seat their cancellation, still being stored, took in
        # memory (and puts back if the store refuses it); only while it is in flight
        self.editor_seats_leaving: dict[str, set[str]] = {}
        self.account_category_frozen_until: dict[str, int] = {}  # public-account category -> end (P5)
        # [ext] A logged-in connection -> the account it read last (``Account.readers``): one each at most
        self.account_open: dict[Session, Account] = {}
        self.media = MediaIndex()  # finished uploads (server/media/index.py)
        # SHA-256s of the files the platform took down with what carried them (release-file lets one go)
        self.taken_down: set[str] = set()
        self.invite_links: dict[str, InviteLink] = {}  # code hash -> link (not revoked)
        self.revocations = Revocations()  # tokens revoked lately (an auth's lookup may predate them)
        # The platform's notices of the last PLATFORM_NOTICES_KEPT_MS, oldest first (platform_notices)
        self.platform_notices: list[PlatformNotice] = []

    def keep_notice(self, notice: PlatformNotice) -> None:
        """``notice`` went out: kept for those not connected, the ones past the window let go."""
        self.platform_notices.append(notice)
        since = notice.at - PLATFORM_NOTICES_KEPT_MS
        while self.platform_notices[0].at < since:
            self.platform_notices.pop(0)

    def notices_after(self, after: int, now: int) -> list[PlatformNotice]:
        """The notices kept made after ``after`` and within the window at ``now`` (one past it stays
        in the list until the next notice or start lets it go: not given meanwhile)."""
        since = max(after + 1, now - PLATFORM_NOTICES_KEPT_MS)
        return [n for n in self.platform_notices if n.at >= since]

    def end_settled(self, g: Group, decided: bool = True) -> None:
        """One end of ``g`` (or a command holding it, as close-group does) is no longer in flight;
        once none is, an ended group leaves memory (:meth:`retire`). ``decided`` False: its write may
        still be out (the command was cancelled at its await), so the group stays in memory, whatever
        the write does (a refusal's undo brings it back to life there)."""
        g.ends_in_flight -= 1
        if decided:
            self.retire(g)

    def retire(self, g: Group) -> None:
        """``g`` ended and no end of it is in flight: it leaves memory. A dissolved group keeps nothing
        there (ops name it as an unknown group, and the few readers of ended groups, reports, appeals
        and operator commands, read it from the store: handlers/common.py: known_group), nor do its
        invite links; a closed one keeps a :class:`ClosedGroup` and its links, which answer
        ``group_closed`` (a group dissolved, then closed, keeps none). Ended groups stayed whole in
        memory for good before, about 1.5 KiB each and their former members' rows, and a start loaded
        them all again."""
        current = self.groups.get(g.group_id)
        if g.alive or g.ends_in_flight or (current is not None and current is not g):
            return
        self.groups.pop(g.group_id, None)
        if g.closed_at is not None:
            self.closed[g.group_id] = ClosedGroup(g.group_id, g.closed_reason, frozenset(g.members),
                                                  g.dissolved_at is not None)
        if g.closed_at is None or g.dissolved_at is not None:  # (a dissolved group's are as unknown as it)
            for code in g.invite_links:
                self.invite_links.pop(code, None)

    def reads_account(self, sess: Session, user: User, a: Account) -> None:
        """[ext] Connection ``sess``, logged in as ``user``, read account ``a`` (``account_info``,
        ``posts``, ``read_post``): it has that account open now, and the one it read before no more (a
        client shows one account's page or post at a time; the last read is the one shown). Until it
        reads another or its login ends (:meth:`leaves_account`). One whose login ended (or changed)
        while its read awaited is left out: that end has taken it out of everything already."""
        if sess.user is not user or sess.closing:
            return
        was = self.account_open.get(sess)
        if was is a:
            return
        if was is not None:
            was.readers.discard(sess)
        self.account_open[sess] = a
        a.readers.add(sess)

    def leaves_account(self, sess: Session) -> None:
        """``sess``'s login ended (a logout, a cancellation, the connection closed): it has no account open."""
        was = self.account_open.pop(sess, None)
        if was is not None:
            was.readers.discard(sess)

    def carry(self, a: Account, carried: Iterable[tuple[int, str, int]]) -> None:
        """``a`` carries these suspensions (sanction id, the account it stands on, its end)."""
        for sid, source, until in carried:
            a.carried[sid] = (source, until)
            self.carried_by.setdefault(sid, set()).add(a.account_id)

    def carried_lifted(self, sanction_id: int) -> list[Account]:
        """The suspension ``sanction_id`` no longer stands (lifted, once stored): the accounts that
        carried it, which carry it no more."""
        self.suspensions_lifted.add(sanction_id)
        out = [self.accounts[aid] for aid in self.carried_by.pop(sanction_id, ()) if aid in self.accounts]
        for a in out:
            a.carried.pop(sanction_id, None)
        return out


class Revocations:
    """The tokens revoked lately, numbered in the order they were revoked.

    ``auth`` looks its token up in the database (an ``await``) and then binds the connection.
    A ``logout`` that commits the revocation while that lookup is out closes every connection
    bound to the token, but not this one, which is not bound yet; the lookup's answer may
    still say the token is good. So ``auth`` notes :attr:`count` before the lookup and asks
    :meth:`since` after it; the last :data:`KEEP` revocations are enough for any lookup that
    a few thousand logouts did not overtake, and :meth:`since` says when it cannot tell.
    """

    KEEP = 4096

    def __init__(self) -> None:
        self.count = 0
        # token hash (bytes), or a user id (str) for every token of that user -> its number; oldest first
        self._recent: dict[bytes | str, int] = {}
        self._forgotten = 0  # the number of the newest revocation no longer kept
        self._kept: dict[str, bytes] = {}  # the token a user's latest revocation spared (change_password)

    def add(self, token_hash: bytes) -> None:
        self._add(token_hash)

    def add_user(self, user_id: str, kept: bytes | None = None) -> None:
        """Every token of ``user_id`` issued before now was revoked (a blacklisting lifted, a logout
        everywhere), or is being revoked (a new password: marked before its write, so that a login
        whose token is stored meanwhile is refused too), but the token ``kept``."""
        self._add(user_id)
        if kept is None:
            self._kept.pop(user_id, None)
        else:
            self._kept[user_id] = kept

    def _add(self, key: bytes | str) -> None:
        self.count += 1
        self._recent.pop(key, None)
        self._recent[key] = self.count
        if len(self._recent) > self.KEEP:
            oldest = next(iter(self._recent))
            self._forgotten = self._recent.pop(oldest)
            if isinstance(oldest, str):
                self._kept.pop(oldest, None)

    def since(self, count: int, token_hash: bytes, user_id: str | None = None) -> bool | None:
        """Whether ``token_hash`` (or every token of ``user_id``) was revoked after revocation number
        ``count``; None when one made after it is no longer kept, so that it cannot tell."""
        if self._forgotten > count:
            return None
        user_revoked = (user_id is not None and self._recent.get(user_id, 0) > count
                        and self._kept.get(user_id) != token_hash)
        return self._recent.get(token_hash, 0) > count or user_revoked
