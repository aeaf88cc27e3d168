"""SQLite reads and changes for operator commands, exports, retention and the identity vault.

The reads run on the reader connection (:class:`SqliteRecordReads`, inherited
by :class:`~server.storage.sqlite.SqliteStore`); the changes (``Purge``,
``SaveVault``, ``ResealBatch``) register with :func:`applies` and run inside
the writer's transaction like every other change.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiosqlite

from governance.shown_text import ACCOUNT_KINDS
from server.storage import activity
from server.storage import changes as c
from server.storage.account_measures import (
    ACCOUNT_EXPORT_POSTS,
    COMMENT_COLS,
    POST_COLS,
    USER_EXPORT_COMMENTS,
    USER_EXPORT_POSTS,
)
from server.storage.base import ALL_ITEMS, ReviewPage, distinct_values, rows_as_dicts
from server.storage.freezes import FREEZE_MISSES
from server.storage.sqlite_changes import append_audit, applies
from server.storage.sqlite_reads import SqliteReader

# -- column lists (the keys of the dicts the reads return) -----------------------------------
REPORT_COLS = ("report_id", "reporter_id", "target_type", "group_id", "seq", "user_id", "reason", "detail",
               "created_at", "status", "outcome", "note", "resolved_at", "account_id", "post_id", "comment_id")
# A supervision export's reports.jsonl (server/operator/export.py): who handled each too.
EXPORT_REPORT_COLS = (*REPORT_COLS, "resolved_by")
# The reports an export of a group, a user or a public account holds: those in the group (about it, a
# message in it, a member named in it), those the user made or answers for, those about the account,
# its posts and comments. (A scan of the table: an export is an operator's rare act, not a hot read.)
REPORTS_FOR = {"group": "group_id = $1", "user": "(reporter_id = $1 OR user_id = $2)", "account": "account_id = $1"}
# The appeals an export holds (Art. 11): a user's own, or those against a group's or an account's measures;
# with the measure appealed (``a``: appeals, ``s``: sanctions), made or decided in the range ($2, $3).
APPEALS_FOR = {"user": "a.user_id = $1", "group": "s.target_type = 'group' AND s.target_id = $1",
               "account": "s.target_type = 'account' AND s.target_id = $1"}
EXPORT_APPEAL_COLS = ("appeal_id", "sanction_id", "user_id", "text", "created_at", "status", "outcome", "note",
                      "decided_at", "decided_by", "measure", "lifted")
APPEALS_SELECT = ("SELECT a.appeal_id, a.sanction_id, a.user_id, a.text, a.created_at, a.status, a.outcome, a.note,"
                  " a.decided_at, a.decided_by, s.kind, {lifted} FROM appeals a"
                  " LEFT JOIN sanctions s ON s.id = a.sanction_id"
                  " WHERE {where} AND (a.created_at >= $2 AND a.created_at < $3 OR a.decided_at >= $2"
                  " AND a.decided_at < $3) ORDER BY a.appeal_id")
QUEUE_COLS = ("item_id", "kind", "group_id", "seq", "account_id", "post_id", "comment_id", "sender_id", "action",
              "category", "term", "created_at", "status", "decision", "note", "decided_at", "expect_text")
# The text a message showed when its review item was made (the item's created_at: the message's own
# time when it was sent so, the edit's when an edit was flagged): the text written last at or before
# then, the current one or an earlier version (message_versions: each at the time it was written).
# A message edited since shows the operator what was flagged, not what it says now.
_FLAGGED_TEXT = (
    "(CASE WHEN COALESCE(m.edited_at, m.ts) <= q.created_at THEN m.text ELSE COALESCE("
    "(SELECT v.text FROM message_versions v WHERE v.group_id = q.group_id AND v.seq = q.seq"
    " AND v.ts <= q.created_at ORDER BY v.ts DESC, v.version DESC LIMIT 1), m.text) END)"
)
# A review item with what it names (kind message: the message; post: the post; comment: the comment
# and its post; group_name, announcement, display_name, account_name, account_intro: the item's own
# text): the item's columns, then text (the message's as it was flagged, post body, comment or the
# item's), the post's title (posts and comments), ts, the message's sender_role, and text_now (a
# message's text now, when it was edited since it was flagged). Items whose content is purged are left out.
QUEUE_SELECT = (
    "SELECT {cols}, (CASE q.kind WHEN 'message' THEN {flagged} ELSE {text} END) AS text, p.title,"
    " COALESCE(m.ts, c.ts, p.ts, q.created_at), m.sender_role,"
    " (CASE WHEN q.kind = 'message' AND m.edited_at > q.created_at THEN m.text END)"
    " FROM review_queue q"
    " LEFT JOIN messages m ON q.kind = 'message' AND m.group_id = q.group_id AND m.seq = q.seq"
    " LEFT JOIN posts p ON p.post_id = q.post_id"
    " LEFT JOIN comments c ON q.kind = 'comment' AND c.comment_id = q.comment_id"
    " WHERE {text} IS NOT NULL"
).format(cols=", ".join("q." + col for col in QUEUE_COLS), flagged=_FLAGGED_TEXT,
         text="(CASE q.kind WHEN 'message' THEN m.text WHEN 'post' THEN p.body WHEN 'comment' THEN c.text"
              " ELSE q.item_text END)")
QUEUE_ITEM_COLS = (*QUEUE_COLS, "text", "title", "ts", "sender_role", "text_now")
HOLD_COLS = ("id", "target_type", "target_id", "reason", "created_at", "released_at", "release_reason")
MSG_COLS = ("group_id", "seq", "ts", "sender_id", "sender_role", "text", "client_msg_id", "held",
            "deleted_at", "deleted_by", "reply_to", "mentions", "mention_all", "attachments", "edited_at")
VERSION_COLS = ("version", "text", "ts")
MEMBERSHIP_COLS = ("id", "group_id", "user_id", "action", "actor_id", "ts")
NETLOG_COLS = ("id", "ts", "kind", "user_id", "ip", "detail")
AUDIT_COLS = ("id", "ts", "actor_type", "actor_id", "action", "group_id", "target_id", "reason", "detail",
              "prev_hash", "hash")
GROUP_COLS = ("group_id", "name", "category", "join_policy", "owner_id", "announcement", "created_at",
              "dissolved_at", "closed_at", "closed_reason", "suspended_until")
ACCOUNT_COLS = ("username", "display_name", "phone_hmac", "phone_enc", "id_enc", "name_enc", "id_verified_at",
                "credit_score", "created_at", "deleted_at", "blacklisted_at")
SEALED_COLS = ("phone_enc", "id_enc", "name_enc")
USER_COMMENT_COLS = (*COMMENT_COLS, "account_id")


def _cols(cols: Iterable[str], prefix: str = "") -> str:
    return ", ".join(prefix + col for col in cols)


# A reporter's own reports (reports_by): the report's columns, then the post it names (a post's, or
# the one a comment is on) as it is now: its title, held (0 shown, 1 held for review, 2 rejected) and
# whether it is gone (deleted or removed); the three NULL for a report naming no post, or one no
# longer stored. The caller decides what the reporter may see of it (handlers/reports.py).
REPORTER_COLS = (*REPORT_COLS, "post_title", "post_held", "post_gone")
REPORTS_BY_SELECT = (f"SELECT {_cols(REPORT_COLS, 'r.')}, p.title, p.held,"
                     " CASE WHEN p.post_id IS NOT NULL THEN (p.deleted_at IS NOT NULL OR p.removed_at IS NOT NULL) END"
                     " FROM reports r LEFT JOIN posts p ON p.post_id = r.post_id")


# The membership log's actions that end a membership, and those that change a member's role (the
# others start one).
MEMBERSHIP_ENDS = frozenset({"leave", "kick", "ban", "account_deleted"})
ROLE_CHANGES = frozenset({"admin", "member", "owner", "owner_handed_on"})
# A group's whole membership log, oldest first, for who was in it during an export's range ($1 the
# group: numbered as APPEALS_SELECT is, SQLite's copy below).
GROUP_MEMBERSHIP_LOG = "SELECT user_id, action, ts FROM membership_log WHERE group_id = $1 ORDER BY ts, id"


class Presence:
    """:func:`present_in_range` read a part of the log at a time (``feed``, oldest first): an export
    snapshot reads a large group's whole membership log by a cursor, never held at once. What it
    keeps is one entry per person named, as the answer is."""

    def __init__(self, since: int, until: int) -> None:
        self.since, self.until = since, until
        self.state: dict[str, bool] = {}  # (as of the last row read before the range's end)
        self.present: set[str] = set()
        self.first_after: dict[str, str] = {}

    def feed(self, log: Iterable[Any]) -> None:
        state, present, first_after = self.state, self.present, self.first_after
        for uid, action, ts in log:
            if ts < self.until:
                if ts >= self.since:
                    present.add(uid)
                state[uid] = action not in MEMBERSHIP_ENDS
            elif uid not in state:
                first_after.setdefault(uid, action)

    def result(self, members: set[str]) -> set[str]:
        state, first_after = self.state, self.first_after
        present = self.present | {uid for uid, member in state.items() if member}
        present |= {uid for uid, action in first_after.items() if action in MEMBERSHIP_ENDS | ROLE_CHANGES}
        return present | {uid for uid in members if uid not in state and uid not in first_after}


def present_in_range(log: Iterable[Any], members: set[str], since: int, until: int) -> set[str]:
    """Who was a member of a group at some moment of ``[since, until)``, from its membership log
    (``(user_id, action, ts)``, oldest first) and its ``members`` now: a member when the range began,
    one whose membership changed in it, one who left or whose role changed after it with no earlier
    row kept (the retention purge took their joining), and a member now with no row at all (the
    same). Not one
    who joined only after the range: an export is no place for the network logs of someone who had
    nothing to do with the group then."""
    presence = Presence(since, until)
    presence.feed(log)
    return presence.result(members)


# A group's messages in an export's range ($1 the group, [$2, $3) the range): those sent in it, and
# those whose text or state members saw change in it, each a publication the record must show (as
# the retention purge keeps a text a full period from each): edited (the last edit, or an earlier
# text written in the range: a version's ts), deleted, released from the platform's hold, or reacted
# to. The group's key range is read once; the reactions and releases by
# their own indexes.
GROUP_EXPORT_MESSAGES = (
    f"SELECT {_cols(MSG_COLS)} FROM messages WHERE group_id = $1 AND (ts >= $2 AND ts < $3"
    " OR edited_at >= $2 AND edited_at < $3 OR deleted_at >= $2 AND deleted_at < $3"
    " OR seq IN (SELECT seq FROM message_versions WHERE group_id = $1 AND ts >= $2 AND ts < $3)"
    " OR seq IN (SELECT seq FROM reaction_log WHERE group_id = $1 AND ts >= $2 AND ts < $3)"
    " OR seq IN (SELECT seq FROM review_queue WHERE kind = 'message' AND group_id = $1 AND decision = 'release'"
    " AND decided_at >= $2 AND decided_at < $3))"
    " ORDER BY seq")
# A page of them: the next $5 after seq $4 (an export reads a group's messages a page at a time).
GROUP_EXPORT_PAGE = GROUP_EXPORT_MESSAGES.replace(" ORDER BY seq", " AND seq > $4 ORDER BY seq LIMIT $5")
assert GROUP_EXPORT_PAGE.endswith("LIMIT $5")
# (SQLite's own numbering of these: ?1 for $1, and so on)
_SQLITE_GROUP_EXPORT_MESSAGES = GROUP_EXPORT_MESSAGES.replace("$", "?")
_SQLITE_GROUP_EXPORT_PAGE = GROUP_EXPORT_PAGE.replace("$", "?")
_SQLITE_GROUP_MEMBERSHIP_LOG = GROUP_MEMBERSHIP_LOG.replace("$", "?")
# Rows of a group's whole membership log read at a time (``Presence``), in an export snapshot.
GROUP_LOG_PER_PAGE = 20_000
# The network log of a group's export: the rows of the people it names (a JSON list), by id.
SQLITE_GROUP_NETLOG = (f"SELECT {_cols(NETLOG_COLS)} FROM netlog WHERE user_id IN (SELECT value FROM json_each(?))"
                       " AND ts >= ? AND ts < ? ORDER BY id")


# A user's messages in an export's range ($1 the user, [$2, $3) the range), by (ts, group_id, seq); a
# page of them: the first $4, or the next $7 after the message (ts $4, group $5, seq $6), $2 then that
# message's time (keyset: the time index is read on from the last page's time, never from the range's
# start again).
USER_EXPORT_MESSAGES = (f"SELECT {_cols(MSG_COLS)} FROM messages WHERE sender_id = $1 AND ts >= $2 AND ts < $3"
                        " ORDER BY ts, group_id, seq")
USER_EXPORT_FIRST_PAGE = USER_EXPORT_MESSAGES + " LIMIT $4"
USER_EXPORT_PAGE = USER_EXPORT_MESSAGES.replace(
    " ORDER BY", " AND (ts > $4 OR group_id > $5 OR group_id = $5 AND seq > $6) ORDER BY") + " LIMIT $7"
assert USER_EXPORT_PAGE.endswith("ORDER BY ts, group_id, seq LIMIT $7")
# The logs an export reads by one statement each, a page at a time (``ExportReads.export_log``) or whole
# (``export_group``, ``export_user``): (target, log) -> (the rows' keys, the statement: $1 the group or
# the user, [$2, $3) the range, $4 a user's phone's keyed hash (their code requests)), by id. A user's:
# those of or by them, their phone's code requests, the record's entries naming them, made by them, or
# about what they wrote or appealed (``detail.author_id``, ``detail.appellant``); each arm of each OR
# has an index (tests/server/test_export_indexes.py). SQLite's dialect; PostgreSQL's in postgres_reads.py.
SQLITE_EXPORT_LOGS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("group", "membership"): (MEMBERSHIP_COLS, (f"SELECT {_cols(MEMBERSHIP_COLS)} FROM membership_log"
                                               " WHERE group_id = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY id")),
    ("group", "audit"): (AUDIT_COLS, (f"SELECT {_cols(AUDIT_COLS)} FROM audit WHERE group_id = ?1"  # (changes.Audit)
                                     " AND ts >= ?2 AND ts < ?3 ORDER BY id")),
    ("user", "membership"): (MEMBERSHIP_COLS, (f"SELECT {_cols(MEMBERSHIP_COLS)} FROM membership_log"
                                              " WHERE (user_id = ?1 OR actor_id = ?1) AND ts >= ?2 AND ts < ?3"
                                              " ORDER BY id")),
    ("user", "netlog"): (NETLOG_COLS, (f"SELECT {_cols(NETLOG_COLS)} FROM netlog WHERE (user_id = ?1 OR"
                                      " (kind = 'code_request' AND json_extract(detail, '$.phone_hmac') = ?4))"
                                      " AND ts >= ?2 AND ts < ?3 ORDER BY id")),
    ("user", "audit"): (AUDIT_COLS, (f"SELECT {_cols(AUDIT_COLS)} FROM audit WHERE (target_id = ?1 OR actor_id = ?1"
                                    " OR json_extract(detail, '$.author_id') = ?1"
                                    " OR json_extract(detail, '$.appellant') = ?1) AND ts >= ?2 AND ts < ?3"
                                    " ORDER BY id")),
}
# Who acted on a group's memberships in the range (a kick's, a ban's admin): their network logs are in
# its export (``export_group``'s ``people``), when its membership.jsonl is read a page at a time.
MEMBERSHIP_ACTORS = ("SELECT DISTINCT actor_id FROM membership_log WHERE group_id = $1 AND ts >= $2 AND ts < $3"
                     " AND actor_id IS NOT NULL")


_SQLITE_USER_EXPORT_MESSAGES = USER_EXPORT_MESSAGES.replace("$", "?")
_SQLITE_USER_EXPORT_FIRST_PAGE = USER_EXPORT_FIRST_PAGE.replace("$", "?")
_SQLITE_USER_EXPORT_PAGE = USER_EXPORT_PAGE.replace("$", "?")
_SQLITE_MEMBERSHIP_ACTORS = MEMBERSHIP_ACTORS.replace("$", "?")
# The network-log rows an address's export holds ($1, $2: the range; $3: the address's spellings), by id.
ADDRESS_NETLOG = (f"SELECT {_cols(NETLOG_COLS)} FROM netlog WHERE ts >= $1 AND ts < $2 AND ip = ANY($3::text[])"
                  " ORDER BY id")
_SQLITE_ADDRESS_NETLOG = (f"SELECT {_cols(NETLOG_COLS)} FROM netlog WHERE ts >= ? AND ts < ?"
                          " AND ip IN (SELECT value FROM json_each(?)) ORDER BY id")


def export_log_params(log: str, target_id: str, since: int, until: int, phone_hmac: str | None
                      ) -> tuple[Any, ...]:
    """The parameters of an ``*_EXPORT_LOGS`` statement ($4 only in a user's network log's)."""
    return (target_id, since, until, phone_hmac) if log == "netlog" else (target_id, since, until)


def phone_key(row: Any) -> str | None:
    """A user's phone's keyed hash as their code requests' detail holds it (hex), from their row's
    ``phone_hmac`` (None: no such user, or no phone kept)."""
    return bytes(row[0]).hex() if row is not None and row[0] is not None else None


def _dicts(cols: tuple[str, ...], rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [dict(zip(cols, r, strict=True)) for r in rows]


def queue_item(row: Any) -> dict[str, Any]:
    """A review item as ``review-queue`` lists it: the keys of ``QUEUE_ITEM_COLS`` but ts and
    sender_role (what deciding needs), with only the keys its kind names."""
    item = dict(zip(QUEUE_ITEM_COLS, row, strict=True))
    del item["ts"], item["sender_role"], item["expect_text"]
    if item["text_now"] is None:  # (a message edited since it was flagged: what it says now, beside it)
        del item["text_now"]
    kind = item["kind"]
    if kind in ("message", "post", "comment"):
        unused: tuple[str, ...] = (("account_id", "post_id", "comment_id", "title") if kind == "message"
                                   else ("group_id", "seq"))
    elif kind in ACCOUNT_KINDS:  # an account's name or intro names the account
        unused = ("group_id", "seq", "post_id", "comment_id", "title")
    else:  # a group name or announcement names its group; a display name its user (the sender)
        unused = ("seq", "account_id", "post_id", "comment_id", "title")
        if kind == "display_name":
            unused += ("group_id",)
            item["user_id"] = item["sender_id"]
    for key in unused:
        del item[key]
    if kind == "post":
        del item["comment_id"]
    return item


# The metrics' queue gauges (Store.queue_depths): counts over the status indexes, no row read out.
QUEUE_DEPTHS = ("SELECT (SELECT count(*) FROM reports WHERE status = 'open'),"
                " (SELECT count(*) FROM reports WHERE status = 'open' AND created_at < ?),"
                " (SELECT count(*) FROM review_queue WHERE status = 'open')")


class SqliteRecordReads(SqliteReader):
    # -- complaints (Art. 12) ---------------------------------------------------------------
    async def reports(self, open_only: bool) -> list[dict[str, Any]]:
        where = " WHERE status = 'open'" if open_only else ""
        return _dicts(REPORT_COLS, await self._fetchall(
            f"SELECT {_cols(REPORT_COLS)} FROM reports{where} ORDER BY report_id"))

    async def export_reports(self, target: str, target_id: str, since: int, until: int,
                             per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        where = REPORTS_FOR[target].replace("$1", "?").replace("$2", "?")
        ids = (target_id, target_id) if target == "user" else (target_id,)
        async for rows in self._log_pages(
                f"SELECT {_cols(EXPORT_REPORT_COLS)} FROM reports WHERE {where} AND (created_at >= ? AND created_at < ?"
                " OR resolved_at >= ? AND resolved_at < ?) ORDER BY report_id", (*ids, since, until, since, until),
                per_page):
            yield await rows_as_dicts(EXPORT_REPORT_COLS, rows)

    async def export_appeals(self, target: str, target_id: str, since: int, until: int,
                             per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        sql = APPEALS_SELECT.format(where=APPEALS_FOR[target], lifted=APPEAL_LIFTED)
        for n in (1, 2, 3):
            sql = sql.replace(f"${n}", f"?{n}")
        async for rows in self._log_pages(sql, (target_id, since, until), per_page):
            yield await rows_as_dicts(EXPORT_APPEAL_COLS, rows)

    async def report(self, report_id: int) -> dict[str, Any] | None:
        row = await self._fetchone(f"SELECT {_cols(REPORT_COLS)} FROM reports WHERE report_id = ?", (report_id,))
        return dict(zip(REPORT_COLS, row, strict=True)) if row is not None else None

    async def queue_depths(self, overdue_before: int) -> tuple[int, int, int]:
        row = await self._fetchone(QUEUE_DEPTHS, (overdue_before,))
        return int(row[0]), int(row[1]), int(row[2])

    async def reports_by(self, reporter_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        below = " AND r.report_id < ?" if before is not None else ""
        params = (reporter_id, before, limit) if before is not None else (reporter_id, limit)
        return _dicts(REPORTER_COLS, await self._fetchall(
            f"{REPORTS_BY_SELECT} WHERE r.reporter_id = ?{below} ORDER BY r.report_id DESC LIMIT ?", params))

    async def report_durations(self) -> list[tuple[str, str | None, int, int | None]]:
        rows = await self._fetchall("SELECT status, outcome, created_at, resolved_at FROM reports")
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # -- content review (Art. 10) -----------------------------------------------------------
    async def review_items(self, open_only: bool, page: ReviewPage | None = None) -> list[dict[str, Any]]:
        where, params = (page or ALL_ITEMS).where(open_only)
        return [queue_item(r) for r in await self._fetchall(QUEUE_SELECT + where, params)]

    async def review_item(self, item_id: int) -> dict[str, Any] | None:
        row = await self._fetchone(QUEUE_SELECT + " AND q.item_id = ?", (item_id,))
        return dict(zip(QUEUE_ITEM_COLS, row, strict=True)) if row is not None else None

    async def messages_page(self, after: tuple[str, int], limit: int) -> list[tuple[str, int, str, int, str]]:
        """Up to ``limit`` messages not deleted, (group id, seq, text, held, sender), in (group id, seq) order after
        ``after``."""
        rows = await self._fetchall(
            "SELECT group_id, seq, text, held, sender_id FROM messages"
            " WHERE (group_id, seq) > (?, ?) AND deleted_at IS NULL"
            " ORDER BY group_id, seq LIMIT ?", (*after, limit),
        )
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    # -- legal holds (G13) --------------------------------------------------------------------
    async def holds(self, include_released: bool) -> list[dict[str, Any]]:
        where = "" if include_released else " WHERE released_at IS NULL"
        return _dicts(HOLD_COLS, await self._fetchall(f"SELECT {_cols(HOLD_COLS)} FROM legal_holds{where} ORDER BY id"))

    async def hold(self, hold_id: int) -> dict[str, Any] | None:
        row = await self._fetchone(f"SELECT {_cols(HOLD_COLS)} FROM legal_holds WHERE id = ?", (hold_id,))
        return dict(zip(HOLD_COLS, row, strict=True)) if row is not None else None

    # -- export for supervision (G13) -------------------------------------------------------------
    async def _log_pages(self, sql: str, params: tuple[Any, ...], per_page: int) -> AsyncIterator[list[Any]]:
        """The rows of ``sql``, ``per_page`` at a time. Here, on the shared reader, all of them as one
        page: a statement held open on it would hold every handler's read at its snapshot (and the
        WAL's checkpoints). An export snapshot, on a connection of its own, reads them by a cursor
        (server/storage/sqlite.py)."""
        yield await self._fetchall(sql, params)

    async def export_group(self, group_id: str, since: int, until: int, members: set[str],
                           senders: set[str] | None = None, paged: bool = False) -> dict[str, Any]:
        """A group's records with ``since <= ts < until``.

        ``messages`` (by seq: ``GROUP_EXPORT_MESSAGES``, those sent in the range and those edited,
        deleted, released or reacted to in it), ``membership`` and the ``audit`` entries naming
        the group; ``netlog``: the rows of everyone who was a member during the range
        (:func:`present_in_range`, ``members`` the members now), posted in it or acted on a
        membership in it; ``group``: its row; ``present``: the user ids of those members, sorted.
        Keys of each row: the ``*_COLS`` of this module. ``senders``: the messages' senders, for a
        caller who read the messages a page at a time (:meth:`group_export_messages`); ``messages``
        is then empty. ``paged`` (with ``senders``): ``membership`` and ``audit`` are empty too, the
        caller reading them a page at a time (``export_log``).
        """
        rng = (since, until)
        messages = [] if senders is not None else await rows_as_dicts(MSG_COLS, await self._fetchall(
            _SQLITE_GROUP_EXPORT_MESSAGES, (group_id, *rng)))
        membership_cols, membership_sql = SQLITE_EXPORT_LOGS["group", "membership"]
        membership = [] if paged else await rows_as_dicts(membership_cols, await self._fetchall(
            membership_sql, (group_id, *rng)))
        presence = Presence(since, until)
        async for rows in self._log_pages(_SQLITE_GROUP_MEMBERSHIP_LOG, (group_id,), GROUP_LOG_PER_PAGE):
            presence.feed(rows)
        present = presence.result(members)
        people = present | (senders if senders is not None else await distinct_values(messages, "sender_id"))
        if paged:
            people |= {r[0] for r in await self._fetchall(_SQLITE_MEMBERSHIP_ACTORS, (group_id, *rng))}
        else:
            people |= {r["actor_id"] for r in membership if r["actor_id"]}
        netlog = [] if senders is not None else await rows_as_dicts(NETLOG_COLS, await self._fetchall(
            SQLITE_GROUP_NETLOG, (json.dumps(sorted(people)), *rng)))
        audit_cols, audit_sql = SQLITE_EXPORT_LOGS["group", "audit"]
        audit = [] if paged else await rows_as_dicts(audit_cols, await self._fetchall(audit_sql, (group_id, *rng)))
        row = await self._fetchone(f"SELECT {_cols(GROUP_COLS)} FROM groups WHERE group_id = ?", (group_id,))
        group = dict(zip(GROUP_COLS, row, strict=True)) if row is not None else None
        measures = await rows_as_dicts(SANCTION_COLS, await self._fetchall(
            SQLITE_MEASURES_IN_RANGE, ("group", group_id, *rng)))
        return {"messages": messages, "membership": membership, "netlog": netlog, "audit": audit, "group": group,
                "measures": measures, "present": sorted(present), "people": sorted(people)}

    async def group_export_messages(self, group_id: str, since: int, until: int, after_seq: int,
                                    limit: int) -> list[dict[str, Any]]:
        return await rows_as_dicts(MSG_COLS, await self._fetchall(
            _SQLITE_GROUP_EXPORT_PAGE, (group_id, since, until, after_seq, limit)))

    async def user_export_messages(self, user_id: str, since: int, until: int, after: tuple[int, str, int] | None,
                                   limit: int) -> list[dict[str, Any]]:
        if after is None:
            return await rows_as_dicts(MSG_COLS, await self._fetchall(
                _SQLITE_USER_EXPORT_FIRST_PAGE, (user_id, since, until, limit)))
        return await rows_as_dicts(MSG_COLS, await self._fetchall(
            _SQLITE_USER_EXPORT_PAGE, (user_id, max(since, after[0]), until, *after, limit)))

    async def export_log(self, target: str, target_id: str, log: str, since: int, until: int,
                         per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        cols, sql = SQLITE_EXPORT_LOGS[target, log]
        phone = phone_key(await self._fetchone("SELECT phone_hmac FROM users WHERE user_id = ?", (target_id,))
                          ) if log == "netlog" else None
        async for rows in self._log_pages(sql, export_log_params(log, target_id, since, until, phone), per_page):
            yield await rows_as_dicts(cols, rows)

    async def export_address(self, addresses: list[str], since: int, until: int,
                             per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The network-log rows written from any of ``addresses`` (the spellings of one address) with
        ``since <= ts < until``, by id, ``per_page`` at a time (``_log_pages``). Read through the time
        index: no index by address (one would hold every batch of messages while it builds on a large
        service, for a rare operator command)."""
        async for rows in self._log_pages(_SQLITE_ADDRESS_NETLOG, (since, until, json.dumps(addresses)), per_page):
            yield await rows_as_dicts(NETLOG_COLS, rows)

    async def export_user(self, user_id: str, since: int, until: int, paged: bool = False) -> dict[str, Any]:
        """A user's records with ``since <= ts < until``.

        ``messages`` they sent (by ts, group, seq), ``membership`` changes of or
        by them, ``netlog``: theirs and their phone's code requests (matched by
        its keyed hash), ``audit`` entries naming or made by them (their target,
        their actor, the author of a post or comment a measure took down:
        ``detail.author_id``, or the appellant of an appeal decided: ``detail.appellant``); ``account``:
        the row with its still-sealed identity fields (None when unknown);
        ``posts`` they wrote on public accounts (``POST_COLS``) and their
        ``comments`` (``USER_COMMENT_COLS``: with the post's account), whatever
        became of them (deleted, removed, held, hidden). ``paged``: ``messages``, ``membership``,
        ``netlog``, ``audit``, ``posts`` and ``comments`` are empty, the caller reading them a page at a
        time (:meth:`user_export_messages`, ``export_log``, ``export_posts``, ``export_user_comments``).
        """
        rng = (since, until)
        row = await self._fetchone(f"SELECT {_cols(ACCOUNT_COLS)} FROM users WHERE user_id = ?", (user_id,))
        account = dict(zip(ACCOUNT_COLS, row, strict=True)) if row is not None else None
        phone_hmac = bytes(account["phone_hmac"]).hex() if account is not None else None
        logs: dict[str, list[dict[str, Any]]] = {"messages": [], "membership": [], "netlog": [], "audit": []}
        if not paged:
            logs["messages"] = await rows_as_dicts(MSG_COLS, await self._fetchall(
                _SQLITE_USER_EXPORT_MESSAGES, (user_id, *rng)))
            for log in ("membership", "netlog", "audit"):
                cols, sql = SQLITE_EXPORT_LOGS["user", log]
                logs[log] = await rows_as_dicts(cols, await self._fetchall(
                    sql, export_log_params(log, user_id, since, until, phone_hmac)))
        posts: list[dict[str, Any]] = []
        comments: list[dict[str, Any]] = []
        if not paged:
            posts = await rows_as_dicts(POST_COLS, await self._fetchall(USER_EXPORT_POSTS, (user_id, *rng)))
            comments = await rows_as_dicts(USER_COMMENT_COLS, await self._fetchall(USER_EXPORT_COMMENTS,
                                                                                   (user_id, *rng)))
        measures = await rows_as_dicts(SANCTION_COLS, await self._fetchall(
            SQLITE_MEASURES_IN_RANGE, ("user", user_id, *rng)))
        return {**logs, "account": account, "posts": posts, "comments": comments, "measures": measures}

    async def membership_actions(self, group_id: str, user_id: str) -> list[tuple[str, int]]:
        rows = await self._fetchall("SELECT action, ts FROM membership_log WHERE group_id = ? AND user_id = ?"
                                    " ORDER BY ts, id", (group_id, user_id))
        return [(str(a), int(t)) for a, t in rows]

    async def message_row(self, group_id: str, seq: int) -> dict[str, Any] | None:
        row = await self._fetchone(f"SELECT {_cols(MSG_COLS)} FROM messages WHERE group_id = ? AND seq = ?",
                                   (group_id, seq))
        return dict(zip(MSG_COLS, row, strict=True)) if row is not None else None

    async def message_versions(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
        out: dict[tuple[str, int], list[dict[str, Any]]] = {}
        if not keys:
            return out
        rows = await self._fetchall(
            f"SELECT group_id, seq, {_cols(VERSION_COLS)} FROM message_versions"
            " WHERE (group_id, seq) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')"
            " FROM json_each(?)) ORDER BY group_id, seq, version", (json.dumps(keys),))
        for gid, seq, *rest in rows:
            out.setdefault((gid, seq), []).append(dict(zip(VERSION_COLS, rest, strict=True)))
        return out

    async def reaction_logs(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
        out: dict[tuple[str, int], list[dict[str, Any]]] = {}
        if not keys:
            return out
        rows = await self._fetchall(
            "SELECT group_id, seq, user_id, emoji, added, ts FROM reaction_log"
            " WHERE (group_id, seq) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')"
            " FROM json_each(?)) ORDER BY group_id, seq, ts, rowid", (json.dumps(keys),))
        for gid, seq, uid, emoji, added, ts in rows:
            out.setdefault((gid, seq), []).append({"user_id": uid, "emoji": emoji, "added": bool(added), "ts": ts})
        return out

    async def export_reactions(self, user_id: str, since: int, until: int,
                               per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(
                "SELECT group_id, seq, emoji, added, ts FROM reaction_log WHERE user_id = ? AND ts >= ? AND ts < ?"
                " ORDER BY ts, rowid", (user_id, since, until), per_page):
            yield [{"group_id": g, "seq": s, "emoji": e, "added": bool(a), "ts": t} for g, s, e, a, t in rows]

    async def export_posts(self, target: str, target_id: str, since: int, until: int,
                           per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        params = (target_id, since, until, since, until, since, until) if target == "account" else (
            target_id, since, until)
        async for rows in self._log_pages(ACCOUNT_EXPORT_POSTS if target == "account" else USER_EXPORT_POSTS,
                                          params, per_page):
            yield await rows_as_dicts(POST_COLS, rows)

    async def export_user_comments(self, user_id: str, since: int, until: int,
                                   per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(USER_EXPORT_COMMENTS, (user_id, since, until), per_page):
            yield await rows_as_dicts(USER_COMMENT_COLS, rows)

    # -- the identity vault (Art. 6) ----------------------------------------------------------------
    async def vault_keys(self) -> list[tuple[int, str]]:
        """(key id, fingerprint) of every registered identity key."""
        return [(int(r[0]), str(r[1])) for r in await self._fetchall("SELECT key_id, fingerprint FROM vault_keys")]

    async def sealed_key_ids(self) -> list[int]:
        """The key ids that some stored identity value is sealed under."""
        rows = await self._fetchall(" UNION ".join(
            f"SELECT DISTINCT substr({col}, 1, 1) FROM users WHERE length({col}) > 0" for col in SEALED_COLS))
        return sorted(bytes(r[0])[0] for r in rows)

    async def sealed_sample(self, key_id: int) -> bytes | None:
        """One stored identity value sealed under ``key_id`` (None when there is none)."""
        row = await self._fetchone(
            "SELECT b FROM (SELECT phone_enc AS b FROM users UNION ALL SELECT id_enc FROM users"
            " UNION ALL SELECT name_enc FROM users) WHERE length(b) > 0 AND substr(b, 1, 1) = ? LIMIT 1",
            (bytes([key_id]),),
        )
        return bytes(row[0]) if row is not None else None

    async def lookup_secret(self) -> bytes | None:
        """The sealed lookup (HMAC) key, or None before one was stored."""
        row = await self._fetchone("SELECT value FROM vault_secrets WHERE name = 'lookup'")
        return bytes(row[0]) if row is not None else None

    async def shared_dev_key(self) -> bytes | None:
        row = await self._fetchone("SELECT value FROM vault_secrets WHERE name = 'dev_identity_key'")
        return bytes(row[0]) if row is not None else None

    async def has_users(self) -> bool:
        return await self._fetchone("SELECT 1 FROM users LIMIT 1") is not None

    async def accounts_not_under_key(self, key_id: int) -> int:
        """How many accounts hold an identity value sealed under another key than ``key_id``."""
        row = await self._fetchone(
            "SELECT COUNT(*) FROM users WHERE "
            + " OR ".join(f"(length({col}) > 0 AND substr({col}, 1, 1) != ?)" for col in SEALED_COLS),
            (bytes([key_id]),) * len(SEALED_COLS),
        )
        return int(row[0])

    # -- the filing report (G7, P7) ---------------------------------------------------------
    async def filing_sanctions(self, since: int, until: int) -> list[tuple[str, str, int]]:
        rows = await self._fetchall(
            "SELECT kind, target_type, COUNT(*) FROM sanctions WHERE starts_at >= ? AND starts_at < ?"
            " GROUP BY kind, target_type ORDER BY kind, target_type", (since, until))
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def filing_reports(self, since: int, until: int) -> list[tuple[str, str, str | None, int, int | None]]:
        rows = await self._fetchall(
            "SELECT target_type, status, outcome, created_at, resolved_at FROM reports"
            " WHERE created_at >= ? AND created_at < ? ORDER BY report_id", (since, until))
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def export_written(self, manifest_sha256: str, since: int) -> bool:
        return await self._fetchone(
            "SELECT 1 FROM audit WHERE ts >= ? AND action = 'export' AND detail LIKE ? LIMIT 1",
            (since, f"%{manifest_sha256}%")) is not None

    async def filing_measures(self, since: int, until: int, actions: tuple[str, ...]) -> list[tuple[str, str | None]]:
        rows = await self._fetchall(
            "SELECT action, detail FROM audit WHERE ts >= ? AND ts < ? AND actor_type = 'operator'"
            " AND action IN (SELECT value FROM json_each(?)) ORDER BY id", (since, until, json.dumps(list(actions))))
        return [(r[0], r[1]) for r in rows]

    async def filing_reviews(self, since: int, until: int) -> list[tuple[str, str, str, str | None, int]]:
        rows = await self._fetchall(
            "SELECT kind, action, status, decision, COUNT(*) FROM review_queue"
            " WHERE created_at >= ? AND created_at < ?"
            " GROUP BY kind, action, status, decision ORDER BY kind, action, status, decision", (since, until))
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    async def filing_agreements(self) -> list[tuple[str, int, int]]:
        rows = await self._fetchall(
            "SELECT a.version, a.created_at, (SELECT COUNT(*) FROM agreement_acceptances x"
            " WHERE x.version = a.version) FROM agreements a ORDER BY a.created_at, a.rowid")
        return [(r[0], r[1], int(r[2])) for r in rows]


# -- retention (G13, P16): what a Purge batch removes ------------------------------------------------
# Groups and users under legal hold at :now (named parameters :now and :cutoff). A sanction holds by
# governance.retention.sanction_holds: until its end, or a full period after it was imposed when it has
# none; a warning, whose deadline is when it turns overdue and not when it stops, for both; and any of
# them while an appeal against it is open.
SANCTION_HOLDS = ("((expires_at IS NOT NULL AND expires_at > :now)"
                  " OR id IN (SELECT sanction_id FROM appeals WHERE status = 'open')"
                  " OR ((expires_at IS NULL OR kind = 'warning') AND starts_at >= :cutoff))")
HELD_GROUPS = f"""
    SELECT target_id FROM legal_holds WHERE released_at IS NULL AND target_type = 'group'
    UNION SELECT group_id FROM reports WHERE status = 'open' AND group_id IS NOT NULL
    UNION SELECT target_id FROM sanctions WHERE target_type = 'group'
      AND {SANCTION_HOLDS}
"""
HELD_USERS = f"""
    SELECT target_id FROM legal_holds WHERE released_at IS NULL AND target_type = 'user'
    UNION SELECT user_id FROM reports WHERE status = 'open' AND user_id IS NOT NULL
    UNION SELECT target_id FROM sanctions WHERE target_type = 'user'
      AND {SANCTION_HOLDS}
"""
# Public accounts under legal hold at :now: an operator hold, an open report on the account or one
# of its posts, a sanction on it that still holds (see governance.retention.sanction_holds), an
# owner under hold.
HELD_ACCOUNTS = f"""
    SELECT target_id FROM legal_holds WHERE released_at IS NULL AND target_type = 'account'
    UNION SELECT account_id FROM reports WHERE status = 'open' AND account_id IS NOT NULL
    UNION SELECT p.account_id FROM reports r JOIN posts p ON p.post_id = r.post_id WHERE r.status = 'open'
    UNION SELECT target_id FROM sanctions WHERE target_type = 'account'
      AND {SANCTION_HOLDS}
    UNION SELECT account_id FROM accounts WHERE owner_id IN ({HELD_USERS})
"""
REPORTED_POSTS = "SELECT post_id FROM reports WHERE status = 'open' AND post_id IS NOT NULL"
# Who wrote something past the cutoff that is still kept (held by one of the rules above, or sent
# before the cutoff and published again since: edited, released, approved). The tables holding what
# people write are purged before the ones naming people (``changes.PURGE_TABLES``), so here only such
# kept messages, posts and comments are left: their authors' network logs and, for a
# cancelled account, its sealed identity stay as long as they do (who wrote it, from where).
# DISTINCT in each part: a large held group's messages come down to their few senders.
# Read once per purge (``kept_authors``), before the tables naming people, not in each of their
# batches: it walks every kept message, a held group's million of them included (450 ms for a
# group of 300,000 on the development machine, twice in each network-log batch). Read once, it
# holds for the rest of the purge: nothing written later is older than the cutoff, so the set can
# only shrink, and a batch that keeps a few more than needed leaves them to the next purge.
KEPT_AUTHORS = """
    SELECT DISTINCT sender_id FROM messages WHERE ts < :cutoff
    UNION SELECT DISTINCT user_id FROM reaction_log WHERE ts < :cutoff
    UNION SELECT DISTINCT author_id FROM posts WHERE ts < :cutoff
    UNION SELECT DISTINCT user_id FROM comments WHERE ts < :cutoff
"""
# The kept authors as a batch reads them: the purge's ``kept`` list (``Purge.kept``), a JSON array.
KEPT = "SELECT value FROM json_each(:kept)"

# Everyone who is or was a member of a held group (its membership log is kept with it): an
# investigation of a group asks who was in it and from where, not only who wrote.
HELD_MEMBERS = f"""
    SELECT user_id FROM members WHERE group_id IN ({HELD_GROUPS})
    UNION SELECT user_id FROM membership_log WHERE group_id IN ({HELD_GROUPS})
"""


def released(kind: str, key: str) -> str:
    """The ``key`` of each ``kind`` of item (message, post, comment) the platform released from its
    hold within the period: shown from then, so kept a full period after it. Only the last period's
    releases are read, by their own index (schema 32; PostgreSQL 28), not every decided item in each
    batch."""
    return (f"SELECT {key} FROM review_queue"
            f" WHERE decision = 'release' AND decided_at >= :cutoff AND kind = '{kind}'")


# The messages purge (changes.PurgeMessages): the next :limit messages past the cutoff after the key
# (:ts, :gid, :seq), each with whether it goes. Only those are checked, each by its key (the open or
# released review item of the message, its pin in a live group: the index review_queue_message, the
# pins' key): the sets of kept keys are not built again by each batch, and a message kept past its
# period is passed over by the batches after the one that looked at it (see PurgeMessages). A release
# counts as ``released()`` says for posts and comments, checked here by the message's key. A pin keeps
# its message only in a live group (docs/retention.md says why): a dissolved or closed group's pins keep
# nothing (no group shows them any more, and none is ever open again), and each pin goes with its
# message (PURGE_DEPENDENTS). So do its reactions, and so a message stays while one of them must: a
# reaction is free text members saw, published when it was left (or taken back) and kept a full
# period from then, and one of a held person is held with them (the reaction log's index by message).
# A deletion too keeps its message a period from it: clients that were away learn of a recall or a
# removal by the message's stamp ([ext] message_changes), which a purge right after it would take.
MESSAGES_BATCH = f"""
    SELECT c.group_id, c.seq, c.ts,
           (c.edited_at IS NULL OR c.edited_at < :cutoff)
           AND (c.deleted_at IS NULL OR c.deleted_at < :cutoff)
           AND c.group_id NOT IN ({HELD_GROUPS})
           AND c.sender_id NOT IN ({HELD_USERS})
           AND NOT EXISTS (SELECT 1 FROM review_queue r
                           WHERE r.kind = 'message' AND r.group_id = c.group_id AND r.seq = c.seq
                             AND (r.status = 'open' OR (r.decision = 'release' AND r.decided_at >= :cutoff)))
           AND NOT EXISTS (SELECT 1 FROM group_pins p JOIN groups g ON g.group_id = p.group_id
                           WHERE p.group_id = c.group_id AND p.seq = c.seq
                             AND g.dissolved_at IS NULL AND g.closed_at IS NULL)
           AND NOT EXISTS (SELECT 1 FROM reaction_log l
                           WHERE l.group_id = c.group_id AND l.seq = c.seq
                             AND (l.ts >= :cutoff OR l.user_id IN ({HELD_USERS}))) AS gone
    FROM (SELECT group_id, seq, ts, sender_id, edited_at, deleted_at FROM messages
          WHERE ts >= :ts AND ts < :cutoff AND (ts, group_id, seq) > (:ts, :gid, :seq)
          ORDER BY ts, group_id, seq LIMIT :limit) AS c
    ORDER BY c.ts, c.group_id, c.seq"""
START: c.MessageKey = (-1, "", -1)  # before every message


def messages_params(p: c.PurgeMessages) -> dict[str, Any]:
    ts, gid, seq = START if p.after is None else p.after
    return {"now": p.now, "cutoff": p.cutoff, "limit": p.limit, "ts": ts, "gid": gid, "seq": seq}


def messages_walked(p: c.PurgeMessages, rows: list[Any]) -> c.MessageKey | None:
    """Where the next batch goes on: after the last message looked at, or None at the cutoff."""
    return (int(rows[-1][2]), rows[-1][0], int(rows[-1][1])) if len(rows) == p.limit else None


# One batch per table of ``changes.PURGE_TABLES`` but messages: a statement touching at most :limit
# rows (for a table of ``PURGE_BY_KEY``, one picking at most :limit keys).
# What people wrote goes a full period after the LATEST moment its text was published, not only
# after it was sent (ts): a message's last edit (edited_at); a release from the platform's hold (the
# decided review item's decided_at, ``released``: the item is kept a full period after it too, so it
# is there as long as it matters); a comment's last moderation (moderated_at: its account's approval,
# or showing it again, publishes it anew; a hide, deletion or rejection counts too, which keeps it
# longer, never shorter). None of these is earlier than ts, so the index on ts still picks the rows
# to look at and the others only filter them.
PURGES: dict[str, str] = {
    "membership_log": f"""
        DELETE FROM membership_log WHERE id IN (
          SELECT id FROM membership_log
          WHERE ts < :cutoff
            AND group_id NOT IN ({HELD_GROUPS})
            AND user_id NOT IN ({HELD_USERS})
            AND (actor_id IS NULL OR actor_id NOT IN ({HELD_USERS}))
          LIMIT :limit)""",
    "reports": f"""
        DELETE FROM reports WHERE report_id IN (
          SELECT report_id FROM reports
          WHERE status != 'open' AND resolved_at < :cutoff
            AND (group_id IS NULL OR group_id NOT IN ({HELD_GROUPS}))
            AND (account_id IS NULL OR account_id NOT IN ({HELD_ACCOUNTS}))
            AND (user_id IS NULL OR user_id NOT IN ({HELD_USERS}))
            AND reporter_id NOT IN ({HELD_USERS})
          LIMIT :limit)""",
    "review_queue": f"""
        DELETE FROM review_queue WHERE item_id IN (
          SELECT item_id FROM review_queue
          WHERE status != 'open' AND decided_at < :cutoff
            AND (group_id IS NULL OR group_id NOT IN ({HELD_GROUPS}))
            AND (account_id IS NULL OR account_id NOT IN ({HELD_ACCOUNTS}))
            AND sender_id NOT IN ({HELD_USERS})
          LIMIT :limit)""",
    # Public accounts (P10, P13): comments and posts by their own age; a post goes only once none of
    # its comments is left, and never while its account, its author or a report on it is held. A
    # comment the platform's review still waits on stays whatever its managers did with it (hidden or
    # deleted: its review item is open all the same), as do the comments on a held author's post.
    # Which uploads a purged post carried goes with it (a trigger, schema 14), so they are unattached.
    "comments": f"""
        DELETE FROM comments WHERE comment_id IN (
          SELECT c.comment_id FROM comments c JOIN posts p ON p.post_id = c.post_id
          WHERE c.ts < :cutoff
            AND (c.moderated_at IS NULL OR c.moderated_at < :cutoff)
            AND p.account_id NOT IN ({HELD_ACCOUNTS})
            AND c.user_id NOT IN ({HELD_USERS})
            AND c.comment_id NOT IN (SELECT comment_id FROM reports WHERE status = 'open' AND comment_id IS NOT NULL)
            AND c.post_id NOT IN ({REPORTED_POSTS})
            AND c.post_id NOT IN (SELECT post_id FROM posts WHERE author_id IN ({HELD_USERS}))
            AND c.comment_id NOT IN (SELECT comment_id FROM review_queue
                                     WHERE status = 'open' AND comment_id IS NOT NULL)
            AND c.comment_id NOT IN ({released("comment", "comment_id")})
          LIMIT :limit)""",
    "posts": f"""
        DELETE FROM posts WHERE post_id IN (
          SELECT p.post_id FROM posts p
          WHERE p.ts < :cutoff
            AND p.account_id NOT IN ({HELD_ACCOUNTS})
            AND p.author_id NOT IN ({HELD_USERS})
            AND p.post_id NOT IN ({REPORTED_POSTS})
            AND p.post_id NOT IN (SELECT post_id FROM review_queue WHERE status = 'open' AND post_id IS NOT NULL)
            AND p.post_id NOT IN ({released("post", "post_id")})
            AND NOT EXISTS (SELECT 1 FROM comments c WHERE c.post_id = p.post_id)
          LIMIT :limit)""",
    # Who read what: a log of its own, kept a full period after the read, and while the post it
    # names is kept (held, or still carrying comments), as the row is also what says this reader
    # was counted in the post's ``reads``: without it a read after the purge counted again. Posts
    # are purged first, so a post's reads past their period go in the run that purges it.
    # The walk starts from the posts gone (``gone_posts``, noted as they go; CROSS JOIN keeps SQLite
    # from starting anywhere else) and reaches their old reads by (post_id, ts): the reads kept
    # with their posts, however many, are never walked (they were, by age, before every batch).
    # The check that the post is gone stays: SQLite may give a purged post's id to a new post.
    # It picks the keys; each row is then deleted by its key (PURGE_BY_KEY).
    "post_reads": f"""
        SELECT r.post_id, r.user_id FROM gone_posts g CROSS JOIN post_reads r
        WHERE r.post_id = g.post_id AND r.ts < :cutoff
          AND NOT EXISTS (SELECT 1 FROM posts p WHERE p.post_id = g.post_id)
          AND r.user_id NOT IN ({HELD_USERS})
        LIMIT :limit""",
    # Login tokens past their expiry: they open nothing any more (``auth`` and ``my_logins`` read only
    # good ones), and a token's row also keeps the device its login named. By ``expires_at`` and ``now``,
    # not by the period, and whatever is held: a token is no record of what happened (the network
    # log's login and auth rows are, and they are kept with their holds). A login also deletes its own
    # account's expired ones; this reaches the accounts that never log in again.
    "tokens": """
        DELETE FROM tokens WHERE token_hash IN (
          SELECT token_hash FROM tokens WHERE expires_at <= :now LIMIT :limit)""",
    # Why a login ended, kept only until its token would have expired (then ``auth`` with it says no
    # more than for any expired token).
    "ended_logins": """
        DELETE FROM ended_logins WHERE token_hash IN (
          SELECT token_hash FROM ended_logins WHERE expires_at <= :now LIMIT :limit)""",
    # Cancelled accounts (P9) to erase: selected here, erased by ERASE_ACCOUNT one by one (see ERASING).
    # Not while a public account of theirs is held: who stands behind it is kept with it.
    "accounts_erased": f"""
        SELECT user_id, id_hmac FROM users
        WHERE deleted_at < :cutoff AND blacklisted_at IS NULL AND length(phone_enc) > 0
          AND user_id NOT IN ({HELD_USERS})
          AND user_id NOT IN ({KEPT})
          AND user_id NOT IN ({HELD_MEMBERS})
          AND user_id NOT IN (SELECT owner_id FROM accounts WHERE account_id IN ({HELD_ACCOUNTS}))
        LIMIT :limit""",
}
# The network log's purge (changes.PurgeNetlog): the next :limit rows past the cutoff after the key
# (:ats, :aid), each with whether it goes, walked on as the messages are (MESSAGES_BATCH).
# A code request is made before login (no user_id): it is the held person's by its phone's
# keyed hash, as an export of that user finds it. The held and kept people's phones are read only
# for a batch that has a code request (the CASE: as a plain AND, SQLite built the set for every
# batch, 35 of a batch's 42 ms with 20,000 people held). (A row whose ``gone`` is NULL is kept.)
CODE_REQUEST_GONE = f"""json_extract(detail, '$.phone_hmac') NOT IN (
                      SELECT lower(hex(phone_hmac)) FROM users
                      WHERE user_id IN ({HELD_USERS} UNION {KEPT} UNION {HELD_MEMBERS}))"""
NETLOG_BATCH = f"""
    SELECT id, ts,
           (user_id IS NULL OR (user_id NOT IN ({HELD_USERS})
                                AND user_id NOT IN ({KEPT})
                                AND user_id NOT IN ({HELD_MEMBERS})))
           AND CASE WHEN kind = 'code_request' AND user_id IS NULL
                    THEN {CODE_REQUEST_GONE}
                    ELSE TRUE END AS gone
    FROM netlog
    WHERE ts >= :ats AND ts < :cutoff AND (ts, id) > (:ats, :aid)
    ORDER BY ts, id LIMIT :limit"""


def netlog_params(p: c.PurgeNetlog) -> dict[str, Any]:
    ats, aid = (-1, -1) if p.after is None else p.after
    return {"now": p.now, "cutoff": p.cutoff, "limit": p.limit, "ats": ats, "aid": aid, "kept": list(p.kept)}


def netlog_walked(p: c.PurgeNetlog, rows: list[Any]) -> c.NetlogKey | None:
    """Where the next batch goes on: after the last row looked at, or None at the cutoff."""
    return (int(rows[-1][1]), int(rows[-1][0])) if len(rows) == p.limit else None


# Tables whose purge statement selects (user_id, id_hmac) of accounts to erase rather than deleting rows.
ERASING = frozenset({"accounts_erased"})
# The sealed phone, name and ID number go; the phone and ID hashes are replaced so they can register
# again; the row (user id, username, the cancelled display name) stays, as messages and records name it.
ERASE_ACCOUNT = """
    UPDATE users SET phone_enc = x'', phone_hmac = randomblob(32), id_enc = NULL, id_hmac = NULL,
                     name_enc = NULL, password_hash = ''
    WHERE user_id = ?"""
# Whether another login of the person still holds the ID number's keyed hash.
ID_HELD = "SELECT 1 FROM users WHERE id_hmac = ? LIMIT 1"
# The keyed hash (hex) of an erased person's ID number goes from the public accounts they opened too
# (closed ones: a cancellation closes them first): as the subject of their own accounts and as the
# opener of an organisation's. It is replaced by a key no person has (``erased_key``), one per person
# erased, so that their accounts still read as one subject's (P7's list of subjects) while the number
# registers again as anyone's would, with nothing carried over to its new accounts. Run only once no
# other login of the person still holds the hash (max_accounts_per_id above 1): until then the person
# is still on the platform, and so are the links.
UNLINK_ACCOUNTS = """
    UPDATE accounts SET subject_key = CASE WHEN subject_key = :key THEN :erased ELSE subject_key END,
                        opener_key = CASE WHEN opener_key = :key THEN :erased ELSE opener_key END
    WHERE subject_key = :key OR opener_key = :key"""


def erased_key() -> str:
    """A key standing for a person whose identity was erased: random, so it says nothing of them."""
    return "erased:" + secrets.token_hex(16)

WALKED = ("messages", "netlog")  # (purged by their own changes: PurgeMessages, PurgeNetlog)
assert tuple(PURGES) == tuple(t for t in c.PURGE_TABLES if t not in WALKED), "every table needs its purge"


# What goes with each purged row of a table: the rows of these tables with its group_id and seq
# (an edited message's earlier versions, its reactions and their log, which uploads it carried).
PURGE_DEPENDENTS: dict[str, tuple[str, ...]] = {
    "messages": ("message_versions", "reactions", "reaction_log", "message_media", "group_pins")}

# Tables whose purge statement selects the keys (these columns) of the rows to go, each then deleted
# by its key: SQLite (3.40) seeks only the first column of a two-column key in DELETE ... WHERE (a, b)
# IN (subquery), so it walked every read of each post named, the young ones it keeps included, in
# every batch. (PostgreSQL runs it as one DELETE ... IN: it seeks both.)
PURGE_BY_KEY: dict[str, tuple[str, ...]] = {"post_reads": ("post_id", "user_id")}

# Run after each batch of a table, in its transaction: the note of a gone post goes with its last read.
PURGE_AFTER: dict[str, str] = {
    "post_reads": "DELETE FROM gone_posts"
                  " WHERE NOT EXISTS (SELECT 1 FROM post_reads r WHERE r.post_id = gone_posts.post_id)",
}


@applies(c.Purge)
async def _purge(db: aiosqlite.Connection, p: c.Purge) -> int:
    sql = PURGES.get(p.table)
    if sql is None:
        raise ValueError(f"no retention purge for {p.table!r}")
    if ":kept" in sql and p.kept is None:
        raise ValueError(f"the purge of {p.table} needs the kept authors (Store.kept_authors)")
    params = {"now": p.now, "cutoff": p.cutoff, "limit": p.limit, "kept": json.dumps(p.kept)}
    if p.table in ERASING:
        people = [(r[0], r[1]) for r in await db.execute_fetchall(sql, params)]
        await db.executemany(ERASE_ACCOUNT, [(uid,) for uid, _ in people])
        for id_hmac in {bytes(h) for _, h in people if h is not None}:
            if not list(await db.execute_fetchall(ID_HELD, (id_hmac,))):
                await db.execute(UNLINK_ACCOUNTS, {"key": id_hmac.hex(), "erased": erased_key()})
        n = len(people)
    elif (key := PURGE_BY_KEY.get(p.table)) is not None:
        keys = [tuple(r) for r in await db.execute_fetchall(sql, params)]
        await db.executemany(f"DELETE FROM {p.table} WHERE {' AND '.join(f'{c} = ?' for c in key)}", keys)
        n = len(keys)
    else:
        n = (await db.execute(sql, params)).rowcount
    if (after := PURGE_AFTER.get(p.table)) is not None:
        await db.execute(after)
    if n and p.record is not None:
        await append_audit(db, p.record)
    return n


@applies(c.PurgeNetlog)
async def _purge_netlog(db: aiosqlite.Connection, p: c.PurgeNetlog) -> tuple[int, c.NetlogKey | None]:
    # (One writer holds the database from the read to the deletes: nothing places a hold meanwhile.)
    params = netlog_params(p)
    rows = list(await db.execute_fetchall(NETLOG_BATCH, {**params, "kept": json.dumps(params["kept"])}))
    gone = [(r[0],) for r in rows if r[2]]
    await db.executemany("DELETE FROM netlog WHERE id = ?", gone)
    if gone and p.record is not None:
        await append_audit(db, p.record)
    return len(gone), netlog_walked(p, rows)


@applies(c.PurgeMessages)
async def _purge_messages(db: aiosqlite.Connection, p: c.PurgeMessages) -> tuple[int, c.MessageKey | None]:
    # (One writer holds the database from the read to the deletes: nothing pins or reports meanwhile.)
    rows = list(await db.execute_fetchall(MESSAGES_BATCH, messages_params(p)))
    gone = [(r[0], r[1]) for r in rows if r[3]]
    await db.executemany("DELETE FROM messages WHERE group_id = ? AND seq = ?", gone)
    for table in PURGE_DEPENDENTS["messages"]:
        await db.executemany(f"DELETE FROM {table} WHERE group_id = ? AND seq = ?", gone)
    await db.execute(activity.PRUNE, (activity.cutoff_day(p.cutoff),))  # (server/storage/activity.py)
    if gone and p.record is not None:
        await append_audit(db, p.record)
    return len(gone), messages_walked(p, rows)


# -- identity keys ------------------------------------------------------------------------------------
@applies(c.ShareDevKey)
async def _share_dev_key(db: aiosqlite.Connection, s: c.ShareDevKey) -> None:
    await db.execute("INSERT INTO vault_secrets (name, value) VALUES ('dev_identity_key', ?)"
                     " ON CONFLICT (name) DO NOTHING", (s.raw,))


@applies(c.SaveVault)
async def _save_vault(db: aiosqlite.Connection, v: c.SaveVault) -> None:
    if v.fingerprint is not None:
        await db.execute("INSERT INTO vault_keys (key_id, fingerprint, added_at) VALUES (?, ?, ?)",
                         (v.key_id, v.fingerprint, v.added_at))
    await db.execute(
        "INSERT INTO vault_secrets (name, value) VALUES ('lookup', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (v.sealed_lookup_key,),
    )
    if v.dev_key is not None:  # (replaced where there is a copy: a rotation makes none)
        await db.execute("UPDATE vault_secrets SET value = ? WHERE name = 'dev_identity_key'", (v.dev_key,))
    elif v.drop_dev_key:
        await db.execute("DELETE FROM vault_secrets WHERE name = 'dev_identity_key'")


@applies(c.ResealBatch)
async def _reseal_batch(db: aiosqlite.Connection, r: c.ResealBatch) -> tuple[str | None, int, int]:
    rows = list(await db.execute_fetchall(
        f"SELECT user_id, {_cols(SEALED_COLS)} FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?",
        (r.after, r.limit)))
    values = accounts = 0
    updates = []
    for uid, *blobs in rows:
        fresh = [r.reseal(bytes(b) if b is not None else None) for b in blobs]
        if any(f is not None for f in fresh):
            accounts += 1
            values += sum(f is not None for f in fresh)
            updates.append((*(f if f is not None else b for f, b in zip(fresh, blobs, strict=True)), uid))
    if updates:
        await db.executemany(
            f"UPDATE users SET {', '.join(f'{col} = ?' for col in SEALED_COLS)} WHERE user_id = ?", updates)
    last = rows[-1][0] if len(rows) == r.limit else None
    return last, values, accounts


# -- measures that finish: sanctions and appeals ----------------------------------------------------
SANCTION_COLS = ("id", "kind", "target_type", "target_id", "reason", "actor", "starts_at", "expires_at",
                 "report_id", "lifted_at", "lifted_by", "lift_reason", "credit_taken", "replaced_by", "cause",
                 "credit_given_back_at")
APPEAL_COLS = ("appeal_id", "sanction_id", "user_id", "text", "created_at", "status", "outcome", "note",
               "decided_at", "decided_by")
# An export's measures.jsonl (G13): the sanctions on one target ($1 its type, $2 its id) in force at
# some moment of the range $3 <= t < $4, or taken in it: those it began with (begun earlier, not lifted
# and not run out by its start: a warning stands until lifted, whatever its deadline) and those begun
# in it. A removal (remove_message, remove_post, ...) is an act, not a state: only in its own range.
MEASURES_IN_RANGE = (
    f"SELECT {', '.join(SANCTION_COLS)} FROM sanctions WHERE target_type = $1 AND target_id = $2 AND starts_at < $4"
    " AND (starts_at >= $3 OR substr(kind, 1, 7) <> 'remove_' AND (lifted_at IS NULL OR lifted_at >= $3)"
    " AND (expires_at IS NULL OR expires_at > $3 OR kind = 'warning')) ORDER BY id")
SQLITE_MEASURES_IN_RANGE = MEASURES_IN_RANGE.replace("$", "?")
# Whether appeal ``a`` lifted its sanction ``s``: the lift was stored in the decision's own write, so it
# has the decision's time and operator (a lift by ``lift`` is refused once the sanction is lifted, and an
# appeal is decided under the sanction's lock, so no other lift shares both); never read from the
# free-text ``lift_reason``. In both dialects.
APPEAL_LIFTED = ("COALESCE(a.outcome = 'upheld' AND s.lifted_at = a.decided_at AND s.lifted_by = a.decided_by,"
                 " FALSE)")


class SqliteSanctionReads(SqliteReader):
    async def sanctions(self, target_type: str | None = None, target_id: str | None = None) -> list[dict[str, Any]]:
        if target_type is None:
            rows = await self._fetchall(f"SELECT {_cols(SANCTION_COLS)} FROM sanctions ORDER BY id")
        else:
            rows = await self._fetchall(
                f"SELECT {_cols(SANCTION_COLS)} FROM sanctions WHERE target_type = ? AND target_id = ? ORDER BY id",
                (target_type, target_id))
        return _dicts(SANCTION_COLS, rows)

    async def freeze_misses(self, now: int) -> list[tuple[str, str, str, int]]:
        return [(r[0], r[1], r[2], int(r[3])) for r in await self._fetchall(FREEZE_MISSES, (now, now))]

    async def sanction(self, sanction_id: int) -> dict[str, Any] | None:
        row = await self._fetchone(f"SELECT {_cols(SANCTION_COLS)} FROM sanctions WHERE id = ?", (sanction_id,))
        return dict(zip(SANCTION_COLS, row, strict=True)) if row is not None else None

    async def appeals(self, open_only: bool) -> list[dict[str, Any]]:
        where = " WHERE status = 'open'" if open_only else ""
        return _dicts(APPEAL_COLS, await self._fetchall(
            f"SELECT {_cols(APPEAL_COLS)} FROM appeals{where} ORDER BY appeal_id"))

    async def appeal(self, appeal_id: int) -> dict[str, Any] | None:
        row = await self._fetchone(f"SELECT {_cols(APPEAL_COLS)} FROM appeals WHERE appeal_id = ?", (appeal_id,))
        return dict(zip(APPEAL_COLS, row, strict=True)) if row is not None else None

    async def appeals_by(self, user_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        below = " AND a.appeal_id < ?" if before is not None else ""
        params = (user_id, before, limit) if before is not None else (user_id, limit)
        rows = _dicts((*APPEAL_COLS, "lifted"), await self._fetchall(
            f"SELECT {_cols(APPEAL_COLS, 'a.')}, {APPEAL_LIFTED} FROM appeals a LEFT JOIN sanctions s"
            f" ON s.id = a.sanction_id WHERE a.user_id = ?{below} ORDER BY a.appeal_id DESC LIMIT ?", params))
        return [{**r, "lifted": bool(r["lifted"])} for r in rows]

    async def kept_authors(self, cutoff: int) -> list[str]:
        assert self.r is not None
        return [r[0] for r in await self.r.execute_fetchall(KEPT_AUTHORS, {"cutoff": cutoff})]

    async def members_joined_at(self, group_id: str) -> dict[str, int]:
        rows = await self._fetchall("SELECT user_id, joined_at FROM members WHERE group_id = ?", (group_id,))
        return {uid: ts for uid, ts in rows}
