"""The Store interface: everything the server asks of durable storage, in domain terms.

Handlers, operator commands, export, retention, network logs and the identity
vault talk to a ``Store`` only; every SQL statement lives in a backend module
beside this one. A backend is chosen from ``storage.url``'s scheme through
:data:`BACKENDS` (see :func:`open_store`).

Three kinds of call:

- **Hot-path appends** (:meth:`Store.append_message`, :meth:`Store.log_network`)
  queue a row for the next group commit and return at once; a callback runs
  after the commit (or with the error that kept the row out).
- **Changes** (:meth:`Store.apply`): one or more :mod:`server.storage.changes`
  values and an optional enforcement-record entry, applied in one transaction of
  their own inside the next group commit. A change that fails (a constraint, a
  re-check) fails alone: the other writes of the batch commit.
- **Reads**: domain queries returning plain tuples, dataclasses or dicts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from server.storage.account_measures import AccountMeasureReads
from server.storage.changes import Audit, Change
from server.storage.freezes import FreezeReads
from server.storage.media import MediaReads
from server.storage.moderation import ModerationReads
from server.storage.public import PublicAccountReads

if TYPE_CHECKING:
    from server.config import Config
    from server.state import Agreement, Group, State

Done = Callable[[BaseException | None], None]
# (ops, messages stored, network-log rows stored, seconds from BEGIN to COMMIT, committed?)
CommitObserver = Callable[[int, int, int, float, bool], None]


# An export reads every row of its target (a group's million messages): made into dicts in a worker
# thread past this many, not on the event loop (3 µs a row there held every chat up).
ROWS_SHAPED_ON_LOOP = 2000


async def rows_as_dicts(cols: tuple[str, ...], rows: list[Any]) -> list[dict[str, Any]]:
    """``rows`` as dicts keyed by ``cols``: in a worker thread when there are many."""
    def shaped() -> list[dict[str, Any]]:
        return [dict(zip(cols, r, strict=True)) for r in rows]

    return shaped() if len(rows) <= ROWS_SHAPED_ON_LOOP else await asyncio.to_thread(shaped)


async def distinct_values(rows: list[dict[str, Any]], key: str) -> set[Any]:
    """The values of ``key`` in ``rows``, each once: in a worker thread when there are many (a
    group's million messages have a few thousand senders)."""
    def found() -> set[Any]:
        return {r[key] for r in rows}

    return found() if len(rows) <= ROWS_SHAPED_ON_LOOP else await asyncio.to_thread(found)


class StoreUnavailable(ValueError):
    """The store cannot be opened for writing (read-only, locked, unreachable): one line for the operator."""


class StoreFailed(OSError):
    """The store takes no more writes: it can no longer tell what it holds (SQLite: an fsync of its
    WAL or a COMMIT failed; PostgreSQL: whether a batch committed could not be learned). Every write
    waiting or queued fails with it (a send: ``internal``) and the process exits
    (``WriteQueue.fatal``, server/app.py ``run``), to start again from what the store holds."""


class BackupUnsupported(ValueError):
    """This backend is backed up with its own tools; the message says which."""


class BackupNoRoom(ValueError):
    """The disk holding the database has no room for a backup's copies and the server's own writes
    meanwhile (a backup that filled it made live sends fail): the message says how much is needed."""


class ReviewItem(NamedTuple):
    """What the word lists found in a held or flagged message: its content-review item, stored with
    the message (the item's group, seq, sender and time are the message's own)."""

    action: str  # "review" (held) or "flag" (delivered)
    category: str
    term: str


class MessageRow(NamedTuple):
    """A message as appended by ``send`` (the hot path).

    ``review``, the one field that is not a column of ``messages``: a held or flagged message's
    review item, inserted in the same transaction and savepoint as the row, so the message is
    stored with its item or not at all. It comes last, and is None for every other message.
    """

    group_id: str
    seq: int
    ts: int
    sender_id: str
    sender_role: str
    text: str
    client_msg_id: str | None
    held: int  # 0 delivered, 1 held for review, 2 rejected
    # v2 (richer messages); every column of the insert, in order. mentions and attachments are
    # JSON text (attachment objects without their url); the media ids of attachments also go
    # into message_media in the same commit.
    reply_to: int | None = None
    mentions: str | None = None
    mention_all: int = 0
    attachments: str | None = None
    review: ReviewItem | None = None


class NetlogRow(NamedTuple):
    """One network-log event (Art. 13): ``detail`` is a JSON object, serialised."""

    ts: int
    kind: str
    user_id: str | None
    ip: str | None
    detail: str


class HistoryRow(NamedTuple):
    seq: int
    ts: int
    sender_id: str
    sender_role: str
    text: str
    deleted: bool
    # v2: as stored (JSON text for mentions and attachments); reactions: a JSON object
    # {emoji: count}, or None when nobody reacted; deleted_by: the user id of whoever deleted
    # it (its sender, a manager), an operator's name, or None.
    reply_to: int | None = None
    mentions: str | None = None
    mention_all: int = 0
    attachments: str | None = None
    edited_at: int | None = None
    reactions: str | None = None
    deleted_by: str | None = None


class ChangesPage(NamedTuple):
    """A page of **[ext]** ``message_changes``: the messages as ``history`` has them, in the order
    they last changed; the cursor to ask from next; whether more changes wait past it; ``reset``:
    the cursor asked from is older than the database's last restore (nothing listed)."""

    rows: list[HistoryRow]
    cursor: int
    more: bool
    reset: bool = False


# The changed messages one page looks at, at most: those a reader may not see (before their join
# point, held) are passed over by the cursor too, so that no page's cost grows with them.
CHANGES_SCAN = 2000
# The columns a changes page reads before the history columns (CHANGES_SCAN rows at most).
CHANGES_HEAD = "rev, held, seq, ts, sender_id, sender_role, text, deleted_at IS NOT NULL"


def changes_page(found: Sequence[Sequence[Any]], clock: int, limit: int, floor_seq: int, top_seq: int) -> ChangesPage:
    """A ``message_changes`` page from up to ``CHANGES_SCAN`` rows (``CHANGES_HEAD``, then the history
    columns) in rev order, read at ``clock``: the first ``limit`` the reader may see (``floor_seq <
    seq <= top_seq``, not held), and the cursor: the last row's rev when more wait, else the clock."""
    rows: list[HistoryRow] = []
    for i, r in enumerate(found):
        if r[1] == 0 and floor_seq < r[2] <= top_seq:
            rows.append(HistoryRow(r[2], r[3], r[4], r[5], r[6], bool(r[7]), *r[8:]))
            if len(rows) == limit:
                more = i + 1 < len(found) or len(found) == CHANGES_SCAN
                return ChangesPage(rows, int(r[0]) if more else clock, more)
    if len(found) == CHANGES_SCAN:
        return ChangesPage(rows, int(found[-1][0]), True)
    return ChangesPage(rows, clock, False)


class MessageInfo(NamedTuple):
    """What edit_message, react and pin_message check of one stored message."""

    sender_id: str
    ts: int
    deleted: bool
    held: int
    has_attachments: bool


@dataclass(frozen=True, slots=True)
class ReviewPage:
    """Which review items a listing wants (``review-queue``'s filters): those after item ``after``,
    naming the group, sent by the user, of the kind, at most ``limit`` of them (None: no bound)."""

    after: int = 0
    limit: int | None = None
    group_id: str | None = None
    sender_id: str | None = None
    kind: str | None = None

    def where(self, open_only: bool) -> tuple[str, list[Any]]:
        """The conditions and ORDER BY/LIMIT to append to a WHERE clause (``?`` placeholders), and
        their parameters, in order."""
        sql, params = " AND q.status = 'open'" if open_only else "", []
        for column, value in (("q.item_id >", self.after or None), ("q.group_id =", self.group_id),
                              ("q.sender_id =", self.sender_id), ("q.kind =", self.kind)):
            if value is not None:
                sql += f" AND {column} ?"
                params.append(value)
        sql += " ORDER BY q.item_id"
        if self.limit is not None:
            sql += " LIMIT ?"
            params.append(self.limit)
        return sql, params


ALL_ITEMS = ReviewPage()

# The ``job_runs`` row the readiness probe writes (:meth:`Store.ping`): the time of the last probe. A
# write that changes nothing commits even on a full disk (SQLite writes no WAL frame for it), and
# /readyz said ready while every real write failed.
PROBE = "store_probe"


@dataclass(frozen=True, slots=True)
class ReporterRecord:
    """How a reporter's resolved reports ended (for the malicious-reporting rule, P15)."""

    resolved: int
    rejected: int


# The network-log kinds that count against a rate limit (server/limits.py rebuilds the limits'
# windows from them at start); the partial index netlog_limited covers exactly these.
LIMITED_KINDS = ("code_request", "login_failed", "auth_failed", "delete_account_failed", "verify_identity_failed",
                 "change_password_failed", "code_failed", "password_reset", "login_unlocked")
LIMITED_IN = ", ".join(f"'{k}'" for k in LIMITED_KINDS)  # the same text as the index's predicate


class AccountReads(Protocol):
    async def password_hash(self, user_id: str) -> str | None: ...
    async def token_owner(self, token_hash: bytes, now: int) -> str | None: ...

    async def login_end_cause(self, token_hash: bytes, now: int) -> str | None:
        """Why the login of ``token_hash`` ended before its expiry (``changes.LOGIN_END_CAUSES``), or None."""
        ...

    async def logins_of(self, user_id: str, now: int) -> list[tuple[bytes, int, int, str]]:
        """(token hash, created_at, expires_at, device) of ``user_id``'s tokens good at ``now``, newest first."""
        ...

    async def user_with_phone(self, phone_hmac: bytes) -> str | None: ...

    async def live_codes(self, now: int) -> list[tuple[str, bytes, int]]:
        """(phone key, code MAC, expires_at ms) of the SMS codes not expired at ``now``."""
        ...

    async def job_last_run(self, name: str) -> int | None:
        """When the background job ``name`` last ran (ms, see ``JobRan``), or None: never."""
        ...

    async def limited_events(self, since: int) -> list[tuple[int, str, str | None, str | None, str]]:
        """(ts, kind, user_id, ip, detail) of the network-log rows of ``LIMITED_KINDS`` after
        ``since``, oldest first."""
        ...

    async def appeals_since(self, since: int) -> list[tuple[str, int]]:
        """(user_id, created_at) of the appeals made after ``since``, oldest first: ``appeals_per_day`` read back
        at a start (server/limits.py), by their own index (SQLite 47, PostgreSQL 44)."""
        ...

    async def mention_all_since(self, since: int) -> list[tuple[str, int]]:
        """(group_id, ts) of the messages sent after ``since`` that mentioned everyone, oldest first:
        ``mention_all_per_group_per_hour`` read back at a start, by their own index (SQLite 57,
        PostgreSQL 55: the few such messages, not the hour's whole traffic)."""
        ...


class GroupReads(Protocol):
    async def history(
        self, group_id: str, floor_seq: int, after: int | None, before: int | None, limit: int
    ) -> list[HistoryRow]: ...

    async def message_info(self, group_id: str, seq: int) -> MessageInfo | None:
        """Sender, time, deleted, held and whether it has attachments, of a stored message; or None."""
        ...

    async def user_messages_shown(self, group_id: str, user_id: str, after_seq: int, limit: int) -> list[int]:
        """The seqs of ``user_id``'s messages in the group after ``after_seq`` that members were shown and
        that still are (delivered, not deleted), newest first, at most ``limit`` (**[ext]**
        ``delete_user_messages``): the group's messages walked back by their key, no index by sender."""
        ...

    async def message_clock(self) -> int:
        """The clock of changes to stored messages now (**[ext]** ``message_changes``): each edit, recall
        or deletion, hold or release, and reaction left or taken back stamps its message with the
        clock's next value, in its own transaction (migration: SQLite 46, PostgreSQL 43)."""
        ...

    async def message_changes(
        self, group_id: str, floor_seq: int, top_seq: int, since: int, limit: int
    ) -> ChangesPage:
        """The group's messages with ``floor_seq < seq <= top_seq`` that members are shown (``held =
        0``), deleted ones included, stamped after ``since`` (:func:`changes_page`); ``reset`` when
        ``since`` is below the clock's floor (a restore since). The clock is read before the
        messages: every change it counts has committed, and a stamp holds the clock's row until its
        transaction commits, so none stamped at or below the cursor can commit later."""
        ...

    async def reactions_of(self, group_id: str, user_id: str, seqs: list[int]) -> list[tuple[int, str]]:
        """(seq, emoji) of the reactions ``user_id`` left on the group's messages ``seqs``, by seq and
        emoji (a ``history`` page's ``my_reactions``): one seek of the primary key per message, not a
        walk over every member's reactions in the page's range."""
        ...

    async def recent_messages(self, since_ms: int, per_group: int) -> list[tuple[str, HistoryRow]]:
        """The messages of every group sent at ``since_ms`` or later that members were sent as
        ``message`` events and still see as sent: delivered (``held = 0``), never held for review
        (a released one went out as ``message_released``), not deleted. At most the last
        ``per_group`` of each group; (group id, row), by group id and ascending seq. A new cluster
        home reads the previous one's last messages with it (server/cluster/home.py Tail)."""
        ...

    async def sent_copy(self, group_id: str, seq: int, sender_id: str, client_msg_id: str) -> tuple[int, int] | None:
        """(ts, held) of message ``seq`` if ``sender_id`` sent it with ``client_msg_id``; else None."""
        ...

    async def open_report_id(
        self, reporter_id: str, target_type: str, group_id: str | None, seq: int | None, user_id: str | None,
        account_id: str | None = None, post_id: int | None = None, comment_id: int | None = None,
    ) -> int | None: ...

    async def reporter_record(self, reporter_id: str) -> ReporterRecord: ...

    async def unread_counts(self, user_id: str, floors: dict[str, int]) -> dict[str, tuple[int, bool]]:
        """For each group id in ``floors``: how many visible messages (not held, not deleted) after
        its floor seq were sent by someone other than ``user_id``, and whether one of them mentions
        ``user_id`` (by id, or ``mention_all``). Groups with none may be absent."""
        ...

    async def search_messages(
        self, group_id: str, floor_seq: int, query: str, before: int | None, limit: int
    ) -> list[HistoryRow]:
        """Up to ``limit`` visible messages with ``floor_seq < seq < before`` whose text contains
        ``query`` (at least 2 characters; case-insensitive), newest first. Never fewer than there
        are: a backend that cannot read them all now (PostgreSQL, its search index far behind on
        the group) raises ``ContractError("rate_limited")`` with ``retry_after_ms`` instead."""
        ...


class RecordReads(Protocol):
    """Reads for operator commands, exports, retention and the identity vault.

    Rows come back as dicts keyed by column name (in the table's column order)
    or as plain tuples; the dicts of one method always have the same keys.
    """

    async def audit_entries(self) -> list[dict[str, Any]]: ...
    async def audit_head(self) -> tuple[int, int, str | None]:
        """(entry count, last id, that entry's mac) of the enforcement record."""
        ...

    async def record_head_row(self) -> tuple[int, str | None] | None:
        """(id, mac) of the last entry appended as the database keeps it (``audit_head``, moved in each
        append's transaction; the record's entries must reach it); None when that row is gone."""
        ...

    # complaints (Art. 12)
    async def reports(self, open_only: bool) -> list[dict[str, Any]]:
        """Reports by id: report_id, reporter_id, target_type, group_id, seq, user_id, reason, detail,
        created_at, status, outcome, note, resolved_at."""
        ...

    async def report(self, report_id: int) -> dict[str, Any] | None:
        """One report (the keys of :meth:`reports`), or None."""
        ...

    async def queue_depths(self, overdue_before: int) -> tuple[int, int, int]:
        """(open reports, open reports made before ``overdue_before``, open review items): counted by
        the database from the status indexes, for the metrics' gauges (however long the queues grow)."""
        ...

    async def reports_by(self, reporter_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        """One reporter's reports (the keys of :meth:`reports`), newest first, with ``report_id < before``;
        each also with the post it names (a post's, or the one a comment is on) as it is now:
        ``post_title``, ``post_held`` (0 shown, 1 held for review, 2 rejected) and ``post_gone``
        (deleted or removed), all None when it names no post or the post is no longer stored."""
        ...

    async def report_durations(self) -> list[tuple[str, str | None, int, int | None]]:
        """(status, outcome, created_at, resolved_at) of every report."""
        ...

    # content review (Art. 10)
    async def review_items(self, open_only: bool, page: ReviewPage | None = None) -> list[dict[str, Any]]:
        """Review items by id: item_id, kind (message, post, comment, group_name, announcement,
        display_name), what it names (a message: group_id, seq; a post: account_id, post_id; a
        comment: account_id, post_id, comment_id; a group name or announcement: group_id; a display
        name: user_id, the sender), sender_id, action, category, term, created_at, status, decision,
        note, decided_at, and the text (a post's body, with its title as title; a comment's post's
        title too; the name or announcement under review)."""
        ...

    async def review_item(self, item_id: int) -> dict[str, Any] | None:
        """One review item, every key of :meth:`review_items` present (None where its kind names
        nothing; no user_id), with its content's ts, a message's sender_role and expect_text (for a
        name or announcement: the value its field must still show for a decision to change it); or None."""
        ...

    async def messages_page(self, after: tuple[str, int], limit: int) -> list[tuple[str, int, str, int, str]]:
        """Up to ``limit`` stored messages not deleted, (group id, seq, text, held: 0 delivered, 1 held
        for review, 2 rejected, sender id), in (group id, seq) order after ``after``."""
        ...

    # legal holds (G13)
    async def holds(self, include_released: bool) -> list[dict[str, Any]]:
        """Holds by id: id, target_type, target_id, reason, created_at, released_at, release_reason."""
        ...

    async def hold(self, hold_id: int) -> dict[str, Any] | None: ...

    # export for supervision (G13); ranges are since <= ts < until
    async def export_group(self, group_id: str, since: int, until: int, members: set[str],
                           senders: set[str] | None = None, paged: bool = False) -> dict[str, Any]:
        """{"messages", "membership", "netlog", "audit", "measures": row dicts, "group": the group's row or
        None, "present": the ids of those who were members at some moment of the range, sorted,
        "people": whose network log the export holds (those, the senders and the membership actors), sorted}.
        ``senders``: the messages' senders, when the caller reads the messages and the network log by
        pages (:meth:`group_export_messages`, :meth:`ExportReads.group_export_netlog`); ``messages`` and
        ``netlog`` are then empty. ``paged`` (with ``senders``): ``membership`` and ``audit`` are empty
        too, the caller reading them by pages (:meth:`ExportReads.export_log`)."""
        ...

    async def group_export_messages(self, group_id: str, since: int, until: int, after_seq: int,
                                    limit: int) -> list[dict[str, Any]]:
        """The next ``limit`` messages of a group's export after ``after_seq``, by seq (the messages
        ``export_group`` reads, a page at a time)."""
        ...

    async def user_export_messages(self, user_id: str, since: int, until: int, after: tuple[int, str, int] | None,
                                   limit: int) -> list[dict[str, Any]]:
        """The next ``limit`` messages of a user's export (those ``export_user`` reads: sent by them in
        the range, by (ts, group_id, seq)) after the message ``after`` ((ts, group_id, seq); None: from
        the first), a page at a time (keyset: the next page is read on from the last one's time)."""
        ...

    async def export_user(self, user_id: str, since: int, until: int, paged: bool = False) -> dict[str, Any]:
        """{"messages", "membership", "netlog", "audit", "posts" (they wrote), "comments" (theirs, with the
        post's account_id): row dicts, "account": the account's row (identity fields still sealed) or None}.
        ``paged``: "messages", "membership", "netlog", "audit", "posts" and "comments" are empty, the
        caller reading them by pages (:meth:`user_export_messages`, :meth:`ExportReads.export_log`,
        :meth:`ExportReads.export_posts`, :meth:`ExportReads.export_user_comments`)."""
        ...

    async def message_versions(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
        """The earlier versions of edited messages, by (group id, seq): ``{version, text, ts}`` oldest first."""
        ...

    async def membership_actions(self, group_id: str, user_id: str) -> list[tuple[str, int]]:
        """A user's membership log in a group, ``(action, ts)`` oldest first (what the retention purge
        left of it): whether a former member was one when a message was sent (message_rules.was_member_at)."""
        ...

    async def message_row(self, group_id: str, seq: int) -> dict[str, Any] | None:
        """One stored message as an operator judges it (``show-report``): every column of it
        (sqlite_records.MSG_COLS), deleted and held ones included, their text kept; or None."""
        ...

    async def reaction_logs(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
        """Every reaction left on or taken back from these messages, by (group id, seq):
        ``{user_id, emoji, added, ts}`` in the order they happened."""
        ...

    # the identity vault (Art. 6)
    async def vault_keys(self) -> list[tuple[int, str]]:
        """(key id, fingerprint) of every registered identity key."""
        ...

    async def sealed_key_ids(self) -> list[int]:
        """The key ids that stored identity values are sealed under."""
        ...

    async def sealed_sample(self, key_id: int) -> bytes | None:
        """One stored identity value sealed under ``key_id``, or None."""
        ...

    async def lookup_secret(self) -> bytes | None:
        """The sealed lookup (HMAC) key, or None before one was stored."""
        ...

    async def shared_dev_key(self) -> bytes | None:
        """A development service's identity key kept in the database (:class:`ShareDevKey`), or None."""
        ...

    async def has_users(self) -> bool: ...

    async def accounts_not_under_key(self, key_id: int) -> int:
        """How many accounts hold an identity value sealed under another key."""
        ...

    # the filing report (G7, P7); ranges are since <= ts < until
    async def filing_sanctions(self, since: int, until: int) -> list[tuple[str, str, int]]:
        """(kind, target_type, how many) of the sanctions that started in the range."""
        ...

    async def filing_reports(self, since: int, until: int) -> list[tuple[str, str, str | None, int, int | None]]:
        """(target_type, status, outcome, created_at, resolved_at) of each report made in the range."""
        ...

    async def export_written(self, manifest_sha256: str, since: int) -> bool:
        """Does an ``export`` entry of the record, made at ``since`` or later, name this manifest digest?"""
        ...

    async def filing_measures(self, since: int, until: int, actions: tuple[str, ...]) -> list[tuple[str, str | None]]:
        """(action, detail as stored) of each operator's record entry of one of ``actions`` made in the range:
        the measures on content that leave no sanction row (a message removed, a file taken down)."""
        ...

    async def filing_reviews(self, since: int, until: int) -> list[tuple[str, str, str, str | None, int]]:
        """(kind, action, status, decision, how many) of the content-review items made in the range
        (``kind``: what the item holds: ``message``, ``post``, ``comment``, ``group_name``, ...)."""
        ...

    async def filing_agreements(self) -> list[tuple[str, int, int]]:
        """(version, published at, how many accounts accepted it) of every rules-and-agreement version,
        oldest first."""
        ...

    # measures that finish: sanctions (Art. 11) and appeals
    async def sanctions(self, target_type: str | None = None, target_id: str | None = None) -> list[dict[str, Any]]:
        """Sanctions by id (all, or those on one target): id, kind, target_type, target_id, reason, actor,
        starts_at, expires_at, report_id, lifted_at, lifted_by, lift_reason, credit_taken, replaced_by
        (the id of the sanction that cut it short and lifted it, else None), and cause (``freeze``: a
        category's freeze gave it; else None)."""
        ...

    async def sanction(self, sanction_id: int) -> dict[str, Any] | None:
        """One sanction (the keys of :meth:`sanctions`), or None."""
        ...

    async def appeals(self, open_only: bool) -> list[dict[str, Any]]:
        """Appeals by id: appeal_id, sanction_id, user_id, text, created_at, status, outcome, note,
        decided_at, decided_by."""
        ...

    async def appeal(self, appeal_id: int) -> dict[str, Any] | None:
        """One appeal (the keys of :meth:`appeals`), or None."""
        ...

    async def appeals_by(self, user_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        """One user's appeals (the keys of :meth:`appeals` and ``lifted``), newest first, with
        ``appeal_id < before``. ``lifted``: whether deciding the appeal lifted its sanction (an upheld
        appeal of one that had already ended lifts nothing), told by the sanction's lift: stored in
        the decision's write, with its time and operator (sqlite_records.APPEAL_LIFTED)."""
        ...

    async def kept_authors(self, cutoff: int) -> list[str]:
        """Who wrote something older than ``cutoff`` that is still kept (a message, a reaction, a
        post, a comment): the retention purge keeps their network logs and identity with it
        (``sqlite_records.KEPT_AUTHORS``)."""
        ...

    async def members_joined_at(self, group_id: str) -> dict[str, int]:
        """When each current member of a group joined it (epoch ms), by user id."""
        ...


class ExportReads(Protocol):
    """The reads of a supervision export (server/operator/export.py), all from one snapshot."""

    async def export_group(self, group_id: str, since: int, until: int, members: set[str],
                           senders: set[str] | None = None, paged: bool = False) -> dict[str, Any]: ...
    def group_export_netlog(self, people: list[str], since: int, until: int,
                            per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The network-log rows of ``people`` (``export_group``'s ``people``) with ``since <= ts < until``,
        by id, ``per_page`` at a time: one query read by a cursor of the snapshot (a large group's six
        months are millions of rows, never held at once)."""
        ...

    async def group_export_messages(self, group_id: str, since: int, until: int, after_seq: int,
                                    limit: int) -> list[dict[str, Any]]: ...

    async def user_export_messages(self, user_id: str, since: int, until: int, after: tuple[int, str, int] | None,
                                   limit: int) -> list[dict[str, Any]]: ...
    def export_log(self, target: Literal["group", "user"], target_id: str,
                   log: Literal["membership", "netlog", "audit"], since: int, until: int,
                   per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The rows of one of a target's logs in an export (``since <= ts < until``): the ``membership``
        or ``audit`` of a group (``export_group``'s), the ``membership``, ``netlog`` or ``audit`` of a
        user (``export_user``'s), by id, ``per_page`` at a time: one statement read by a cursor of the
        snapshot (a large group's record, a person's years of logins: never held at once). (A group's
        network log: :meth:`group_export_netlog`.)"""
        ...

    async def export_user(self, user_id: str, since: int, until: int, paged: bool = False) -> dict[str, Any]: ...
    def export_address(self, addresses: list[str], since: int, until: int,
                       per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The network-log rows written from any of ``addresses`` (the spellings of one address) with
        ``since <= ts < until``, by id (``sqlite_records.NETLOG_COLS``), ``per_page`` at a time: one
        statement read by a cursor of the snapshot (behind a carrier's shared address, millions of rows,
        never held at once)."""
        ...

    async def export_account(self, account_id: str, since: int, until: int, paged: bool = False
                             ) -> dict[str, Any]: ...
    def export_account_comments(self, account_id: str, since: int, until: int,
                                per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The comments an account's export holds (``export_account``'s, ``account_measures.COMMENT_COLS``),
        by id, ``per_page`` at a time: one statement read by a cursor of the snapshot (comments have no
        publishing limit: a popular account's years of them are never held at once)."""
        ...
    async def message_versions(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]: ...
    async def reaction_logs(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]: ...
    def export_account_audit(self, account_id: str, since: int, until: int,
                             per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The record entries an account's export holds (``export_account``'s ``audit``): about the account
        or naming it in their detail, by id, ``per_page`` at a time (one statement, one cursor)."""
        ...

    def export_posts(self, target: Literal["user", "account"], target_id: str, since: int, until: int,
                     per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The posts (``account_measures.POST_COLS``) a user's export holds (those they wrote in the range)
        or an account's (``account_measures.EXPORTED_POST``), by id, ``per_page`` at a time: one statement
        read by a cursor of the snapshot."""
        ...

    def export_user_comments(self, user_id: str, since: int, until: int,
                             per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The comments a user wrote in the range (``USER_COMMENT_COLS``: with the post's account), by id,
        ``per_page`` at a time (a prolific commenter's years of them are never held at once)."""
        ...

    def export_reactions(self, user_id: str, since: int, until: int,
                         per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """Every reaction ``user_id`` added or took back in the range, anywhere (``group_id``, ``seq``,
        ``emoji``, ``added``, ``ts``), by time, ``per_page`` at a time."""
        ...

    def export_reports(self, target: str, target_id: str, since: int, until: int,
                       per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The complaints an export of ``target`` (``group``, ``user``, ``account``) ``target_id`` holds
        (sqlite_records.REPORTS_FOR), made or resolved in the range, with who resolved each, by id,
        ``per_page`` at a time (a large public group's complaints are never held at once)."""
        ...

    def export_appeals(self, target: str, target_id: str, since: int, until: int,
                       per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The appeals an export of ``target`` holds (sqlite_records.APPEALS_FOR): a user's own, or those
        against a group's or an account's measures, made or decided in the range, with the text, the
        decision, who decided it, the ``measure`` appealed and ``lifted`` (as :meth:`appeals_by`), by id,
        ``per_page`` at a time."""
        ...


class Store(AccountReads, GroupReads, RecordReads, PublicAccountReads, AccountMeasureReads, ModerationReads,
            MediaReads, FreezeReads, Protocol):
    fenced_out: bool  # a cluster home's write was refused by the fence (server/storage/queue.py)
    failed_writes: int  # changes that failed other than by a contract refusal (server/storage/queue.py)
    fatal: asyncio.Event  # set when the store takes no more writes: the process must exit (server/storage/queue.py)
    fatal_why: str | None
    fatal_status: int  # the exit status for it (server/storage/queue.py: EXIT_STORE_FAILED, EXIT_OUTCOME_UNKNOWN)

    def unreachable(self, err: BaseException) -> bool:
        """Whether ``err``, raised anywhere in a request, says this database could not be reached or
        gave up (an outage, a restart, a lock held past its timeout), never a fault of the server (a
        statement's own error) nor of something else (a media file, an SMS outbox): such a request
        is answered ``internal`` with a readable reason and a warning, not a traceback (server/app.py)."""
        ...

    def storage_full(self, err: BaseException) -> bool:
        """Whether ``err`` says the database's disk has no room for a write (one of :meth:`unreachable`'s
        cases, which a request's refusal names: the operator frees space, nobody waits for a restart)."""
        ...

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    def export_snapshot(self) -> AbstractAsyncContextManager[ExportReads]:
        """The export reads on a connection of their own, in one read-only transaction: every read
        sees the store as one moment left it, whatever commits (a purge, a send) meanwhile. Each of
        an export's files then agrees with the others, also about records at the purge cutoff."""
        ...

    async def claim(self, cluster: str | None) -> None:
        """Before serving: :class:`StoreUnavailable` when another server already serves this store
        and is not of this node's cluster (``cluster``: the name of this node's cluster, None for a
        lone node), or when the store belongs to a cluster of another name."""
        ...

    async def load_state(self, now_ms: int, activity_window_days: int) -> State:
        """The in-memory caches of the hot path (users, groups, members, recent activity and ids)."""
        ...

    async def ended_group_counts(self) -> tuple[int, int]:
        """How many groups the platform closed, and how many their owners dissolved (and the platform
        did not close since): ended groups are counted here, memory keeps none."""
        ...

    async def ended_group(self, group_id: str) -> Group | None:
        """A dissolved or closed group with the members it had when it ended (server/storage/loading.py:
        ended_group), or None when it is live or unknown: memory keeps no ended group."""
        ...

    async def load_agreement(self) -> tuple[Agreement | None, list[str]]:
        """The current rules and agreement, and the users who accepted that version."""
        ...

    def in_flight(self) -> str:
        """What the store is doing right now, in words (a commit and its size, a checkpoint, queued writes)."""
        ...

    def queued(self) -> int:
        """Writes (changes, messages, network-log rows) waiting for the writer's next batch."""
        ...

    def search_index_backlog(self) -> int:
        """Messages stored and not yet in the search index (a search reads them directly);
        0 where the index is written in the message's own commit."""
        ...

    def set_commit_observer(self, observer: CommitObserver | None) -> None:
        """Called after every group commit (its size and duration); for metrics, never for correctness."""
        ...

    async def ping(self) -> None:
        """Raise unless the store takes a write now (``/readyz``): writes the time of the probe, the
        ``job_runs`` row named :data:`PROBE`, and nothing else."""
        ...

    async def backup(self, dest: Path, record: Callable[[str, int], Awaitable[None]]) -> str:
        """A consistent copy of the whole store at ``dest`` (``qunguan admin backup``); its SHA-256.
        ``record(sha256, size)`` is awaited before the copy takes ``dest``'s name; when it raises,
        nothing is left at ``dest`` but what was there.

        A backend whose own tools do this better (PostgreSQL: ``pg_dump``) raises
        :class:`BackupUnsupported` naming them.
        """
        ...

    def set_record_key(self, key: bytes) -> None:
        """The key of the enforcement record's keyed chain (from the identity key store); set before any write."""
        ...

    def record_head_known(self) -> tuple[int, str | None] | None:
        """(id, mac) of the last enforcement-record entry this process appended (committed), or None:
        what the database cannot take back from a running server (server/storage/record_chain.py)."""
        ...

    def append_message(self, row: MessageRow, done: Done) -> None:
        """Queue a message; ``done(None)`` runs after its commit, ``done(exc)`` when it was not stored."""
        ...

    def log_network(self, row: NetlogRow, done: Done) -> None:
        """Queue a network-log row for the next group commit (like a message)."""
        ...

    def apply(self, *changes: Change, audit: Audit | None = None) -> asyncio.Future[list[Any]]:
        """Apply ``changes`` and ``audit`` in one transaction; resolves after the commit with each change's result.

        Raises what a change raised (its writes rolled back, the batch's other
        writes unaffected) or what the commit raised.
        """
        ...


Backend = Callable[["Config"], Store]
BACKENDS: dict[str, Backend] = {}


def backend(scheme: str) -> Callable[[Backend], Backend]:
    """Register a backend factory for a ``storage.url`` scheme."""

    def register(factory: Backend) -> Backend:
        BACKENDS[scheme] = factory
        return factory

    return register


def open_store(cfg: Config) -> Store:
    """The backend for ``cfg.storage.url`` (not yet opened)."""
    import server.storage.sqlite  # noqa: F401  (registers "sqlite")

    scheme = cfg.storage.url.split(":", 1)[0]
    if scheme in ("postgresql", "postgres"):
        import server.storage.postgres  # noqa: F401  (registers both; asyncpg is loaded only when named)
    factory = BACKENDS.get(scheme)
    if factory is None:
        raise ValueError(
            f"storage.url: no storage backend for {scheme!r} in this build (have: {', '.join(sorted(BACKENDS))})"
        )
    return factory(cfg)
