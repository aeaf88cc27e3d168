"""The platform's measures on public accounts, on SQLite: ``RemovePost``, ``UnbarSubjects`` and the
reads of :class:`~server.storage.account_measures.AccountMeasureReads`."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from protocol.errors import ContractError
from server.storage import changes as c
from server.storage.account_measures import (
    ACCOUNT_EXPORT_COMMENTS,
    ACCOUNT_EXPORT_POSTS,
    ACCOUNT_ROW_COLS,
    COMMENT_COLS,
    ERASED_ACCOUNT_KEYS,
    LIVE_COMMENTS_PAGE,
    POST_COLS,
    SHOWN_POSTS_PAGE,
    AccountFigures,
)
from server.storage.base import rows_as_dicts
from server.storage.public import CommentRow, PostRow, post_row
from server.storage.sqlite_changes import applies
from server.storage.sqlite_reads import SqliteReader
from server.storage.sqlite_records import AUDIT_COLS, SANCTION_COLS, SQLITE_MEASURES_IN_RANGE


def _cols(cols: tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(prefix + col for col in cols)


# The record entries an account's export holds (``?``: the account twice, since, until): those about the
# account, and those naming it in their detail (a post or comment of it taken down), by id.
SQLITE_ACCOUNT_EXPORT_AUDIT = (f"SELECT {_cols(AUDIT_COLS)} FROM audit WHERE ((target_id = ? AND group_id IS NULL)"
                               " OR json_extract(detail, '$.account_id') = ?) AND ts >= ? AND ts < ? ORDER BY id")


@applies(c.RemovePost)
async def _remove_post(db: aiosqlite.Connection, r: c.RemovePost) -> tuple[str, str, bool]:
    # One writer: nothing changes the row between this read and the update.
    rows = list(await db.execute_fetchall(
        "SELECT account_id, author_id, removed_at, held FROM posts WHERE post_id = ?", (r.post_id,)))
    if not rows:
        raise ContractError("not_found", f"no post {r.post_id}")
    account_id, author_id, removed_at, held = rows[0]
    if removed_at is not None:
        raise ContractError("not_found", f"post {r.post_id} was removed already")
    await db.execute("UPDATE posts SET removed_at = ?, removed_reason = ? WHERE post_id = ?",
                     (r.removed_at, r.reason, r.post_id))
    return str(account_id), str(author_id), bool(held)


@applies(c.UnbarSubjects)
async def _unbar_subjects(db: aiosqlite.Connection, u: c.UnbarSubjects) -> None:
    await db.executemany("DELETE FROM barred_subjects WHERE subject_key = ?", [(k,) for k in u.subject_keys])


class SqliteAccountMeasureReads(SqliteReader):
    async def shown_posts_page(self, after: int, limit: int) -> list[PostRow]:
        return [post_row(r) for r in await self._fetchall(SHOWN_POSTS_PAGE, (after, limit))]

    async def live_comments_page(self, after: int, limit: int) -> list[CommentRow]:
        return [CommentRow(*r) for r in await self._fetchall(LIVE_COMMENTS_PAGE, (after, limit))]

    async def account_row(self, account_id: str) -> dict[str, Any] | None:
        row = await self._fetchone(f"SELECT {_cols(ACCOUNT_ROW_COLS)} FROM accounts WHERE account_id = ?",
                                   (account_id,))
        return dict(zip(ACCOUNT_ROW_COLS, row, strict=True)) if row is not None else None

    async def account_figures(self, since: int) -> dict[str, AccountFigures]:
        rows = await self._fetchall(
            "SELECT p.account_id,"
            " SUM(CASE WHEN p.deleted_at IS NULL AND p.removed_at IS NULL THEN 1 ELSE 0 END), SUM(p.reads),"
            " (SELECT COUNT(*) FROM post_reads r JOIN posts q ON q.post_id = r.post_id"
            "   WHERE q.account_id = p.account_id AND r.ts >= ?)"
            " FROM posts p GROUP BY p.account_id", (since,))
        return {r[0]: AccountFigures(int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)) for r in rows}

    async def org_codes(self) -> dict[str, str]:
        rows = await self._fetchall("SELECT account_id, org_code FROM accounts WHERE org_code IS NOT NULL")
        return {r[0]: r[1] for r in rows}

    async def erased_account_keys(self) -> dict[str, tuple[str, str | None]]:
        rows = await self._fetchall(ERASED_ACCOUNT_KEYS)
        return {r[0]: (r[1], r[2]) for r in rows}

    async def person_key(self, user_id: str) -> str | None:
        row = await self._fetchone("SELECT id_hmac FROM users WHERE user_id = ?", (user_id,))
        return bytes(row[0]).hex() if row is not None and row[0] is not None else None

    async def sealed_legal_names(self, user_ids: list[str]) -> list[bytes]:
        rows = await self._fetchall("SELECT name_enc FROM users WHERE user_id IN (SELECT value FROM json_each(?))"
                                    " AND name_enc IS NOT NULL", (json.dumps(user_ids),))
        return [bytes(r[0]) for r in rows if r[0]]

    async def logins_of_person(self, person: str) -> list[str]:
        rows = await self._fetchall("SELECT user_id FROM users WHERE id_hmac = ? ORDER BY user_id",
                                    (bytes.fromhex(person),))
        return [str(r[0]) for r in rows]

    async def export_account(self, account_id: str, since: int, until: int, paged: bool = False
                             ) -> dict[str, Any]:
        rng = (since, until)
        account = await self.account_row(account_id)
        posts = [] if paged else await rows_as_dicts(POST_COLS, await self._fetchall(
            ACCOUNT_EXPORT_POSTS, (account_id, *rng, *rng, *rng)))
        comments = [] if paged else await rows_as_dicts(COMMENT_COLS, await self._fetchall(
            ACCOUNT_EXPORT_COMMENTS, (account_id, *rng, *rng)))
        editors = await rows_as_dicts(("user_id", "added_at"), await self._fetchall(
            "SELECT user_id, added_at FROM account_editors WHERE account_id = ? ORDER BY added_at, user_id",
            (account_id,)))
        sanctions = await rows_as_dicts(SANCTION_COLS, await self._fetchall(
            SQLITE_MEASURES_IN_RANGE, ("account", account_id, *rng)))
        audit = [] if paged else await rows_as_dicts(AUDIT_COLS, await self._fetchall(
            SQLITE_ACCOUNT_EXPORT_AUDIT, (account_id, account_id, *rng)))
        return {"account": account, "posts": posts, "comments": comments, "editors": editors,
                "sanctions": sanctions, "audit": audit}
