"""The platform's measures on public accounts, on PostgreSQL: the mirror of
``sqlite_account_measures.py``. ``RemovePost`` is a conditional update (the row lock makes a
concurrent removal wait, and READ COMMITTED re-evaluates ``removed_at IS NULL`` on the newest row),
so of two racing removals exactly one succeeds."""

from __future__ import annotations

from typing import Any

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
from server.storage.media import numbered
from server.storage.postgres_changes import Conn, applies
from server.storage.postgres_reads import PostgresReads
from server.storage.public import CommentRow, PostRow, post_row
from server.storage.sqlite_records import AUDIT_COLS, MEASURES_IN_RANGE, SANCTION_COLS

PG_ACCOUNT_EXPORT_COMMENTS = numbered(ACCOUNT_EXPORT_COMMENTS)
# The record entries an account's export holds ($1 the account, $2 since, $3 until): those about the account,
# and those naming it in their detail (a post or comment of it taken down), by id.
PG_ACCOUNT_EXPORT_AUDIT = (f"SELECT {', '.join(AUDIT_COLS)} FROM audit WHERE ((target_id = $1 AND group_id IS NULL)"
                           " OR ((detail::jsonb) ->> 'account_id') = $1) AND ts >= $2 AND ts < $3 ORDER BY id")


def _cols(cols: tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(prefix + col for col in cols)


@applies(c.RemovePost)
async def _remove_post(db: Conn, r: c.RemovePost) -> tuple[str, str, bool]:
    row = await db.fetchrow("UPDATE posts SET removed_at = $1, removed_reason = $2"
                            " WHERE post_id = $3 AND removed_at IS NULL RETURNING account_id, author_id, held",
                            r.removed_at, r.reason, r.post_id)
    if row is None:
        exists = await db.fetchval("SELECT 1 FROM posts WHERE post_id = $1", r.post_id)
        raise ContractError("not_found", f"post {r.post_id} was removed already" if exists else f"no post {r.post_id}")
    return str(row[0]), str(row[1]), bool(row[2])


@applies(c.UnbarSubjects)
async def _unbar_subjects(db: Conn, u: c.UnbarSubjects) -> None:
    await db.execute("DELETE FROM barred_subjects WHERE subject_key = ANY($1::text[])", list(u.subject_keys))


class PostgresAccountMeasureReads(PostgresReads):
    """The reads of :class:`~server.storage.account_measures.AccountMeasureReads` (the read pool)."""

    async def shown_posts_page(self, after: int, limit: int) -> list[PostRow]:
        return [post_row(r) for r in await self._fetchall(numbered(SHOWN_POSTS_PAGE), after, limit)]

    async def live_comments_page(self, after: int, limit: int) -> list[CommentRow]:
        return [CommentRow(*r) for r in await self._fetchall(numbered(LIVE_COMMENTS_PAGE), after, limit)]

    async def account_row(self, account_id: str) -> dict[str, Any] | None:
        row = await self._fetchone(f"SELECT {_cols(ACCOUNT_ROW_COLS)} FROM accounts WHERE account_id = $1",
                                   account_id)
        return dict(zip(ACCOUNT_ROW_COLS, row, strict=True)) if row is not None else None

    async def account_figures(self, since: int) -> dict[str, AccountFigures]:
        rows = await self._fetchall(
            "SELECT p.account_id,"
            " SUM(CASE WHEN p.deleted_at IS NULL AND p.removed_at IS NULL THEN 1 ELSE 0 END), SUM(p.reads),"
            " (SELECT COUNT(*) FROM post_reads r JOIN posts q ON q.post_id = r.post_id"
            "   WHERE q.account_id = p.account_id AND r.ts >= $1)"
            " FROM posts p GROUP BY p.account_id", since)
        return {r[0]: AccountFigures(int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)) for r in rows}

    async def org_codes(self) -> dict[str, str]:
        rows = await self._fetchall("SELECT account_id, org_code FROM accounts WHERE org_code IS NOT NULL")
        return {r[0]: r[1] for r in rows}

    async def erased_account_keys(self) -> dict[str, tuple[str, str | None]]:
        rows = await self._fetchall(ERASED_ACCOUNT_KEYS)
        return {r[0]: (r[1], r[2]) for r in rows}

    async def person_key(self, user_id: str) -> str | None:
        row = await self._fetchone("SELECT id_hmac FROM users WHERE user_id = $1", user_id)
        return bytes(row[0]).hex() if row is not None and row[0] is not None else None

    async def sealed_legal_names(self, user_ids: list[str]) -> list[bytes]:
        rows = await self._fetchall("SELECT name_enc FROM users WHERE user_id = ANY($1::text[])"
                                    " AND name_enc IS NOT NULL", user_ids)
        return [bytes(r[0]) for r in rows if r[0]]

    async def logins_of_person(self, person: str) -> list[str]:
        rows = await self._fetchall("SELECT user_id FROM users WHERE id_hmac = $1 ORDER BY user_id",
                                    bytes.fromhex(person))
        return [str(r[0]) for r in rows]

    async def export_account(self, account_id: str, since: int, until: int, paged: bool = False
                             ) -> dict[str, Any]:
        account = await self.account_row(account_id)
        posts = [] if paged else await rows_as_dicts(POST_COLS, await self._fetchall(
            numbered(ACCOUNT_EXPORT_POSTS), account_id, since, until, since, until, since, until))
        comments = [] if paged else await rows_as_dicts(COMMENT_COLS, await self._fetchall(
            PG_ACCOUNT_EXPORT_COMMENTS, account_id, since, until, since, until))
        editors = await rows_as_dicts(("user_id", "added_at"), await self._fetchall(
            "SELECT user_id, added_at FROM account_editors WHERE account_id = $1 ORDER BY added_at, user_id",
            account_id))
        sanctions = await rows_as_dicts(SANCTION_COLS, await self._fetchall(
            MEASURES_IN_RANGE, "account", account_id, since, until))
        audit = [] if paged else await rows_as_dicts(AUDIT_COLS, await self._fetchall(
            PG_ACCOUNT_EXPORT_AUDIT, account_id, since, until))
        return {"account": account, "posts": posts, "comments": comments, "editors": editors,
                "sanctions": sanctions, "audit": audit}
