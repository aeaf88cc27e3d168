"""Writes as data: each change a handler or operator command makes to the store.

A handler never writes SQL. It builds one or more of these values and hands
them to :meth:`Store.apply`, which applies them, with an optional
enforcement-record entry, in one transaction of their own (their own savepoint
inside the backend's group commit): all of them or none. Each backend maps
every change type to its statements (``server/storage/sqlite_changes.py`` for
SQLite), so adding a backend never touches a handler.

Changes that enforce an invariant re-check it inside the transaction
(``TransferOwner``, ``VerifyIdentity``, ``ResolveReport`` ...) and raise a
:class:`~protocol.errors.ContractError` when it no longer holds; the whole
``apply`` is then rolled back and fails alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from governance.posting import check_admin_cap, check_fits_new_owner, check_member_cap
from governance.tiers import SizeClass, check_size_class
from protocol.errors import ContractError


class Change:
    """Base of every change type (a marker; backends dispatch on the concrete type)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Audit:
    """One enforcement-record entry, written in the same transaction as the changes it records."""

    ts: int
    actor_type: str  # "user" (owner/admin) | "operator" | "system"
    actor_id: str | None
    action: str
    # Set on every entry about a group, and on no other: a group's export reads its entries by it.
    # An entry about a public account has none and names the account in target_id (an account id
    # and a group id may be equal, so target_id alone does not say which one it names).
    group_id: str | None = None
    target_id: str | None = None
    reason: str = ""
    detail: Mapping[str, Any] | None = None


def with_detail(a: Audit, **more: Any) -> Audit:
    """``a`` with ``more`` added to its detail: what only the transaction that writes it knows (an id)."""
    return Audit(a.ts, a.actor_type, a.actor_id, a.action, a.group_id, a.target_id, a.reason,
                 {**(a.detail or {}), **more})


# -- accounts ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InsertUser(Change):
    """A new account; ``conflict`` when the username or phone is already bound to one."""

    user_id: str
    username: str
    username_key: str
    password_hash: str
    display_name: str
    phone_hmac: bytes
    phone_enc: bytes
    credit_score: int
    created_at: int


TOKENS_KEPT_PER_USER = 100  # an account's valid tokens (its signed-in devices) at most; docs/protocol.md `login`

# Why a login ended before its token expired, kept (``ended_logins``) until then for ``auth`` to say
# (its **[ext]** ``cause``): a device that was offline when it happened hears why, not only that. At
# most TOKENS_KEPT_PER_USER per account, the newest: an account logging in again and again pushes
# its oldest logins out, and what it kept of why would otherwise grow with each.
LOGGED_OUT = "logged_out"              # a logout of it on another device, or on every device
PASSWORD_CHANGED = "password_changed"  # the account's password changed or was reset
TOO_MANY_LOGINS = "too_many_logins"    # the oldest, past TOKENS_KEPT_PER_USER, at a new login
ACCOUNT_DELETED = "account_deleted"    # the account was cancelled
ACCOUNT_REOPENED = "account_reopened"  # the platform lifted its blacklisting: every login starts again
LOGIN_END_CAUSES = (LOGGED_OUT, PASSWORD_CHANGED, TOO_MANY_LOGINS, ACCOUNT_DELETED, ACCOUNT_REOPENED)


@dataclass(frozen=True, slots=True)
class InsertToken(Change):
    """A login token (its hash); expired tokens of the same user are dropped with it, and so are the
    oldest past :data:`TOKENS_KEPT_PER_USER` (a successful login is limited by nothing else, and each
    stored a row for the token's whole life)."""

    token_hash: bytes
    user_id: str
    created_at: int
    expires_at: int
    device: str = ""  # [ext] what the client called itself at login, shown to the account only (my_logins)


@dataclass(frozen=True, slots=True)
class RevokeToken(Change):
    """``logout``: the token stops authenticating (it is deleted; why, kept until it would have expired;
    ``cause`` None: nothing kept, a token never handed out)."""

    token_hash: bytes
    cause: str | None = LOGGED_OUT


@dataclass(frozen=True, slots=True)
class ChangePassword(Change):
    """``change_password``: the new hash, and every token of ``user_id`` but ``keep`` (the
    connection's own, None: none kept) stops authenticating, in one transaction."""

    user_id: str
    password_hash: str
    keep: bytes | None


@dataclass(frozen=True, slots=True)
class RehashPassword(Change):
    """A right password given to ``login``, hashed again under the argon2 settings of now: stored
    only over ``was``, the hash it was checked against (a password changed meanwhile stays)."""

    user_id: str
    was: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class RevokeTokens(Change):
    """Every token of ``user_id`` stops authenticating (``logout`` everywhere; a lifted blacklist: its
    owner logs in again, so no token from before the blacklist, a stolen one included, ever comes back)."""

    user_id: str
    cause: str = LOGGED_OUT


@dataclass(frozen=True, slots=True)
class VerifyIdentity(Change):
    """Bind a verified identity to an account, re-checking the per-ID caps in the transaction.

    Raises ``blacklisted`` when an account with this ID number is blacklisted,
    ``conflict`` when ``max_accounts_per_id`` accounts already hold it. Decided
    by the database, so accounts verifying the same number at the same moment
    cannot all pass.
    """

    user_id: str
    id_hmac: bytes
    id_enc: bytes
    name_enc: bytes
    verified_at: int
    max_accounts_per_id: int


@dataclass(frozen=True, slots=True)
class SetUserFields(Change):
    """Set account columns; only the names in ``USER_FIELDS`` are accepted."""

    user_id: str
    fields: Mapping[str, Any]


USER_FIELDS = frozenset(
    {"display_name", "credit_score", "powers_suspended_until", "create_revoked_at", "blacklisted_at"}
)


@dataclass(frozen=True, slots=True)
class AddCredit(Change):
    """Add ``delta`` (negative: a penalty) to a user's credit score, as stored now.

    Memory claims a credit change before the write and takes it back if the write fails;
    a whole score written instead (``SetUserFields``) would carry every other change claimed
    meanwhile, including one whose write then failed and was taken back in memory only.
    """

    user_id: str
    delta: int


@dataclass(frozen=True, slots=True)
class CancelAccount(Change):
    """Account cancellation: mark it deleted, replace its display name, drop its tokens and requests,
    its editor seats and subscriptions. ``conflict`` while it owns a live group or an open public
    account (re-checked in the transaction)."""

    user_id: str
    deleted_at: int
    display_name: str


@dataclass(frozen=True, slots=True)
class PutCode(Change):
    """The SMS code outstanding for a phone (its keyed hash, hex), as a MAC; replaces an earlier one."""

    phone_key: str
    code_mac: bytes
    expires_at: int  # ms


@dataclass(frozen=True, slots=True)
class DropCode(Change):
    """A code used or voided: gone, unless a newer one (another MAC) replaced it meanwhile."""

    phone_key: str
    code_mac: bytes


@dataclass(frozen=True, slots=True)
class PurgeCodes(Change):
    """Codes that expired before ``before`` (ms)."""

    before: int


@dataclass(frozen=True, slots=True)
class JobRan(Change):
    """A background job (``"retention"``, ``"media_cleanup"``) ran at ``at`` (ms): a node that
    starts or becomes the home waits only for what is left of its interval (``job_last_run``).
    A later time is kept over an earlier one."""

    name: str
    at: int


@dataclass(frozen=True, slots=True)
class AcceptAgreement(Change):
    user_id: str
    version: str
    accepted_at: int


# -- groups and members ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UserCaps:
    """Per-user caps the database re-checks in the change's transaction (None: not checked).

    The handler decides them in memory first, with no await in between; the store decides
    them again from the rows, so they hold even where more than one process writes the
    service's groups (``join_cap_reached`` / ``create_cap_reached``). On PostgreSQL the count
    runs under a transaction-level advisory lock on the user, so two writers adding the
    same user to two groups count one after the other.
    """

    joined: int | None = None  # live groups the user is in, owned ones included
    created: int | None = None  # live groups the user owns
    # The user asked (their own join): the refusal gives the cap. A manager letting them in is not
    # told it: it follows the user's credit level, the platform's judgement of them (check_room).
    own: bool = True

    def refuse(self, owned: int | None, joined: int | None) -> None:
        """Raise the cap error the counts the backend read (None: not read) reach, if any."""
        if owned is not None and self.created is not None and owned >= self.created:
            raise ContractError("create_cap_reached", f"you may own at most {self.created} groups" if self.own
                                else "that user already owns as many groups as allowed")
        if joined is not None and self.joined is not None and joined >= self.joined:
            raise ContractError("join_cap_reached", f"you may be in at most {self.joined} groups" if self.own
                                else "that user is in as many groups as they may be in")


def refuse_closed_account(deleted_at: int | None, blacklisted_at: int | None, own: bool = False) -> None:
    """``conflict`` for an account the store has cancelled or blacklisted: it may not become a
    group's owner or member (``CreateGroup``, ``TransferOwner``, ``AddMember``). Memory refuses
    it first; the store decides again for a closing that another writer stored meanwhile. ``own``:
    the user asked (a join, a create), who is told ``blacklisted``, as memory tells them."""
    if deleted_at is not None:
        raise ContractError("conflict", "that account was cancelled")
    if blacklisted_at is not None:
        if own:
            raise ContractError("blacklisted", "this account was closed by the platform")
        raise ContractError("conflict", "that account was closed by the platform")


@dataclass(frozen=True, slots=True)
class CreateGroup(Change):
    """A group with its owner as first member; raises :class:`GroupIdTaken` when the id exists."""

    group_id: str
    name: str
    category: str
    join_policy: str
    owner_id: str
    created_at: int
    caps: UserCaps | None = None


class GroupIdTaken(Exception):
    """The group id is already in the store (another node, or an id issued before): pick another."""


@dataclass(frozen=True, slots=True)
class ActsAs(Change):
    """A manager's change goes through only if the store gives them ``role`` in the group, the role
    memory gave them when the change was allowed (``forbidden`` otherwise). Memory shows a role from
    its claim on, before the write that gives it (a transfer of ownership, a promotion) is stored:
    if that write is refused, what they did as the group's owner or an admin meanwhile is refused
    with it instead of being stored on powers they never had. Put first in the transaction."""

    group_id: str
    user_id: str
    role: str
    refusal: str | None = None  # the reason given instead (when the user is not the caller)

    def refuse(self, stored: str | None) -> None:
        if stored != self.role:
            raise ContractError("forbidden", self.refusal or f"you are not the group's {self.role}: the change of "
                                                             "your role was not stored")


@dataclass(frozen=True, slots=True)
class SetGroupFields(Change):
    """Set group columns; only the names in ``GROUP_FIELDS`` are accepted."""

    group_id: str
    fields: Mapping[str, Any]


# Past any number of changes to messages between a backup and its restore (a million a second for
# eleven days); a cursor is a 64-bit int, so nine million restores still fit.
RESTORE_CLOCK_GAP = 10**12


@dataclass(frozen=True, slots=True)
class AdvanceSeqs(Change):
    """Move every group's next seq up by ``gap`` (``qunguan restore``): a database restored from a
    backup would otherwise hand out again the seqs of the messages it lost, which clients have seen
    already (and page past with ``after_seq``). Returns how many groups it moved. The clock of
    changes to messages (**[ext]** ``message_changes``) moves up by ``clock_gap`` for the same
    reason: a client holds a cursor from the lost database, and changes stamped below it after the
    restore would never be listed to it; and its floor moves there, so that such a cursor is
    answered ``reset`` (what the client shows may hold what the restore lost).

    ``floors`` (group id, last seq) and ``clock_floor`` are what the database being replaced had
    handed out (SQLite: read from it by the restore): each moves up from the higher of the two.
    From the backup's alone, a second restore of the same backup handed out again the seqs and
    clock values that clients saw after the first. ``ValueError``, nothing changed, when a seq would
    pass :data:`SEQ_LIMIT`."""

    gap: int
    clock_gap: int = RESTORE_CLOCK_GAP
    floors: tuple[tuple[str, int], ...] = ()
    clock_floor: int = 0
    # The ids a restore moves on as well (:data:`RESTORED_IDS`), by :data:`RESTORE_ID_GAP` from the
    # higher of the backup's counter and the replaced database's (``id_floors``: table, last id).
    id_floors: tuple[tuple[str, int], ...] = ()


# The ids clients and operators hold that are never given again (posts and comments, complaints,
# content-review items; SQLite's AUTOINCREMENT, PostgreSQL's identity sequences): a restore puts back
# the backup's counters, which gave the lost rows' ids to new ones, so it moves each on by this much.
RESTORED_IDS = (("posts", "post_id"), ("comments", "comment_id"), ("reports", "report_id"),
                ("review_queue", "item_id"))
RESTORE_ID_GAP = 1_000_000


# A group's seqs stay below this: SQLite's search index keys a message by its group's number and its
# seq in 32 bits (server/storage/schema.py, search). Only restores' gaps come near it.
SEQ_LIMIT = 2**32


def seq_limit_passed(highest: int | None) -> None:
    """``ValueError`` when a restore's gap took a group's last seq to :data:`SEQ_LIMIT` or past it."""
    if highest is not None and highest >= SEQ_LIMIT:
        raise ValueError(f"a group's next seq would be {highest + 1:,}, past the search index's bound of "
                         f"{SEQ_LIMIT - 1:,}: restore with a smaller --seq-gap")


GROUP_FIELDS = frozenset(
    {"name", "category", "join_policy", "announcement", "mute_all", "suspended_until", "dissolved_at",
     "closed_at", "closed_reason", "slow_mode_seconds"}
)


@dataclass(frozen=True, slots=True)
class GroupCaps:
    """A group's caps under a new owner, which the database re-checks when the group is handed on.

    The handler decides them in memory first (``posting.check_fits_new_owner``, ``check_size_class``);
    the store counts the group's members and the admins it keeps (the new owner no longer counts as
    one) in the transfer's transaction, after the group's row is taken (and, on PostgreSQL, under
    the group's advisory lock that ``AddMember`` and a promotion take too), and refuses as the
    handler would.
    """

    max_members: int
    max_admins: int
    # the size classes the group is in, which the new owner must meet (``check_size_class``)
    size_classes: tuple[SizeClass, ...] = ()
    owner_level: int = 0
    owner_id_verified: bool = False

    def refuse(self, members: int, admins: int) -> None:
        """Raise the cap error the counts the backend read reach, if any."""
        check_fits_new_owner(members=members, max_members=self.max_members, admins=admins,
                             max_admins=self.max_admins)
        check_size_class(members, self.size_classes, owner_level=self.owner_level,
                         owner_id_verified=self.owner_id_verified)


@dataclass(frozen=True, slots=True)
class GroupRoom:
    """A group's caps on one more member, which the database re-checks when it adds one (``AddMember``).

    The handler decides them in memory first (``check_room``, ``check_size_class``, no await in
    between); the store counts the group's members in the change's transaction and refuses as the
    handler would: ``member_cap_reached`` at ``max_members`` (the owner's level's cap), then the
    size class one more member would take the group into when its owner does not meet it
    (``verification_required`` / ``credit_too_low``). On PostgreSQL the count runs under a
    transaction-level advisory lock on the group, so two writers adding members to one group
    count one after the other; SQLite's single writer counts in the same transaction.
    """

    max_members: int
    size_classes: tuple[SizeClass, ...] = ()
    owner_level: int = 0
    owner_id_verified: bool = False

    def refuse(self, group_id: str, members: int) -> None:
        """Raise the cap error one more member on top of ``members`` would break, if any."""
        check_member_cap(members, self.max_members, group_id)
        check_size_class(members + 1, self.size_classes, owner_level=self.owner_level,
                         owner_id_verified=self.owner_id_verified)


@dataclass(frozen=True, slots=True)
class TransferOwner(Change):
    """Make ``to_user`` the owner, unmuted (nobody may mute the owner, so nobody could lift a mute
    it kept); ``conflict`` unless ``from_user`` still owns the live group; the cap errors when the
    new owner is over ``caps`` or the group over ``group_caps``."""

    group_id: str
    from_user: str
    to_user: str
    caps: UserCaps | None = None  # the new owner's created cap, decided again by the store
    group_caps: GroupCaps | None = None  # the group's caps at the new owner's level, decided again
    # When given, the membership log gets the change of both roles (``owner`` for the new owner,
    # ``owner_handed_on`` for the old), by ``actor`` (None: the platform, a blacklisting's handover).
    ts: int | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class OwnsNoLiveGroup(Change):
    """``conflict`` while the store has ``user_id`` owning a live group: put after a blacklisting's
    hand-overs and closings, which memory planned from what it showed. A transfer or a dissolving
    claimed in memory before them, and refused by the store since, left the user owning what the
    plan passed over: the blacklisting is refused, to be run again. (Public accounts: one whose
    opening is still being stored is closed by its own insert's check; one whose closing was
    refused, by :class:`AccountsClosed`.)"""

    user_id: str


IDENTITY_ERASED = ("the account was cancelled and its phone and identity erased at the end of its retention "
                   "period: a blacklisting would bar nothing")
# (the purge's erasure leaves the phone empty: sqlite_records.ERASE_ACCOUNT; both dialects)
ERASED_ACCOUNT = "SELECT 1 FROM users WHERE user_id = ? AND deleted_at IS NOT NULL AND length(phone_enc) = 0"


@dataclass(frozen=True, slots=True)
class IdentityHeld(Change):
    """Refused (``forbidden``) once the retention purge has erased the cancelled account ``user_id``'s
    phone and identity: put after a blacklisting's ``SetUserFields``, which the purge's erasure waits
    for or is seen by (the purge passes over a blacklisted account), so a blacklisting never stands
    on an identity that is gone and would bar nobody."""

    user_id: str


@dataclass(frozen=True, slots=True)
class AccountsClosed(Change):
    """``conflict`` while the store has one of ``account_ids`` live: the public accounts a
    blacklisting passed over because memory showed them closed. A closing claimed in memory before
    it, and refused by the store since, left the person a live account: the blacklisting is refused,
    to be run again (as :class:`OwnsNoLiveGroup` for groups)."""

    account_ids: tuple[str, ...]


# Through the user's memberships (members_user) rather than every group's row: the owner is a member.
OWNS_LIVE_GROUP = ("SELECT 1 FROM members m JOIN groups g ON g.group_id = m.group_id"
                   " WHERE m.user_id = ? AND g.owner_id = m.user_id"
                   " AND g.dissolved_at IS NULL AND g.closed_at IS NULL LIMIT 1")


@dataclass(frozen=True, slots=True)
class AddMember(Change):
    """A member joins (the pending request and invitation go); logged as ``action`` by ``actor``;
    ``conflict`` when the store has the user's account cancelled or blacklisted."""

    group_id: str
    user_id: str
    role: str
    ts: int
    joined_seq: int
    action: str
    actor: str | None
    caps: UserCaps | None = None
    muted_until: int = 0  # a mute still in force from before they left (it outlives a rejoin)
    room: GroupRoom | None = None  # the group's member cap and size classes, decided again by the store


@dataclass(frozen=True, slots=True)
class RemoveMember(Change):
    group_id: str
    user_id: str
    ts: int
    action: str
    actor: str | None


@dataclass(frozen=True, slots=True)
class SetMemberRole(Change):
    """``max_admins`` (a promotion to admin): the store counts the group's other admins in the
    transaction, under the group's lock on PostgreSQL, and refuses ``admin_cap_reached`` at the cap."""

    group_id: str
    user_id: str
    role: str
    max_admins: int | None = None
    # When given, the membership log gets the new role as its action (``admin``, ``member``) by ``actor``.
    ts: int | None = None
    actor: str | None = None

    def refuse(self, admins: int) -> None:
        """Raise ``admin_cap_reached`` when the group's other admins leave no room for this one."""
        if self.max_admins is not None:
            check_admin_cap(admins, self.max_admins)


@dataclass(frozen=True, slots=True)
class SetMuted(Change):
    group_id: str
    user_id: str
    until: int


@dataclass(frozen=True, slots=True)
class PutJoinRequest(Change):
    group_id: str
    user_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class DropJoinRequest(Change):
    group_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class DropGroupRequests(Change):
    """Every pending join request and invitation of a group that ends (dissolved or closed)."""

    group_id: str


@dataclass(frozen=True, slots=True)
class PutInvitation(Change):
    group_id: str
    user_id: str
    inviter_id: str
    ts: int


# -- messages ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DeleteMessages(Change):
    """Hide messages from members (the text is kept for the retention period). ``apply`` returns the
    ``(group_id, seq)`` of those it hid that members had been shown (delivered, not held nor
    rejected, as the store has them in this transaction): the ones to tell them of."""

    items: tuple[tuple[str, int], ...]  # (group_id, seq)
    deleted_at: int
    deleted_by: str
    # An enforcement-record entry naming what this write hid, as it hid it: written with ``removed``
    # and ``seqs`` (of one group) in its detail, only when it hid any (**[ext]** delete_user_messages:
    # a message another deletion hid first is not named as this one's).
    record: Audit | None = None


@dataclass(frozen=True, slots=True)
class SetMessageHeld(Change):
    """``held``: 0 delivered, 1 held for review, 2 rejected by an operator."""

    group_id: str
    seq: int
    held: int


@dataclass(frozen=True, slots=True)
class MarkRead(Change):
    """A user has read a group up to ``seq`` (all their devices); the stored marker never moves back."""

    user_id: str
    group_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class LogNetwork(Change):
    """One network-log row written in the transaction of what it logs, for a row an act stands on:
    an operator's ``unlock-login`` (the limits are rebuilt from its row at a start) and its record
    entry are stored together or not at all. Other rows go through the store's batched ``log_network``."""

    ts: int
    kind: str
    user_id: str | None
    ip: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class QueueReview(Change):
    """A held or flagged message, queued for the operators' content review."""

    group_id: str
    seq: int
    sender_id: str
    action: str
    category: str
    term: str
    created_at: int


@dataclass(frozen=True, slots=True)
class QueueShownText(Change):
    """A group name, announcement, display name or public account's name or introduction the word
    lists flagged (applied) or held (``review``: not applied), queued for the operators
    (``governance/shown_text.py``).

    ``kind``: ``group_name`` | ``announcement`` (``group_id`` set; ``sender_id`` who set it) |
    ``display_name`` (``group_id`` None; ``sender_id`` the user) | ``account_name`` |
    ``account_intro`` (``account_id`` set; ``sender_id`` the owner who set it). ``expect``: the
    value the field must still show for the decision to change it. Its result: the item's id (a
    held text's ``held_id``)."""

    kind: str
    group_id: str | None
    sender_id: str
    action: str
    category: str
    term: str
    text: str
    expect: str
    created_at: int
    account_id: str | None = None


@dataclass(frozen=True, slots=True)
class WithdrawHeldText(Change):
    """The author takes back a held name, announcement or display name that still waits
    (``status`` becomes ``withdrawn``: no decision can apply it any more); ``not_found`` when
    there is no such open held item of ``sender_id``'s."""

    item_id: int
    sender_id: str
    at: int


@dataclass(frozen=True, slots=True)
class SupersedeHeldTexts(Change):
    """A new text for a field (``kind``, of the group, account or user ``target_id``) closes the held
    texts still waiting for that field (``status`` ``withdrawn``, note ``superseded``): the newest
    change wins. An operator's later release of an older one would otherwise apply it over a newer
    choice whenever the field shows again what it showed when the older was held (a name A, B held,
    C set, A set again: B released would replace A). Stored before the new text's own queue item.
    Result: ``(item_id, sender_id)`` of each item closed, whose authors are told."""

    kind: str
    target_id: str
    at: int


@dataclass(frozen=True, slots=True)
class SetShownText(Change):
    """An operator's decision on a queued name or announcement: set the field of the group
    (``group_name``, ``announcement``; ``target_id`` the group), user (``display_name``) or public
    account (``account_name``, ``account_intro``; ``target_id`` the account) to ``value``, only if
    it still holds ``expect`` (a live group, an active user, an account not closed); ``conflict``
    otherwise, and when an account's new name (``name_key``, set with it) is taken meanwhile."""

    kind: str
    target_id: str
    value: str
    expect: str
    name_key: str | None = None



@dataclass(frozen=True, slots=True)
class EditMessage(Change):
    """Replace a message's text, keeping the text it had as its next earlier version.

    Re-checked in the transaction: ``not_found`` unless the message exists, is
    not deleted and was sent by ``sender_id``.
    """

    group_id: str
    seq: int
    sender_id: str
    text: str
    edited_at: int


@dataclass(frozen=True, slots=True)
class SetReaction(Change):
    """Add (``on``) or take back one user's reaction; ``apply`` returns whether anything changed.

    Re-checked in the transaction: ``not_found`` unless the message exists, is
    delivered and not deleted; ``conflict`` when adding would give the user more
    than ``max_per_user`` different reactions on that message.
    """

    group_id: str
    seq: int
    user_id: str
    emoji: str
    on: bool
    ts: int
    max_per_user: int


@dataclass(frozen=True, slots=True)
class SetPin(Change):
    """Pin (``on``) or unpin a message of a group. The cap is decided in memory by the handler, and by
    the store again for a pin (the pins it holds, at most ``max_pins``): an unpin refused after a pin
    took its place in memory would otherwise leave one pin over the cap, in memory and in the store."""

    group_id: str
    seq: int
    on: bool
    ts: int
    by: str
    max_pins: int


# -- moderation: bans and invite links ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PutBan(Change):
    """Ban a user from a group (replacing an earlier ban); their join request and invitation go.

    ``until``: epoch ms, 0 until unbanned. Removing them, when a member, is a
    :class:`RemoveMember` applied with it.
    """

    group_id: str
    user_id: str
    until: int
    by: str
    reason: str | None
    created_at: int
    of_admin: bool = False  # the user was an admin when banned (only the owner lifts such a ban)


@dataclass(frozen=True, slots=True)
class DropBan(Change):
    group_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class InsertInviteLink(Change):
    """An invite link, stored by its code's SHA-256 (the code itself is never stored)."""

    code_hash: str
    group_id: str
    created_by: str
    created_at: int
    expires_at: int | None
    max_uses: int | None
    note: str


@dataclass(frozen=True, slots=True)
class RevokeInviteLink(Change):
    """Make a link useless; ``not_found`` when it is unknown or revoked already."""

    code_hash: str
    revoked_at: int
    revoked_by: str


@dataclass(frozen=True, slots=True)
class UseInviteLink(Change):
    """Count one use of a link, re-checked in the transaction: ``not_found`` unless it is still
    unrevoked, unexpired at ``now`` and has a use left (so uses never pass ``max_uses``)."""

    code_hash: str
    now: int


# -- complaints ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InsertReport(Change):
    """A complaint; ``apply`` returns ``(report id, duplicate)``.

    The reporter's open report on the same target, if there is one, is looked up again inside
    the transaction (under a lock on the reporter on PostgreSQL): its id comes back with
    ``duplicate`` true and nothing is inserted, so two reports of one target at once open one.
    """

    reporter_id: str
    target_type: str
    group_id: str | None
    seq: int | None
    user_id: str | None
    reason: str
    detail: str
    created_at: int
    # a public account, post or comment (P15)
    account_id: str | None = None
    post_id: int | None = None
    comment_id: int | None = None

    def named_content(self) -> tuple[str, tuple[Any, ...], str] | None:
        """The query (``?`` placeholders) that finds the message, post or comment this report names,
        its parameters and the ``not_found`` reason when it finds nothing; None for a user, group or
        account. The content was read before the write was queued: the retention purge may have
        removed it meanwhile, and a reporter must not be told a complaint is filed on evidence that
        is gone."""
        if self.seq is not None:
            return MESSAGE_KEPT, (self.group_id, self.seq), f"no message {self.seq} in group {self.group_id}"
        if self.comment_id is not None:
            return "SELECT 1 FROM comments WHERE comment_id = ?", (self.comment_id,), f"no comment {self.comment_id}"
        if self.post_id is not None:
            return "SELECT 1 FROM posts WHERE post_id = ?", (self.post_id,), f"no post {self.post_id}"
        return None


# Whether a message is still stored (a pin or a report decided before its write may name one the
# retention purge removed meanwhile).
MESSAGE_KEPT = "SELECT 1 FROM messages WHERE group_id = ? AND seq = ?"
# A message a pin may name: stored, shown (not held for review nor rejected) and not deleted.
PINNABLE = "deleted_at IS NULL AND held = 0"


@dataclass(frozen=True, slots=True)
class ResolveReport(Change):
    """Close an open report; ``conflict`` when it is no longer open."""

    report_id: int
    outcome: str
    note: str
    resolved_at: int
    resolved_by: str


# -- platform governance ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AddSanction(Change):
    """A new sanction; ``apply`` returns its id.

    ``replaces``: the standing sanctions it cuts short (a shorter ``suspend-group`` / ``suspend-admin``,
    server/operator/sanctions.py: ``replacing``). Each is lifted in the same transaction, at
    ``starts_at`` by ``actor`` with ``lift_reason``, and names the new sanction as its ``replaced_by``
    (the new id exists only inside the transaction, hence one change for both); ``conflict`` when one
    is unknown or lifted already.
    """

    kind: str
    target_type: str
    target_id: str
    reason: str
    actor: str
    starts_at: int
    expires_at: int | None = None
    report_id: int | None = None
    credit_taken: int = 0  # points taken from the target (a group's: its owner) with it, given back if overturned
    replaces: tuple[int, ...] = ()
    lift_reason: str = ""  # of the sanctions it replaces: readable, for operators; never parsed
    cause: str | None = None  # "freeze": a category's freeze took it (not a measure on the target itself)
    # An enforcement-record entry of its own, written with it, ``sanction_id`` added to its detail (the id
    # exists only inside the transaction): a measure that takes one sanction per target (``freeze-category``,
    # the groups a blacklisting closes) records each against its target, where that target's records look.
    record: Audit | None = None


@dataclass(frozen=True, slots=True)
class DecideReview(Change):
    """Record an operator's decision on an open review item; ``conflict`` when already decided."""

    item_id: int
    decision: str
    note: str
    decided_at: int


@dataclass(frozen=True, slots=True)
class AddRecord(Change):
    """One more enforcement-record entry in the transaction, beside the op's own: a measure that reaches
    several groups (a blacklisted owner's groups passed on, ``remove-term``'s messages) records what it
    did to each group against that group, so ``group_log`` and ``export --group`` find it."""

    entry: Audit


# The record entries of the measures that cost a message's sender credit (``MessagePenalty``).
MESSAGE_MEASURES = ("remove_message", "review_reject", "review_remove", "resolve_report")


@dataclass(frozen=True, slots=True)
class MessagePenalty(Change):
    """The credit one message costs its sender, taken once (``credit.penalty_report_upheld``): take
    ``points`` from ``user_id`` unless an earlier measure on message (``group_id``, ``seq``) took
    them, and append ``record`` (the measure's entry) with ``credit_taken`` (the points taken, 0 when
    none) added to its detail. Returns the points taken.

    Decided in the transaction from the record itself: an earlier entry of :data:`MESSAGE_MEASURES`
    naming the message (its ``group_id`` and ``seq``) with ``credit_taken`` above 0, or, written before
    entries said so, any such entry (a ``resolve_report`` only when upheld), took them. On PostgreSQL
    under a transaction-level lock on the message, so of two writers the second reads the first's
    entry; SQLite has one writer. ``user_id`` None or ``points`` 0: nothing is taken, the entry is
    written all the same. Comes last among the op's changes (the op has no ``audit`` of its own)."""

    user_id: str | None
    points: int
    group_id: str
    seq: int
    record: Audit


# The record entries of the measures that cost a public-account comment's author credit (``CommentPenalty``).
COMMENT_MEASURES = ("remove_comment", "review_reject", "resolve_report")


@dataclass(frozen=True, slots=True)
class CommentPenalty(Change):
    """:class:`MessagePenalty` for one public-account comment: take ``points`` from its author
    ``user_id`` unless an earlier entry of :data:`COMMENT_MEASURES` naming the comment (its
    ``comment_id``) took them, and append ``record`` with ``credit_taken``. Entries written before
    they said so count as taken, except a ``resolve_report`` not upheld and a ``remove-term`` removal
    (which never penalised). On PostgreSQL under a transaction-level lock on the comment. Returns the
    points taken."""

    user_id: str | None
    points: int
    comment_id: int
    record: Audit


# The record entries of the measures that cost a public-account post's author credit (``PostPenalty``).
POST_MEASURES = ("review_reject", "resolve_report")


@dataclass(frozen=True, slots=True)
class PostPenalty(Change):
    """:class:`MessagePenalty` for one public-account post, whose author pays for it once: take
    ``points`` from ``user_id`` unless an earlier entry of :data:`POST_MEASURES` naming the post itself
    (its ``post_id``, with no ``comment_id``: a comment's entries name its post too) took them, and
    append ``record`` with ``credit_taken``. So a held post rejected in review (``decide`` ``reject``)
    and reported (``resolve`` upheld), in either order, or reported several times, costs its author
    once. Entries written before they said so count as taken, except a ``resolve_report`` not upheld.
    (Removing a post costs the account's credit, not the author's: ``remove-post``.) On PostgreSQL
    under a transaction-level lock on the post. Returns the points taken."""

    user_id: str | None
    points: int
    post_id: int
    record: Audit


@dataclass(frozen=True, slots=True)
class SettleMessageReviews(Change):
    """Decide every open review item of one message (``remove-message``: the message an item flags
    is taken down, so the item is settled with it and cannot cost its sender the penalty again).
    Returns how many items it settled."""

    group_id: str
    seq: int
    decision: str
    note: str
    decided_at: int


@dataclass(frozen=True, slots=True)
class InsertAgreement(Change):
    """A new version of the platform rules and agreement; ``conflict`` when the version was used."""

    version: str
    rules: str
    agreement: str
    created_at: int


@dataclass(frozen=True, slots=True)
class SuspendCategory(Change):
    """Keep a category frozen until ``until``, and suspend posting until then (never shortening a
    suspension) in the live groups ``groups``: those the freeze listed, a batch at a time, each by its
    id whatever category the store holds for it (a group whose move into the category was claimed in
    memory, and whose move then fails, is suspended in the store as it is in memory; one whose move
    out of it was claimed is not). A group of the category the freeze did not list is found by the
    freeze upkeep (server/operator/freeze_upkeep.py)."""

    category: str
    until: int
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SuspendAccountCategory(Change):
    """Keep a public-account category frozen until ``until``, and suspend publishing until then (never
    shortening a suspension) in the open accounts ``accounts``: those the freeze listed, a batch at a
    time (as :class:`SuspendCategory`)."""

    category: str
    until: int
    accounts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddHold(Change):
    """A legal hold; ``apply`` returns its id. ``audit`` is written with ``hold_id`` added to its detail."""

    target_type: str
    target_id: str
    reason: str
    created_at: int
    audit: Audit


@dataclass(frozen=True, slots=True)
class ReleaseHold(Change):
    """Release a hold; ``conflict`` when it is unknown or already released."""

    hold_id: int
    released_at: int
    reason: str


@dataclass(frozen=True, slots=True)
class Purge(Change):
    """One retention batch of one table (see ``PURGE_TABLES``); ``apply`` returns the rows removed.

    ``record``: an enforcement-record entry written in the batch's own transaction when
    it removed anything (so no row is ever removed without the record saying so).
    """

    table: str
    now: int
    cutoff: int
    limit: int
    record: Audit | None = None
    # The purge's kept authors (``Store.kept_authors``), read once before the tables naming people:
    # their network logs and identities stay. Those tables' batches refuse to run without it.
    kept: tuple[str, ...] | None = None


MessageKey = tuple[int, str, int]  # (ts, group_id, seq): the order the messages purge walks in


@dataclass(frozen=True, slots=True)
class PurgeMessages(Change):
    """One retention batch of messages: the next ``limit`` messages past the cutoff after ``after``
    (None: from the oldest), in (ts, group_id, seq) order, each removed unless something keeps it
    (:class:`Purge`'s rules for ``messages``). ``apply`` returns (the messages removed, the key to go
    on after, or None once the batch reached the cutoff).

    The walk goes on from where the last batch stopped: the messages kept past their period (pinned
    ones, held groups' and people's, those under review) are looked at once per purge, not again by
    every batch; each is checked by its key, so a batch costs what it looks at, not what is kept."""

    now: int
    cutoff: int
    limit: int
    after: MessageKey | None = None
    record: Audit | None = None


NetlogKey = tuple[int, int]  # (ts, id): the order the network log's purge walks in


@dataclass(frozen=True, slots=True)
class PurgeNetlog(Change):
    """One retention batch of the network log: the next ``limit`` rows past the cutoff after ``after``
    (None: from the oldest), in (ts, id) order, each removed unless its person is kept (:class:`Purge`'s
    rules for ``netlog``; ``kept`` as there). ``apply`` returns (the rows removed, the key to go on
    after, or None once the batch reached the cutoff). Walked on as the messages are: the rows of the
    people kept (held, under a sanction, a kept message's author), a few percent of a large platform's
    log, are looked at once per purge, not again by every batch."""

    now: int
    cutoff: int
    limit: int
    kept: tuple[str, ...]
    after: NetlogKey | None = None
    record: Audit | None = None


# Order matters: what people wrote goes first, then what names the people (``netlog``,
# ``accounts_erased``), which stays while a held message, post or comment of theirs is kept.
# ``messages`` is purged by :class:`PurgeMessages`, ``netlog`` by :class:`PurgeNetlog`, the others
# by :class:`Purge`.
PURGE_TABLES = ("messages", "membership_log", "reports", "review_queue", "comments", "posts", "post_reads",
                "netlog", "tokens", "ended_logins",
                "accounts_erased")


@dataclass(frozen=True, slots=True)
class SealRecord(Change):
    """Give the enforcement-record entries written before the record had a key their macs, in one
    transaction: only the record's unsealed beginning, up to its head (``governance.audit.sealable``),
    and never past an entry whose unkeyed hash link is broken.

    ``checkpointed``: whether a checkpoint (the file's) names an entry, i.e. saw the record sealed;
    None when the caller has not looked (nothing is sealed then). ``apply`` returns (how many were
    sealed, the first entry still without a mac or None).
    """

    checkpointed: bool | None


# -- identity keys -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SaveVault(Change):
    """Register an identity key's fingerprint (when ``fingerprint`` is set) and store the sealed lookup key.

    A development service's copy of its key (:class:`ShareDevKey`), where the database keeps one, follows
    the key made current here: ``dev_key`` replaces it (the content of a key file), ``drop_dev_key``
    deletes it (the new current key is a configured one, which is never copied), so that the copy is
    never a key the service has rotated away from."""

    key_id: int
    fingerprint: str | None
    sealed_lookup_key: bytes
    added_at: int
    dev_key: bytes | None = None
    drop_dev_key: bool = False


@dataclass(frozen=True, slots=True)
class ShareDevKey(Change):
    """Keep a copy of a development service's identity key in the database (``identity.dev_mode`` on
    PostgreSQL with no key configured), so that its other nodes, each in a folder of its own, take it
    at their first start; never with ``dev_mode = false``. The first copy stays."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class ResealBatch(Change):
    """Re-seal one batch of accounts' identity values, reading and writing in one transaction.

    ``reseal(blob)`` returns the blob sealed under the current key, or None when
    it already is. ``apply`` returns (the last user id of a full batch or None
    when done, values re-sealed, accounts touched).
    """

    after: str
    limit: int
    reseal: Callable[[bytes | None], bytes | None] = field(compare=False)


# -- measures that finish: lifting sanctions, appeals ---------------------------------------------
@dataclass(frozen=True, slots=True)
class LiftSanction(Change):
    """End a sanction early; ``conflict`` when it is unknown or already lifted.

    The sanction's effect (a group's ``suspended_until``, a user's flags) is
    undone by the :class:`SetGroupFields` / :class:`SetUserFields` applied with it.
    """

    sanction_id: int
    lifted_at: int
    lifted_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class CreditGivenBack(Change):
    """Mark that the credit points sanction ``sanction_id`` took were given back (with the
    :class:`AddCredit` or the account's change in the same write); ``conflict`` when they were
    given back already: once only, whatever the clock says about the sanction meanwhile."""

    sanction_id: int
    at: int


@dataclass(frozen=True, slots=True)
class InsertAppeal(Change):
    """A user's appeal against a sanction; ``apply`` returns its id. ``conflict`` when the
    sanction was lifted meanwhile or the user already has an open appeal against it."""

    sanction_id: int
    user_id: str
    text: str
    created_at: int


@dataclass(frozen=True, slots=True)
class DecideAppeal(Change):
    """An operator's decision on an open appeal; ``conflict`` when it is already decided."""

    appeal_id: int
    outcome: str  # "upheld" (the appeal succeeds) | "rejected"
    note: str
    decided_at: int
    decided_by: str


# -- public accounts (P4-P13) ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InsertAccount(Change):
    """A public account; ``apply`` returns an :class:`OpenedAccount`.

    ``subject_key`` is the organisation's keyed code hash, or None for an
    individual: then it is the owner's verified ID number's keyed hash, read in
    the transaction (``verification_required`` when the owner has none). The
    opener key is always that person's key (stored as ``opener_key``): the
    person who acts for the account, whoever its subject. Decided in the
    transaction, under a lock on the subject key and on the opener key (SQLite:
    the single writer; PostgreSQL: advisory locks taken in a fixed order), so
    concurrent creates cannot pass together: ``blacklisted`` when the subject or
    the person is barred (``barred_subjects``, or a blacklisted account verified
    with the same ID number), ``create_cap_reached`` when the subject already has
    ``max_per_subject`` live accounts (an account closed while a platform suspension of it stands
    counts until the suspension ends; a category's freeze is none: ``server.storage.public.counted``)
    or, for an organisation account, the person has already opened that many organisation accounts,
    ``conflict`` when ``name_key`` is taken, :class:`AccountIdTaken` when the id is.

    A new account starts no better than its subject's worst account, open or
    closed (read in the insert's transaction, after the locks; a measure on one
    of those accounts committing at that very moment is not seen, as one taken
    just after the account opened would not be): its credit score is the lowest
    of ``credit_score`` and theirs, and it starts with comments restricted when
    one of theirs has them restricted. Closing an account and opening another
    does not shed either (P6, P12). Nor does it shed a suspension: it carries each standing
    ``suspend_account`` sanction of its subject's accounts (``OpenedAccount.carried``), read after
    them in the same transaction, except those a category's freeze took (``cause`` ``freeze``): an
    emergency in one category is not carried into another (P13). Each ends for it as it ends or is
    lifted there; one taken there later is not carried.

    An organisation account is opened by a person acting for it, whose code is checked for its
    form only: it also starts no better than that person's own accounts (those whose subject is
    the opener's person key, and the organisation accounts that person opened: one opened with a
    made-up code is theirs as much), so a person the platform suspended, restricted or marked down
    does not shed it by typing a new, well-formed code (P13: "an account the same person or
    organisation opens"). The accounts read: :data:`STANDING`, with :meth:`standing_keys`.
    """

    # The accounts whose standing a new one starts from (parameters: ``standing_keys``): its subject's
    # and its opener's person's, and those its opener opened for any organisation.
    STANDING: ClassVar[str] = "(a.subject_key IN (?, ?) OR a.opener_key = ?)"
    # The standing suspensions of those accounts, each a measure on the account itself: the sanction,
    # the account, the end.
    STANDING_SUSPENSIONS: ClassVar[str] = (
        "SELECT s.id, s.target_id, s.expires_at FROM sanctions s JOIN accounts a ON a.account_id = s.target_id"
        f" WHERE {STANDING} AND s.target_type = 'account' AND s.kind = 'suspend_account'"
        " AND s.lifted_at IS NULL AND s.cause IS NULL AND s.expires_at > ? ORDER BY s.id")

    account_id: str
    name: str
    name_key: str
    category: str
    intro: str
    subject_type: str
    subject_key: str | None
    org_name: str | None
    org_code: str | None
    owner_id: str
    credit_score: int
    created_at: int
    max_per_subject: int

    @staticmethod
    def standing_keys(key: str, person: str) -> tuple[str, str, str]:
        """The parameters of :data:`STANDING` for a new account of subject ``key`` opened by ``person``:
        its subject's accounts, its opener's own (the same key for a person's), and every account its
        opener opened."""
        return key, person, person

    @staticmethod
    def carried(rows: Iterable[Sequence[Any]]) -> tuple[tuple[int, str, int], ...]:
        """``OpenedAccount.carried`` from the rows of :attr:`STANDING_SUSPENSIONS`."""
        return tuple((int(r[0]), str(r[1]), int(r[2])) for r in rows)


@dataclass(frozen=True, slots=True)
class OpenedAccount:
    """What :class:`InsertAccount` stored: the subject key, the opener's person key, and the credit
    score and comment restriction the account starts with, and the suspension it carries (from its
    subject's accounts)."""

    subject_key: str
    opener_key: str
    credit_score: int
    comments_restricted: bool
    carried: tuple[tuple[int, str, int], ...] = ()  # the suspensions it carries: sanction, account, end


class AccountIdTaken(Exception):
    """The account id is already in the store: pick another."""


@dataclass(frozen=True, slots=True)
class SetAccountFields(Change):
    """Set account columns; only the names in ``ACCOUNT_FIELDS`` are accepted (``labels``: a JSON
    array of strings). A new ``name_key`` that is taken is ``conflict``."""

    account_id: str
    fields: Mapping[str, Any]


ACCOUNT_FIELDS = frozenset(
    {"name", "name_key", "intro", "org_name", "labels", "credit_score", "comments_restricted", "suspended_until",
     "closed_at", "closed_reason"}
)


@dataclass(frozen=True, slots=True)
class AddAccountCredit(Change):
    """Add ``delta`` (negative: a penalty) to a public account's credit score, as stored now
    (for the reason :class:`AddCredit` gives)."""

    account_id: str
    delta: int


@dataclass(frozen=True, slots=True)
class SetEditor(Change):
    """Make ``user_id`` an editor of the account (``on``) or not.

    ``max_editors``, with ``on``: the store counts the account's editors in the change's
    transaction and refuses with ``conflict`` at the cap, as the handler does in memory (on
    PostgreSQL under a transaction-level advisory lock on the account). Memory can count one
    too few: an editor's cancellation takes them off every account before its write, and
    puts them back if that write is refused, by which time their seat may have been given."""

    account_id: str
    user_id: str
    on: bool
    ts: int
    max_editors: int | None = None

    def refuse(self, editors: int) -> None:
        """Raise ``conflict`` if one more editor on top of ``editors`` passes the cap."""
        if self.max_editors is not None and editors >= self.max_editors:
            raise ContractError("conflict", f"an account has at most {self.max_editors} editors")


@dataclass(frozen=True, slots=True)
class SetSubscription(Change):
    """Subscribe ``user_id`` to the account (``on``) or unsubscribe."""

    account_id: str
    user_id: str
    on: bool
    ts: int


@dataclass(frozen=True, slots=True)
class InsertPost(Change):
    """A post; ``apply`` returns its post id. ``attachments``: the attachment objects as a JSON array;
    ``media_ids``: the uploads they name (kept while the post is). ``review``: the content filter's
    category (and ``term`` the matched term) of a post it held: queued for the operators' content
    review in the same transaction."""

    account_id: str
    author_id: str
    title: str
    body: str
    attachments: str
    media_ids: tuple[str, ...]
    comments_mode: str
    ts: int
    held: int
    review: str | None = None
    term: str = ""


@dataclass(frozen=True, slots=True)
class ManagesAccount(Change):
    """A change by a public account's manager (a post, its deletion, a comment's moderation) goes
    through only if the store holds ``user_id`` as the account's owner or one of its editors
    (``forbidden`` otherwise), as :class:`ActsAs` does for a group's managers: memory decided first,
    and an editor's seat whose write the store refused can linger there after undos that ran out
    of order (an editor cancelling the account while seats are claimed and refused around it)."""

    account_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class DeletePost(Change):
    """The account deletes a post (kept for the record); ``not_found`` when it is already gone.
    ``apply`` returns whether the post was held at the moment it was deleted (a held post's
    readers were never told of it, so they are not told it went either). A held post's open review
    item is settled with it (``withdrawn``): nobody decides on, or is penalised for, a post its
    account withdrew before anyone saw it, and no release can publish it afterwards."""

    post_id: int
    deleted_at: int
    deleted_by: str


@dataclass(frozen=True, slots=True)
class SetPostComments(Change):
    """[ext] A post's comment mode (``open``, ``review``, ``closed``) set by its account's manager;
    ``not_found`` when the post is gone. ``apply`` returns whether the post is held (as the store
    has it now: who is told of the change follows from that, as for a deletion)."""

    post_id: int
    comments_mode: str


@dataclass(frozen=True, slots=True)
class ReadPost(Change):
    """Count one read of a post per user; ``apply`` returns whether this one counted."""

    post_id: int
    user_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class InsertComment(Change):
    """A comment; ``apply`` returns its comment id. ``status``: ``visible`` or ``held``; ``review``:
    the content filter's category (``term``: the matched term) when the platform must look at it
    first: queued for the operators' content review in the same transaction. ``not_found`` when
    the post was deleted or removed after the handler read it, or the comment it replies to
    (``reply_to``) is no longer one the commenter sees (hidden, rejected or deleted meanwhile)."""

    post_id: int
    user_id: str
    text: str
    reply_to: int | None
    ts: int
    status: str
    review: str | None
    term: str = ""


@dataclass(frozen=True, slots=True)
class ModerateComment(Change):
    """Set a comment's status (``visible``, ``hidden``, ``deleted``, or the platform's ``rejected``);
    ``apply`` returns a :class:`Moderated`: its status before (who could see it: ``visible``,
    ``held`` or ``hidden``) and its post's state in the same transaction (who is told: a post released
    or deleted since the caller read it is told as it is now); ``not_found`` when it is deleted or
    rejected already; ``forbidden`` when approving one the platform has yet to review."""

    comment_id: int
    status: str
    by: str
    ts: int


class Moderated(NamedTuple):
    """What :class:`ModerateComment` found in its transaction."""

    was: str  # the comment's status before
    post_held: int  # its post's ``held`` (PostRow.held)
    post_gone: bool  # its post deleted or removed (PostRow.gone)


@dataclass(frozen=True, slots=True)
class DecideHeldPost(Change):
    """The platform's review of a post the filter held: ``release`` makes it public, otherwise it is
    rejected (never shown; kept for the record as removed with ``reason``). ``apply`` returns whether
    the post is public now (False when the account deleted it, or the platform removed it, meanwhile:
    it then stays marked held, never published); ``conflict`` when it is not held (any more)."""

    post_id: int
    release: bool
    ts: int
    reason: str


@dataclass(frozen=True, slots=True)
class DecideHeldComment(Change):
    """The platform's review of a comment the filter held: ``release`` lifts the platform's hold (it
    becomes ``visible``, or stays ``held`` for the account's approval on a post in ``review`` mode);
    otherwise its status becomes ``rejected`` (shown to nobody). ``apply`` returns its status now;
    ``conflict`` when the platform's review is not pending (any more)."""

    comment_id: int
    release: bool
    by: str
    ts: int


@dataclass(frozen=True, slots=True)
class BarSubject(Change):
    """Bar a verified person or organisation (its subject key) from running public accounts."""

    subject_key: str
    reason: str
    barred_at: int


# -- measures on public accounts by the platform (P10-P13) -----------------------------------------
@dataclass(frozen=True, slots=True)
class RemovePost(Change):
    """The platform removes a post (kept for the record, gone from ``posts``); ``apply`` returns
    (account id, author id, whether it was held then). ``not_found`` when there is no such post or it
    was removed already."""

    post_id: int
    removed_at: int
    reason: str


@dataclass(frozen=True, slots=True)
class UnbarSubjects(Change):
    """Lift the bar on these subject keys (a blacklist lifted); keys not barred are skipped."""

    subject_keys: tuple[str, ...]


# -- media ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MediaQuota:
    """The bytes one user's files may take (``media.max_bytes_per_user``): each distinct file they
    keep in use once (:data:`server.storage.media.QUOTA_USE` says which rows count).

    ``upload_begin`` checks it first (the counted bytes read from the database, the user's
    unfinished uploads from memory); ``InsertMedia`` decides it for good from the uploader's
    media rows in its own transaction (on PostgreSQL under a transaction-level advisory lock
    on the uploader), so two uploads finishing at once cannot both take the last room, and of
    two uploads of the same bytes finishing at once the second finds the first's row and adds
    nothing.
    """

    limit: int

    def refuse(self, stored: int, size: int) -> None:
        """``storage_quota_reached`` when ``size`` more bytes on top of ``stored`` pass the limit. A file
        whose content the user keeps counted already adds nothing (``size`` 0) and is never refused."""
        if size > 0 and stored + size > self.limit:
            raise ContractError(
                "storage_quota_reached",
                f"your files take {stored} of the {self.limit} bytes each user may keep; "
                f"this one ({size} bytes) does not fit (deleting messages and posts that carry your files, "
                f"or uploads you did not send, gives room back)",
            )


@dataclass(frozen=True, slots=True)
class InsertMedia(Change):
    """A finished upload, whose file is already in place under ``media.path``; with ``quota``,
    refused (``storage_quota_reached``) when the uploader's stored media would pass it."""

    media_id: str
    sha256: str
    uploader: str
    mime: str
    kind: str
    size: int
    name: str | None
    width: int | None
    height: int | None
    created_at: int
    quota: MediaQuota | None = None
    received_sha256: str | None = None  # the bytes as sent, when the file stored is not them


@dataclass(frozen=True, slots=True)
class BindStoreId(Change):
    """Give the database its identifier, ``candidate``, unless it has one already; ``apply`` returns
    the one it has (nodes that start on a new database at once all get the first one written).
    The ``[media] path`` folder carries it too (server/media/binding.py), so a server pointed at
    another database never sweeps that folder."""

    candidate: str


@dataclass(frozen=True, slots=True)
class TakeDownFiles(Change):
    """Take down files by their SHA-256 (``digests``: those a removed message or post carries, read
    before its write, as the removal's record entry names them, or one file by its digest): none may
    be uploaded or attached again, nor served wherever it is carried, until released
    (:class:`ReleaseFile`). One taken down already stays as it was."""

    digests: tuple[str, ...]
    taken_at: int
    actor: str
    cause: str


@dataclass(frozen=True, slots=True)
class ReleaseFile(Change):
    """Release a file taken down (:class:`TakeDownFiles`); ``apply`` returns whether it was."""

    sha256: str


@dataclass(frozen=True, slots=True)
class DeleteMedia(Change):
    """Remove the media rows among ``media_ids`` that no message and no post carries (re-checked in
    the transaction); ``apply`` returns the media ids removed."""

    media_ids: tuple[str, ...]
