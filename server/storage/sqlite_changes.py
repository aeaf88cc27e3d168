"""How SQLite applies each change type of :mod:`server.storage.changes`, and the audit chain.

Every function runs inside the writer's transaction (in the op's savepoint);
raising undoes the op's writes and fails that op alone. The statements are
plain SQL that PostgreSQL also accepts where it could be (``ON CONFLICT``, no
``INSERT OR REPLACE``), so a second backend can start from them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiosqlite

from governance.audit import Sealing, Tip, sealable
from governance.message_rules import check_pin_room
from protocol.errors import ContractError
from server.storage import changes as c
from server.storage import moderation
from server.storage.public import DROP_READINGS, HOLD_READING, READING_TAKEN, reading_rows
from server.storage.record_chain import chain_of, next_entry

C = TypeVar("C", bound=c.Change)
Applier = Callable[[aiosqlite.Connection, Any], Awaitable[Any]]
_APPLY: dict[type, Applier] = {}
log = logging.getLogger("qunguan.record")


def applies(kind: type[C]) -> Callable[[Callable[[aiosqlite.Connection, C], Awaitable[Any]]], Applier]:
    def register(fn: Callable[[aiosqlite.Connection, C], Awaitable[Any]]) -> Applier:
        _APPLY[kind] = fn
        return fn

    return register


async def apply_change(db: aiosqlite.Connection, change: c.Change) -> Any:
    fn = _APPLY.get(type(change))
    if fn is None:
        raise TypeError(f"the SQLite store cannot apply {type(change).__name__}")
    return await fn(db, change)


async def _record_tips(db: aiosqlite.Connection) -> tuple[Tip | None, Tip | None]:
    """(the head row: the last entry appended, the entry with the highest id now)."""
    rows = list(await db.execute_fetchall("SELECT last_id, hash, mac FROM audit_head WHERE one = 1"))
    head = Tip(rows[0][0], rows[0][1], rows[0][2]) if rows else None
    rows = list(await db.execute_fetchall("SELECT id, hash, mac FROM audit ORDER BY id DESC LIMIT 1"))
    last = Tip(rows[0][0], rows[0][1], rows[0][2]) if rows else None
    return head, last


async def _set_head(db: aiosqlite.Connection, tip: Tip) -> None:
    await db.execute(
        "INSERT INTO audit_head (one, last_id, hash, mac) VALUES (1, ?, ?, ?)"
        " ON CONFLICT (one) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash, mac = excluded.mac",
        (tip.id, tip.hash, tip.mac),
    )


async def append_audit(db: aiosqlite.Connection, a: c.Audit) -> None:
    """Append one entry to the enforcement record, chained (hash and keyed mac) to the last one appended.

    The entry continues from the head row (``audit_head``, moved in the same transaction) or from
    this process's own last entry when the row was moved back (:func:`governance.audit.next_link`),
    never from whatever is last: a tail removed from the database stays a gap. Without a record key
    yet (only while the store is opened by itself, as in some tests) the mac is left empty.
    """
    chain = chain_of(db)
    head, last = await _record_tips(db)
    new = next_entry(a, head, last, chain)
    await db.execute(
        "INSERT INTO audit (id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail,"
        " prev_hash, hash, mac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (*new.values, new.prev_hash, new.tip.hash, new.tip.mac),
    )
    await _set_head(db, new.tip)
    if chain is not None:
        chain.wrote(new.tip)


_AUDIT_COLS = "id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail, prev_hash, hash, mac"
_AUDIT_KEYS = tuple(k.strip() for k in _AUDIT_COLS.split(","))
SEAL_PAGE = 1000


@applies(c.SealRecord)
async def _seal_record(db: aiosqlite.Connection, s: c.SealRecord) -> tuple[int, int | None]:
    """Give the entries written before the record had a key their macs, all in this one transaction.

    Returns (how many were sealed, the first entry left without a mac or None). Only an unsealed
    *beginning* of the record is sealed (governance.audit.sealable says when); anything else
    without a mac is left for ``verify-audit`` to name.
    """
    chain = chain_of(db)
    if chain is None or chain.key is None:
        raise RuntimeError("no record key: the identity key store is not open")
    rows = list(await db.execute_fetchall("SELECT MIN(id) FROM audit WHERE mac IS NULL"))
    first = rows[0][0] if rows else None
    if first is None:
        return 0, None
    head, _ = await _record_tips(db)
    if not sealable(first, head, s.checkpointed):
        return 0, first
    assert head is not None
    seal, count = Sealing(chain.key), 0
    while seal.expected <= head.id:
        page = list(await db.execute_fetchall(
            f"SELECT {_AUDIT_COLS} FROM audit WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?",
            (seal.expected, head.id, SEAL_PAGE)))
        macs = seal.page(dict(zip(_AUDIT_KEYS, row, strict=True)) for row in page)
        await db.executemany("UPDATE audit SET mac = ? WHERE id = ?", macs)
        count += len(macs)
        if seal.broken or not page:
            break
    if seal.expected > head.id:  # the whole beginning, up to the head: the head row gets its mac too
        await db.execute("UPDATE audit_head SET mac = ? WHERE one = 1", (seal.prev_mac,))
        chain.wrote(Tip(head.id, head.hash, seal.prev_mac))
    left = list(await db.execute_fetchall("SELECT MIN(id) FROM audit WHERE mac IS NULL"))
    return count, left[0][0] if left else None


def _set_clause(fields: Mapping[str, Any], allowed: frozenset[str]) -> tuple[str, tuple[Any, ...]]:
    unknown = set(fields) - allowed
    if unknown or not fields:
        raise ValueError(f"cannot set {sorted(unknown) or 'nothing'}")
    sets = ", ".join(f"{k} = ?" for k in fields)
    return sets, tuple(int(v) if isinstance(v, bool) else v for v in fields.values())


async def _rowcount(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> int:
    cur = await db.execute(sql, params)
    return cur.rowcount


async def hold_readings(db: aiosqlite.Connection, account_id: str, name: str) -> None:
    """Account ``account_id`` is named ``name`` now: it holds that name's lookalike readings and no
    others (server/storage/public.py: ``READING_TAKEN``); ``conflict`` when another account holds one."""
    await db.execute(DROP_READINGS, (account_id,))
    try:
        await db.executemany(HOLD_READING, reading_rows(account_id, name))
    except sqlite3.IntegrityError:
        raise ContractError("conflict", READING_TAKEN) from None


# -- accounts -------------------------------------------------------------------------
@applies(c.InsertUser)
async def _insert_user(db: aiosqlite.Connection, u: c.InsertUser) -> None:
    try:
        await db.execute(
            "INSERT INTO users (user_id, username, username_key, password_hash, display_name,"
            " phone_hmac, phone_enc, credit_score, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (u.user_id, u.username, u.username_key, u.password_hash, u.display_name,
             u.phone_hmac, u.phone_enc, u.credit_score, u.created_at),
        )
    except sqlite3.IntegrityError as exc:
        if "phone_hmac" in str(exc):
            raise ContractError("conflict", "that phone number already has an account") from None
        if "username_key" in str(exc):
            raise ContractError("conflict", "that username is taken") from None
        raise


@applies(c.InsertToken)
async def _insert_token(db: aiosqlite.Connection, t: c.InsertToken) -> None:
    await db.execute("DELETE FROM tokens WHERE user_id = ? AND expires_at < ?", (t.user_id, t.created_at))
    await db.execute("INSERT INTO tokens (token_hash, user_id, created_at, expires_at, device) VALUES (?, ?, ?, ?, ?)",
                     (t.token_hash, t.user_id, t.created_at, t.expires_at, t.device))
    # (the new token and the newest others up to the cap stay)
    await _end_tokens(db, c.TOO_MANY_LOGINS, "token_hash IN (SELECT token_hash FROM tokens WHERE user_id = ?"
                      " AND token_hash != ? ORDER BY created_at DESC, token_hash LIMIT -1 OFFSET ?)",
                      (t.user_id, t.token_hash, c.TOKENS_KEPT_PER_USER - 1))
    await db.execute("DELETE FROM ended_logins WHERE token_hash IN (SELECT token_hash FROM ended_logins"
                     " WHERE user_id = ? ORDER BY expires_at DESC, token_hash LIMIT -1 OFFSET ?)",
                     (t.user_id, c.TOKENS_KEPT_PER_USER))


async def _end_tokens(db: aiosqlite.Connection, cause: str | None, where: str, params: tuple[Any, ...]) -> None:
    """Deletes the tokens ``where`` picks, keeping why each login ended (``ended_logins``) until it
    would have expired (``cause`` None: nothing kept)."""
    if cause is not None:
        await db.execute("INSERT OR IGNORE INTO ended_logins (token_hash, user_id, cause, expires_at)"
                         f" SELECT token_hash, user_id, ?, expires_at FROM tokens WHERE {where}", (cause, *params))
    await db.execute(f"DELETE FROM tokens WHERE {where}", params)


@applies(c.RevokeToken)
async def _revoke_token(db: aiosqlite.Connection, t: c.RevokeToken) -> None:
    await _end_tokens(db, t.cause, "token_hash = ?", (t.token_hash,))


@applies(c.ChangePassword)
async def _change_password(db: aiosqlite.Connection, p: c.ChangePassword) -> None:
    await db.execute("UPDATE users SET password_hash = ? WHERE user_id = ?", (p.password_hash, p.user_id))
    await _end_tokens(db, c.PASSWORD_CHANGED, "user_id = ? AND token_hash IS NOT ?", (p.user_id, p.keep))


@applies(c.RehashPassword)
async def _rehash_password(db: aiosqlite.Connection, p: c.RehashPassword) -> None:
    await db.execute("UPDATE users SET password_hash = ? WHERE user_id = ? AND password_hash = ?",
                     (p.password_hash, p.user_id, p.was))


@applies(c.RevokeTokens)
async def _revoke_tokens(db: aiosqlite.Connection, t: c.RevokeTokens) -> None:
    await _end_tokens(db, t.cause, "user_id = ?", (t.user_id,))


@applies(c.VerifyIdentity)
async def _verify_identity(db: aiosqlite.Connection, v: c.VerifyIdentity) -> None:
    # The writer's transaction is IMMEDIATE, so no other write can slip in between this
    # count and the update: the per-ID cap is decided here, once, for every account.
    rows = list(await db.execute_fetchall(
        "SELECT user_id, blacklisted_at IS NOT NULL FROM users WHERE id_hmac = ?", (v.id_hmac,)))
    if any(bl for _, bl in rows):
        raise ContractError("blacklisted", "this identity is barred from the platform")
    if any(uid == v.user_id for uid, _ in rows):
        raise ContractError("conflict", "identity is already verified for this account")
    if len(rows) >= v.max_accounts_per_id:
        raise ContractError("conflict", "this ID number is already used by as many accounts as allowed")
    n = await _rowcount(
        db,
        "UPDATE users SET id_hmac = ?, id_enc = ?, name_enc = ?, id_verified_at = ?"
        " WHERE user_id = ? AND id_verified_at IS NULL",
        (v.id_hmac, v.id_enc, v.name_enc, v.verified_at, v.user_id),
    )
    if n != 1:
        raise ContractError("conflict", "identity is already verified for this account")


@applies(c.SetUserFields)
async def _set_user_fields(db: aiosqlite.Connection, s: c.SetUserFields) -> None:
    sets, values = _set_clause(s.fields, c.USER_FIELDS)
    await db.execute(f"UPDATE users SET {sets} WHERE user_id = ?", (*values, s.user_id))


@applies(c.AddCredit)
async def _add_credit(db: aiosqlite.Connection, a: c.AddCredit) -> None:
    await db.execute("UPDATE users SET credit_score = credit_score + ? WHERE user_id = ?", (a.delta, a.user_id))


@applies(c.CancelAccount)
async def _cancel_account(db: aiosqlite.Connection, a: c.CancelAccount) -> None:
    n = await _rowcount(
        db, "UPDATE users SET deleted_at = ?, display_name = ? WHERE user_id = ? AND deleted_at IS NULL",
        (a.deleted_at, a.display_name, a.user_id))
    if n != 1:
        raise ContractError("conflict", "this account is already cancelled")
    owned = list(await db.execute_fetchall(
        "SELECT group_id FROM groups WHERE owner_id = ? AND dissolved_at IS NULL AND closed_at IS NULL",
        (a.user_id,)))
    if owned:
        raise ContractError("conflict", "transfer or dissolve the groups you own first: "
                            + ", ".join(sorted(r[0] for r in owned)))
    running = list(await db.execute_fetchall(
        "SELECT account_id FROM accounts WHERE owner_id = ? AND closed_at IS NULL", (a.user_id,)))
    if running:
        raise ContractError("conflict", "close the public accounts you own first: "
                            + ", ".join(sorted(r[0] for r in running)))
    # Memberships this writer's memory did not know (another writer's join): the handler's
    # RemoveMember took the ones it knew, earlier in this transaction.
    for (gid,) in list(await db.execute_fetchall(_LIVE_MEMBERSHIPS, (a.user_id,))):
        await db.execute("DELETE FROM members WHERE group_id = ? AND user_id = ?", (gid, a.user_id))
        await _log_membership(db, gid, a.user_id, "account_deleted", a.user_id, a.deleted_at)
    await _end_tokens(db, c.ACCOUNT_DELETED, "user_id = ?", (a.user_id,))
    await db.execute("DELETE FROM join_requests WHERE user_id = ?", (a.user_id,))
    await db.execute("DELETE FROM invitations WHERE user_id = ?", (a.user_id,))
    await db.execute("DELETE FROM account_editors WHERE user_id = ?", (a.user_id,))
    await db.execute("DELETE FROM subscriptions WHERE user_id = ?", (a.user_id,))


@applies(c.PutCode)
async def _put_code(db: aiosqlite.Connection, p: c.PutCode) -> None:
    await db.execute(
        "INSERT INTO sms_codes (phone_key, code_mac, expires_at) VALUES (?, ?, ?) ON CONFLICT (phone_key)"
        " DO UPDATE SET code_mac = excluded.code_mac, expires_at = excluded.expires_at",
        (p.phone_key, p.code_mac, p.expires_at))


@applies(c.DropCode)
async def _drop_code(db: aiosqlite.Connection, d: c.DropCode) -> None:
    await db.execute("DELETE FROM sms_codes WHERE phone_key = ? AND code_mac = ?", (d.phone_key, d.code_mac))


@applies(c.PurgeCodes)
async def _purge_codes(db: aiosqlite.Connection, p: c.PurgeCodes) -> None:
    await db.execute("DELETE FROM sms_codes WHERE expires_at < ?", (p.before,))


@applies(c.JobRan)
async def _job_ran(db: aiosqlite.Connection, j: c.JobRan) -> None:
    await db.execute(
        "INSERT INTO job_runs (name, last_run) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET last_run = MAX(job_runs.last_run, excluded.last_run)",
        (j.name, j.at))


@applies(c.AcceptAgreement)
async def _accept_agreement(db: aiosqlite.Connection, a: c.AcceptAgreement) -> None:
    await db.execute(
        "INSERT INTO agreement_acceptances (user_id, version, accepted_at) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id, version) DO NOTHING",
        (a.user_id, a.version, a.accepted_at),
    )


# -- groups and members ------------------------------------------------------------------
async def _log_membership(db: aiosqlite.Connection, gid: str, uid: str, action: str, actor: str | None,
                          ts: int) -> None:
    await db.execute(
        "INSERT INTO membership_log (group_id, user_id, action, actor_id, ts) VALUES (?,?,?,?,?)",
        (gid, uid, action, actor, ts),
    )


# A user's live groups and live owned groups, for the caps a change re-checks (c.UserCaps).
_OF_LIVE_GROUPS = (" FROM members m JOIN groups g ON g.group_id = m.group_id"  # a user's, in live groups
                   " WHERE m.user_id = ? AND g.dissolved_at IS NULL AND g.closed_at IS NULL")
_JOINED = "SELECT COUNT(*)" + _OF_LIVE_GROUPS
_OWNED = _JOINED + " AND m.role = 'owner'"  # by the members_user index, not a scan of groups
_LIVE_MEMBERSHIPS = "SELECT m.group_id" + _OF_LIVE_GROUPS


async def _check_user_caps(db: aiosqlite.Connection, user_id: str, caps: c.UserCaps | None, creating: bool) -> None:
    # One writer: nothing is added between these counts and the insert after them.
    if caps is None:
        return

    async def count(sql: str) -> int:
        [(n,)] = list(await db.execute_fetchall(sql, (user_id,)))
        return int(n)

    caps.refuse(await count(_OWNED) if creating and caps.created is not None else None,
                await count(_JOINED) if caps.joined is not None else None)


async def _add_member(db: aiosqlite.Connection, m: c.AddMember) -> None:
    await db.execute(
        "INSERT INTO members (group_id, user_id, role, joined_at, joined_seq, muted_until) VALUES (?,?,?,?,?,?)",
        (m.group_id, m.user_id, m.role, m.ts, m.joined_seq, m.muted_until),
    )
    await db.execute("DELETE FROM join_requests WHERE group_id = ? AND user_id = ?", (m.group_id, m.user_id))
    await db.execute("DELETE FROM invitations WHERE group_id = ? AND user_id = ?", (m.group_id, m.user_id))
    await _log_membership(db, m.group_id, m.user_id, m.action, m.actor, m.ts)


async def _account_still_open(db: aiosqlite.Connection, user_id: str, own: bool = False) -> None:
    """``conflict`` when the account of a future owner or member is cancelled or blacklisted (one
    writer: nothing closes it between this read and the commit)."""
    rows = list(await db.execute_fetchall("SELECT deleted_at, blacklisted_at FROM users WHERE user_id = ?",
                                          (user_id,)))
    if rows:
        c.refuse_closed_account(rows[0][0], rows[0][1], own)


@applies(c.CreateGroup)
async def _create_group(db: aiosqlite.Connection, g: c.CreateGroup) -> None:
    await _check_user_caps(db, g.owner_id, g.caps, creating=True)
    await _account_still_open(db, g.owner_id, own=True)
    try:
        await db.execute(
            "INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at) VALUES (?,?,?,?,?,?)",
            (g.group_id, g.name, g.category, g.join_policy, g.owner_id, g.created_at),
        )
    except sqlite3.IntegrityError:
        raise c.GroupIdTaken(g.group_id) from None
    await _add_member(db, c.AddMember(g.group_id, g.owner_id, "owner", g.created_at, 0, "create", g.owner_id))


@applies(c.ActsAs)
async def _acts_as(db: aiosqlite.Connection, a: c.ActsAs) -> None:
    rows = list(await db.execute_fetchall("SELECT role FROM members WHERE group_id = ? AND user_id = ?",
                                          (a.group_id, a.user_id)))
    a.refuse(rows[0][0] if rows else None)


@applies(c.OwnsNoLiveGroup)
async def _owns_no_live_group(db: aiosqlite.Connection, o: c.OwnsNoLiveGroup) -> None:
    if list(await db.execute_fetchall(c.OWNS_LIVE_GROUP, (o.user_id,))):
        raise ContractError("conflict", "the user still owns a live group")


@applies(c.IdentityHeld)
async def _identity_held(db: aiosqlite.Connection, i: c.IdentityHeld) -> None:
    if list(await db.execute_fetchall(c.ERASED_ACCOUNT, (i.user_id,))):
        raise ContractError("forbidden", c.IDENTITY_ERASED)


@applies(c.SetGroupFields)
async def _set_group_fields(db: aiosqlite.Connection, s: c.SetGroupFields) -> None:
    sets, values = _set_clause(s.fields, c.GROUP_FIELDS)
    await db.execute(f"UPDATE groups SET {sets} WHERE group_id = ?", (*values, s.group_id))


@applies(c.AdvanceSeqs)
async def _advance_seqs(db: aiosqlite.Connection, a: c.AdvanceSeqs) -> int:
    # A group indexed up to its last seq is indexed past the gap too (and past the replaced database's
    # floor first): it holds no message, and the index's catch-up would otherwise walk it 500 seqs a
    # slice between the writer's batches.
    await db.executemany(
        "UPDATE search_groups SET indexed_seq = ? WHERE group_id = ? AND indexed_seq < ?"
        " AND indexed_seq >= (SELECT g.last_seq FROM groups g WHERE g.group_id = search_groups.group_id)",
        [(f, gid, f) for gid, f in a.floors])
    await db.executemany("UPDATE groups SET last_seq = ? WHERE group_id = ? AND last_seq < ?",
                         [(f, gid, f) for gid, f in a.floors])
    await db.execute("UPDATE search_groups SET indexed_seq = indexed_seq + ? WHERE indexed_seq >= ("
                     "SELECT g.last_seq FROM groups g WHERE g.group_id = search_groups.group_id)", (a.gap,))
    await db.execute("UPDATE message_clock SET rev = MAX(rev, ?) + ?, floor = MAX(rev, ?) + ?",
                     (a.clock_floor, a.clock_gap, a.clock_floor, a.clock_gap))
    floors = dict(a.id_floors)
    for table, column in c.RESTORED_IDS:  # (AUTOINCREMENT's counter: the higher of it and the highest id)
        [(last,)] = list(await db.execute_fetchall(
            f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0),"
            f" COALESCE((SELECT MAX({column}) FROM {table}), 0), ?)", (table, floors.get(table, 0))))
        await db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        await db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, last + c.RESTORE_ID_GAP))
    moved = await _rowcount(db, "UPDATE groups SET last_seq = last_seq + ?", (a.gap,))
    [(highest,)] = list(await db.execute_fetchall("SELECT MAX(last_seq) FROM groups"))
    c.seq_limit_passed(highest)
    return moved


@applies(c.TransferOwner)
async def _transfer_owner(db: aiosqlite.Connection, t: c.TransferOwner) -> None:
    # Re-checked here: only the current owner of a live group can hand it on, so two
    # transfers racing from the same owner cannot both land (the second finds a new owner).
    await _check_user_caps(db, t.to_user, t.caps, creating=True)
    await _account_still_open(db, t.to_user)
    n = await _rowcount(
        db,
        "UPDATE groups SET owner_id = ? WHERE group_id = ? AND owner_id = ?"
        " AND dissolved_at IS NULL AND closed_at IS NULL",
        (t.to_user, t.group_id, t.from_user),
    )
    if n != 1:
        raise ContractError("conflict", "the group's ownership changed meanwhile")
    await db.execute("UPDATE members SET role = 'member' WHERE group_id = ? AND user_id = ? AND role = 'owner'",
                     (t.group_id, t.from_user))
    n = await _rowcount(db, "UPDATE members SET role = 'owner', muted_until = 0 WHERE group_id = ? AND user_id = ?",
                        (t.group_id, t.to_user))
    if n != 1:
        raise ContractError("conflict", "the new owner is no longer a member")
    await _check_group_caps(db, t)
    if t.ts is not None:
        await _log_membership(db, t.group_id, t.to_user, "owner", t.actor, t.ts)
        await _log_membership(db, t.group_id, t.from_user, "owner_handed_on", t.actor, t.ts)


async def _check_group_caps(db: aiosqlite.Connection, t: c.TransferOwner) -> None:
    """The group's member and admin counts under the new owner (one writer: nothing joins meanwhile)."""
    if t.group_caps is None:
        return
    [(members, admins)] = list(await db.execute_fetchall(
        "SELECT COUNT(*), COALESCE(SUM(role = 'admin'), 0) FROM members WHERE group_id = ?", (t.group_id,)))
    t.group_caps.refuse(int(members), int(admins))


async def _check_group_room(db: aiosqlite.Connection, m: c.AddMember) -> None:
    """The group's members, counted in the transaction (one writer: nothing joins meanwhile)."""
    if m.room is None:
        return
    [(n,)] = list(await db.execute_fetchall("SELECT COUNT(*) FROM members WHERE group_id = ?", (m.group_id,)))
    m.room.refuse(m.group_id, int(n))


@applies(c.AddMember)
async def _add_member_change(db: aiosqlite.Connection, m: c.AddMember) -> None:
    await _check_user_caps(db, m.user_id, m.caps, creating=False)
    await _account_still_open(db, m.user_id, own=m.caps is not None and m.caps.own)
    await _check_group_room(db, m)
    await _add_member(db, m)


async def _refuse_owner(db: aiosqlite.Connection, group_id: str, user_id: str) -> None:
    """The store keeps one owner: its row is neither removed nor given another role (memory may
    have claimed a transfer whose write then failed, with a leave or a kick stored after it)."""
    rows = list(await db.execute_fetchall("SELECT owner_id FROM groups WHERE group_id = ?", (group_id,)))
    if rows and rows[0][0] == user_id:
        raise ContractError("conflict", "the group's owner stays its owner until it is handed on")


@applies(c.RemoveMember)
async def _remove_member(db: aiosqlite.Connection, m: c.RemoveMember) -> None:
    await _refuse_owner(db, m.group_id, m.user_id)
    await db.execute("DELETE FROM members WHERE group_id = ? AND user_id = ?", (m.group_id, m.user_id))
    await _log_membership(db, m.group_id, m.user_id, m.action, m.actor, m.ts)


@applies(c.SetMemberRole)
async def _set_member_role(db: aiosqlite.Connection, m: c.SetMemberRole) -> None:
    await _refuse_owner(db, m.group_id, m.user_id)
    if m.max_admins is not None:  # the other admins, counted in the transaction
        [(n,)] = list(await db.execute_fetchall(
            "SELECT COUNT(*) FROM members WHERE group_id = ? AND role = 'admin' AND user_id <> ?",
            (m.group_id, m.user_id)))
        m.refuse(int(n))
    await db.execute("UPDATE members SET role = ? WHERE group_id = ? AND user_id = ?",
                     (m.role, m.group_id, m.user_id))
    if m.ts is not None:
        await _log_membership(db, m.group_id, m.user_id, m.role, m.actor, m.ts)


@applies(c.SetMuted)
async def _set_muted(db: aiosqlite.Connection, m: c.SetMuted) -> None:
    await db.execute("UPDATE members SET muted_until = ? WHERE group_id = ? AND user_id = ?",
                     (m.until, m.group_id, m.user_id))


@applies(c.PutJoinRequest)
async def _put_join_request(db: aiosqlite.Connection, r: c.PutJoinRequest) -> None:
    await db.execute(
        "INSERT INTO join_requests (group_id, user_id, ts) VALUES (?, ?, ?)"
        " ON CONFLICT (group_id, user_id) DO UPDATE SET ts = excluded.ts",
        (r.group_id, r.user_id, r.ts),
    )


@applies(c.DropJoinRequest)
async def _drop_join_request(db: aiosqlite.Connection, r: c.DropJoinRequest) -> None:
    await db.execute("DELETE FROM join_requests WHERE group_id = ? AND user_id = ?", (r.group_id, r.user_id))


@applies(c.DropGroupRequests)
async def _drop_group_requests(db: aiosqlite.Connection, d: c.DropGroupRequests) -> None:
    await db.execute("DELETE FROM join_requests WHERE group_id = ?", (d.group_id,))
    await db.execute("DELETE FROM invitations WHERE group_id = ?", (d.group_id,))


@applies(c.PutInvitation)
async def _put_invitation(db: aiosqlite.Connection, i: c.PutInvitation) -> None:
    await db.execute(
        "INSERT INTO invitations (group_id, user_id, inviter_id, ts) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (group_id, user_id) DO UPDATE SET inviter_id = excluded.inviter_id, ts = excluded.ts",
        (i.group_id, i.user_id, i.inviter_id, i.ts),
    )


# -- messages --------------------------------------------------------------------------------
@applies(c.DeleteMessages)
async def _delete_messages(db: aiosqlite.Connection, d: c.DeleteMessages) -> list[tuple[str, int]]:
    shown, hidden = [], []
    for gid, seq in d.items:  # (one statement each: executemany returns no rows)
        rows = list(await db.execute_fetchall(
            "UPDATE messages SET deleted_at = ?, deleted_by = ? WHERE group_id = ? AND seq = ? AND deleted_at IS NULL"
            " RETURNING held", (d.deleted_at, d.deleted_by, gid, seq)))
        if rows:
            hidden.append(seq)
            if rows[0][0] == 0:
                shown.append((gid, seq))
    if d.record is not None and hidden:
        await append_audit(db, c.with_detail(d.record, removed=len(hidden), seqs=hidden))
    return shown


@applies(c.SetMessageHeld)
async def _set_message_held(db: aiosqlite.Connection, h: c.SetMessageHeld) -> None:
    await db.execute("UPDATE messages SET held = ? WHERE group_id = ? AND seq = ?", (h.held, h.group_id, h.seq))


@applies(c.MarkRead)
async def _mark_read(db: aiosqlite.Connection, r: c.MarkRead) -> None:
    # The WHERE keeps the marker from moving back, whatever order two marks commit in.
    await db.execute(
        "INSERT INTO read_state (user_id, group_id, seq) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id, group_id) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > read_state.seq",
        (r.user_id, r.group_id, r.seq),
    )


@applies(c.LogNetwork)
async def _log_network(db: aiosqlite.Connection, n: c.LogNetwork) -> None:
    await db.execute("INSERT INTO netlog (ts, kind, user_id, ip, detail) VALUES (?, ?, ?, ?, ?)",
                     (n.ts, n.kind, n.user_id, n.ip, n.detail))


@applies(c.QueueReview)
async def _queue_review(db: aiosqlite.Connection, q: c.QueueReview) -> None:
    await db.execute(
        "INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (q.group_id, q.seq, q.sender_id, q.action, q.category, q.term, q.created_at),
    )


@applies(c.QueueShownText)
async def _queue_shown_text(db: aiosqlite.Connection, q: c.QueueShownText) -> int:
    cur = await db.execute(moderation.QUEUE_SHOWN_TEXT,
                           (q.kind, q.group_id, q.account_id, q.sender_id, q.action, q.category, q.term,
                            q.created_at, q.text, q.expect))
    assert cur.lastrowid is not None
    return cur.lastrowid  # the item's id (a held text's held_id)


@applies(c.SetShownText)
async def _set_shown_text(db: aiosqlite.Connection, s: c.SetShownText) -> None:
    keyed = s.name_key is not None
    params = (s.value, *((s.name_key,) if keyed else ()), s.target_id, s.expect)
    try:
        n = await _rowcount(db, moderation.set_shown_text_sql(s.kind, keyed), params)
    except sqlite3.IntegrityError:
        raise ContractError("conflict", "that account name is taken") from None
    if n != 1:
        raise ContractError("conflict", f"the {s.kind.replace('_', ' ')} changed meanwhile")
    if s.kind == "account_name" and s.value != s.expect:
        await hold_readings(db, s.target_id, s.value)


@applies(c.EditMessage)
async def _edit_message(db: aiosqlite.Connection, e: c.EditMessage) -> None:
    # The text being replaced becomes the next earlier version, written at its own time.
    n = await _rowcount(
        db,
        "INSERT INTO message_versions (group_id, seq, version, text, ts)"
        " SELECT group_id, seq, (SELECT COALESCE(MAX(version), 0) + 1 FROM message_versions v"
        "   WHERE v.group_id = m.group_id AND v.seq = m.seq), text, COALESCE(edited_at, ts)"
        " FROM messages m WHERE group_id = ? AND seq = ? AND sender_id = ? AND deleted_at IS NULL",
        (e.group_id, e.seq, e.sender_id),
    )
    if n != 1:
        raise ContractError("not_found", f"no message {e.seq} of yours in group {e.group_id}")
    await db.execute("UPDATE messages SET text = ?, edited_at = ? WHERE group_id = ? AND seq = ?",
                     (e.text, e.edited_at, e.group_id, e.seq))


@applies(c.SetReaction)
async def _set_reaction(db: aiosqlite.Connection, r: c.SetReaction) -> bool:
    rows = list(await db.execute_fetchall(
        "SELECT 1 FROM messages WHERE group_id = ? AND seq = ? AND deleted_at IS NULL AND held = 0",
        (r.group_id, r.seq)))
    if not rows:
        raise ContractError("not_found", f"no message {r.seq} in group {r.group_id}")
    key = (r.group_id, r.seq, r.user_id)
    if not r.on:
        changed = await _rowcount(
            db, "DELETE FROM reactions WHERE group_id = ? AND seq = ? AND user_id = ? AND emoji = ?",
            (*key, r.emoji)) == 1
    else:
        changed = await _rowcount(
            db, "INSERT INTO reactions (group_id, seq, user_id, emoji, ts) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (group_id, seq, user_id, emoji) DO NOTHING", (*key, r.emoji, r.ts)) == 1
        if changed and _first(await db.execute_fetchall(
                "SELECT COUNT(*) FROM reactions WHERE group_id = ? AND seq = ? AND user_id = ?", key)) > r.max_per_user:
            raise ContractError("conflict", f"at most {r.max_per_user} different reactions per message")
    if changed:  # (kept for the record, a reaction taken back too)
        await db.execute("INSERT INTO reaction_log (group_id, seq, user_id, emoji, added, ts)"
                         " VALUES (?, ?, ?, ?, ?, ?)", (*key, r.emoji, int(r.on), r.ts))
    return changed


@applies(c.SetPin)
async def _set_pin(db: aiosqlite.Connection, p: c.SetPin) -> None:
    if p.on:
        # The message is read before the write: the retention purge may have removed it meanwhile (a pin
        # naming nothing would hold one of the group's places for good), or a deletion stored since the
        # handler read it (a manager's delete_user_messages, the platform's remove-term take no turn of it).
        if not list(await db.execute_fetchall(f"{c.MESSAGE_KEPT} AND {c.PINNABLE}", (p.group_id, p.seq))):
            raise ContractError("not_found", f"no message {p.seq} in group {p.group_id}")
        pinned = [r[0] for r in await db.execute_fetchall("SELECT seq FROM group_pins WHERE group_id = ?",
                                                          (p.group_id,))]
        if p.seq not in pinned:
            check_pin_room(len(pinned), p.max_pins)
        await db.execute("INSERT INTO group_pins (group_id, seq, pinned_at, pinned_by) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT (group_id, seq) DO NOTHING", (p.group_id, p.seq, p.ts, p.by))
    else:
        await db.execute("DELETE FROM group_pins WHERE group_id = ? AND seq = ?", (p.group_id, p.seq))


def _first(rows: Any) -> Any:
    """The first column of the first row."""
    return list(rows)[0][0]


# -- complaints ----------------------------------------------------------------------------------
@applies(c.InsertReport)
async def _insert_report(db: aiosqlite.Connection, r: c.InsertReport) -> tuple[int, bool]:
    # The handler's duplicate check read before this write was queued: check again here (the
    # one writer runs this transaction alone), so a second report racing the first finds it.
    found = list(await db.execute_fetchall(
        "SELECT report_id FROM reports WHERE reporter_id = ? AND target_type = ? AND status = 'open'"
        " AND group_id IS ? AND seq IS ? AND user_id IS ? AND account_id IS ? AND post_id IS ?"
        " AND comment_id IS ?",
        (r.reporter_id, r.target_type, r.group_id, r.seq, r.user_id, r.account_id, r.post_id, r.comment_id),
    ))
    if found:
        return int(found[0][0]), True
    named = r.named_content()
    if named is not None and not list(await db.execute_fetchall(named[0], named[1])):
        raise ContractError("not_found", named[2])
    cur = await db.execute(
        "INSERT INTO reports (reporter_id, target_type, group_id, seq, user_id, reason, detail, created_at,"
        " account_id, post_id, comment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (r.reporter_id, r.target_type, r.group_id, r.seq, r.user_id, r.reason, r.detail, r.created_at,
         r.account_id, r.post_id, r.comment_id),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid, False


@applies(c.ResolveReport)
async def _resolve_report(db: aiosqlite.Connection, r: c.ResolveReport) -> None:
    n = await _rowcount(
        db,
        "UPDATE reports SET status = 'resolved', outcome = ?, note = ?, resolved_at = ?, resolved_by = ?"
        " WHERE report_id = ? AND status = 'open'",
        (r.outcome, r.note, r.resolved_at, r.resolved_by, r.report_id),
    )
    if n != 1:
        raise ContractError("conflict", f"report {r.report_id} is already resolved")


# -- platform governance ----------------------------------------------------------------------------
@applies(c.AddSanction)
async def _add_sanction(db: aiosqlite.Connection, s: c.AddSanction) -> int:
    cur = await db.execute(
        "INSERT INTO sanctions (kind, target_type, target_id, reason, actor, starts_at, expires_at, report_id,"
        " credit_taken, cause) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (s.kind, s.target_type, s.target_id, s.reason, s.actor, s.starts_at, s.expires_at, s.report_id,
         s.credit_taken, s.cause),
    )
    assert cur.lastrowid is not None
    for old in s.replaces:
        await _lift(db, old, s.starts_at, s.actor, s.lift_reason, replaced_by=cur.lastrowid)
    if s.record is not None:
        await append_audit(db, c.with_detail(s.record, sanction_id=cur.lastrowid))
    return cur.lastrowid  # the sanction id


@applies(c.AddRecord)
async def _add_record(db: aiosqlite.Connection, r: c.AddRecord) -> None:
    await append_audit(db, r.entry)


# An earlier measure on the message that took its credit (``MessagePenalty``): by the group's entries.
_MESSAGE_PAID = (
    "SELECT 1 FROM audit WHERE group_id = ? AND action IN (" + ", ".join("?" * len(c.MESSAGE_MEASURES)) + ")"
    " AND json_extract(detail, '$.seq') = ?"
    " AND COALESCE(json_extract(detail, '$.credit_taken'),"
    " CASE WHEN action = 'resolve_report' AND json_extract(detail, '$.outcome') IS NOT 'upheld' THEN 0 ELSE 1 END) > 0"
    " LIMIT 1"
)


# An earlier measure on the comment that took its author's credit (``CommentPenalty``).
_COMMENT_PAID = (
    "SELECT 1 FROM audit WHERE action IN (" + ", ".join("?" * len(c.COMMENT_MEASURES)) + ")"
    " AND CAST(json_extract(detail, '$.comment_id') AS TEXT) = ?"
    " AND COALESCE(json_extract(detail, '$.credit_taken'),"
    " CASE WHEN action = 'resolve_report' AND json_extract(detail, '$.outcome') IS NOT 'upheld' THEN 0"
    " WHEN json_extract(detail, '$.term') IS NOT NULL THEN 0 ELSE 1 END) > 0"
    " LIMIT 1"
)


# An earlier measure on the post itself (its rejection in review, an upheld report about it) that took
# its author's credit (``PostPenalty``).
_POST_PAID = (
    "SELECT 1 FROM audit WHERE action IN (" + ", ".join("?" * len(c.POST_MEASURES)) + ")"
    " AND CAST(json_extract(detail, '$.post_id') AS TEXT) = ? AND json_extract(detail, '$.comment_id') IS NULL"
    " AND COALESCE(json_extract(detail, '$.credit_taken'),"
    " CASE WHEN action = 'resolve_report' AND json_extract(detail, '$.outcome') IS NOT 'upheld' THEN 0 ELSE 1 END)"
    " > 0 LIMIT 1"
)


async def _take_once(db: aiosqlite.Connection, user_id: str | None, points: int, record: c.Audit, paid_sql: str,
                     args: tuple[Any, ...]) -> int:
    """Take ``points`` from ``user_id`` unless ``paid_sql`` finds an earlier measure that took them;
    append ``record`` with ``credit_taken``. The points taken."""
    # One writer: no other transaction appends an entry between this read and the entry below.
    taken = 0
    if user_id is not None and points > 0:
        paid = await db.execute_fetchall(paid_sql, args)
        if not list(paid):
            await db.execute("UPDATE users SET credit_score = credit_score - ? WHERE user_id = ?",
                             (points, user_id))
            taken = points
    await append_audit(db, c.with_detail(record, credit_taken=taken))
    return taken


@applies(c.MessagePenalty)
async def _message_penalty(db: aiosqlite.Connection, p: c.MessagePenalty) -> int:
    return await _take_once(db, p.user_id, p.points, p.record, _MESSAGE_PAID,
                            (p.group_id, *c.MESSAGE_MEASURES, p.seq))


@applies(c.CommentPenalty)
async def _comment_penalty(db: aiosqlite.Connection, p: c.CommentPenalty) -> int:
    return await _take_once(db, p.user_id, p.points, p.record, _COMMENT_PAID,
                            (*c.COMMENT_MEASURES, str(p.comment_id)))


@applies(c.PostPenalty)
async def _post_penalty(db: aiosqlite.Connection, p: c.PostPenalty) -> int:
    return await _take_once(db, p.user_id, p.points, p.record, _POST_PAID, (*c.POST_MEASURES, str(p.post_id)))


@applies(c.DecideReview)
async def _decide_review(db: aiosqlite.Connection, d: c.DecideReview) -> None:
    n = await _rowcount(
        db,
        "UPDATE review_queue SET status = 'decided', decision = ?, note = ?, decided_at = ?"
        " WHERE item_id = ? AND status = 'open'",
        (d.decision, d.note, d.decided_at, d.item_id),
    )
    if n != 1:
        raise ContractError("conflict", f"review item {d.item_id} is already decided")


@applies(c.SettleMessageReviews)
async def _settle_message_reviews(db: aiosqlite.Connection, s: c.SettleMessageReviews) -> int:
    return await _rowcount(
        db,
        "UPDATE review_queue SET status = 'decided', decision = ?, note = ?, decided_at = ?"
        " WHERE status = 'open' AND kind = 'message' AND group_id = ? AND seq = ?",
        (s.decision, s.note, s.decided_at, s.group_id, s.seq),
    )


@applies(c.InsertAgreement)
async def _insert_agreement(db: aiosqlite.Connection, a: c.InsertAgreement) -> None:
    try:
        await db.execute("INSERT INTO agreements (version, rules, agreement, created_at) VALUES (?, ?, ?, ?)",
                         (a.version, a.rules, a.agreement, a.created_at))
    except sqlite3.IntegrityError:
        raise ContractError("conflict", f"version {a.version} was used before; pick a new one") from None


def _marks(ids: tuple[str, ...]) -> str:
    """The placeholders of ``ids`` in an ``IN (...)`` (NULL for none: it matches nothing)."""
    return ", ".join("?" * len(ids)) or "NULL"


@applies(c.SuspendAccountCategory)
async def _suspend_account_category(db: aiosqlite.Connection, s: c.SuspendAccountCategory) -> None:
    await db.execute(
        f"UPDATE accounts SET suspended_until = MAX(suspended_until, ?) WHERE account_id IN ({_marks(s.accounts)})"
        " AND closed_at IS NULL",
        (s.until, *s.accounts),
    )
    await db.execute(
        "INSERT INTO account_category_freezes (category, until) VALUES (?, ?)"
        " ON CONFLICT (category) DO UPDATE SET until = MAX(until, excluded.until)",
        (s.category, s.until),
    )


@applies(c.SuspendCategory)
async def _suspend_category(db: aiosqlite.Connection, s: c.SuspendCategory) -> None:
    await db.execute(
        f"UPDATE groups SET suspended_until = MAX(suspended_until, ?) WHERE group_id IN ({_marks(s.groups)})"
        " AND dissolved_at IS NULL AND closed_at IS NULL",
        (s.until, *s.groups),
    )
    await db.execute(
        "INSERT INTO category_freezes (category, until) VALUES (?, ?)"
        " ON CONFLICT (category) DO UPDATE SET until = MAX(until, excluded.until)",
        (s.category, s.until),
    )


@applies(c.AddHold)
async def _add_hold(db: aiosqlite.Connection, h: c.AddHold) -> int:
    cur = await db.execute(
        "INSERT INTO legal_holds (target_type, target_id, reason, created_at) VALUES (?, ?, ?, ?)",
        (h.target_type, h.target_id, h.reason, h.created_at),
    )
    hold_id = cur.lastrowid
    assert hold_id is not None
    a = h.audit
    await append_audit(db, c.Audit(a.ts, a.actor_type, a.actor_id, a.action, a.group_id, a.target_id, a.reason,
                                   {**(a.detail or {}), "hold_id": hold_id}))
    return hold_id


@applies(c.ReleaseHold)
async def _release_hold(db: aiosqlite.Connection, r: c.ReleaseHold) -> None:
    n = await _rowcount(
        db,
        "UPDATE legal_holds SET released_at = ?, release_reason = ? WHERE id = ? AND released_at IS NULL",
        (r.released_at, r.reason, r.hold_id),
    )
    if n != 1:
        raise ContractError("conflict", f"hold {r.hold_id} is unknown or already released")


# -- measures that finish: lifting sanctions, appeals ---------------------------------------------
@applies(c.CreditGivenBack)
async def _credit_given_back(db: aiosqlite.Connection, x: c.CreditGivenBack) -> None:
    n = await _rowcount(
        db, "UPDATE sanctions SET credit_given_back_at = ? WHERE id = ? AND credit_given_back_at IS NULL",
        (x.at, x.sanction_id))
    if n != 1:
        raise ContractError("conflict", f"the credit points of sanction {x.sanction_id} were given back already")


@applies(c.LiftSanction)
async def _lift_sanction(db: aiosqlite.Connection, x: c.LiftSanction) -> None:
    await _lift(db, x.sanction_id, x.lifted_at, x.lifted_by, x.reason)


async def _lift(db: aiosqlite.Connection, sanction_id: int, at: int, by: str, reason: str,
                replaced_by: int | None = None) -> None:
    """Lift a standing sanction (``replaced_by``: the sanction that cut it short, see AddSanction)."""
    n = await _rowcount(
        db,
        "UPDATE sanctions SET lifted_at = ?, lifted_by = ?, lift_reason = ?, replaced_by = ?"
        " WHERE id = ? AND lifted_at IS NULL",
        (at, by, reason, replaced_by, sanction_id),
    )
    if n != 1:
        raise ContractError("conflict", f"sanction {sanction_id} is unknown or already lifted")


@applies(c.InsertAppeal)
async def _insert_appeal(db: aiosqlite.Connection, a: c.InsertAppeal) -> int:
    try:
        cur = await db.execute(
            "INSERT INTO appeals (sanction_id, user_id, text, created_at)"
            " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sanctions WHERE id = ? AND lifted_at IS NULL)",
            (a.sanction_id, a.user_id, a.text, a.created_at, a.sanction_id),
        )
    except sqlite3.IntegrityError:
        raise ContractError("conflict", f"you already have an open appeal against sanction {a.sanction_id}") from None
    if cur.rowcount != 1 or cur.lastrowid is None:
        raise ContractError("conflict", f"sanction {a.sanction_id} was lifted meanwhile")
    return cur.lastrowid


@applies(c.DecideAppeal)
async def _decide_appeal(db: aiosqlite.Connection, d: c.DecideAppeal) -> None:
    n = await _rowcount(
        db,
        "UPDATE appeals SET status = 'decided', outcome = ?, note = ?, decided_at = ?, decided_by = ?"
        " WHERE appeal_id = ? AND status = 'open'",
        (d.outcome, d.note, d.decided_at, d.decided_by, d.appeal_id),
    )
    if n != 1:
        raise ContractError("conflict", f"appeal {d.appeal_id} is already decided")
