"""Group moderation on SQLite: how bans and invite links are written, and the group-log read.

The changes run in the writer's transaction (``BEGIN IMMEDIATE``; one writer), so
the re-check of :class:`~server.storage.changes.UseInviteLink` (a conditional
``UPDATE``) is decided once for every connection.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from protocol.errors import ContractError
from server.storage import changes as c
from server.storage.moderation import (
    GROUP_LOG_COLS,
    HELD_TEXT_COLS,
    HELD_TEXTS_BY,
    WITHDRAW_HELD_TEXT,
    GroupLogRow,
    supersede_held_texts_sql,
)
from server.storage.sqlite_changes import _rowcount, applies
from server.storage.sqlite_reads import SqliteReader


@applies(c.PutBan)
async def _put_ban(db: aiosqlite.Connection, b: c.PutBan) -> None:
    await db.execute(
        "INSERT INTO bans (group_id, user_id, until, banned_by, reason, created_at, of_admin)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (group_id, user_id) DO UPDATE SET until = excluded.until, banned_by = excluded.banned_by,"
        " reason = excluded.reason, created_at = excluded.created_at, of_admin = excluded.of_admin",
        (b.group_id, b.user_id, b.until, b.by, b.reason, b.created_at, int(b.of_admin)),
    )
    await db.execute("DELETE FROM join_requests WHERE group_id = ? AND user_id = ?", (b.group_id, b.user_id))
    await db.execute("DELETE FROM invitations WHERE group_id = ? AND user_id = ?", (b.group_id, b.user_id))


@applies(c.DropBan)
async def _drop_ban(db: aiosqlite.Connection, b: c.DropBan) -> None:
    await db.execute("DELETE FROM bans WHERE group_id = ? AND user_id = ?", (b.group_id, b.user_id))


@applies(c.InsertInviteLink)
async def _insert_invite_link(db: aiosqlite.Connection, x: c.InsertInviteLink) -> None:
    await db.execute(
        "INSERT INTO invite_links (code_hash, group_id, created_by, created_at, expires_at, max_uses, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (x.code_hash, x.group_id, x.created_by, x.created_at, x.expires_at, x.max_uses, x.note),
    )


@applies(c.RevokeInviteLink)
async def _revoke_invite_link(db: aiosqlite.Connection, x: c.RevokeInviteLink) -> None:
    n = await _rowcount(
        db, "UPDATE invite_links SET revoked_at = ?, revoked_by = ? WHERE code_hash = ? AND revoked_at IS NULL",
        (x.revoked_at, x.revoked_by, x.code_hash))
    if n != 1:
        raise ContractError("not_found", "no such invite link")


@applies(c.UseInviteLink)
async def _use_invite_link(db: aiosqlite.Connection, x: c.UseInviteLink) -> None:
    n = await _rowcount(
        db,
        "UPDATE invite_links SET uses = uses + 1 WHERE code_hash = ? AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > ?) AND (max_uses IS NULL OR uses < max_uses)",
        (x.code_hash, x.now))
    if n != 1:
        raise ContractError("not_found", "this invite link is unknown, used up, expired or revoked")


@applies(c.WithdrawHeldText)
async def _withdraw_held_text(db: aiosqlite.Connection, w: c.WithdrawHeldText) -> None:
    if await _rowcount(db, WITHDRAW_HELD_TEXT, (w.at, w.item_id, w.sender_id)) != 1:
        raise ContractError("not_found", f"no held text {w.item_id} of yours waits for review")


@applies(c.SupersedeHeldTexts)
async def _supersede_held_texts(db: aiosqlite.Connection, s: c.SupersedeHeldTexts) -> list[tuple[int, str]]:
    rows = await db.execute_fetchall(supersede_held_texts_sql(s.kind), (s.at, s.kind, s.target_id))
    return [(int(r[0]), str(r[1])) for r in rows]


class SqliteModerationReads(SqliteReader):
    async def group_log(self, group_id: str, before_id: int | None, limit: int,
                        hidden_actions: tuple[str, ...]) -> list[GroupLogRow]:
        # (none hidden: no condition, as PostgreSQL's <> ALL('{}'); NOT IN (NULL) would match nothing)
        hidden = f" AND action NOT IN ({', '.join('?' * len(hidden_actions))})" if hidden_actions else ""
        rows = await self._fetchall(
            f"SELECT {GROUP_LOG_COLS} FROM audit WHERE group_id = ? AND id < ?{hidden}"
            " ORDER BY id DESC LIMIT ?",
            (group_id, before_id if before_id is not None else 2**62, *hidden_actions, limit))
        return [GroupLogRow(*r) for r in rows]

    async def held_texts_by(self, sender_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        rows = await self._fetchall(HELD_TEXTS_BY, (sender_id, before if before is not None else 2**62, limit))
        return [dict(zip(HELD_TEXT_COLS, r, strict=True)) for r in rows]
