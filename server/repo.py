"""Every SQL statement the handlers use, in one place.

Write functions return a ``WriteFn`` for :meth:`SqliteStore.write` so each
runs inside a batch transaction; read functions query the reader connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from governance.audit import GENESIS, entry_hash
from governance.retention import DAY_MS

from server.state import Agreement, Group, Member, SentMessage, State, User
from server.storage.sqlite import SqliteStore, WriteFn


async def load_state(store: SqliteStore, now_ms: int, activity_window_days: int) -> State:
    state = State()
    for row in await store.fetchall(
        "SELECT user_id, username, username_key, display_name, credit_score,"
        " id_verified_at IS NOT NULL, created_at, blacklisted_at IS NOT NULL, deleted_at IS NOT NULL,"
        " powers_suspended_until, create_revoked_at IS NOT NULL FROM users"
    ):
        user = User(row[0], row[1], row[3], row[4], bool(row[5]), row[6], bool(row[7]), bool(row[8]),
                    row[9], bool(row[10]))
        state.users[user.user_id] = user
        state.by_username[row[2]] = user.user_id
    for row in await store.fetchall(
        "SELECT group_id, name, category, join_policy, owner_id, created_at, announcement,"
        " mute_all, last_seq, dissolved_at, closed_at, closed_reason, suspended_until FROM groups"
    ):
        g = Group(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8],
                  row[9], row[10], row[11], row[12])
        state.groups[g.group_id] = g
    for gid, uid, role, joined_seq, muted_until in await store.fetchall(
        "SELECT group_id, user_id, role, joined_seq, muted_until FROM members"
    ):
        g = state.groups[gid]
        g.members[uid] = Member(role, joined_seq, muted_until)
        if g.alive:
            state.users[uid].groups.add(gid)
    for gid, day, n in await store.fetchall(
        "SELECT group_id, ts / 86400000, COUNT(*) FROM messages WHERE ts > ? GROUP BY 1, 2",
        (now_ms - activity_window_days * DAY_MS,),
    ):
        state.groups[gid].daily[day] = n
    for gid, uid, ts in await store.fetchall("SELECT group_id, user_id, ts FROM join_requests"):
        state.groups[gid].join_requests[uid] = ts
    for gid, uid in await store.fetchall("SELECT group_id, user_id FROM invitations"):
        state.groups[gid].invited.add(uid)
    for gid, uid, cmid, seq, ts in await store.fetchall(
        "SELECT group_id, sender_id, client_msg_id, seq, ts FROM messages"
        " WHERE ts > ? AND client_msg_id IS NOT NULL",
        (now_ms - DAY_MS,),
    ):
        state.sent[(gid, uid, cmid)] = SentMessage(seq, ts, True)
    return state


async def load_agreement(store: SqliteStore, state: State) -> "Agreement | None":
    row = await store.fetchone(
        "SELECT version, rules, agreement, created_at FROM agreements ORDER BY created_at DESC, rowid DESC LIMIT 1"
    )
    if row is None:
        return None
    current = Agreement(*row)
    for (uid,) in await store.fetchall(
        "SELECT user_id FROM agreement_acceptances WHERE version = ?", (current.version,)
    ):
        if uid in state.users:
            state.users[uid].accepted_version = current.version
    return current


# -- accounts ----------------------------------------------------------------
def insert_user(
    user: User, username_key: str, password_hash: str, phone_hmac: bytes, phone_enc: bytes
) -> WriteFn:
    async def fn(db: Any) -> None:
        await db.execute(
            "INSERT INTO users (user_id, username, username_key, password_hash, display_name,"
            " phone_hmac, phone_enc, credit_score, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (user.user_id, user.username, username_key, password_hash, user.display_name,
             phone_hmac, phone_enc, user.credit_score, user.created_at),
        )

    return fn


async def password_hash(store: SqliteStore, user_id: str) -> str | None:
    row = await store.fetchone("SELECT password_hash FROM users WHERE user_id = ?", (user_id,))
    return row[0] if row else None


def insert_token(token_hash: bytes, user_id: str, now: int, expires_at: int) -> WriteFn:
    async def fn(db: Any) -> None:
        await db.execute("DELETE FROM tokens WHERE user_id = ? AND expires_at < ?", (user_id, now))
        await db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)", (token_hash, user_id, now, expires_at))

    return fn


async def token_owner(store: SqliteStore, token_hash: bytes, now: int) -> str | None:
    row = await store.fetchone(
        "SELECT user_id FROM tokens WHERE token_hash = ? AND expires_at > ?", (token_hash, now)
    )
    return row[0] if row else None


async def accounts_with_id(store: SqliteStore, id_hmac: bytes) -> list[tuple[str, bool]]:
    rows = await store.fetchall(
        "SELECT user_id, blacklisted_at IS NOT NULL FROM users WHERE id_hmac = ?", (id_hmac,)
    )
    return [(r[0], bool(r[1])) for r in rows]


def set_identity(user_id: str, id_hmac: bytes, id_enc: bytes, name_enc: bytes, now: int) -> WriteFn:
    async def fn(db: Any) -> None:
        await db.execute(
            "UPDATE users SET id_hmac = ?, id_enc = ?, name_enc = ?, id_verified_at = ? WHERE user_id = ?",
            (id_hmac, id_enc, name_enc, now, user_id),
        )

    return fn


def set_display_name(user_id: str, name: str) -> WriteFn:
    async def fn(db: Any) -> None:
        await db.execute("UPDATE users SET display_name = ? WHERE user_id = ?", (name, user_id))

    return fn


# -- groups ------------------------------------------------------------------
def insert_group(g: Group, owner_joined_at: int) -> WriteFn:
    async def fn(db: Any) -> None:
        await db.execute(
            "INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (g.group_id, g.name, g.category, g.join_policy, g.owner_id, g.created_at),
        )
        await _add_member(db, g.group_id, g.owner_id, "owner", owner_joined_at, 0, "create", g.owner_id)

    return fn


async def group_id_taken(store: SqliteStore, group_id: str) -> bool:
    return await store.fetchone("SELECT 1 FROM groups WHERE group_id = ?", (group_id,)) is not None


async def _add_member(db: Any, gid: str, uid: str, role: str, ts: int, joined_seq: int,
                      action: str, actor: str | None) -> None:
    await db.execute(
        "INSERT INTO members (group_id, user_id, role, joined_at, joined_seq) VALUES (?,?,?,?,?)",
        (gid, uid, role, ts, joined_seq),
    )
    await db.execute("DELETE FROM join_requests WHERE group_id = ? AND user_id = ?", (gid, uid))
    await db.execute("DELETE FROM invitations WHERE group_id = ? AND user_id = ?", (gid, uid))
    await _log_membership(db, gid, uid, action, actor, ts)


async def _log_membership(db: Any, gid: str, uid: str, action: str, actor: str | None, ts: int) -> None:
    await db.execute(
        "INSERT INTO membership_log (group_id, user_id, action, actor_id, ts) VALUES (?,?,?,?,?)",
        (gid, uid, action, actor, ts),
    )


def add_member(gid: str, uid: str, role: str, ts: int, joined_seq: int, action: str,
               actor: str | None) -> WriteFn:
    async def fn(db: Any) -> None:
        await _add_member(db, gid, uid, role, ts, joined_seq, action, actor)

    return fn


def remove_member(gid: str, uid: str, ts: int, action: str, actor: str | None) -> WriteFn:
    async def fn(db: Any) -> None:
        await db.execute("DELETE FROM members WHERE group_id = ? AND user_id = ?", (gid, uid))
        await _log_membership(db, gid, uid, action, actor, ts)

    return fn


async def history(
    store: SqliteStore, gid: str, floor_seq: int, after: int | None, before: int | None, limit: int
) -> list[tuple[Any, ...]]:
    """Messages with ``seq > floor_seq`` (the reader's join point), ascending by seq."""
    cols = "seq, ts, sender_id, sender_role, text, deleted_at IS NOT NULL"
    lo = max(floor_seq, after if after is not None else floor_seq)
    if after is not None:
        sql = f"SELECT {cols} FROM messages WHERE group_id = ? AND seq > ? AND held = 0"
        params: list[Any] = [gid, lo]
        if before is not None:
            sql += " AND seq < ?"
            params.append(before)
        sql += " ORDER BY seq ASC LIMIT ?"
        return await store.fetchall(sql, [*params, limit])
    sql = f"SELECT {cols} FROM messages WHERE group_id = ? AND seq > ? AND held = 0"
    params = [gid, lo]
    if before is not None:
        sql += " AND seq < ?"
        params.append(before)
    sql += " ORDER BY seq DESC LIMIT ?"
    rows = await store.fetchall(sql, [*params, limit])
    rows.reverse()
    return rows


# -- the enforcement record and generic changes --------------------------------
@dataclass(frozen=True, slots=True)
class Audit:
    """One enforcement-record entry, written in the same transaction as its change."""

    ts: int
    actor_type: str  # "user" (owner/admin) | "operator" | "system"
    actor_id: str | None
    action: str
    group_id: str | None = None
    target_id: str | None = None
    reason: str = ""
    detail: dict[str, Any] | None = None


async def append_audit(db: Any, a: Audit) -> None:
    rows = await db.execute_fetchall("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
    last_id, prev = (rows[0][0], rows[0][1]) if rows else (0, GENESIS)
    entry = {
        "id": last_id + 1, "ts": a.ts, "actor_type": a.actor_type, "actor_id": a.actor_id,
        "action": a.action, "group_id": a.group_id, "target_id": a.target_id, "reason": a.reason,
        "detail": json.dumps(a.detail or {}, ensure_ascii=False, sort_keys=True),
    }
    digest = entry_hash(prev, entry)
    await db.execute(
        "INSERT INTO audit (id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail,"
        " prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (*entry.values(), prev, digest),
    )


def change(*statements: tuple[str, tuple[Any, ...]], audit: Audit | None = None,
           then: WriteFn | None = None) -> WriteFn:
    """A write of plain statements (and optionally another write fn), with its audit entry."""

    async def fn(db: Any) -> None:
        if then is not None:
            await then(db)
        for sql, params in statements:
            await db.execute(sql, params)
        if audit is not None:
            await append_audit(db, audit)

    return fn


async def message_sender(store: SqliteStore, gid: str, seq: int) -> tuple[str, bool] | None:
    row = await store.fetchone(
        "SELECT sender_id, deleted_at IS NOT NULL FROM messages WHERE group_id = ? AND seq = ?", (gid, seq)
    )
    return (row[0], bool(row[1])) if row else None


async def audit_entries(store: SqliteStore) -> list[dict[str, Any]]:
    rows = await store.fetchall(
        "SELECT id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail, prev_hash, hash"
        " FROM audit ORDER BY id"
    )
    keys = ("id", "ts", "actor_type", "actor_id", "action", "group_id", "target_id", "reason", "detail",
            "prev_hash", "hash")
    return [dict(zip(keys, r)) for r in rows]
