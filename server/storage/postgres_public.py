"""Public accounts on PostgreSQL: the mirror of ``sqlite_public.py``.

Several nodes may write at once (READ COMMITTED), so :class:`~server.storage.changes.InsertAccount`
takes transaction-level advisory locks on the subject key and on the opening
person's key before counting the subject's and the person's live accounts: two
creates for one person or organisation, on any connections, count one after the
other. A moderation locks its comment row.
An owner, a new editor and a new subscriber have their user row locked ``FOR SHARE``
and must not be cancelled or blacklisted: ``CancelAccount`` and a blacklisting update
that row before checking what its user owns, so neither can commit in between.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from governance.public_accounts import starting_standing
from protocol.errors import ContractError
from server.storage import changes as c
from server.storage.media import numbered
from server.storage.postgres_changes import Conn, _count, _set_clause, applies, hold_readings
from server.storage.postgres_reads import PostgresReads
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

# (FOR SHARE: a hiding or rejection of the parent on another connection waits for this reply, or
# this reply for it and then finds the parent gone)
_REPLY_PARENT = numbered(REPLY_PARENT) + " FOR SHARE"
_MANAGER = numbered(MANAGER)
_MODERATED_POST = numbered(MODERATED_POST) + " FOR SHARE OF p"
LOCK_SUBJECT = 0x5147_00A1  # advisory-lock namespace: one public-account subject
LOCK_EDITORS = 0x5147_00A2  # (LOCK_EDITORS, hashtext(account_id)): one account's editors, see SetEditor


def _subject_lock_key(subject_key: str) -> int:
    return int.from_bytes(bytes.fromhex(subject_key[:8].ljust(8, "0")), "big", signed=True)


async def _active_user(db: Conn, user_id: str, code: str, reason: str, own: bool = False) -> None:
    """Lock ``user_id``'s row against a concurrent cancellation or blacklisting; ``code`` when it is
    cancelled or blacklisted already (by another writer: memory refuses it first); ``own``: the user
    asked, and is told ``blacklisted`` for a blacklisting, as memory tells them."""
    row = await db.fetchrow("SELECT deleted_at, blacklisted_at FROM users WHERE user_id = $1 FOR SHARE", user_id)
    if row is not None and own and row[1] is not None:
        raise ContractError("blacklisted", "this account was closed by the platform")
    if row is not None and (row[0] is not None or row[1] is not None):
        raise ContractError(code, reason)


async def _check_subjects(db: Conn, id_hmac: bytes, subject_key: str) -> None:
    barred = await db.fetchval("SELECT 1 FROM barred_subjects WHERE subject_key = ANY($1::text[])",
                               [id_hmac.hex(), subject_key])
    person = await db.fetchval("SELECT 1 FROM users WHERE id_hmac = $1 AND blacklisted_at IS NOT NULL", id_hmac)
    if barred or person:
        raise ContractError("blacklisted", "this person or organisation is barred from running public accounts")


@applies(c.InsertAccount)
async def _insert_account(db: Conn, a: c.InsertAccount) -> c.OpenedAccount:
    row = await db.fetchrow("SELECT id_hmac, deleted_at FROM users WHERE user_id = $1 FOR SHARE", a.owner_id)
    if row is not None and row[1] is not None:
        raise ContractError("conflict", "that account was cancelled")
    id_hmac = row[0] if row is not None else None
    if id_hmac is None:
        raise ContractError("verification_required", "opening a public account needs a verified identity")
    person = bytes(id_hmac).hex()
    key = a.subject_key if a.subject_key is not None else person
    # Every writer creating an account for this subject or opened by this person queues here until
    # the end of its transaction, so the counts below are never read by two of them before either
    # inserts. Taken in ascending order: two creates needing the same two locks cannot deadlock.
    for lock in sorted({_subject_lock_key(key), _subject_lock_key(person)}):
        await db.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_SUBJECT, lock)
    await _check_subjects(db, bytes(id_hmac), key)
    for which, where, param in cap_counts(key, person, "$1"):
        live = await db.fetchval(f"SELECT COUNT(*) FROM accounts WHERE {where} AND {counted('$2')}", param,
                                 a.created_at)
        if live >= a.max_per_subject:
            raise cap_refusal(a.max_per_subject, which)
    # FOR SHARE (no aggregate allowed with it): a measure on one of them that another writer has not
    # committed yet is waited for, and its score or restriction read and carried; one that starts
    # later waits for this create, and is the account's own.
    # (an organisation's account: its opener's own accounts too, under the person's lock taken above)
    keys = a.standing_keys(key, person)
    standing = await db.fetch(numbered(f"SELECT credit_score, comments_restricted FROM accounts a WHERE {a.STANDING}"
                                       " FOR SHARE"), *keys)
    credit, restricted = starting_standing(a.credit_score, min((r[0] for r in standing), default=None),
                                           any(r[1] for r in standing))
    # After the FOR SHARE above: a suspension in flight on one of them (its sanction and the account's
    # end commit together) has committed by now, and this read sees its sanction.
    carried = a.carried(await db.fetch(numbered(a.STANDING_SUSPENSIONS), *keys, a.created_at))
    try:
        await db.execute(
            "INSERT INTO accounts (account_id, name, name_key, category, intro, subject_type, subject_key, org_name,"
            " org_code, owner_id, credit_score, comments_restricted, created_at, opener_key, carried)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
            a.account_id, a.name, a.name_key, a.category, a.intro, a.subject_type, key, a.org_name, a.org_code,
            a.owner_id, credit, int(restricted), a.created_at, person, json.dumps(carried),
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "accounts_name_key":
            raise ContractError("conflict", "that account name is taken") from None
        raise c.AccountIdTaken(a.account_id) from None
    await hold_readings(db, a.account_id, a.name)
    return c.OpenedAccount(key, person, credit, restricted, carried)


async def fill_name_readings(db: Conn) -> None:
    """The upgrade that made ``account_name_readings`` (57): the readings of the names already there,
    each to the oldest account whose name has it (server/storage/public.py: ``first_readings``)."""
    names = await db.fetch(NAMES_OLDEST_FIRST)
    await db.executemany(numbered(HOLD_READING), first_readings((str(r[0]), str(r[1])) for r in names))


@applies(c.AccountsClosed)
async def _accounts_closed(db: Conn, a: c.AccountsClosed) -> None:
    # (FOR SHARE: a closing committing meanwhile is waited for, and then read.)
    if a.account_ids and await db.fetchval("SELECT 1 FROM accounts WHERE account_id = ANY($1::text[])"
                                           " AND closed_at IS NULL LIMIT 1 FOR SHARE", list(a.account_ids)) is not None:
        raise ContractError("conflict", "a public account of the user is still live")


@applies(c.SetAccountFields)
async def _set_account_fields(db: Conn, s: c.SetAccountFields) -> None:
    sets, values = _set_clause(s.fields, c.ACCOUNT_FIELDS)
    name = s.fields.get("name")
    # (FOR UPDATE: a rename of the account by another writer is waited for, and this one compares with it)
    was = (await db.fetchval("SELECT name FROM accounts WHERE account_id = $1 FOR UPDATE", s.account_id)
           if name else None)
    try:
        await db.execute(f"UPDATE accounts SET {sets} WHERE account_id = ${len(values) + 1}", *values, s.account_id)
    except asyncpg.UniqueViolationError:
        raise ContractError("conflict", "that account name is taken") from None
    if name is not None and was is not None and was != name:  # (a name restated keeps what it holds)
        await hold_readings(db, s.account_id, name)


@applies(c.AddAccountCredit)
async def _add_account_credit(db: Conn, a: c.AddAccountCredit) -> None:
    await db.execute("UPDATE accounts SET credit_score = credit_score + $1 WHERE account_id = $2",
                     a.delta, a.account_id)


@applies(c.SetEditor)
async def _set_editor(db: Conn, e: c.SetEditor) -> None:
    if e.on:
        await _active_user(db, e.user_id, "not_found", f"no user {e.user_id}")
        if e.max_editors is not None:
            await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_EDITORS, e.account_id)
            e.refuse(await db.fetchval("SELECT COUNT(*) FROM account_editors WHERE account_id = $1 AND user_id <> $2",
                                       e.account_id, e.user_id))
        await db.execute("INSERT INTO account_editors (account_id, user_id, added_at) VALUES ($1, $2, $3)"
                         " ON CONFLICT (account_id, user_id) DO NOTHING", e.account_id, e.user_id, e.ts)
    else:
        await db.execute("DELETE FROM account_editors WHERE account_id = $1 AND user_id = $2", e.account_id, e.user_id)


@applies(c.SetSubscription)
async def _set_subscription(db: Conn, s: c.SetSubscription) -> None:
    if s.on:
        await _active_user(db, s.user_id, "unauthenticated", "this account is cancelled", own=True)
        await db.execute("INSERT INTO subscriptions (account_id, user_id, ts) VALUES ($1, $2, $3)"
                         " ON CONFLICT (account_id, user_id) DO NOTHING", s.account_id, s.user_id, s.ts)
    else:
        await db.execute("DELETE FROM subscriptions WHERE account_id = $1 AND user_id = $2", s.account_id, s.user_id)


@applies(c.ManagesAccount)
async def _manages_account(db: Conn, m: c.ManagesAccount) -> None:
    if await db.fetchval(_MANAGER, m.account_id, m.user_id, m.account_id, m.user_id) is None:
        raise not_a_manager(m)


@applies(c.InsertPost)
async def _insert_post(db: Conn, p: c.InsertPost) -> int:
    post_id = int(await db.fetchval(
        "INSERT INTO posts (account_id, author_id, title, body, attachments, comments_mode, ts, held)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING post_id",
        p.account_id, p.author_id, p.title, p.body, p.attachments, p.comments_mode, p.ts, p.held,
    ))
    if p.media_ids:
        await db.execute("INSERT INTO post_media (post_id, media_id) SELECT $1, m FROM unnest($2::text[]) AS m"
                         " ON CONFLICT DO NOTHING", post_id, list(p.media_ids))
    if p.review is not None:
        await db.execute(
            "INSERT INTO review_queue (kind, account_id, post_id, sender_id, action, category, term, created_at)"
            " VALUES ('post', $1, $2, $3, 'review', $4, $5, $6)",
            p.account_id, post_id, p.author_id, p.review, p.term, p.ts)
    return post_id


@applies(c.DeletePost)
async def _delete_post(db: Conn, d: c.DeletePost) -> bool:
    # A held post leaves the review queue with it (see DeletePost). The item is locked first, as a
    # decision (DecideReview, then DecideHeldPost) locks it before the post: the other order deadlocks.
    await db.execute(WITHDRAW_POST_REVIEW, d.deleted_at, d.post_id)
    held = await db.fetchval(
        "UPDATE posts SET deleted_at = $1, deleted_by = $2 WHERE post_id = $3 AND deleted_at IS NULL"
        " AND removed_at IS NULL RETURNING held", d.deleted_at, d.deleted_by, d.post_id)
    if held is None:
        raise ContractError("not_found", f"no post {d.post_id}")  # (the withdrawal goes with this change)
    return bool(held)


@applies(c.SetPostComments)
async def _set_post_comments(db: Conn, m: c.SetPostComments) -> bool:
    held = await db.fetchval(
        "UPDATE posts SET comments_mode = $1 WHERE post_id = $2 AND deleted_at IS NULL AND removed_at IS NULL"
        " RETURNING held", m.comments_mode, m.post_id)
    if held is None:
        raise ContractError("not_found", f"no post {m.post_id}")  # deleted or removed since it was read
    return bool(held)


@applies(c.ReadPost)
async def _read_post(db: Conn, r: c.ReadPost) -> bool:
    # Not for a post gone since it was read: its reads are marked gone as it goes (migration 25), and
    # a row added after that would never be purged. FOR KEY SHARE: the purge's delete of the post on
    # another connection waits for this insert (and then marks it), or this for the delete and then
    # finds the post gone.
    n = _count(await db.execute("INSERT INTO post_reads (post_id, user_id, ts) SELECT $1, $2, $3"
                                " WHERE EXISTS (SELECT 1 FROM posts WHERE post_id = $1 FOR KEY SHARE)"
                                " ON CONFLICT (post_id, user_id) DO NOTHING", r.post_id, r.user_id, r.ts))
    if n == 1:
        await db.execute("UPDATE posts SET reads = reads + 1 WHERE post_id = $1", r.post_id)
    return n == 1


@applies(c.InsertComment)
async def _insert_comment(db: Conn, m: c.InsertComment) -> int:
    if m.reply_to is not None and await db.fetchval(_REPLY_PARENT, m.reply_to, m.post_id, m.user_id) is None:
        raise ContractError("not_found", f"no comment {m.reply_to} on post {m.post_id}")  # changed since read
    # FOR NO KEY UPDATE: a deletion or removal of the post on another connection waits for this insert,
    # or this insert for it and then finds the post gone. (Not FOR SHARE: the trigger that counts a
    # visible comment, migration 42, updates the post's row, and two writers each holding SHARE on it
    # would wait for each other.)
    inserted = await db.fetchval(
        "INSERT INTO comments (post_id, user_id, text, reply_to, ts, status, review) SELECT $1,$2,$3,$4,$5,$6,$7"
        " WHERE EXISTS (SELECT 1 FROM posts WHERE post_id = $1 AND deleted_at IS NULL AND removed_at IS NULL"
        " FOR NO KEY UPDATE) RETURNING comment_id",
        m.post_id, m.user_id, m.text, m.reply_to, m.ts, m.status, m.review,
    )
    if inserted is None:
        raise ContractError("not_found", f"no post {m.post_id}")  # deleted or removed since it was read
    comment_id = int(inserted)
    if m.review is not None:
        await db.execute(
            "INSERT INTO review_queue (kind, account_id, post_id, comment_id, sender_id, action, category, term,"
            " created_at) SELECT 'comment', account_id, post_id, $1, $2, 'review', $3, $4, $5"
            " FROM posts WHERE post_id = $6",
            comment_id, m.user_id, m.review, m.term, m.ts, m.post_id)
    return comment_id


@applies(c.ModerateComment)
async def _moderate_comment(db: Conn, m: c.ModerateComment) -> c.Moderated:
    # FOR UPDATE: a second moderation of the same comment on another connection waits and sees this one.
    # (the comment replied to is read unlocked, as is its status once approved: a manager may hide it after
    # its replies are shown, as they may hide any comment replied to)
    row = await db.fetchrow(MODERATED_COMMENT.replace("?", "$1") + " FOR UPDATE OF c", m.comment_id)
    refusal = moderation_refusal(m, row)
    if refusal is not None:
        raise refusal
    await db.execute("UPDATE comments SET status = $1, moderated_by = $2, moderated_at = $3 WHERE comment_id = $4",
                     m.status, m.by, m.ts, m.comment_id)
    # FOR SHARE: a release or deletion of the post waits for this commit, so the state read here is the
    # one the moderation is told by, and that write's own announcement reads the comment as changed.
    post = await db.fetchrow(_MODERATED_POST, m.comment_id)
    return c.Moderated(str(row[0]), int(post[0]), bool(post[1]))


@applies(c.DecideHeldPost)
async def _decide_held_post(db: Conn, d: c.DecideHeldPost) -> bool:
    # The UPDATE's row lock makes a second decision wait; READ COMMITTED then re-reads held = 1.
    if d.release:
        # (A post deleted or removed while it waited stays marked never published: not applied.)
        row = await db.fetchrow("UPDATE posts SET held = CASE WHEN deleted_at IS NULL AND removed_at IS NULL"
                                " THEN 0 ELSE held END WHERE post_id = $1 AND held = 1"
                                " RETURNING deleted_at IS NULL AND removed_at IS NULL", d.post_id)
    else:
        row = await db.fetchrow("UPDATE posts SET held = 2, removed_at = COALESCE(removed_at, $1),"
                                " removed_reason = COALESCE(removed_reason, $2) WHERE post_id = $3 AND held = 1"
                                " RETURNING FALSE", d.ts, REJECTED_PREFIX + d.reason, d.post_id)
    if row is None:
        raise ContractError("conflict", f"post {d.post_id} is not held for review")
    return bool(row[0])


@applies(c.DecideHeldComment)
async def _decide_held_comment(db: Conn, d: c.DecideHeldComment) -> str:
    if d.release:
        row = await db.fetchrow(RELEASE_COMMENT, d.comment_id)
    else:
        row = await db.fetchrow("UPDATE comments SET review = NULL, status = 'rejected', moderated_by = $1,"
                                " moderated_at = $2 WHERE comment_id = $3 AND review IS NOT NULL RETURNING status",
                                d.by, d.ts, d.comment_id)
    if row is None:
        raise ContractError("conflict", f"comment {d.comment_id} is not waiting for the platform's review")
    return str(row[0])


@applies(c.BarSubject)
async def _bar_subject(db: Conn, b: c.BarSubject) -> None:
    await db.execute("INSERT INTO barred_subjects (subject_key, reason, barred_at) VALUES ($1, $2, $3)"
                     " ON CONFLICT (subject_key) DO NOTHING", b.subject_key, b.reason, b.barred_at)


class PostgresPublicReads(PostgresReads):
    async def account_posts(self, account_id: str, before: int | None, limit: int,
                            include_held: bool) -> list[PostRow]:
        sql = POST_SELECT + " WHERE p.account_id = ? AND p.deleted_at IS NULL AND p.removed_at IS NULL"
        params: list[Any] = [account_id]
        if not include_held:
            sql += " AND p.held = 0"
        if before is not None:
            sql += " AND p.post_id < ?"
            params.append(before)
        rows = await self._fetchall(numbered(sql + " ORDER BY p.post_id DESC LIMIT ?"), *params, limit)
        return [post_row(r) for r in rows]

    async def post(self, post_id: int) -> PostRow | None:
        row = await self._fetchone(POST_SELECT + " WHERE p.post_id = $1", post_id)
        return post_row(row) if row is not None else None

    async def post_comments(self, post_id: int, before: int | None, limit: int, viewer_id: str,
                            manager: bool) -> list[CommentRow]:
        sql, params = comments_query(post_id, before, limit, viewer_id, manager)
        rows = await self._fetchall(numbered(sql), *params)
        return [CommentRow(*r) for r in rows]

    async def comment(self, comment_id: int) -> CommentRow | None:
        row = await self._fetchone(COMMENT_SELECT + " WHERE comment_id = $1", comment_id)
        return CommentRow(*row) if row is not None else None
