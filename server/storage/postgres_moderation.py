"""Group moderation on PostgreSQL: the mirror of ``sqlite_moderation.py``.

Several nodes may write at once (READ COMMITTED): :class:`~server.storage.changes.UseInviteLink`
is one conditional ``UPDATE``, which takes the link's row lock and re-evaluates its
condition after a concurrent use commits, so two uses can never take the last one.
"""

from __future__ import annotations

from typing import Any

from protocol.errors import ContractError
from server.storage import changes as c
from server.storage.media import numbered
from server.storage.moderation import (
    GROUP_LOG_COLS,
    HELD_TEXT_COLS,
    HELD_TEXTS_BY,
    WITHDRAW_HELD_TEXT,
    GroupLogRow,
    supersede_held_texts_sql,
)
from server.storage.postgres_changes import Conn, _count, applies
from server.storage.postgres_reads import PostgresReads


@applies(c.PutBan)
async def _put_ban(db: Conn, b: c.PutBan) -> None:
    await db.execute(
        "INSERT INTO bans (group_id, user_id, until, banned_by, reason, created_at, of_admin)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (group_id, user_id) DO UPDATE SET until = excluded.until, banned_by = excluded.banned_by,"
        " reason = excluded.reason, created_at = excluded.created_at, of_admin = excluded.of_admin",
        b.group_id, b.user_id, b.until, b.by, b.reason, b.created_at, int(b.of_admin),
    )
    await db.execute("DELETE FROM join_requests WHERE group_id = $1 AND user_id = $2", b.group_id, b.user_id)
    await db.execute("DELETE FROM invitations WHERE group_id = $1 AND user_id = $2", b.group_id, b.user_id)


@applies(c.DropBan)
async def _drop_ban(db: Conn, b: c.DropBan) -> None:
    await db.execute("DELETE FROM bans WHERE group_id = $1 AND user_id = $2", b.group_id, b.user_id)


@applies(c.InsertInviteLink)
async def _insert_invite_link(db: Conn, x: c.InsertInviteLink) -> None:
    await db.execute(
        "INSERT INTO invite_links (code_hash, group_id, created_by, created_at, expires_at, max_uses, note)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        x.code_hash, x.group_id, x.created_by, x.created_at, x.expires_at, x.max_uses, x.note,
    )


@applies(c.RevokeInviteLink)
async def _revoke_invite_link(db: Conn, x: c.RevokeInviteLink) -> None:
    n = _count(await db.execute(
        "UPDATE invite_links SET revoked_at = $1, revoked_by = $2 WHERE code_hash = $3 AND revoked_at IS NULL",
        x.revoked_at, x.revoked_by, x.code_hash))
    if n != 1:
        raise ContractError("not_found", "no such invite link")


@applies(c.UseInviteLink)
async def _use_invite_link(db: Conn, x: c.UseInviteLink) -> None:
    n = _count(await db.execute(
        "UPDATE invite_links SET uses = uses + 1 WHERE code_hash = $1 AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR uses < max_uses)",
        x.code_hash, x.now))
    if n != 1:
        raise ContractError("not_found", "this invite link is unknown, used up, expired or revoked")


_WITHDRAW_HELD_TEXT = numbered(WITHDRAW_HELD_TEXT)
_HELD_TEXTS_BY = numbered(HELD_TEXTS_BY)


@applies(c.WithdrawHeldText)
async def _withdraw_held_text(db: Conn, w: c.WithdrawHeldText) -> None:
    # One conditional UPDATE: it takes the item's row lock, and a decision committing meanwhile
    # (status no longer 'open') makes it match nothing.
    if _count(await db.execute(_WITHDRAW_HELD_TEXT, w.at, w.item_id, w.sender_id)) != 1:
        raise ContractError("not_found", f"no held text {w.item_id} of yours waits for review")


@applies(c.SupersedeHeldTexts)
async def _supersede_held_texts(db: Conn, s: c.SupersedeHeldTexts) -> list[tuple[int, str]]:
    # (Each open item's row lock: a decision or a withdrawal committing first leaves it out.)
    rows = await db.fetch(numbered(supersede_held_texts_sql(s.kind)), s.at, s.kind, s.target_id)
    return [(int(r[0]), str(r[1])) for r in rows]


class PostgresModerationReads(PostgresReads):
    async def group_log(self, group_id: str, before_id: int | None, limit: int,
                        hidden_actions: tuple[str, ...]) -> list[GroupLogRow]:
        rows = await self._fetchall(
            f"SELECT {GROUP_LOG_COLS} FROM audit WHERE group_id = $1 AND id < $2 AND action <> ALL($3::text[])"
            " ORDER BY id DESC LIMIT $4",
            group_id, before_id if before_id is not None else 2**62, list(hidden_actions), limit)
        return [GroupLogRow(*r) for r in rows]

    async def held_texts_by(self, sender_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        rows = await self._fetchall(_HELD_TEXTS_BY, sender_id, before if before is not None else 2**62, limit)
        return [dict(zip(HELD_TEXT_COLS, r, strict=True)) for r in rows]
