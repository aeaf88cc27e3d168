"""Public accounts on SQLite: how each account change is applied, and the reads.

The changes run in the writer's transaction (``BEGIN IMMEDIATE``; one writer),
so nothing else writes between a check and the write after it: the cap per
subject (and the organisation accounts per person who opened them) and the
barred-subject check of :class:`~server.storage.changes.InsertAccount` are decided
here for every node and connection, and so is that an owner, a new editor and a
new subscriber are not cancelled (``CancelAccount`` checks what its user owns).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import aiosqlite

from governance.public_accounts import starting_standing
from protocol.errors import ContractError
from server.storage import changes as c
from server.storage.public import (
    COMMENT_SELECT,
    HOLD_READING,
    MANAGER,
    MODERATED_COMMENT,
    MODERATED_POST,
    NAMES_OLDEST_FIRST,
    POST_SELECT,
    REJECTED_PREFIX,
    RELEASE_COMMENT,
    REPLY_PARENT,
    WITHDRAW_POST_REVIEW,
    CommentRow,
    PostRow,
    cap_counts,
    cap_refusal,
    comments_query,
    counted,
    first_readings,
    moderation_refusal,
    not_a_manager,
    post_row,
)
from server.storage.sqlite_changes import _rowcount, _set_clause, applies, hold_readings
from server.storage.sqlite_reads import SqliteReader


async def _one(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> Any:
    rows = list(await db.execute_fetchall(sql, params))
    return rows[0] if rows else None


async def _active_user(db: aiosqlite.Connection, user_id: str, code: str, reason: str, own: bool = False) -> None:
    """``code`` when ``user_id``'s account is cancelled or blacklisted (committed before this change);
    ``own``: the user asked, and is told ``blacklisted`` for a blacklisting, as memory tells them."""
    row = await _one(db, "SELECT deleted_at, blacklisted_at FROM users WHERE user_id = ?", (user_id,))
    if row is not None and own and row[1] is not None:
        raise ContractError("blacklisted", "this account was closed by the platform")
    if row is not None and (row[0] is not None or row[1] is not None):
        raise ContractError(code, reason)


async def _check_subjects(db: aiosqlite.Connection, id_hmac: bytes, subject_key: str) -> None:
    """``blacklisted`` when the owner's verified person or the account's subject is barred."""
    keys = {id_hmac.hex(), subject_key}
    barred = await _one(db, f"SELECT 1 FROM barred_subjects WHERE subject_key IN ({','.join('?' * len(keys))})",
                        tuple(keys))
    person = await _one(db, "SELECT 1 FROM users WHERE id_hmac = ? AND blacklisted_at IS NOT NULL", (id_hmac,))
    if barred or person:
        raise ContractError("blacklisted", "this person or organisation is barred from running public accounts")


@applies(c.InsertAccount)
async def _insert_account(db: aiosqlite.Connection, a: c.InsertAccount) -> c.OpenedAccount:
    row = await _one(db, "SELECT id_hmac, deleted_at FROM users WHERE user_id = ?", (a.owner_id,))
    if row is not None and row[1] is not None:
        raise ContractError("conflict", "that account was cancelled")
    if row is None or row[0] is None:
        raise ContractError("verification_required", "opening a public account needs a verified identity")
    id_hmac: bytes = row[0]
    person = id_hmac.hex()
    key = a.subject_key if a.subject_key is not None else person
    await _check_subjects(db, id_hmac, key)
    # One writer: nothing is inserted between these counts and the insert below.
    for which, where, param in cap_counts(key, person):
        (live,) = await _one(db, f"SELECT COUNT(*) FROM accounts WHERE {where} AND {counted()}",
                             (param, a.created_at))
        if live >= a.max_per_subject:
            raise cap_refusal(a.max_per_subject, which)
    keys = a.standing_keys(key, person)  # (an organisation's account: its opener's own accounts too)
    lowest, restricted = await _one(db, "SELECT MIN(credit_score), MAX(comments_restricted) FROM accounts a"
                                        f" WHERE {a.STANDING}", keys)
    credit, restricted = starting_standing(a.credit_score, lowest, bool(restricted))
    carried = a.carried(await db.execute_fetchall(a.STANDING_SUSPENSIONS, (*keys, a.created_at)))
    try:
        await db.execute(
            "INSERT INTO accounts (account_id, name, name_key, category, intro, subject_type, subject_key, org_name,"
            " org_code, owner_id, credit_score, comments_restricted, created_at, opener_key, carried)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (a.account_id, a.name, a.name_key, a.category, a.intro, a.subject_type, key, a.org_name, a.org_code,
             a.owner_id, credit, int(restricted), a.created_at, person, json.dumps(carried)),
        )
    except sqlite3.IntegrityError as exc:
        if "name_key" in str(exc):
            raise ContractError("conflict", "that account name is taken") from None
        raise c.AccountIdTaken(a.account_id) from None
    await hold_readings(db, a.account_id, a.name)
    return c.OpenedAccount(key, person, credit, restricted, carried)


async def fill_name_readings(db: aiosqlite.Connection) -> None:
    """The upgrade that made ``account_name_readings`` (59): the readings of the names already there,
    each to the oldest account whose name has it (server/storage/public.py: ``first_readings``)."""
    names = await db.execute_fetchall(NAMES_OLDEST_FIRST)
    await db.executemany(HOLD_READING, first_readings((str(aid), str(name)) for aid, name in names))


@applies(c.AccountsClosed)
async def _accounts_closed(db: aiosqlite.Connection, a: c.AccountsClosed) -> None:
    marks = ", ".join("?" * len(a.account_ids))
    live = f"SELECT 1 FROM accounts WHERE account_id IN ({marks}) AND closed_at IS NULL LIMIT 1"
    if a.account_ids and list(await db.execute_fetchall(live, a.account_ids)):
        raise ContractError("conflict", "a public account of the user is still live")


@applies(c.SetAccountFields)
async def _set_account_fields(db: aiosqlite.Connection, s: c.SetAccountFields) -> None:
    sets, values = _set_clause(s.fields, c.ACCOUNT_FIELDS)
    name = s.fields.get("name")
    was = await _one(db, "SELECT name FROM accounts WHERE account_id = ?", (s.account_id,)) if name else None
    try:
        await db.execute(f"UPDATE accounts SET {sets} WHERE account_id = ?", (*values, s.account_id))
    except sqlite3.IntegrityError:
        raise ContractError("conflict", "that account name is taken") from None
    if name is not None and was is not None and was[0] != name:  # (a name restated keeps what it holds)
        await hold_readings(db, s.account_id, name)


@applies(c.AddAccountCredit)
async def _add_account_credit(db: aiosqlite.Connection, a: c.AddAccountCredit) -> None:
    await db.execute("UPDATE accounts SET credit_score = credit_score + ? WHERE account_id = ?",
                     (a.delta, a.account_id))


@applies(c.SetEditor)
async def _set_editor(db: aiosqlite.Connection, e: c.SetEditor) -> None:
    if e.on:
        await _active_user(db, e.user_id, "not_found", f"no user {e.user_id}")
        if e.max_editors is not None:  # (the single writer counts in the change's transaction)
            [(n,)] = list(await db.execute_fetchall(
                "SELECT COUNT(*) FROM account_editors WHERE account_id = ? AND user_id <> ?",
                (e.account_id, e.user_id)))
            e.refuse(int(n))
        await db.execute("INSERT INTO account_editors (account_id, user_id, added_at) VALUES (?, ?, ?)"
                         " ON CONFLICT (account_id, user_id) DO NOTHING", (e.account_id, e.user_id, e.ts))
    else:
        await db.execute("DELETE FROM account_editors WHERE account_id = ? AND user_id = ?", (e.account_id, e.user_id))


@applies(c.SetSubscription)
async def _set_subscription(db: aiosqlite.Connection, s: c.SetSubscription) -> None:
    if s.on:
        await _active_user(db, s.user_id, "unauthenticated", "this account is cancelled", own=True)
        await db.execute("INSERT INTO subscriptions (account_id, user_id, ts) VALUES (?, ?, ?)"
                         " ON CONFLICT (account_id, user_id) DO NOTHING", (s.account_id, s.user_id, s.ts))
    else:
        await db.execute("DELETE FROM subscriptions WHERE account_id = ? AND user_id = ?", (s.account_id, s.user_id))


@applies(c.ManagesAccount)
async def _manages_account(db: aiosqlite.Connection, m: c.ManagesAccount) -> None:
    if not list(await db.execute_fetchall(MANAGER, (m.account_id, m.user_id, m.account_id, m.user_id))):
        raise not_a_manager(m)


@applies(c.InsertPost)
async def _insert_post(db: aiosqlite.Connection, p: c.InsertPost) -> int:
    cur = await db.execute(
        "INSERT INTO posts (account_id, author_id, title, body, attachments, comments_mode, ts, held)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (p.account_id, p.author_id, p.title, p.body, p.attachments, p.comments_mode, p.ts, p.held),
    )
    post_id = cur.lastrowid
    assert post_id is not None
    await db.executemany("INSERT INTO post_media (post_id, media_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                         [(post_id, m) for m in p.media_ids])
    if p.review is not None:
        await db.execute(
            "INSERT INTO review_queue (kind, account_id, post_id, sender_id, action, category, term, created_at)"
            " VALUES ('post', ?, ?, ?, 'review', ?, ?, ?)",
            (p.account_id, post_id, p.author_id, p.review, p.term, p.ts))
    return post_id


@applies(c.DeletePost)
async def _delete_post(db: aiosqlite.Connection, d: c.DeletePost) -> bool:
    # A held post leaves the review queue with it (see DeletePost); the item first, as a decision
    # takes it before the post (one order of locks on PostgreSQL, kept here alike).
    await db.execute(WITHDRAW_POST_REVIEW.replace("$1", "?1").replace("$2", "?2"), (d.deleted_at, d.post_id))
    rows = list(await db.execute_fetchall(
        "UPDATE posts SET deleted_at = ?, deleted_by = ? WHERE post_id = ? AND deleted_at IS NULL"
        " AND removed_at IS NULL RETURNING held", (d.deleted_at, d.deleted_by, d.post_id)))
    if not rows:
        raise ContractError("not_found", f"no post {d.post_id}")  # (the withdrawal goes with this change)
    return bool(rows[0][0])


@applies(c.SetPostComments)
async def _set_post_comments(db: aiosqlite.Connection, m: c.SetPostComments) -> bool:
    rows = list(await db.execute_fetchall(
        "UPDATE posts SET comments_mode = ? WHERE post_id = ? AND deleted_at IS NULL AND removed_at IS NULL"
        " RETURNING held", (m.comments_mode, m.post_id)))
    if not rows:
        raise ContractError("not_found", f"no post {m.post_id}")  # deleted or removed since it was read
    return bool(rows[0][0])


@applies(c.ReadPost)
async def _read_post(db: aiosqlite.Connection, r: c.ReadPost) -> bool:
    # Not for a post gone since it was read: its reads are marked gone as it goes (schema 27), and a
    # row added after that would never be purged.
    n = await _rowcount(db, "INSERT INTO post_reads (post_id, user_id, ts) SELECT ?, ?, ?"
                        " WHERE EXISTS (SELECT 1 FROM posts WHERE post_id = ?)"
                        " ON CONFLICT (post_id, user_id) DO NOTHING", (r.post_id, r.user_id, r.ts, r.post_id))
    if n == 1:
        await db.execute("UPDATE posts SET reads = reads + 1 WHERE post_id = ?", (r.post_id,))
    return n == 1


@applies(c.InsertComment)
async def _insert_comment(db: aiosqlite.Connection, m: c.InsertComment) -> int:
    if m.reply_to is not None and not list(await db.execute_fetchall(REPLY_PARENT, (m.reply_to, m.post_id, m.user_id))):
        raise ContractError("not_found", f"no comment {m.reply_to} on post {m.post_id}")  # changed since read
    cur = await db.execute(
        "INSERT INTO comments (post_id, user_id, text, reply_to, ts, status, review) SELECT ?,?,?,?,?,?,?"
        " WHERE EXISTS (SELECT 1 FROM posts WHERE post_id = ? AND deleted_at IS NULL AND removed_at IS NULL)",
        (m.post_id, m.user_id, m.text, m.reply_to, m.ts, m.status, m.review, m.post_id),
    )
    if cur.rowcount != 1:
        raise ContractError("not_found", f"no post {m.post_id}")  # deleted or removed since it was read
    comment_id = cur.lastrowid
    assert comment_id is not None
    if m.review is not None:
        await db.execute(
            "INSERT INTO review_queue (kind, account_id, post_id, comment_id, sender_id, action, category, term,"
            " created_at) SELECT 'comment', account_id, post_id, ?, ?, 'review', ?, ?, ? FROM posts WHERE post_id = ?",
            (comment_id, m.user_id, m.review, m.term, m.ts, m.post_id))
    return comment_id


@applies(c.ModerateComment)
async def _moderate_comment(db: aiosqlite.Connection, m: c.ModerateComment) -> c.Moderated:
    row = await _one(db, MODERATED_COMMENT, (m.comment_id,))
    refusal = moderation_refusal(m, row)
    if refusal is not None:
        raise refusal
    await db.execute("UPDATE comments SET status = ?, moderated_by = ?, moderated_at = ? WHERE comment_id = ?",
                     (m.status, m.by, m.ts, m.comment_id))
    post = await _one(db, MODERATED_POST, (m.comment_id,))
    return c.Moderated(str(row[0]), int(post[0]), bool(post[1]))


@applies(c.DecideHeldPost)
async def _decide_held_post(db: aiosqlite.Connection, d: c.DecideHeldPost) -> bool:
    if d.release:
        # (A post deleted or removed while it waited stays marked never published: not applied.)
        row = await _one(db, "UPDATE posts SET held = CASE WHEN deleted_at IS NULL AND removed_at IS NULL"
                         " THEN 0 ELSE held END WHERE post_id = ? AND held = 1"
                         " RETURNING deleted_at IS NULL AND removed_at IS NULL", (d.post_id,))
    else:
        row = await _one(db, "UPDATE posts SET held = 2, removed_at = COALESCE(removed_at, ?),"
                         " removed_reason = COALESCE(removed_reason, ?) WHERE post_id = ? AND held = 1 RETURNING 0",
                         (d.ts, REJECTED_PREFIX + d.reason, d.post_id))
    if row is None:
        raise ContractError("conflict", f"post {d.post_id} is not held for review")
    return bool(row[0])


@applies(c.DecideHeldComment)
async def _decide_held_comment(db: aiosqlite.Connection, d: c.DecideHeldComment) -> str:
    if d.release:
        row = await _one(db, RELEASE_COMMENT.replace("$1", "?"), (d.comment_id,))
    else:
        row = await _one(db, "UPDATE comments SET review = NULL, status = 'rejected', moderated_by = ?,"
                         " moderated_at = ? WHERE comment_id = ? AND review IS NOT NULL RETURNING status",
                         (d.by, d.ts, d.comment_id))
    if row is None:
        raise ContractError("conflict", f"comment {d.comment_id} is not waiting for the platform's review")
    return str(row[0])


@applies(c.BarSubject)
async def _bar_subject(db: aiosqlite.Connection, b: c.BarSubject) -> None:
    await db.execute("INSERT INTO barred_subjects (subject_key, reason, barred_at) VALUES (?, ?, ?)"
                     " ON CONFLICT (subject_key) DO NOTHING", (b.subject_key, b.reason, b.barred_at))


class SqlitePublicReads(SqliteReader):
    async def account_posts(self, account_id: str, before: int | None, limit: int,
                            include_held: bool) -> list[PostRow]:
        sql = POST_SELECT + " WHERE p.account_id = ? AND p.deleted_at IS NULL AND p.removed_at IS NULL"
        params: list[Any] = [account_id]
        if not include_held:
            sql += " AND p.held = 0"
        if before is not None:
            sql += " AND p.post_id < ?"
            params.append(before)
        rows = await self._fetchall(sql + " ORDER BY p.post_id DESC LIMIT ?", [*params, limit])
        return [post_row(r) for r in rows]

    async def post(self, post_id: int) -> PostRow | None:
        row = await self._fetchone(POST_SELECT + " WHERE p.post_id = ?", (post_id,))
        return post_row(row) if row is not None else None

    async def post_comments(self, post_id: int, before: int | None, limit: int, viewer_id: str,
                            manager: bool) -> list[CommentRow]:
        sql, params = comments_query(post_id, before, limit, viewer_id, manager)
        rows = await self._fetchall(sql, params)
        return [CommentRow(*r) for r in rows]

    async def comment(self, comment_id: int) -> CommentRow | None:
        row = await self._fetchone(COMMENT_SELECT + " WHERE comment_id = ?", (comment_id,))
        return CommentRow(*row) if row is not None else None
