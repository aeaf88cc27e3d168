"""SQLite reads for start-up and for the handlers (the reader connection; never the writer's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiosqlite

from server.state import Agreement, Group, State
from server.storage import loading
from server.storage.base import (
    CHANGES_HEAD,
    CHANGES_SCAN,
    LIMITED_IN,
    ChangesPage,
    HistoryRow,
    MessageInfo,
    ReporterRecord,
    changes_page,
)

# The v2 columns of a history row (HistoryRow's fields after ``deleted``): reactions as a
# JSON object {emoji: count}, or NULL when nobody reacted; who deleted it (a user id, or an
# operator's name), or NULL.
HISTORY_EXTRAS = (
    "reply_to, mentions, mention_all, attachments, edited_at,"
    " NULLIF((SELECT json_group_object(emoji, n) FROM (SELECT emoji, COUNT(*) AS n FROM reactions r"
    " WHERE r.group_id = messages.group_id AND r.seq = messages.seq GROUP BY emoji ORDER BY emoji)), '{}'),"
    " messages.deleted_by"
)


class SqliteReader:
    """The reader connection and the two helpers every read goes through."""

    r: aiosqlite.Connection | None

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        assert self.r is not None
        return list(await self.r.execute_fetchall(sql, tuple(params)))

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None


class SqliteReads(SqliteReader):
    # -- start-up ------------------------------------------------------------------
    async def load_state(self, now_ms: int, activity_window_days: int) -> State:
        async def fetch(sql: str, *params: Any) -> list[Any]:
            return await self._fetchall(sql, params)

        return await loading.load_state(fetch, now_ms, activity_window_days)

    async def ended_group_counts(self) -> tuple[int, int]:
        row = await self._fetchone(loading.ENDED_COUNTS)
        return int(row[0]), int(row[1])

    async def ended_group(self, group_id: str) -> Group | None:
        async def fetch(sql: str, *params: Any) -> list[Any]:
            return await self._fetchall(sql, params)

        return await loading.ended_group(fetch, group_id)

    async def load_agreement(self) -> tuple[Agreement | None, list[str]]:
        row = await self._fetchone(
            "SELECT version, rules, agreement, created_at FROM agreements ORDER BY created_at DESC, rowid DESC LIMIT 1"
        )
        if row is None:
            return None, []
        current = Agreement(*row)
        accepted = await self._fetchall(
            "SELECT user_id FROM agreement_acceptances WHERE version = ?", (current.version,)
        )
        return current, [uid for (uid,) in accepted]

    # -- accounts ---------------------------------------------------------------------
    async def password_hash(self, user_id: str) -> str | None:
        row = await self._fetchone("SELECT password_hash FROM users WHERE user_id = ?", (user_id,))
        return row[0] if row else None

    async def token_owner(self, token_hash: bytes, now: int) -> str | None:
        row = await self._fetchone(
            "SELECT user_id FROM tokens WHERE token_hash = ? AND expires_at > ?", (token_hash, now)
        )
        return row[0] if row else None

    async def login_end_cause(self, token_hash: bytes, now: int) -> str | None:
        row = await self._fetchone(
            "SELECT cause FROM ended_logins WHERE token_hash = ? AND expires_at > ?", (token_hash, now))
        return None if row is None else str(row[0])

    async def logins_of(self, user_id: str, now: int) -> list[tuple[bytes, int, int, str]]:
        rows = await self._fetchall(
            "SELECT token_hash, created_at, expires_at, device FROM tokens WHERE user_id = ? AND expires_at > ?"
            " ORDER BY created_at DESC, token_hash", (user_id, now))
        return [(bytes(r[0]), r[1], r[2], r[3]) for r in rows]

    async def user_with_phone(self, phone_hmac: bytes) -> str | None:
        row = await self._fetchone("SELECT user_id FROM users WHERE phone_hmac = ?", (phone_hmac,))
        return None if row is None else str(row[0])

    async def live_codes(self, now: int) -> list[tuple[str, bytes, int]]:
        rows = await self._fetchall("SELECT phone_key, code_mac, expires_at FROM sms_codes WHERE expires_at > ?",
                                    (now,))
        return [(r[0], bytes(r[1]), r[2]) for r in rows]

    async def job_last_run(self, name: str) -> int | None:
        row = await self._fetchone("SELECT last_run FROM job_runs WHERE name = ?", (name,))
        return int(row[0]) if row else None

    async def limited_events(self, since: int) -> list[tuple[int, str, str | None, str | None, str]]:
        rows = await self._fetchall(
            f"SELECT ts, kind, user_id, ip, detail FROM netlog WHERE ts > ? AND kind IN ({LIMITED_IN}) ORDER BY ts",
            (since,))
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def appeals_since(self, since: int) -> list[tuple[str, int]]:
        rows = await self._fetchall("SELECT user_id, created_at FROM appeals WHERE created_at > ? ORDER BY created_at",
                                    (since,))
        return [(r[0], int(r[1])) for r in rows]

    async def mention_all_since(self, since: int) -> list[tuple[str, int]]:
        rows = await self._fetchall("SELECT group_id, ts FROM messages WHERE mention_all = 1 AND ts > ? ORDER BY ts",
                                    (since,))
        return [(r[0], int(r[1])) for r in rows]

    # -- messages ------------------------------------------------------------------------
    async def history(
        self, group_id: str, floor_seq: int, after: int | None, before: int | None, limit: int
    ) -> list[HistoryRow]:
        """Delivered messages with ``seq > floor_seq`` (the reader's join point), ascending by seq."""
        lo = max(floor_seq, after if after is not None else floor_seq)
        sql = (f"SELECT seq, ts, sender_id, sender_role, text, deleted_at IS NOT NULL, {HISTORY_EXTRAS}"
               " FROM messages WHERE group_id = ? AND seq > ? AND held = 0")
        params: list[Any] = [group_id, lo]
        if before is not None:
            sql += " AND seq < ?"
            params.append(before)
        newest_first = after is None  # no lower bound: the latest page
        sql += " ORDER BY seq DESC LIMIT ?" if newest_first else " ORDER BY seq ASC LIMIT ?"
        rows = [HistoryRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), *r[6:])
                for r in await self._fetchall(sql, [*params, limit])]
        if newest_first:
            rows.reverse()
        return rows

    async def message_clock(self) -> int:
        row = await self._fetchone("SELECT rev FROM message_clock")
        return int(row[0])

    async def message_changes(
        self, group_id: str, floor_seq: int, top_seq: int, since: int, limit: int
    ) -> ChangesPage:
        clock, floor = await self._fetchone("SELECT rev, floor FROM message_clock")
        if since < floor:
            return ChangesPage([], int(clock), False, reset=True)
        found = await self._fetchall(
            f"SELECT {CHANGES_HEAD}, {HISTORY_EXTRAS} FROM messages WHERE group_id = ? AND rev > ? AND rev <= ?"
            " ORDER BY rev LIMIT ?", (group_id, since, clock, CHANGES_SCAN))
        return changes_page(found, int(clock), limit, floor_seq, top_seq)

    async def reactions_of(self, group_id: str, user_id: str, seqs: list[int]) -> list[tuple[int, str]]:
        marks = ",".join("?" * len(seqs))  # (a page holds at most 500: well under SQLite's variable limit)
        rows = await self._fetchall(
            f"SELECT seq, emoji FROM reactions WHERE group_id = ? AND seq IN ({marks}) AND user_id = ?"
            " ORDER BY seq, emoji", (group_id, *seqs, user_id))
        return [(r[0], r[1]) for r in rows]

    async def recent_messages(self, since_ms: int, per_group: int) -> list[tuple[str, HistoryRow]]:
        """See :meth:`server.storage.base.GroupReads.recent_messages` (messages_ts bounds the scan)."""
        sql = (f"SELECT group_id, seq, ts, sender_id, sender_role, text, 0, {HISTORY_EXTRAS} FROM messages"
               " WHERE (group_id, seq) IN (SELECT group_id, seq FROM ("
               " SELECT m.group_id, m.seq, row_number() OVER (PARTITION BY m.group_id ORDER BY m.seq DESC) AS k"
               # (closed above, past any time, so the planner reads messages_ts: see moderation.LAST_SENDS)
               " FROM messages m WHERE m.ts >= ? AND m.ts < 4611686018427387904 AND m.held = 0"
               " AND m.deleted_at IS NULL AND NOT EXISTS ("
               " SELECT 1 FROM review_queue q WHERE q.kind = 'message' AND q.action = 'review'"
               " AND q.group_id = m.group_id AND q.seq = m.seq AND q.created_at >= ?)) AS t WHERE t.k <= ?)"
               " ORDER BY group_id, seq")
        return [(r[0], HistoryRow(r[1], r[2], r[3], r[4], r[5], bool(r[6]), *r[7:]))
                for r in await self._fetchall(sql, (since_ms, since_ms, per_group))]

    async def message_info(self, group_id: str, seq: int) -> MessageInfo | None:
        row = await self._fetchone(
            "SELECT sender_id, ts, deleted_at IS NOT NULL, held, attachments IS NOT NULL FROM messages"
            " WHERE group_id = ? AND seq = ?", (group_id, seq))
        return MessageInfo(row[0], row[1], bool(row[2]), row[3], bool(row[4])) if row else None

    async def user_messages_shown(self, group_id: str, user_id: str, after_seq: int, limit: int) -> list[int]:
        rows = await self._fetchall(
            "SELECT seq FROM messages WHERE group_id = ? AND seq > ? AND sender_id = ? AND held = 0"
            " AND deleted_at IS NULL ORDER BY seq DESC LIMIT ?", (group_id, after_seq, user_id, limit))
        return [int(r[0]) for r in rows]

    async def sent_copy(self, group_id: str, seq: int, sender_id: str, client_msg_id: str) -> tuple[int, int] | None:
        row = await self._fetchone(
            "SELECT ts, held FROM messages WHERE group_id = ? AND seq = ? AND sender_id = ? AND client_msg_id = ?",
            (group_id, seq, sender_id, client_msg_id))
        return (row[0], row[1]) if row else None

    # -- complaints ----------------------------------------------------------------------
    async def open_report_id(
        self, reporter_id: str, target_type: str, group_id: str | None, seq: int | None, user_id: str | None,
        account_id: str | None = None, post_id: int | None = None, comment_id: int | None = None,
    ) -> int | None:
        row = await self._fetchone(
            "SELECT report_id FROM reports WHERE reporter_id = ? AND target_type = ? AND status = 'open'"
            " AND group_id IS ? AND seq IS ? AND user_id IS ? AND account_id IS ? AND post_id IS ?"
            " AND comment_id IS ?",
            (reporter_id, target_type, group_id, seq, user_id, account_id, post_id, comment_id),
        )
        return int(row[0]) if row else None

    async def reporter_record(self, reporter_id: str) -> ReporterRecord:
        resolved, rejected = await self._fetchone(
            "SELECT COUNT(*), COALESCE(SUM(outcome = 'rejected'), 0) FROM reports"
            " WHERE reporter_id = ? AND status = 'resolved'",
            (reporter_id,),
        )
        return ReporterRecord(int(resolved), int(rejected))

    # -- the enforcement record ------------------------------------------------------------
    async def audit_head(self) -> tuple[int, int, str | None]:
        """(entry count, last id, its mac) without reading the record."""
        row = await self._fetchone("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM audit")
        count, last = int(row[0]), int(row[1])
        mac = await self._fetchone("SELECT mac FROM audit WHERE id = ?", (last,)) if last else None
        return count, last, mac[0] if mac else None

    async def record_head_row(self) -> tuple[int, str | None] | None:
        """(last id, its mac) of the last entry appended, as the database recorded it; None without the row."""
        row = await self._fetchone("SELECT last_id, mac FROM audit_head WHERE one = 1")
        return (int(row[0]), row[1]) if row is not None else None

    async def audit_entries(self) -> list[dict[str, Any]]:
        rows = await self._fetchall(
            "SELECT id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail, prev_hash, hash, mac"
            " FROM audit ORDER BY id"
        )
        keys = ("id", "ts", "actor_type", "actor_id", "action", "group_id", "target_id", "reason", "detail",
                "prev_hash", "hash", "mac")
        return [dict(zip(keys, r, strict=True)) for r in rows]
