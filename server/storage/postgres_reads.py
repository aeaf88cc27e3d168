"""PostgreSQL reads (the read pool, never the writer's connection) and the record-keeping changes.

The mirror of ``sqlite_reads.py`` and ``sqlite_records.py``: the same queries,
the same row shapes (dicts keyed by the same ``*_COLS``), in PostgreSQL's
dialect. ``Purge``, ``SaveVault`` and ``ResealBatch`` register with
:func:`~server.storage.postgres_changes.applies` and run in the writer's
transaction like every other change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from server.state import Agreement, Group, State
from server.storage import activity, loading
from server.storage import changes as c
from server.storage.account_measures import (
    ACCOUNT_EXPORT_POSTS,
    POST_COLS,
    USER_EXPORT_COMMENTS,
    USER_EXPORT_POSTS,
)
from server.storage.base import (
    ALL_ITEMS,
    CHANGES_HEAD,
    CHANGES_SCAN,
    LIMITED_IN,
    ChangesPage,
    HistoryRow,
    MessageInfo,
    ReporterRecord,
    ReviewPage,
    changes_page,
    distinct_values,
    rows_as_dicts,
)
from server.storage.freezes import FREEZE_MISSES
from server.storage.media import numbered
from server.storage.postgres_changes import Conn, _count, append_audit, applies
from server.storage.sqlite_records import (
    ACCOUNT_COLS,
    ADDRESS_NETLOG,
    APPEAL_COLS,
    APPEAL_LIFTED,
    APPEALS_FOR,
    APPEALS_SELECT,
    AUDIT_COLS,
    CODE_REQUEST_GONE,
    ERASE_ACCOUNT,
    ERASING,
    EXPORT_APPEAL_COLS,
    EXPORT_REPORT_COLS,
    GROUP_COLS,
    GROUP_EXPORT_MESSAGES,
    GROUP_EXPORT_PAGE,
    GROUP_LOG_PER_PAGE,
    GROUP_MEMBERSHIP_LOG,
    HELD_MEMBERS,
    HELD_USERS,
    HOLD_COLS,
    ID_HELD,
    KEPT,
    KEPT_AUTHORS,
    MEASURES_IN_RANGE,
    MEMBERSHIP_ACTORS,
    MEMBERSHIP_COLS,
    MESSAGES_BATCH,
    MSG_COLS,
    NETLOG_BATCH,
    NETLOG_COLS,
    PURGE_AFTER,
    PURGE_BY_KEY,
    PURGE_DEPENDENTS,
    PURGES,
    QUEUE_DEPTHS,
    QUEUE_ITEM_COLS,
    QUEUE_SELECT,
    REPORT_COLS,
    REPORTER_COLS,
    REPORTS_BY_SELECT,
    REPORTS_FOR,
    SANCTION_COLS,
    SEALED_COLS,
    UNLINK_ACCOUNTS,
    USER_COMMENT_COLS,
    USER_EXPORT_FIRST_PAGE,
    USER_EXPORT_MESSAGES,
    USER_EXPORT_PAGE,
    VERSION_COLS,
    Presence,
    erased_key,
    export_log_params,
    messages_params,
    messages_walked,
    netlog_params,
    netlog_walked,
    phone_key,
    queue_item,
)

# The posts and comments of an export read a page at a time (``account_measures``'s, numbered).
PG_ACCOUNT_EXPORT_POSTS = numbered(ACCOUNT_EXPORT_POSTS)
PG_USER_EXPORT_POSTS = numbered(USER_EXPORT_POSTS)
PG_USER_EXPORT_COMMENTS = numbered(USER_EXPORT_COMMENTS)


def _cols(cols: tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(prefix + col for col in cols)


# The logs an export reads by one statement each (sqlite_records.SQLITE_EXPORT_LOGS), in PostgreSQL's dialect.
EXPORT_LOGS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("group", "membership"): (MEMBERSHIP_COLS, (f"SELECT {_cols(MEMBERSHIP_COLS)} FROM membership_log"
                                               " WHERE group_id = $1 AND ts >= $2 AND ts < $3 ORDER BY id")),
    ("group", "audit"): (AUDIT_COLS, (f"SELECT {_cols(AUDIT_COLS)} FROM audit WHERE group_id = $1"  # (changes.Audit)
                                     " AND ts >= $2 AND ts < $3 ORDER BY id")),
    ("user", "membership"): (MEMBERSHIP_COLS, (f"SELECT {_cols(MEMBERSHIP_COLS)} FROM membership_log"
                                              " WHERE (user_id = $1 OR actor_id = $1) AND ts >= $2 AND ts < $3"
                                              " ORDER BY id")),
    ("user", "netlog"): (NETLOG_COLS, (f"SELECT {_cols(NETLOG_COLS)} FROM netlog WHERE (user_id = $1 OR"
                                      " (kind = 'code_request' AND CASE WHEN kind = 'code_request'"
                                      " THEN detail::jsonb ->> 'phone_hmac' END = $4::text))"
                                      " AND ts >= $2 AND ts < $3 ORDER BY id")),
    ("user", "audit"): (AUDIT_COLS, (f"SELECT {_cols(AUDIT_COLS)} FROM audit WHERE (target_id = $1 OR actor_id = $1"
                                    " OR (detail::jsonb ->> 'author_id') = $1 OR (detail::jsonb ->> 'appellant') = $1)"
                                    " AND ts >= $2 AND ts < $3 ORDER BY id")),
}
# The network log of a group's export: the rows of the people it names, by id.
GROUP_NETLOG = (f"SELECT {_cols(NETLOG_COLS)} FROM netlog WHERE user_id = ANY($1::text[])"
                " AND ts >= $2 AND ts < $3 ORDER BY id")


# The v2 columns of a history row (HistoryRow's fields after ``deleted``): reactions as a
# JSON object {emoji: count}, or NULL when nobody reacted; who deleted it (a user id, or an
# operator's name), or NULL.
HISTORY_EXTRAS = (
    "reply_to, mentions, mention_all, attachments, edited_at,"
    # (keys in code point order, as SQLite's GROUP BY gives them: the database's collation would not)
    " (SELECT json_object_agg(emoji, n ORDER BY emoji COLLATE \"C\")::text FROM (SELECT emoji, COUNT(*) AS n"
    " FROM reactions r"
    " WHERE r.group_id = messages.group_id AND r.seq = messages.seq GROUP BY emoji) AS x),"
    " messages.deleted_by"
)


def _dicts(cols: tuple[str, ...], rows: list[Any]) -> list[dict[str, Any]]:
    return [dict(zip(cols, r, strict=True)) for r in rows]


def _dict(cols: tuple[str, ...], row: Any) -> dict[str, Any] | None:
    return dict(zip(cols, row, strict=True)) if row is not None else None


class PostgresReads:
    """Every read of the ``Store`` protocol, on a small pool of connections of their own."""

    pool: asyncpg.Pool | None

    async def _fetchall(self, sql: str, *params: Any) -> list[Any]:
        assert self.pool is not None
        return list(await self.pool.fetch(sql, *params))

    async def _fetchone(self, sql: str, *params: Any) -> Any:
        assert self.pool is not None
        return await self.pool.fetchrow(sql, *params)

    # -- start-up ------------------------------------------------------------------
    async def load_state(self, now_ms: int, activity_window_days: int) -> State:
        async def fetch(sql: str, *params: Any) -> list[Any]:
            return await self._fetchall(sql.replace("?", "$1"), *params)

        return await loading.load_state(fetch, now_ms, activity_window_days)

    async def ended_group_counts(self) -> tuple[int, int]:
        row = await self._fetchone(loading.ENDED_COUNTS)
        return int(row[0]), int(row[1])

    async def ended_group(self, group_id: str) -> Group | None:
        async def fetch(sql: str, *params: Any) -> list[Any]:
            return await self._fetchall(sql.replace("?", "$1"), *params)

        return await loading.ended_group(fetch, group_id)

    async def load_agreement(self) -> tuple[Agreement | None, list[str]]:
        row = await self._fetchone(
            "SELECT version, rules, agreement, created_at FROM agreements ORDER BY created_at DESC, added DESC LIMIT 1"
        )
        if row is None:
            return None, []
        current = Agreement(*row)
        accepted = await self._fetchall(
            "SELECT user_id FROM agreement_acceptances WHERE version = $1", current.version)
        return current, [r[0] for r in accepted]

    # -- accounts ---------------------------------------------------------------------
    async def password_hash(self, user_id: str) -> str | None:
        row = await self._fetchone("SELECT password_hash FROM users WHERE user_id = $1", user_id)
        return row[0] if row else None

    async def token_owner(self, token_hash: bytes, now: int) -> str | None:
        row = await self._fetchone(
            "SELECT user_id FROM tokens WHERE token_hash = $1 AND expires_at > $2", token_hash, now)
        return row[0] if row else None

    async def login_end_cause(self, token_hash: bytes, now: int) -> str | None:
        row = await self._fetchone(
            "SELECT cause FROM ended_logins WHERE token_hash = $1 AND expires_at > $2", token_hash, now)
        return None if row is None else str(row[0])

    async def logins_of(self, user_id: str, now: int) -> list[tuple[bytes, int, int, str]]:
        rows = await self._fetchall(
            "SELECT token_hash, created_at, expires_at, device FROM tokens WHERE user_id = $1 AND expires_at > $2"
            " ORDER BY created_at DESC, token_hash", user_id, now)
        return [(bytes(r[0]), r[1], r[2], r[3]) for r in rows]

    async def user_with_phone(self, phone_hmac: bytes) -> str | None:
        row = await self._fetchone("SELECT user_id FROM users WHERE phone_hmac = $1", phone_hmac)
        return None if row is None else str(row[0])

    async def live_codes(self, now: int) -> list[tuple[str, bytes, int]]:
        rows = await self._fetchall("SELECT phone_key, code_mac, expires_at FROM sms_codes WHERE expires_at > $1",
                                    now)
        return [(r[0], bytes(r[1]), r[2]) for r in rows]

    async def job_last_run(self, name: str) -> int | None:
        row = await self._fetchone("SELECT last_run FROM job_runs WHERE name = $1", name)
        return int(row[0]) if row else None

    async def limited_events(self, since: int) -> list[tuple[int, str, str | None, str | None, str]]:
        rows = await self._fetchall(
            f"SELECT ts, kind, user_id, ip, detail FROM netlog WHERE ts > $1 AND kind IN ({LIMITED_IN}) ORDER BY ts",
            since)
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def appeals_since(self, since: int) -> list[tuple[str, int]]:
        rows = await self._fetchall("SELECT user_id, created_at FROM appeals WHERE created_at > $1"
                                    " ORDER BY created_at", since)
        return [(r[0], int(r[1])) for r in rows]

    async def mention_all_since(self, since: int) -> list[tuple[str, int]]:
        rows = await self._fetchall("SELECT group_id, ts FROM messages WHERE mention_all = 1 AND ts > $1"
                                    " ORDER BY ts", since)
        return [(r[0], int(r[1])) for r in rows]

    # -- messages ------------------------------------------------------------------------
    async def history(
        self, group_id: str, floor_seq: int, after: int | None, before: int | None, limit: int
    ) -> list[HistoryRow]:
        """Delivered messages with ``seq > floor_seq`` (the reader's join point), ascending by seq."""
        lo = max(floor_seq, after if after is not None else floor_seq)
        sql = (f"SELECT seq, ts, sender_id, sender_role, text, deleted_at IS NOT NULL, {HISTORY_EXTRAS}"
               " FROM messages WHERE group_id = $1 AND seq > $2 AND held = 0")
        params: list[Any] = [group_id, lo]
        if before is not None:
            params.append(before)
            sql += f" AND seq < ${len(params)}"
        newest_first = after is None  # no lower bound: the latest page
        params.append(limit)
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ${len(params)}"
        rows = [HistoryRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), *r[6:])
                for r in await self._fetchall(sql, *params)]
        if newest_first:
            rows.reverse()
        return rows

    async def message_clock(self) -> int:
        return int((await self._fetchone("SELECT rev FROM message_clock"))[0])

    async def message_changes(
        self, group_id: str, floor_seq: int, top_seq: int, since: int, limit: int
    ) -> ChangesPage:
        clock, floor = await self._fetchone("SELECT rev, floor FROM message_clock")  # (first: base.GroupReads)
        if since < floor:
            return ChangesPage([], int(clock), False, reset=True)
        found = await self._fetchall(
            f"SELECT {CHANGES_HEAD}, {HISTORY_EXTRAS} FROM messages WHERE group_id = $1 AND rev > $2 AND rev <= $3"
            " ORDER BY rev LIMIT $4", group_id, since, clock, CHANGES_SCAN)
        return changes_page(found, int(clock), limit, floor_seq, top_seq)

    async def reactions_of(self, group_id: str, user_id: str, seqs: list[int]) -> list[tuple[int, str]]:
        rows = await self._fetchall(
            "SELECT seq, emoji FROM reactions WHERE group_id = $1 AND seq = ANY($2::bigint[]) AND user_id = $3"
            " ORDER BY seq, emoji COLLATE \"C\"", group_id, seqs, user_id)
        return [(r[0], r[1]) for r in rows]

    async def recent_messages(self, since_ms: int, per_group: int) -> list[tuple[str, HistoryRow]]:
        """See :meth:`server.storage.base.GroupReads.recent_messages` (messages_ts bounds the scan)."""
        sql = (f"SELECT group_id, seq, ts, sender_id, sender_role, text, FALSE, {HISTORY_EXTRAS} FROM messages"
               " WHERE (group_id, seq) IN (SELECT group_id, seq FROM ("
               " SELECT m.group_id, m.seq, row_number() OVER (PARTITION BY m.group_id ORDER BY m.seq DESC) AS k"
               " FROM messages m WHERE m.ts >= $1 AND m.held = 0 AND m.deleted_at IS NULL AND NOT EXISTS ("
               " SELECT 1 FROM review_queue q WHERE q.kind = 'message' AND q.action = 'review'"
               " AND q.group_id = m.group_id AND q.seq = m.seq AND q.created_at >= $1)) AS t WHERE t.k <= $2)"
               " ORDER BY group_id, seq")
        return [(r[0], HistoryRow(r[1], r[2], r[3], r[4], r[5], bool(r[6]), *r[7:]))
                for r in await self._fetchall(sql, since_ms, per_group)]

    async def message_info(self, group_id: str, seq: int) -> MessageInfo | None:
        row = await self._fetchone(
            "SELECT sender_id, ts, deleted_at IS NOT NULL, held, attachments IS NOT NULL FROM messages"
            " WHERE group_id = $1 AND seq = $2", group_id, seq)
        return MessageInfo(row[0], row[1], bool(row[2]), row[3], bool(row[4])) if row else None

    async def user_messages_shown(self, group_id: str, user_id: str, after_seq: int, limit: int) -> list[int]:
        rows = await self._fetchall(
            "SELECT seq FROM messages WHERE group_id = $1 AND seq > $2 AND sender_id = $3 AND held = 0"
            " AND deleted_at IS NULL ORDER BY seq DESC LIMIT $4", group_id, after_seq, user_id, limit)
        return [int(r[0]) for r in rows]

    async def sent_copy(self, group_id: str, seq: int, sender_id: str, client_msg_id: str) -> tuple[int, int] | None:
        row = await self._fetchone(
            "SELECT ts, held FROM messages WHERE group_id = $1 AND seq = $2 AND sender_id = $3"
            " AND client_msg_id = $4", group_id, seq, sender_id, client_msg_id)
        return (row[0], row[1]) if row else None

    # -- complaints ----------------------------------------------------------------------
    async def open_report_id(
        self, reporter_id: str, target_type: str, group_id: str | None, seq: int | None, user_id: str | None,
        account_id: str | None = None, post_id: int | None = None, comment_id: int | None = None,
    ) -> int | None:
        row = await self._fetchone(
            "SELECT report_id FROM reports WHERE reporter_id = $1 AND target_type = $2 AND status = 'open'"
            " AND group_id IS NOT DISTINCT FROM $3::text AND seq IS NOT DISTINCT FROM $4::bigint"
            " AND user_id IS NOT DISTINCT FROM $5::text AND account_id IS NOT DISTINCT FROM $6::text"
            " AND post_id IS NOT DISTINCT FROM $7::bigint AND comment_id IS NOT DISTINCT FROM $8::bigint",
            reporter_id, target_type, group_id, seq, user_id, account_id, post_id, comment_id,
        )
        return int(row[0]) if row else None

    async def reporter_record(self, reporter_id: str) -> ReporterRecord:
        resolved, rejected = await self._fetchone(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE outcome = 'rejected') FROM reports"
            " WHERE reporter_id = $1 AND status = 'resolved'",
            reporter_id,
        )
        return ReporterRecord(int(resolved), int(rejected))

    # -- the enforcement record ------------------------------------------------------------
    async def audit_head(self) -> tuple[int, int, str | None]:
        """(entry count, last id, its mac) without reading the record."""
        row = await self._fetchone("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM audit")
        count, last = int(row[0]), int(row[1])
        mac = await self._fetchone("SELECT mac FROM audit WHERE id = $1", last) if last else None
        return count, last, mac[0] if mac else None

    async def record_head_row(self) -> tuple[int, str | None] | None:
        """(last id, its mac) of the last entry appended, as the database recorded it; None without the row."""
        row = await self._fetchone("SELECT last_id, mac FROM audit_head WHERE one = 1")
        return (int(row[0]), row[1]) if row is not None else None

    async def audit_entries(self) -> list[dict[str, Any]]:
        keys = ("id", "ts", "actor_type", "actor_id", "action", "group_id", "target_id", "reason", "detail",
                "prev_hash", "hash", "mac")
        return _dicts(keys, await self._fetchall(f"SELECT {_cols(keys)} FROM audit ORDER BY id"))

    # -- complaints (Art. 12) ---------------------------------------------------------------
    async def reports(self, open_only: bool) -> list[dict[str, Any]]:
        where = " WHERE status = 'open'" if open_only else ""
        return _dicts(REPORT_COLS, await self._fetchall(
            f"SELECT {_cols(REPORT_COLS)} FROM reports{where} ORDER BY report_id"))

    async def queue_depths(self, overdue_before: int) -> tuple[int, int, int]:
        row = await self._fetchone(PG_QUEUE_DEPTHS, overdue_before)
        return int(row[0]), int(row[1]), int(row[2])

    async def export_reports(self, target: str, target_id: str, since: int, until: int,
                             per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        n = 2 if target == "user" else 1
        ids = (target_id, target_id) if target == "user" else (target_id,)
        sql = (f"SELECT {_cols(EXPORT_REPORT_COLS)} FROM reports WHERE {REPORTS_FOR[target]}"
               f" AND (created_at >= ${n + 1} AND created_at < ${n + 2}"
               f" OR resolved_at >= ${n + 1} AND resolved_at < ${n + 2}) ORDER BY report_id")
        async for rows in self._log_pages(sql, (*ids, since, until), per_page):
            yield await rows_as_dicts(EXPORT_REPORT_COLS, rows)

    async def export_appeals(self, target: str, target_id: str, since: int, until: int,
                             per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(APPEALS_SELECT.format(where=APPEALS_FOR[target], lifted=APPEAL_LIFTED),
                                          (target_id, since, until), per_page):
            yield await rows_as_dicts(EXPORT_APPEAL_COLS, rows)

    async def report(self, report_id: int) -> dict[str, Any] | None:
        return _dict(REPORT_COLS, await self._fetchone(
            f"SELECT {_cols(REPORT_COLS)} FROM reports WHERE report_id = $1", report_id))

    async def reports_by(self, reporter_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        return _dicts(REPORTER_COLS, await self._fetchall(
            f"{REPORTS_BY_SELECT} WHERE r.reporter_id = $1 AND ($2::bigint IS NULL"
            " OR r.report_id < $2) ORDER BY r.report_id DESC LIMIT $3", reporter_id, before, limit))

    async def report_durations(self) -> list[tuple[str, str | None, int, int | None]]:
        rows = await self._fetchall("SELECT status, outcome, created_at, resolved_at FROM reports")
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # -- content review (Art. 10) -----------------------------------------------------------
    async def review_items(self, open_only: bool, page: ReviewPage | None = None) -> list[dict[str, Any]]:
        where, params = (page or ALL_ITEMS).where(open_only)
        return [queue_item(r) for r in await self._fetchall(numbered(QUEUE_SELECT + where), *params)]

    async def review_item(self, item_id: int) -> dict[str, Any] | None:
        return _dict(QUEUE_ITEM_COLS, await self._fetchone(QUEUE_SELECT + " AND q.item_id = $1", item_id))

    async def messages_page(self, after: tuple[str, int], limit: int) -> list[tuple[str, int, str, int, str]]:
        rows = await self._fetchall(
            "SELECT group_id, seq, text, held, sender_id FROM messages"
            " WHERE (group_id, seq) > ($1, $2) AND deleted_at IS NULL"
            " ORDER BY group_id, seq LIMIT $3", *after, limit)
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    # -- legal holds (G13) --------------------------------------------------------------------
    async def holds(self, include_released: bool) -> list[dict[str, Any]]:
        where = "" if include_released else " WHERE released_at IS NULL"
        return _dicts(HOLD_COLS, await self._fetchall(f"SELECT {_cols(HOLD_COLS)} FROM legal_holds{where} ORDER BY id"))

    async def hold(self, hold_id: int) -> dict[str, Any] | None:
        return _dict(HOLD_COLS, await self._fetchone(
            f"SELECT {_cols(HOLD_COLS)} FROM legal_holds WHERE id = $1", hold_id))

    # -- export for supervision (G13) -------------------------------------------------------------
    async def _log_pages(self, sql: str, params: tuple[Any, ...], per_page: int) -> AsyncIterator[list[Any]]:
        """The rows of ``sql``, ``per_page`` at a time: here, on the pool, all of them as one page (a
        cursor needs a transaction of its own); an export snapshot reads them by a cursor of its
        repeatable-read transaction (server/storage/postgres.py)."""
        yield await self._fetchall(sql, *params)

    async def export_group(self, group_id: str, since: int, until: int, members: set[str],
                           senders: set[str] | None = None, paged: bool = False) -> dict[str, Any]:
        messages = [] if senders is not None else await rows_as_dicts(MSG_COLS, await self._fetchall(
            GROUP_EXPORT_MESSAGES, group_id, since, until))
        membership_cols, membership_sql = EXPORT_LOGS["group", "membership"]
        membership = [] if paged else await rows_as_dicts(membership_cols, await self._fetchall(
            membership_sql, group_id, since, until))
        presence = Presence(since, until)
        async for rows in self._log_pages(GROUP_MEMBERSHIP_LOG, (group_id,), GROUP_LOG_PER_PAGE):
            presence.feed(rows)
        present = presence.result(members)
        people = present | (senders if senders is not None else await distinct_values(messages, "sender_id"))
        if paged:
            people |= {r[0] for r in await self._fetchall(MEMBERSHIP_ACTORS, group_id, since, until)}
        else:
            people |= {r["actor_id"] for r in membership if r["actor_id"]}
        netlog = [] if senders is not None else await rows_as_dicts(NETLOG_COLS, await self._fetchall(
            GROUP_NETLOG, sorted(people), since, until))
        audit_cols, audit_sql = EXPORT_LOGS["group", "audit"]
        audit = [] if paged else await rows_as_dicts(audit_cols, await self._fetchall(
            audit_sql, group_id, since, until))
        group = _dict(GROUP_COLS, await self._fetchone(
            f"SELECT {_cols(GROUP_COLS)} FROM groups WHERE group_id = $1", group_id))
        measures = await rows_as_dicts(SANCTION_COLS, await self._fetchall(
            MEASURES_IN_RANGE, "group", group_id, since, until))
        return {"messages": messages, "membership": membership, "netlog": netlog, "audit": audit, "group": group,
                "measures": measures, "present": sorted(present), "people": sorted(people)}

    async def group_export_messages(self, group_id: str, since: int, until: int, after_seq: int,
                                    limit: int) -> list[dict[str, Any]]:
        return await rows_as_dicts(MSG_COLS, await self._fetchall(
            GROUP_EXPORT_PAGE, group_id, since, until, after_seq, limit))

    async def user_export_messages(self, user_id: str, since: int, until: int, after: tuple[int, str, int] | None,
                                   limit: int) -> list[dict[str, Any]]:
        if after is None:
            return await rows_as_dicts(MSG_COLS, await self._fetchall(
                USER_EXPORT_FIRST_PAGE, user_id, since, until, limit))
        return await rows_as_dicts(MSG_COLS, await self._fetchall(
            USER_EXPORT_PAGE, user_id, max(since, after[0]), until, *after, limit))

    async def export_log(self, target: str, target_id: str, log: str, since: int, until: int,
                         per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        cols, sql = EXPORT_LOGS[target, log]
        phone = phone_key(await self._fetchone("SELECT phone_hmac FROM users WHERE user_id = $1", target_id)
                          ) if log == "netlog" else None
        async for rows in self._log_pages(sql, export_log_params(log, target_id, since, until, phone), per_page):
            yield await rows_as_dicts(cols, rows)

    async def export_address(self, addresses: list[str], since: int, until: int,
                             per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(ADDRESS_NETLOG, (since, until, addresses), per_page):
            yield await rows_as_dicts(NETLOG_COLS, rows)

    async def export_user(self, user_id: str, since: int, until: int, paged: bool = False) -> dict[str, Any]:
        account = _dict(ACCOUNT_COLS, await self._fetchone(
            f"SELECT {_cols(ACCOUNT_COLS)} FROM users WHERE user_id = $1", user_id))
        phone_hmac = bytes(account["phone_hmac"]).hex() if account is not None else None
        logs: dict[str, list[dict[str, Any]]] = {"messages": [], "membership": [], "netlog": [], "audit": []}
        if not paged:
            logs["messages"] = await rows_as_dicts(MSG_COLS, await self._fetchall(
                USER_EXPORT_MESSAGES, user_id, since, until))
            for log in ("membership", "netlog", "audit"):
                cols, sql = EXPORT_LOGS["user", log]
                logs[log] = await rows_as_dicts(cols, await self._fetchall(
                    sql, *export_log_params(log, user_id, since, until, phone_hmac)))
        posts: list[dict[str, Any]] = []
        comments: list[dict[str, Any]] = []
        if not paged:
            posts = await rows_as_dicts(POST_COLS, await self._fetchall(PG_USER_EXPORT_POSTS, user_id, since, until))
            comments = await rows_as_dicts(USER_COMMENT_COLS, await self._fetchall(
                PG_USER_EXPORT_COMMENTS, user_id, since, until))
        measures = await rows_as_dicts(SANCTION_COLS, await self._fetchall(
            MEASURES_IN_RANGE, "user", user_id, since, until))
        return {**logs, "account": account, "posts": posts, "comments": comments, "measures": measures}

    async def membership_actions(self, group_id: str, user_id: str) -> list[tuple[str, int]]:
        rows = await self._fetchall("SELECT action, ts FROM membership_log WHERE group_id = $1 AND user_id = $2"
                                    " ORDER BY ts, id", group_id, user_id)
        return [(str(a), int(t)) for a, t in rows]

    async def message_row(self, group_id: str, seq: int) -> dict[str, Any] | None:
        return _dict(MSG_COLS, await self._fetchone(
            f"SELECT {_cols(MSG_COLS)} FROM messages WHERE group_id = $1 AND seq = $2", group_id, seq))

    async def message_versions(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
        out: dict[tuple[str, int], list[dict[str, Any]]] = {}
        if not keys:
            return out
        rows = await self._fetchall(
            f"SELECT v.group_id, v.seq, {_cols(VERSION_COLS, 'v.')} FROM message_versions v"
            " JOIN unnest($1::text[], $2::bigint[]) AS k(g, s) ON v.group_id = k.g AND v.seq = k.s"
            " ORDER BY v.group_id, v.seq, v.version", [g for g, _ in keys], [s for _, s in keys])
        for gid, seq, *rest in rows:
            out.setdefault((gid, seq), []).append(dict(zip(VERSION_COLS, rest, strict=True)))
        return out

    async def reaction_logs(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
        out: dict[tuple[str, int], list[dict[str, Any]]] = {}
        if not keys:
            return out
        rows = await self._fetchall(
            "SELECT r.group_id, r.seq, r.user_id, r.emoji, r.added, r.ts FROM reaction_log r"
            " JOIN unnest($1::text[], $2::bigint[]) AS k(g, s) ON r.group_id = k.g AND r.seq = k.s"
            " ORDER BY r.group_id, r.seq, r.ts, r.ctid", [g for g, _ in keys], [s for _, s in keys])
        for gid, seq, uid, emoji, added, ts in rows:
            out.setdefault((gid, seq), []).append({"user_id": uid, "emoji": emoji, "added": bool(added), "ts": ts})
        return out

    async def export_reactions(self, user_id: str, since: int, until: int,
                               per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(
                "SELECT group_id, seq, emoji, added, ts FROM reaction_log WHERE user_id = $1 AND ts >= $2 AND ts < $3"
                " ORDER BY ts, ctid", (user_id, since, until), per_page):
            yield [{"group_id": g, "seq": s, "emoji": e, "added": bool(a), "ts": t} for g, s, e, a, t in rows]

    async def export_posts(self, target: str, target_id: str, since: int, until: int,
                           per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        params = (target_id, since, until, since, until, since, until) if target == "account" else (
            target_id, since, until)
        async for rows in self._log_pages(PG_ACCOUNT_EXPORT_POSTS if target == "account" else PG_USER_EXPORT_POSTS,
                                          params, per_page):
            yield await rows_as_dicts(POST_COLS, rows)

    async def export_user_comments(self, user_id: str, since: int, until: int,
                                   per_page: int) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self._log_pages(PG_USER_EXPORT_COMMENTS, (user_id, since, until), per_page):
            yield await rows_as_dicts(USER_COMMENT_COLS, rows)

    # -- the identity vault (Art. 6) ----------------------------------------------------------------
    async def vault_keys(self) -> list[tuple[int, str]]:
        return [(int(r[0]), str(r[1])) for r in await self._fetchall("SELECT key_id, fingerprint FROM vault_keys")]

    async def sealed_key_ids(self) -> list[int]:
        rows = await self._fetchall(" UNION ".join(
            f"SELECT DISTINCT get_byte({col}, 0) FROM users WHERE length({col}) > 0" for col in SEALED_COLS))
        return sorted(int(r[0]) for r in rows)

    async def sealed_sample(self, key_id: int) -> bytes | None:
        row = await self._fetchone(
            "SELECT b FROM (SELECT phone_enc AS b FROM users UNION ALL SELECT id_enc FROM users"
            " UNION ALL SELECT name_enc FROM users) AS s WHERE length(b) > 0 AND get_byte(b, 0) = $1 LIMIT 1",
            key_id,
        )
        return bytes(row[0]) if row is not None else None

    async def lookup_secret(self) -> bytes | None:
        row = await self._fetchone("SELECT value FROM vault_secrets WHERE name = 'lookup'")
        return bytes(row[0]) if row is not None else None

    async def shared_dev_key(self) -> bytes | None:
        row = await self._fetchone("SELECT value FROM vault_secrets WHERE name = 'dev_identity_key'")
        return bytes(row[0]) if row is not None else None

    async def has_users(self) -> bool:
        return await self._fetchone("SELECT 1 FROM users LIMIT 1") is not None

    async def accounts_not_under_key(self, key_id: int) -> int:
        row = await self._fetchone(
            "SELECT COUNT(*) FROM users WHERE "
            + " OR ".join(f"(length({col}) > 0 AND get_byte({col}, 0) != $1)" for col in SEALED_COLS),
            key_id,
        )
        return int(row[0])

    # -- the filing report (G7, P7) ---------------------------------------------------------
    async def filing_sanctions(self, since: int, until: int) -> list[tuple[str, str, int]]:
        rows = await self._fetchall(
            "SELECT kind, target_type, COUNT(*) FROM sanctions WHERE starts_at >= $1 AND starts_at < $2"
            " GROUP BY kind, target_type ORDER BY kind, target_type", since, until)
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def export_written(self, manifest_sha256: str, since: int) -> bool:
        return await self._fetchone(
            "SELECT 1 FROM audit WHERE ts >= $1 AND action = 'export' AND detail LIKE $2 LIMIT 1",
            since, f"%{manifest_sha256}%") is not None

    async def filing_measures(self, since: int, until: int, actions: tuple[str, ...]) -> list[tuple[str, str | None]]:
        rows = await self._fetchall(
            "SELECT action, detail FROM audit WHERE ts >= $1 AND ts < $2 AND actor_type = 'operator'"
            " AND action = ANY($3::text[]) ORDER BY id", since, until, list(actions))
        return [(r[0], r[1]) for r in rows]

    async def filing_reports(self, since: int, until: int) -> list[tuple[str, str, str | None, int, int | None]]:
        rows = await self._fetchall(
            "SELECT target_type, status, outcome, created_at, resolved_at FROM reports"
            " WHERE created_at >= $1 AND created_at < $2 ORDER BY report_id", since, until)
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def filing_reviews(self, since: int, until: int) -> list[tuple[str, str, str, str | None, int]]:
        rows = await self._fetchall(
            "SELECT kind, action, status, decision, COUNT(*) FROM review_queue"
            " WHERE created_at >= $1 AND created_at < $2"
            " GROUP BY kind, action, status, decision ORDER BY kind, action, status, decision", since, until)
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    async def filing_agreements(self) -> list[tuple[str, int, int]]:
        rows = await self._fetchall(
            "SELECT a.version, a.created_at, (SELECT COUNT(*) FROM agreement_acceptances x"
            " WHERE x.version = a.version) FROM agreements a ORDER BY a.created_at, a.added")
        return [(r[0], r[1], int(r[2])) for r in rows]

    # -- measures that finish: sanctions and appeals ----------------------------------------------------
    async def sanctions(self, target_type: str | None = None, target_id: str | None = None) -> list[dict[str, Any]]:
        if target_type is None:
            rows = await self._fetchall(f"SELECT {_cols(SANCTION_COLS)} FROM sanctions ORDER BY id")
        else:
            rows = await self._fetchall(
                f"SELECT {_cols(SANCTION_COLS)} FROM sanctions WHERE target_type = $1 AND target_id = $2 ORDER BY id",
                target_type, target_id)
        return _dicts(SANCTION_COLS, rows)

    async def freeze_misses(self, now: int) -> list[tuple[str, str, str, int]]:
        rows = await self._fetchall(FREEZE_MISSES.replace("?", "$1"), now)  # both bounds are ``now``
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    async def sanction(self, sanction_id: int) -> dict[str, Any] | None:
        return _dict(SANCTION_COLS, await self._fetchone(
            f"SELECT {_cols(SANCTION_COLS)} FROM sanctions WHERE id = $1", sanction_id))

    async def appeals(self, open_only: bool) -> list[dict[str, Any]]:
        where = " WHERE status = 'open'" if open_only else ""
        return _dicts(APPEAL_COLS, await self._fetchall(
            f"SELECT {_cols(APPEAL_COLS)} FROM appeals{where} ORDER BY appeal_id"))

    async def appeal(self, appeal_id: int) -> dict[str, Any] | None:
        return _dict(APPEAL_COLS, await self._fetchone(
            f"SELECT {_cols(APPEAL_COLS)} FROM appeals WHERE appeal_id = $1", appeal_id))

    async def appeals_by(self, user_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        return _dicts((*APPEAL_COLS, "lifted"), await self._fetchall(
            f"SELECT {_cols(APPEAL_COLS, 'a.')}, {APPEAL_LIFTED} FROM appeals a LEFT JOIN sanctions s"
            " ON s.id = a.sanction_id WHERE a.user_id = $1 AND ($2::bigint IS NULL OR a.appeal_id < $2)"
            " ORDER BY a.appeal_id DESC LIMIT $3", user_id, before, limit))

    async def kept_authors(self, cutoff: int) -> list[str]:
        return [r[0] for r in await self._fetchall(PG_KEPT_AUTHORS, cutoff)]

    async def members_joined_at(self, group_id: str) -> dict[str, int]:
        rows = await self._fetchall("SELECT user_id, joined_at FROM members WHERE group_id = $1", group_id)
        return {r[0]: int(r[1]) for r in rows}


# -- retention (G13, P16): the SQLite purge statements in PostgreSQL's dialect ----------------------------
def _pg_purge(sql: str) -> str:
    sql = sql.replace(":now", "$1").replace(":cutoff", "$2").replace(":limit", "$3")
    # A cancelled account's phone hash is replaced by 32 random bytes; its sealed phone by none.
    sql = sql.replace("randomblob(32)", "sha256((random()::text || user_id)::bytea)").replace("x''", "''::bytea")
    # A code request's phone hash (hex, in its JSON detail) against a user's (bytes).
    sql = sql.replace("json_extract(detail, '$.phone_hmac')", "(detail::jsonb ->> 'phone_hmac')")
    sql = sql.replace("lower(hex(phone_hmac))", "encode(phone_hmac, 'hex')")
    return sql


def _deleting(table: str, sql: str) -> str:
    """The statement itself for most tables; for one of ``PURGE_BY_KEY`` (a selection of keys), the
    DELETE of those keys: PostgreSQL seeks a key of several columns in ``IN (subquery)`` whole."""
    key = PURGE_BY_KEY.get(table)
    return sql if key is None else f"DELETE FROM {table} WHERE ({', '.join(key)}) IN ({sql})"


PG_KEPT_AUTHORS = KEPT_AUTHORS.replace(":cutoff", "$1")
PG_ERASE_ACCOUNT = _pg_purge(numbered(ERASE_ACCOUNT))
PG_QUEUE_DEPTHS = numbered(QUEUE_DEPTHS)
PG_UNLINK_ACCOUNTS = UNLINK_ACCOUNTS.replace(":key", "$1").replace(":erased", "$2")
PG_ID_HELD = numbered(ID_HELD)
PURGE_PARAMS = ("now", "cutoff", "limit", "kept")
PG_KEPT = "SELECT unnest(CAST(:kept AS text[]))"  # (sqlite_records.KEPT: a JSON array there)


def _pg_purge_statement(sql: str) -> tuple[str, tuple[str, ...]]:
    """A table's purge in PostgreSQL's dialect, numbered over the parameters it uses (of
    ``PURGE_PARAMS``, in that order), and their names: PostgreSQL cannot type a parameter a
    statement never reads (the tokens' purge reads no cutoff)."""
    sql = sql.replace(KEPT, PG_KEPT)
    used = tuple(name for name in PURGE_PARAMS if ":" + name in sql)
    for number, name in enumerate(used, 1):
        sql = sql.replace(":" + name, f"${number}")
    return _pg_purge(sql), used


PG_PURGES: dict[str, tuple[str, tuple[str, ...]]] = {
    table: _pg_purge_statement(_deleting(table, sql)) for table, sql in PURGES.items()}
assert not any(":" + p in s for s, _ in PG_PURGES.values() for p in PURGE_PARAMS), "unmapped parameter"


# Memory a purge batch's sets (the held groups' members, the held users, the kept authors, the
# released items) may be hashed in, for this transaction only: past PostgreSQL's default 4 MB such a
# set is searched row by row for every row looked at. Measured with 800 held groups of 100 members
# (80,000 held people) and a million network-log rows past their period: a batch of 1,000 took 118 s
# at 4 MB, 0.27 s at 64 MB. Correlated NOT EXISTS in place of NOT IN was tried: planned as the same
# hashed sets (they sit under an OR), and no faster.
PURGE_WORK_MEM = "64MB"


@applies(c.Purge)
async def _purge(db: Conn, p: c.Purge) -> int:
    statement = PG_PURGES.get(p.table)
    if statement is None:
        raise ValueError(f"no retention purge for {p.table!r}")
    sql, names = statement
    if "kept" in names and p.kept is None:
        raise ValueError(f"the purge of {p.table} needs the kept authors (Store.kept_authors)")
    args = [{"now": p.now, "cutoff": p.cutoff, "limit": p.limit, "kept": list(p.kept or ())}[name] for name in names]
    await db.execute(f"SET LOCAL work_mem = '{PURGE_WORK_MEM}'")
    if p.table in ERASING:
        people = [(r[0], r[1]) for r in await db.fetch(sql, *args)]
        await db.executemany(PG_ERASE_ACCOUNT, [(uid,) for uid, _ in people])
        for id_hmac in {bytes(h) for _, h in people if h is not None}:
            if await db.fetchval(PG_ID_HELD, id_hmac) is None:
                await db.execute(PG_UNLINK_ACCOUNTS, id_hmac.hex(), erased_key())
        n = len(people)
    else:
        n = _count(await db.execute(sql, *args))
    if (after := PURGE_AFTER.get(p.table)) is not None:
        await db.execute(after)
    if n and p.record is not None:
        await append_audit(db, p.record)
    return n


# The messages batch (sqlite_records.MESSAGES_BATCH) with its deletes in the same statement, so that
# whether a message goes is decided as it is deleted, with one snapshot (a pin or a report committed
# between a read and a later delete would not keep its message).
PG_MESSAGES_BATCH = f"""
WITH c AS ({_pg_purge(MESSAGES_BATCH).replace(":ts", "$4").replace(":gid", "$5").replace(":seq", "$6")}),
d AS (DELETE FROM messages m USING c WHERE c.gone AND m.group_id = c.group_id AND m.seq = c.seq
      RETURNING m.group_id, m.seq)
SELECT c.group_id, c.seq, c.ts, d.seq IS NOT NULL FROM c LEFT JOIN d ON d.group_id = c.group_id AND d.seq = c.seq
ORDER BY c.ts, c.group_id, c.seq"""


# A code request is the held or kept person's when the user with its phone is one (SQLite's
# CODE_REQUEST_GONE builds the set of those people's phones instead): PostgreSQL hashed that set by
# reading every user (a sequential scan, 20 of a batch's 36 ms at 200,000 users, and growing with
# them); here each code request finds its user by the unique index on the phone's hash. A hash that
# is not hex (never written so) names nobody, and the row goes, rather than failing every batch.
PG_CODE_REQUEST_GONE = f"""COALESCE((
                      SELECT u.user_id FROM users u
                      WHERE u.phone_hmac = CASE WHEN detail::jsonb ->> 'phone_hmac' ~ '^([0-9a-f]{{2}})*$'
                                                THEN decode(detail::jsonb ->> 'phone_hmac', 'hex') END), '')
                    NOT IN ({HELD_USERS} UNION {KEPT} UNION {HELD_MEMBERS})"""
_NETLOG_BATCH = NETLOG_BATCH.replace(CODE_REQUEST_GONE, PG_CODE_REQUEST_GONE)
assert _NETLOG_BATCH != NETLOG_BATCH

# The network log's batch (sqlite_records.NETLOG_BATCH), its deletes in the same statement as the
# messages' are.
PG_NETLOG_BATCH = f"""
WITH c AS ({_pg_purge(_NETLOG_BATCH.replace(KEPT, PG_KEPT)).replace(":ats", "$4").replace(":aid", "$5")
            .replace(":kept", "$6")}),
d AS (DELETE FROM netlog n USING c WHERE c.gone AND n.id = c.id RETURNING n.id)
SELECT c.id, c.ts, d.id IS NOT NULL FROM c LEFT JOIN d ON d.id = c.id ORDER BY c.ts, c.id"""


@applies(c.PurgeNetlog)
async def _purge_netlog(db: Conn, p: c.PurgeNetlog) -> tuple[int, c.NetlogKey | None]:
    await db.execute(f"SET LOCAL work_mem = '{PURGE_WORK_MEM}'")
    params = netlog_params(p)
    rows = list(await db.fetch(PG_NETLOG_BATCH, *(params[k] for k in ("now", "cutoff", "limit", "ats", "aid", "kept"))))
    n = sum(1 for r in rows if r[2])
    if n and p.record is not None:
        await append_audit(db, p.record)
    return n, netlog_walked(p, rows)


@applies(c.PurgeMessages)
async def _purge_messages(db: Conn, p: c.PurgeMessages) -> tuple[int, c.MessageKey | None]:
    await db.execute(f"SET LOCAL work_mem = '{PURGE_WORK_MEM}'")
    params = messages_params(p)
    rows = list(await db.fetch(PG_MESSAGES_BATCH, *(params[k] for k in ("now", "cutoff", "limit", "ts", "gid", "seq"))))
    gone = [(r[0], r[1]) for r in rows if r[3]]
    for table in PURGE_DEPENDENTS["messages"]:
        await db.executemany(f"DELETE FROM {table} WHERE group_id = $1 AND seq = $2", gone)
    await db.execute(activity.PG_PRUNE, activity.cutoff_day(p.cutoff))  # (server/storage/activity.py)
    if gone and p.record is not None:
        await append_audit(db, p.record)
    return len(gone), messages_walked(p, rows)


# -- identity keys ------------------------------------------------------------------------------------
@applies(c.ShareDevKey)
async def _share_dev_key(db: Conn, s: c.ShareDevKey) -> None:
    await db.execute("INSERT INTO vault_secrets (name, value) VALUES ('dev_identity_key', $1)"
                     " ON CONFLICT (name) DO NOTHING", s.raw)


@applies(c.SaveVault)
async def _save_vault(db: Conn, v: c.SaveVault) -> None:
    if v.fingerprint is not None:
        await db.execute("INSERT INTO vault_keys (key_id, fingerprint, added_at) VALUES ($1, $2, $3)",
                         v.key_id, v.fingerprint, v.added_at)
    await db.execute(
        "INSERT INTO vault_secrets (name, value) VALUES ('lookup', $1)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        v.sealed_lookup_key,
    )
    if v.dev_key is not None:  # (replaced where there is a copy: a rotation makes none)
        await db.execute("UPDATE vault_secrets SET value = $1 WHERE name = 'dev_identity_key'", v.dev_key)
    elif v.drop_dev_key:
        await db.execute("DELETE FROM vault_secrets WHERE name = 'dev_identity_key'")


@applies(c.ResealBatch)
async def _reseal_batch(db: Conn, r: c.ResealBatch) -> tuple[str | None, int, int]:
    rows = await db.fetch(
        f"SELECT user_id, {_cols(SEALED_COLS)} FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2 FOR UPDATE",
        r.after, r.limit)
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
            f"UPDATE users SET {', '.join(f'{col} = ${i}' for i, col in enumerate(SEALED_COLS, 1))}"
            f" WHERE user_id = ${len(SEALED_COLS) + 1}", updates)
    last = rows[-1][0] if len(rows) == r.limit else None
    return last, values, accounts
