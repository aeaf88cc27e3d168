"""How PostgreSQL applies each change type of :mod:`server.storage.changes`, and the audit chain.

The mirror of ``sqlite_changes.py``. Every function runs inside the writer's
transaction, in the op's savepoint; raising undoes the op's writes and fails
that op alone.

PostgreSQL runs READ COMMITTED and several writers (nodes) may share one
database, so every re-check is made race-free across connections, not only
within this process's single writer:

- conditional ``UPDATE ... WHERE <premise>`` (``TransferOwner``, ``ResolveReport``,
  ``DecideReview``, ``ReleaseHold``, ``CancelAccount``): the row lock makes a
  concurrent writer wait, and READ COMMITTED re-evaluates the premise on the
  newest row version, so only one of two racing changes matches;
- ``VerifyIdentity`` counts the holders of an ID number under a transaction-level
  advisory lock derived from that number's keyed hash;
- ``CreateGroup``, ``TransferOwner`` and ``AddMember`` lock the account row of
  the new owner or member (``FOR SHARE``) and refuse a cancelled or blacklisted
  one, so a cancellation or blacklisting cannot commit in between, and
  ``CancelAccount`` and a blacklisting's ``OwnsNoLiveGroup`` check ownership after
  locking that row for update;
- caps are counted under transaction-level advisory locks: a user's groups
  (``UserCaps``: ``AddMember``, ``CreateGroup``, ``TransferOwner``) under one on
  the user, a group's members and admins (``GroupRoom`` of ``AddMember``, a
  promotion's ``SetMemberRole``, ``TransferOwner``'s ``GroupCaps``) under one on
  the group; a change taking both takes the user's first;
- the enforcement record is appended under a transaction-level advisory lock
  taken before reading its last entry;
- ``MessagePenalty`` (``CommentPenalty``) reads whether a measure on the message
  (the comment) took its credit already under a transaction-level advisory lock on it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias, TypeVar

import asyncpg

from governance.audit import Sealing, Tip, sealable
from governance.message_rules import check_pin_room
from protocol.errors import ContractError
from server.storage import changes as c
from server.storage import moderation
from server.storage.media import numbered
from server.storage.public import DROP_READINGS, HOLD_READING, READING_TAKEN, reading_rows
from server.storage.record_chain import chain_of, next_entry

C = TypeVar("C", bound=c.Change)
Conn: TypeAlias = asyncpg.Connection
Applier = Callable[[Conn, Any], Awaitable[Any]]
_APPLY: dict[type, Applier] = {}
log = logging.getLogger("qunguan.record")

# Advisory-lock namespaces (the first key of pg_advisory_xact_lock(int, int)).
LOCK_AUDIT = 0x5147_0001
LOCK_IDENTITY = 0x5147_0002
LOCK_MIGRATE = 0x5147_0003
LOCK_USER_CAPS = 0x5147_0006  # (LOCK_USER_CAPS, hashtext(user_id)): one user's caps, see UserCaps
LOCK_REPORTER = 0x5147_0007  # (LOCK_REPORTER, hashtext(user_id)): one reporter's open reports, see InsertReport
LOCK_GROUP_CAPS = 0x5147_0009  # (LOCK_GROUP_CAPS, hashtext(group_id)): one group's caps, see GroupRoom
LOCK_MESSAGE_PENALTY = 0x5147_000A  # (LOCK_MESSAGE_PENALTY, hashtext("GID/SEQ")): one message's penalty
LOCK_COMMENT_PENALTY = 0x5147_000B  # (LOCK_COMMENT_PENALTY, hashtext(comment_id)): one comment's penalty
LOCK_POST_PENALTY = 0x5147_000E  # (LOCK_POST_PENALTY, hashtext(post_id)): one post's penalty


def applies(kind: type[C]) -> Callable[[Callable[[Conn, C], Awaitable[Any]]], Applier]:
    def register(fn: Callable[[Conn, C], Awaitable[Any]]) -> Applier:
        _APPLY[kind] = fn
        return fn

    return register


def appliers() -> frozenset[type]:
    """The change types this backend can apply (a test checks it covers every one)."""
    return frozenset(_APPLY)


async def apply_change(db: Conn, change: c.Change) -> Any:
    fn = _APPLY.get(type(change))
    if fn is None:
        raise TypeError(f"the PostgreSQL store cannot apply {type(change).__name__}")
    return await fn(db, change)


def _count(status: str) -> int:
    """The row count of an asyncpg status string ("UPDATE 3", "DELETE 0", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


async def _record_tips(db: Conn) -> tuple[Tip | None, Tip | None]:
    """(the head row: the last entry appended, the entry with the highest id now)."""
    row = await db.fetchrow("SELECT last_id, hash, mac FROM audit_head WHERE one = 1")
    head = Tip(int(row[0]), row[1], row[2]) if row is not None else None
    row = await db.fetchrow("SELECT id, hash, mac FROM audit ORDER BY id DESC LIMIT 1")
    last = Tip(int(row[0]), row[1], row[2]) if row is not None else None
    return head, last


async def _set_head(db: Conn, tip: Tip) -> None:
    await db.execute(
        "INSERT INTO audit_head (one, last_id, hash, mac) VALUES (1, $1, $2, $3)"
        " ON CONFLICT (one) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash, mac = excluded.mac",
        tip.id, tip.hash, tip.mac,
    )


async def append_audit(db: Conn, a: c.Audit) -> None:
    """Append one entry to the enforcement record, chained (hash and keyed mac) to the last one appended.

    The advisory lock (held to the end of the transaction) serialises appends
    from every connection, so two writers never read the same head. The entry
    continues from the head row (``audit_head``, moved in the same transaction)
    or from this process's own last entry when the row was moved back
    (:func:`governance.audit.next_link`), never from whatever is last: a tail
    removed from the database stays a gap.
    """
    await db.execute("SELECT pg_advisory_xact_lock($1, 0)", LOCK_AUDIT)
    chain = chain_of(db)
    head, last = await _record_tips(db)
    new = next_entry(a, head, last, chain)
    await db.execute(
        "INSERT INTO audit (id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail,"
        " prev_hash, hash, mac) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        *new.values, new.prev_hash, new.tip.hash, new.tip.mac,
    )
    await _set_head(db, new.tip)
    if chain is not None:
        chain.wrote(new.tip)


_AUDIT_COLS = "id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail, prev_hash, hash, mac"
_AUDIT_KEYS = tuple(k.strip() for k in _AUDIT_COLS.split(","))
SEAL_PAGE = 1000


@applies(c.SealRecord)
async def _seal_record(db: Conn, s: c.SealRecord) -> tuple[int, int | None]:
    """As the SQLite store's: the record's unsealed beginning gets its macs, in this one transaction;
    returns (how many were sealed, the first entry left without a mac or None)."""
    chain = chain_of(db)
    if chain is None or chain.key is None:
        raise RuntimeError("no record key: the identity key store is not open")
    await db.execute("SELECT pg_advisory_xact_lock($1, 0)", LOCK_AUDIT)
    first = await db.fetchval("SELECT MIN(id) FROM audit WHERE mac IS NULL")
    if first is None:
        return 0, None
    head, _ = await _record_tips(db)
    if not sealable(int(first), head, s.checkpointed):
        return 0, int(first)
    assert head is not None
    seal, count = Sealing(chain.key), 0
    while seal.expected <= head.id:
        page = await db.fetch(f"SELECT {_AUDIT_COLS} FROM audit WHERE id >= $1 AND id <= $2 ORDER BY id LIMIT $3",
                              seal.expected, head.id, SEAL_PAGE)
        macs = seal.page(dict(zip(_AUDIT_KEYS, row, strict=True)) for row in page)
        await db.executemany("UPDATE audit SET mac = $1 WHERE id = $2", macs)
        count += len(macs)
        if seal.broken or not page:
            break
    if seal.expected > head.id:  # the whole beginning, up to the head: the head row gets its mac too
        await db.execute("UPDATE audit_head SET mac = $1 WHERE one = 1", seal.prev_mac)
        chain.wrote(Tip(head.id, head.hash, seal.prev_mac))
    left = await db.fetchval("SELECT MIN(id) FROM audit WHERE mac IS NULL")
    return count, int(left) if left is not None else None


def _set_clause(fields: Mapping[str, Any], allowed: frozenset[str], first: int = 1) -> tuple[str, list[Any]]:
    unknown = set(fields) - allowed
    if unknown or not fields:
        raise ValueError(f"cannot set {sorted(unknown) or 'nothing'}")
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(fields, first))
    return sets, [int(v) if isinstance(v, bool) else v for v in fields.values()]


_DROP_READINGS, _HOLD_READING = numbered(DROP_READINGS), numbered(HOLD_READING)


async def hold_readings(db: Conn, account_id: str, name: str) -> None:
    """Account ``account_id`` is named ``name`` now: it holds that name's lookalike readings and no
    others (server/storage/public.py: ``READING_TAKEN``); ``conflict`` when another account holds one
    (one still being written by another writer is waited for, then decides)."""
    await db.execute(_DROP_READINGS, account_id)
    try:
        await db.executemany(_HOLD_READING, reading_rows(account_id, name))
    except asyncpg.UniqueViolationError:
        raise ContractError("conflict", READING_TAKEN) from None


# -- accounts -------------------------------------------------------------------------
@applies(c.InsertUser)
async def _insert_user(db: Conn, u: c.InsertUser) -> None:
    try:
        await db.execute(
            "INSERT INTO users (user_id, username, username_key, password_hash, display_name,"
            " phone_hmac, phone_enc, credit_score, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            u.user_id, u.username, u.username_key, u.password_hash, u.display_name,
            u.phone_hmac, u.phone_enc, u.credit_score, u.created_at,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "users_phone_hmac":
            raise ContractError("conflict", "that phone number already has an account") from None
        if exc.constraint_name == "users_username_key":
            raise ContractError("conflict", "that username is taken") from None
        raise


@applies(c.InsertToken)
async def _insert_token(db: Conn, t: c.InsertToken) -> None:
    await db.execute("DELETE FROM tokens WHERE user_id = $1 AND expires_at < $2", t.user_id, t.created_at)
    await db.execute("INSERT INTO tokens (token_hash, user_id, created_at, expires_at, device)"
                     " VALUES ($1, $2, $3, $4, $5)", t.token_hash, t.user_id, t.created_at, t.expires_at, t.device)
    await _end_tokens(db, c.TOO_MANY_LOGINS, "token_hash IN (SELECT token_hash FROM tokens WHERE user_id = $2"
                      " AND token_hash <> $3 ORDER BY created_at DESC, token_hash OFFSET $4)",
                      t.user_id, t.token_hash, c.TOKENS_KEPT_PER_USER - 1)
    await db.execute("DELETE FROM ended_logins WHERE token_hash IN (SELECT token_hash FROM ended_logins"
                     " WHERE user_id = $1 ORDER BY expires_at DESC, token_hash OFFSET $2)",
                     t.user_id, c.TOKENS_KEPT_PER_USER)


async def _end_tokens(db: Conn, cause: str | None, where: str, *args: Any) -> None:
    """Deletes the tokens ``where`` picks (its parameters from $2), keeping why each login ended
    (``ended_logins``) until it would have expired (``cause`` None: nothing kept)."""
    await db.execute("WITH ended AS (DELETE FROM tokens WHERE " + where + " RETURNING token_hash, user_id, expires_at)"
                     " INSERT INTO ended_logins (token_hash, user_id, cause, expires_at)"
                     " SELECT token_hash, user_id, $1::text, expires_at FROM ended WHERE $1::text IS NOT NULL"
                     " ON CONFLICT (token_hash) DO NOTHING",
                     cause, *args)


@applies(c.RevokeToken)
async def _revoke_token(db: Conn, t: c.RevokeToken) -> None:
    await _end_tokens(db, t.cause, "token_hash = $2", t.token_hash)


@applies(c.ChangePassword)
async def _change_password(db: Conn, p: c.ChangePassword) -> None:
    await db.execute("UPDATE users SET password_hash = $1 WHERE user_id = $2", p.password_hash, p.user_id)
    await _end_tokens(db, c.PASSWORD_CHANGED, "user_id = $2 AND token_hash IS DISTINCT FROM $3", p.user_id, p.keep)


@applies(c.RehashPassword)
async def _rehash_password(db: Conn, p: c.RehashPassword) -> None:
    await db.execute("UPDATE users SET password_hash = $1 WHERE user_id = $2 AND password_hash = $3",
                     p.password_hash, p.user_id, p.was)


@applies(c.RevokeTokens)
async def _revoke_tokens(db: Conn, t: c.RevokeTokens) -> None:
    await _end_tokens(db, t.cause, "user_id = $2", t.user_id)


def _id_lock_key(id_hmac: bytes) -> int:
    return int.from_bytes(id_hmac[:4].ljust(4, b"\0"), "big", signed=True)


@applies(c.VerifyIdentity)
async def _verify_identity(db: Conn, v: c.VerifyIdentity) -> None:
    # Every writer verifying this ID number queues on the same advisory lock (to the end of
    # its transaction), so the count below cannot be read by two of them before either binds.
    await db.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_IDENTITY, _id_lock_key(v.id_hmac))
    rows = await db.fetch(
        "SELECT user_id, blacklisted_at IS NOT NULL FROM users WHERE id_hmac = $1", v.id_hmac)
    if any(r[1] for r in rows):
        raise ContractError("blacklisted", "this identity is barred from the platform")
    if any(r[0] == v.user_id for r in rows):
        raise ContractError("conflict", "identity is already verified for this account")
    if len(rows) >= v.max_accounts_per_id:
        raise ContractError("conflict", "this ID number is already used by as many accounts as allowed")
    n = _count(await db.execute(
        "UPDATE users SET id_hmac = $1, id_enc = $2, name_enc = $3, id_verified_at = $4"
        " WHERE user_id = $5 AND id_verified_at IS NULL",
        v.id_hmac, v.id_enc, v.name_enc, v.verified_at, v.user_id,
    ))
    if n != 1:
        raise ContractError("conflict", "identity is already verified for this account")


@applies(c.SetUserFields)
async def _set_user_fields(db: Conn, s: c.SetUserFields) -> None:
    sets, values = _set_clause(s.fields, c.USER_FIELDS)
    await db.execute(f"UPDATE users SET {sets} WHERE user_id = ${len(values) + 1}", *values, s.user_id)


@applies(c.AddCredit)
async def _add_credit(db: Conn, a: c.AddCredit) -> None:
    await db.execute("UPDATE users SET credit_score = credit_score + $1 WHERE user_id = $2", a.delta, a.user_id)


@applies(c.CancelAccount)
async def _cancel_account(db: Conn, a: c.CancelAccount) -> None:
    # The UPDATE locks the account row; CreateGroup and TransferOwner lock it FOR SHARE
    # first, so no group can become this account's between the check below and the commit;
    # InsertAccount, SetEditor and SetSubscription do the same for public accounts.
    n = _count(await db.execute(
        "UPDATE users SET deleted_at = $1, display_name = $2 WHERE user_id = $3 AND deleted_at IS NULL",
        a.deleted_at, a.display_name, a.user_id))
    if n != 1:
        raise ContractError("conflict", "this account is already cancelled")
    owned = await db.fetch(
        "SELECT group_id FROM groups WHERE owner_id = $1 AND dissolved_at IS NULL AND closed_at IS NULL",
        a.user_id)
    if owned:
        raise ContractError("conflict", "transfer or dissolve the groups you own first: "
                            + ", ".join(sorted(r[0] for r in owned)))
    running = await db.fetch("SELECT account_id FROM accounts WHERE owner_id = $1 AND closed_at IS NULL", a.user_id)
    if running:
        raise ContractError("conflict", "close the public accounts you own first: "
                            + ", ".join(sorted(r[0] for r in running)))
    # Memberships this writer's memory did not know: a join another writer stored before the
    # UPDATE above (one after it is refused by ``_account_still_open``, which waits for it). The
    # handler's RemoveMember took the ones memory knew, earlier in this transaction.
    for r in await db.fetch(_LIVE_MEMBERSHIPS, a.user_id):
        await db.execute("DELETE FROM members WHERE group_id = $1 AND user_id = $2", r[0], a.user_id)
        await _log_membership(db, r[0], a.user_id, "account_deleted", a.user_id, a.deleted_at)
    await _end_tokens(db, c.ACCOUNT_DELETED, "user_id = $2", a.user_id)
    await db.execute("DELETE FROM join_requests WHERE user_id = $1", a.user_id)
    await db.execute("DELETE FROM invitations WHERE user_id = $1", a.user_id)
    await db.execute("DELETE FROM account_editors WHERE user_id = $1", a.user_id)
    await db.execute("DELETE FROM subscriptions WHERE user_id = $1", a.user_id)


async def _account_still_open(db: Conn, user_id: str, own: bool = False) -> None:
    """Lock the account row of a future owner or member against a concurrent cancellation or
    blacklisting; ``conflict`` if it is closed already.

    Memory refuses a closed account first; this holds where another writer (another node's
    memory) closed it: a cancellation or blacklisting committed before is read here, and one in
    flight waits for this transaction (its UPDATE of the row waits for the share lock), then
    finds a group this made the user's owner (``CancelAccount``'s check, the blacklisting's
    ``OwnsNoLiveGroup``), or a membership this added (the cancellation removes it from the store;
    the memory of the writer that added it learns only at its next load: docs/scale-out.md).
    """
    row = await db.fetchrow("SELECT deleted_at, blacklisted_at FROM users WHERE user_id = $1 FOR SHARE", user_id)
    if row is not None:
        c.refuse_closed_account(row[0], row[1], own)


@applies(c.PutCode)
async def _put_code(db: Conn, p: c.PutCode) -> None:
    await db.execute(
        "INSERT INTO sms_codes (phone_key, code_mac, expires_at) VALUES ($1, $2, $3) ON CONFLICT (phone_key)"
        " DO UPDATE SET code_mac = excluded.code_mac, expires_at = excluded.expires_at",
        p.phone_key, p.code_mac, p.expires_at)


@applies(c.DropCode)
async def _drop_code(db: Conn, d: c.DropCode) -> None:
    await db.execute("DELETE FROM sms_codes WHERE phone_key = $1 AND code_mac = $2", d.phone_key, d.code_mac)


@applies(c.PurgeCodes)
async def _purge_codes(db: Conn, p: c.PurgeCodes) -> None:
    await db.execute("DELETE FROM sms_codes WHERE expires_at < $1", p.before)


@applies(c.JobRan)
async def _job_ran(db: Conn, j: c.JobRan) -> None:
    await db.execute(
        "INSERT INTO job_runs (name, last_run) VALUES ($1, $2)"
        " ON CONFLICT (name) DO UPDATE SET last_run = GREATEST(job_runs.last_run, excluded.last_run)",
        j.name, j.at)


@applies(c.AcceptAgreement)
async def _accept_agreement(db: Conn, a: c.AcceptAgreement) -> None:
    await db.execute(
        "INSERT INTO agreement_acceptances (user_id, version, accepted_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id, version) DO NOTHING",
        a.user_id, a.version, a.accepted_at,
    )


# -- groups and members ------------------------------------------------------------------
async def _log_membership(db: Conn, gid: str, uid: str, action: str, actor: str | None, ts: int) -> None:
    await db.execute(
        "INSERT INTO membership_log (group_id, user_id, action, actor_id, ts) VALUES ($1,$2,$3,$4,$5)",
        gid, uid, action, actor, ts,
    )


_OF_LIVE_GROUPS = (" FROM members m JOIN groups g ON g.group_id = m.group_id"  # a user's, in live groups
                   " WHERE m.user_id = $1 AND g.dissolved_at IS NULL AND g.closed_at IS NULL")
_JOINED = "SELECT COUNT(*)" + _OF_LIVE_GROUPS
_OWNED = _JOINED + " AND m.role = 'owner'"  # by the members_user index, not a scan of groups
_LIVE_MEMBERSHIPS = "SELECT m.group_id" + _OF_LIVE_GROUPS


async def _check_user_caps(db: Conn, user_id: str, caps: c.UserCaps | None, creating: bool) -> None:
    if caps is None:
        return
    # Writers adding this user anywhere queue here until the end of their transaction, so each
    # counts what the one before it committed (READ COMMITTED reads the latest committed rows).
    await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_USER_CAPS, user_id)
    caps.refuse(await db.fetchval(_OWNED, user_id) if creating and caps.created is not None else None,
                await db.fetchval(_JOINED, user_id) if caps.joined is not None else None)


async def _lock_group_caps(db: Conn, group_id: str) -> None:
    """Writers adding, promoting or counting in this group queue here until the end of their
    transaction (taken after the user's caps lock, before the group's row, in every change)."""
    await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_GROUP_CAPS, group_id)


async def _check_group_room(db: Conn, m: c.AddMember) -> None:
    if m.room is None:
        return
    await _lock_group_caps(db, m.group_id)
    m.room.refuse(m.group_id, await db.fetchval("SELECT COUNT(*) FROM members WHERE group_id = $1", m.group_id))


async def _add_member(db: Conn, m: c.AddMember) -> None:
    await db.execute(
        "INSERT INTO members (group_id, user_id, role, joined_at, joined_seq, muted_until)"
        " VALUES ($1,$2,$3,$4,$5,$6)",
        m.group_id, m.user_id, m.role, m.ts, m.joined_seq, m.muted_until,
    )
    await db.execute("DELETE FROM join_requests WHERE group_id = $1 AND user_id = $2", m.group_id, m.user_id)
    await db.execute("DELETE FROM invitations WHERE group_id = $1 AND user_id = $2", m.group_id, m.user_id)
    await _log_membership(db, m.group_id, m.user_id, m.action, m.actor, m.ts)


@applies(c.CreateGroup)
async def _create_group(db: Conn, g: c.CreateGroup) -> None:
    # The caps' advisory lock before the owner's row lock, in the order AddMember takes them.
    await _check_user_caps(db, g.owner_id, g.caps, creating=True)
    await _account_still_open(db, g.owner_id, own=True)
    try:
        await db.execute(
            "INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at)"
            " VALUES ($1,$2,$3,$4,$5,$6)",
            g.group_id, g.name, g.category, g.join_policy, g.owner_id, g.created_at,
        )
    except asyncpg.UniqueViolationError:
        raise c.GroupIdTaken(g.group_id) from None
    await _add_member(db, c.AddMember(g.group_id, g.owner_id, "owner", g.created_at, 0, "create", g.owner_id))


@applies(c.ActsAs)
async def _acts_as(db: Conn, a: c.ActsAs) -> None:
    # (FOR SHARE: a change of the role committing meanwhile is waited for, and then read.)
    a.refuse(await db.fetchval("SELECT role FROM members WHERE group_id = $1 AND user_id = $2 FOR SHARE",
                               a.group_id, a.user_id))


@applies(c.OwnsNoLiveGroup)
async def _owns_no_live_group(db: Conn, o: c.OwnsNoLiveGroup) -> None:
    if await db.fetchval(numbered(c.OWNS_LIVE_GROUP), o.user_id) is not None:
        raise ContractError("conflict", "the user still owns a live group")


@applies(c.IdentityHeld)
async def _identity_held(db: Conn, i: c.IdentityHeld) -> None:
    if await db.fetchval(numbered(c.ERASED_ACCOUNT), i.user_id) is not None:
        raise ContractError("forbidden", c.IDENTITY_ERASED)


@applies(c.SetGroupFields)
async def _set_group_fields(db: Conn, s: c.SetGroupFields) -> None:
    sets, values = _set_clause(s.fields, c.GROUP_FIELDS)
    await db.execute(f"UPDATE groups SET {sets} WHERE group_id = ${len(values) + 1}", *values, s.group_id)


@applies(c.AdvanceSeqs)
async def _advance_seqs(db: Conn, a: c.AdvanceSeqs) -> int:
    # (as SQLite's: a group indexed up to its last seq is indexed past the gap, which holds nothing.
    # A group that never had a message has no progress row here, where SQLite has one from its
    # creation: given one first, or the index task would walk its whole gap, 5,000 empty seqs a
    # slice, and refuse its searches meanwhile)
    await db.execute("INSERT INTO search_progress (group_id, indexed_seq) SELECT group_id, 0 FROM groups"
                     " WHERE last_seq = 0 ON CONFLICT (group_id) DO NOTHING")
    if a.floors:  # (the replaced database's last seqs: each group moves up from the higher)
        ids, floors = [gid for gid, _ in a.floors], [f for _, f in a.floors]
        await db.execute("UPDATE search_progress p SET indexed_seq = f.seq FROM groups g,"
                         " unnest($1::text[], $2::bigint[]) AS f(group_id, seq) WHERE g.group_id = p.group_id"
                         " AND f.group_id = p.group_id AND p.indexed_seq >= g.last_seq AND p.indexed_seq < f.seq",
                         ids, floors)
        await db.execute("UPDATE groups g SET last_seq = f.seq FROM unnest($1::text[], $2::bigint[]) AS"
                         " f(group_id, seq) WHERE g.group_id = f.group_id AND g.last_seq < f.seq", ids, floors)
    await db.execute("UPDATE search_progress p SET indexed_seq = p.indexed_seq + $1 FROM groups g"
                     " WHERE g.group_id = p.group_id AND p.indexed_seq >= g.last_seq", a.gap)
    await db.execute("UPDATE message_clock SET rev = GREATEST(rev, $2) + $1, floor = GREATEST(rev, $2) + $1",
                     a.clock_gap, a.clock_floor)
    id_floors = dict(a.id_floors)
    for table, column in c.RESTORED_IDS:  # (its identity sequence: the higher of it and the highest id)
        await db.execute(
            f"SELECT setval(s.seq, GREATEST(COALESCE(pg_sequence_last_value(s.seq), 0),"
            f" COALESCE((SELECT MAX({column}) FROM {table}), 0), $1) + $2)"
            f" FROM (SELECT pg_get_serial_sequence('{table}', '{column}')::regclass AS seq) s",
            id_floors.get(table, 0), c.RESTORE_ID_GAP)
    moved = _count(await db.execute("UPDATE groups SET last_seq = last_seq + $1", a.gap))
    c.seq_limit_passed(await db.fetchval("SELECT MAX(last_seq) FROM groups"))
    return moved


@applies(c.TransferOwner)
async def _transfer_owner(db: Conn, t: c.TransferOwner) -> None:
    # Re-checked here: only the current owner of a live group can hand it on. The row lock of
    # the UPDATE makes a racing transfer wait, and READ COMMITTED re-evaluates its WHERE on the
    # committed row, so the second of two transfers from one owner matches nothing.
    await _check_user_caps(db, t.to_user, t.caps, creating=True)  # (its lock before the row's)
    await _account_still_open(db, t.to_user)
    if t.group_caps is not None:
        await _lock_group_caps(db, t.group_id)  # a join or promotion by another writer waits
    n = _count(await db.execute(
        "UPDATE groups SET owner_id = $1 WHERE group_id = $2 AND owner_id = $3"
        " AND dissolved_at IS NULL AND closed_at IS NULL",
        t.to_user, t.group_id, t.from_user,
    ))
    if n != 1:
        raise ContractError("conflict", "the group's ownership changed meanwhile")
    await db.execute("UPDATE members SET role = 'member' WHERE group_id = $1 AND user_id = $2 AND role = 'owner'",
                     t.group_id, t.from_user)
    n = _count(await db.execute("UPDATE members SET role = 'owner', muted_until = 0"
                                " WHERE group_id = $1 AND user_id = $2", t.group_id, t.to_user))
    if n != 1:
        raise ContractError("conflict", "the new owner is no longer a member")
    if t.group_caps is not None:
        # Counted after the UPDATE above took the group's row (a second transfer of this group waits)
        # and under the group's caps lock (so does a join or promotion by another writer).
        row = await db.fetchrow("SELECT COUNT(*), COUNT(*) FILTER (WHERE role = 'admin') FROM members"
                                " WHERE group_id = $1", t.group_id)
        t.group_caps.refuse(int(row[0]), int(row[1]))
    if t.ts is not None:
        await _log_membership(db, t.group_id, t.to_user, "owner", t.actor, t.ts)
        await _log_membership(db, t.group_id, t.from_user, "owner_handed_on", t.actor, t.ts)


@applies(c.AddMember)
async def _add_member_change(db: Conn, m: c.AddMember) -> None:
    await _check_user_caps(db, m.user_id, m.caps, creating=False)  # the user's lock, then the group's
    await _account_still_open(db, m.user_id, own=m.caps is not None and m.caps.own)
    await _check_group_room(db, m)
    await _add_member(db, m)


async def _refuse_owner(db: Conn, group_id: str, user_id: str) -> None:
    """The store keeps one owner: its row is neither removed nor given another role (memory may
    have claimed a transfer whose write then failed, with a leave or a kick stored after it). The
    group's row is read FOR SHARE: a transfer in another transaction is waited for."""
    if await db.fetchval("SELECT owner_id FROM groups WHERE group_id = $1 FOR SHARE", group_id) == user_id:
        raise ContractError("conflict", "the group's owner stays its owner until it is handed on")


@applies(c.RemoveMember)
async def _remove_member(db: Conn, m: c.RemoveMember) -> None:
    await _refuse_owner(db, m.group_id, m.user_id)
    await db.execute("DELETE FROM members WHERE group_id = $1 AND user_id = $2", m.group_id, m.user_id)
    await _log_membership(db, m.group_id, m.user_id, m.action, m.actor, m.ts)


@applies(c.SetMemberRole)
async def _set_member_role(db: Conn, m: c.SetMemberRole) -> None:
    await _refuse_owner(db, m.group_id, m.user_id)
    if m.max_admins is not None:
        await _lock_group_caps(db, m.group_id)
        m.refuse(await db.fetchval("SELECT COUNT(*) FROM members WHERE group_id = $1 AND role = 'admin'"
                                   " AND user_id <> $2", m.group_id, m.user_id))
    await db.execute("UPDATE members SET role = $1 WHERE group_id = $2 AND user_id = $3",
                     m.role, m.group_id, m.user_id)
    if m.ts is not None:
        await _log_membership(db, m.group_id, m.user_id, m.role, m.actor, m.ts)


@applies(c.SetMuted)
async def _set_muted(db: Conn, m: c.SetMuted) -> None:
    await db.execute("UPDATE members SET muted_until = $1 WHERE group_id = $2 AND user_id = $3",
                     m.until, m.group_id, m.user_id)


@applies(c.PutJoinRequest)
async def _put_join_request(db: Conn, r: c.PutJoinRequest) -> None:
    await db.execute(
        "INSERT INTO join_requests (group_id, user_id, ts) VALUES ($1, $2, $3)"
        " ON CONFLICT (group_id, user_id) DO UPDATE SET ts = excluded.ts",
        r.group_id, r.user_id, r.ts,
    )


@applies(c.DropJoinRequest)
async def _drop_join_request(db: Conn, r: c.DropJoinRequest) -> None:
    await db.execute("DELETE FROM join_requests WHERE group_id = $1 AND user_id = $2", r.group_id, r.user_id)


@applies(c.DropGroupRequests)
async def _drop_group_requests(db: Conn, d: c.DropGroupRequests) -> None:
    await db.execute("DELETE FROM join_requests WHERE group_id = $1", d.group_id)
    await db.execute("DELETE FROM invitations WHERE group_id = $1", d.group_id)


@applies(c.PutInvitation)
async def _put_invitation(db: Conn, i: c.PutInvitation) -> None:
    await db.execute(
        "INSERT INTO invitations (group_id, user_id, inviter_id, ts) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (group_id, user_id) DO UPDATE SET inviter_id = excluded.inviter_id, ts = excluded.ts",
        i.group_id, i.user_id, i.inviter_id, i.ts,
    )


# -- messages --------------------------------------------------------------------------------
@applies(c.DeleteMessages)
async def _delete_messages(db: Conn, d: c.DeleteMessages) -> list[tuple[str, int]]:
    rows = await db.fetch(
        "UPDATE messages m SET deleted_at = $1, deleted_by = $2 FROM unnest($3::text[], $4::bigint[]) AS x(g, s)"
        " WHERE m.group_id = x.g AND m.seq = x.s AND m.deleted_at IS NULL RETURNING m.group_id, m.seq, m.held",
        d.deleted_at, d.deleted_by, [gid for gid, _ in d.items], [seq for _, seq in d.items],
    )
    if d.record is not None and rows:
        hidden = sorted(int(r[1]) for r in rows)
        await append_audit(db, c.with_detail(d.record, removed=len(hidden), seqs=hidden))
    return sorted((r[0], int(r[1])) for r in rows if r[2] == 0)


@applies(c.SetMessageHeld)
async def _set_message_held(db: Conn, h: c.SetMessageHeld) -> None:
    await db.execute("UPDATE messages SET held = $1 WHERE group_id = $2 AND seq = $3", h.held, h.group_id, h.seq)


@applies(c.MarkRead)
async def _mark_read(db: Conn, r: c.MarkRead) -> None:
    # The WHERE keeps the marker from moving back, whatever order two marks (or two nodes) commit in.
    await db.execute(
        "INSERT INTO read_state (user_id, group_id, seq) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id, group_id) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > read_state.seq",
        r.user_id, r.group_id, r.seq,
    )


@applies(c.LogNetwork)
async def _log_network(db: Conn, n: c.LogNetwork) -> None:
    await db.execute("INSERT INTO netlog (ts, kind, user_id, ip, detail) VALUES ($1, $2, $3, $4, $5)",
                     n.ts, n.kind, n.user_id, n.ip, n.detail)


@applies(c.QueueReview)
async def _queue_review(db: Conn, q: c.QueueReview) -> None:
    await db.execute(
        "INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7)",
        q.group_id, q.seq, q.sender_id, q.action, q.category, q.term, q.created_at,
    )


async def _lock_message(db: Conn, group_id: str, seq: int, where: str, *params: Any) -> asyncpg.Record | None:
    """The message's row, locked to the end of the transaction (edits and reactions on one message
    from several nodes wait for each other), if it exists and matches ``where``."""
    return await db.fetchrow(
        f"SELECT text, COALESCE(edited_at, ts) FROM messages WHERE group_id = $1 AND seq = $2 AND {where}"
        " FOR UPDATE", group_id, seq, *params)


_QUEUE_SHOWN_TEXT = numbered(moderation.QUEUE_SHOWN_TEXT) + " RETURNING item_id"


@applies(c.QueueShownText)
async def _queue_shown_text(db: Conn, q: c.QueueShownText) -> int:
    item_id: int = await db.fetchval(_QUEUE_SHOWN_TEXT, q.kind, q.group_id, q.account_id, q.sender_id, q.action,
                                     q.category, q.term, q.created_at, q.text, q.expect)
    return item_id  # the item's id (a held text's held_id)


@applies(c.SetShownText)
async def _set_shown_text(db: Conn, s: c.SetShownText) -> None:
    keyed = s.name_key is not None
    params = (s.value, *((s.name_key,) if keyed else ()), s.target_id, s.expect)
    try:
        n = _count(await db.execute(numbered(moderation.set_shown_text_sql(s.kind, keyed)), *params))
    except asyncpg.UniqueViolationError:
        raise ContractError("conflict", "that account name is taken") from None
    if n != 1:
        raise ContractError("conflict", f"the {s.kind.replace('_', ' ')} changed meanwhile")
    if s.kind == "account_name" and s.value != s.expect:
        await hold_readings(db, s.target_id, s.value)


@applies(c.EditMessage)
async def _edit_message(db: Conn, e: c.EditMessage) -> None:
    old = await _lock_message(db, e.group_id, e.seq, "sender_id = $3 AND deleted_at IS NULL", e.sender_id)
    if old is None:
        raise ContractError("not_found", f"no message {e.seq} of yours in group {e.group_id}")
    # The text being replaced becomes the next earlier version, written at its own time.
    await db.execute(
        "INSERT INTO message_versions (group_id, seq, version, text, ts)"
        " SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4 FROM message_versions WHERE group_id = $1 AND seq = $2",
        e.group_id, e.seq, old[0], old[1])
    await db.execute("UPDATE messages SET text = $1, edited_at = $2 WHERE group_id = $3 AND seq = $4",
                     e.text, e.edited_at, e.group_id, e.seq)


@applies(c.SetReaction)
async def _set_reaction(db: Conn, r: c.SetReaction) -> bool:
    if await _lock_message(db, r.group_id, r.seq, "deleted_at IS NULL AND held = 0") is None:
        raise ContractError("not_found", f"no message {r.seq} in group {r.group_id}")
    key = (r.group_id, r.seq, r.user_id)
    if not r.on:
        changed = _count(await db.execute(
            "DELETE FROM reactions WHERE group_id = $1 AND seq = $2 AND user_id = $3 AND emoji = $4",
            *key, r.emoji)) == 1
    else:
        changed = _count(await db.execute(
            "INSERT INTO reactions (group_id, seq, user_id, emoji, ts) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (group_id, seq, user_id, emoji) DO NOTHING", *key, r.emoji, r.ts)) == 1
        if changed and await db.fetchval(
                "SELECT COUNT(*) FROM reactions WHERE group_id = $1 AND seq = $2 AND user_id = $3",
                *key) > r.max_per_user:
            raise ContractError("conflict", f"at most {r.max_per_user} different reactions per message")
    if changed:  # (kept for the record, a reaction taken back too)
        await db.execute("INSERT INTO reaction_log (group_id, seq, user_id, emoji, added, ts)"
                         " VALUES ($1, $2, $3, $4, $5, $6)", *key, r.emoji, r.on, r.ts)
    return changed


@applies(c.SetPin)
async def _set_pin(db: Conn, p: c.SetPin) -> None:
    if p.on:
        # (as SQLite's: the message may have been purged since it was read. The group's caps lock,
        # then the message's row, as every change takes them: writers on several nodes queue here)
        await _lock_group_caps(db, p.group_id)
        if await _lock_message(db, p.group_id, p.seq, c.PINNABLE) is None:  # (deleted since read: as SQLite's)
            raise ContractError("not_found", f"no message {p.seq} in group {p.group_id}")
        pinned = [r[0] for r in await db.fetch("SELECT seq FROM group_pins WHERE group_id = $1", p.group_id)]
        if p.seq not in pinned:
            check_pin_room(len(pinned), p.max_pins)
        await db.execute("INSERT INTO group_pins (group_id, seq, pinned_at, pinned_by) VALUES ($1, $2, $3, $4)"
                         " ON CONFLICT (group_id, seq) DO NOTHING", p.group_id, p.seq, p.ts, p.by)
    else:
        await db.execute("DELETE FROM group_pins WHERE group_id = $1 AND seq = $2", p.group_id, p.seq)


# -- complaints ----------------------------------------------------------------------------------
@applies(c.InsertReport)
async def _insert_report(db: Conn, r: c.InsertReport) -> tuple[int, bool]:
    # The handler's duplicate check read before this write was queued: check again here, under
    # a lock on the reporter (other writers' transactions queue on it), so a second report
    # racing the first finds it.
    await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_REPORTER, r.reporter_id)
    existing = await db.fetchval(
        "SELECT report_id FROM reports WHERE reporter_id = $1 AND target_type = $2 AND status = 'open'"
        " AND group_id IS NOT DISTINCT FROM $3::text AND seq IS NOT DISTINCT FROM $4::bigint"
        " AND user_id IS NOT DISTINCT FROM $5::text AND account_id IS NOT DISTINCT FROM $6::text"
        " AND post_id IS NOT DISTINCT FROM $7::bigint AND comment_id IS NOT DISTINCT FROM $8::bigint",
        r.reporter_id, r.target_type, r.group_id, r.seq, r.user_id, r.account_id, r.post_id, r.comment_id,
    )
    if existing is not None:
        return int(existing), True
    named = r.named_content()
    if named is not None and await db.fetchval(numbered(named[0]), *named[1]) is None:
        raise ContractError("not_found", named[2])
    report_id = await db.fetchval(
        "INSERT INTO reports (reporter_id, target_type, group_id, seq, user_id, reason, detail, created_at,"
        " account_id, post_id, comment_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING report_id",
        r.reporter_id, r.target_type, r.group_id, r.seq, r.user_id, r.reason, r.detail, r.created_at,
        r.account_id, r.post_id, r.comment_id,
    )
    return int(report_id), False


@applies(c.ResolveReport)
async def _resolve_report(db: Conn, r: c.ResolveReport) -> None:
    n = _count(await db.execute(
        "UPDATE reports SET status = 'resolved', outcome = $1, note = $2, resolved_at = $3, resolved_by = $4"
        " WHERE report_id = $5 AND status = 'open'",
        r.outcome, r.note, r.resolved_at, r.resolved_by, r.report_id,
    ))
    if n != 1:
        raise ContractError("conflict", f"report {r.report_id} is already resolved")


# -- platform governance ----------------------------------------------------------------------------
@applies(c.AddSanction)
async def _add_sanction(db: Conn, s: c.AddSanction) -> int:
    sanction_id = await db.fetchval(
        "INSERT INTO sanctions (kind, target_type, target_id, reason, actor, starts_at, expires_at, report_id,"
        " credit_taken, cause) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id",
        s.kind, s.target_type, s.target_id, s.reason, s.actor, s.starts_at, s.expires_at, s.report_id,
        s.credit_taken, s.cause,
    )
    for old in s.replaces:
        await _lift(db, old, s.starts_at, s.actor, s.lift_reason, replaced_by=int(sanction_id))
    if s.record is not None:
        await append_audit(db, c.with_detail(s.record, sanction_id=int(sanction_id)))
    return int(sanction_id)  # the sanction id


@applies(c.AddRecord)
async def _add_record(db: Conn, r: c.AddRecord) -> None:
    await append_audit(db, r.entry)


# An earlier measure on the message that took its credit (``MessagePenalty``): by the group's entries.
_MESSAGE_PAID = (
    "SELECT 1 FROM audit WHERE group_id = $1 AND action = ANY($2::text[])"
    " AND (detail::jsonb ->> 'seq') = $3"
    " AND COALESCE((detail::jsonb ->> 'credit_taken')::bigint,"
    " CASE WHEN action = 'resolve_report' AND (detail::jsonb ->> 'outcome') IS DISTINCT FROM 'upheld'"
    " THEN 0 ELSE 1 END) > 0"
    " LIMIT 1"
)


# An earlier measure on the comment that took its author's credit (``CommentPenalty``).
_COMMENT_PAID = (
    "SELECT 1 FROM audit WHERE action = ANY($1::text[])"
    " AND (detail::jsonb ->> 'comment_id') = $2"
    " AND COALESCE((detail::jsonb ->> 'credit_taken')::bigint,"
    " CASE WHEN action = 'resolve_report' AND (detail::jsonb ->> 'outcome') IS DISTINCT FROM 'upheld' THEN 0"
    " WHEN (detail::jsonb ->> 'term') IS NOT NULL THEN 0 ELSE 1 END) > 0"
    " LIMIT 1"
)


# An earlier measure on the post itself (its rejection in review, an upheld report about it) that took
# its author's credit (``PostPenalty``).
_POST_PAID = (
    "SELECT 1 FROM audit WHERE action = ANY($1::text[])"
    " AND (detail::jsonb ->> 'post_id') = $2 AND (detail::jsonb ->> 'comment_id') IS NULL"
    " AND COALESCE((detail::jsonb ->> 'credit_taken')::bigint,"
    " CASE WHEN action = 'resolve_report' AND (detail::jsonb ->> 'outcome') IS DISTINCT FROM 'upheld'"
    " THEN 0 ELSE 1 END) > 0"
    " LIMIT 1"
)


async def _take_once(db: Conn, user_id: str | None, points: int, record: c.Audit, lock: tuple[int, str],
                     paid_sql: str, *args: Any) -> int:
    """Take ``points`` from ``user_id`` unless ``paid_sql`` finds an earlier measure that took them,
    under advisory lock ``lock``; append ``record`` with ``credit_taken``. The points taken."""
    taken = 0
    if user_id is not None and points > 0:
        # To the end of the transaction: a second measure on the content waits for the first to commit,
        # and then (READ COMMITTED: a new snapshot for each statement) reads its entry below.
        await db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", *lock)
        paid = await db.fetchval(paid_sql, *args)
        if paid is None:
            await db.execute("UPDATE users SET credit_score = credit_score - $1 WHERE user_id = $2",
                             points, user_id)
            taken = points
    await append_audit(db, c.with_detail(record, credit_taken=taken))
    return taken


@applies(c.MessagePenalty)
async def _message_penalty(db: Conn, p: c.MessagePenalty) -> int:
    return await _take_once(db, p.user_id, p.points, p.record, (LOCK_MESSAGE_PENALTY, f"{p.group_id}/{p.seq}"),
                            _MESSAGE_PAID, p.group_id, list(c.MESSAGE_MEASURES), str(p.seq))


@applies(c.CommentPenalty)
async def _comment_penalty(db: Conn, p: c.CommentPenalty) -> int:
    return await _take_once(db, p.user_id, p.points, p.record, (LOCK_COMMENT_PENALTY, str(p.comment_id)),
                            _COMMENT_PAID, list(c.COMMENT_MEASURES), str(p.comment_id))


@applies(c.PostPenalty)
async def _post_penalty(db: Conn, p: c.PostPenalty) -> int:
    return await _take_once(db, p.user_id, p.points, p.record, (LOCK_POST_PENALTY, str(p.post_id)),
                            _POST_PAID, list(c.POST_MEASURES), str(p.post_id))


@applies(c.DecideReview)
async def _decide_review(db: Conn, d: c.DecideReview) -> None:
    n = _count(await db.execute(
        "UPDATE review_queue SET status = 'decided', decision = $1, note = $2, decided_at = $3"
        " WHERE item_id = $4 AND status = 'open'",
        d.decision, d.note, d.decided_at, d.item_id,
    ))
    if n != 1:
        raise ContractError("conflict", f"review item {d.item_id} is already decided")


@applies(c.SettleMessageReviews)
async def _settle_message_reviews(db: Conn, s: c.SettleMessageReviews) -> int:
    return _count(await db.execute(
        "UPDATE review_queue SET status = 'decided', decision = $1, note = $2, decided_at = $3"
        " WHERE status = 'open' AND kind = 'message' AND group_id = $4 AND seq = $5",
        s.decision, s.note, s.decided_at, s.group_id, s.seq,
    ))


@applies(c.InsertAgreement)
async def _insert_agreement(db: Conn, a: c.InsertAgreement) -> None:
    try:
        await db.execute("INSERT INTO agreements (version, rules, agreement, created_at) VALUES ($1, $2, $3, $4)",
                         a.version, a.rules, a.agreement, a.created_at)
    except asyncpg.UniqueViolationError:
        raise ContractError("conflict", f"version {a.version} was used before; pick a new one") from None


@applies(c.SuspendAccountCategory)
async def _suspend_account_category(db: Conn, s: c.SuspendAccountCategory) -> None:
    await db.execute(
        "UPDATE accounts SET suspended_until = GREATEST(suspended_until, $1) WHERE account_id = ANY($2::text[])"
        " AND closed_at IS NULL",
        s.until, list(s.accounts),
    )
    await db.execute(
        "INSERT INTO account_category_freezes (category, until) VALUES ($1, $2)"
        " ON CONFLICT (category) DO UPDATE SET until = GREATEST(account_category_freezes.until, excluded.until)",
        s.category, s.until,
    )


@applies(c.SuspendCategory)
async def _suspend_category(db: Conn, s: c.SuspendCategory) -> None:
    await db.execute(
        "UPDATE groups SET suspended_until = GREATEST(suspended_until, $1)"
        " WHERE group_id = ANY($2::text[]) AND dissolved_at IS NULL AND closed_at IS NULL",
        s.until, list(s.groups),
    )
    await db.execute(
        "INSERT INTO category_freezes (category, until) VALUES ($1, $2)"
        " ON CONFLICT (category) DO UPDATE SET until = GREATEST(category_freezes.until, excluded.until)",
        s.category, s.until,
    )


@applies(c.AddHold)
async def _add_hold(db: Conn, h: c.AddHold) -> int:
    hold_id = int(await db.fetchval(
        "INSERT INTO legal_holds (target_type, target_id, reason, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        h.target_type, h.target_id, h.reason, h.created_at,
    ))
    a = h.audit
    await append_audit(db, c.Audit(a.ts, a.actor_type, a.actor_id, a.action, a.group_id, a.target_id, a.reason,
                                   {**(a.detail or {}), "hold_id": hold_id}))
    return hold_id


@applies(c.ReleaseHold)
async def _release_hold(db: Conn, r: c.ReleaseHold) -> None:
    n = _count(await db.execute(
        "UPDATE legal_holds SET released_at = $1, release_reason = $2 WHERE id = $3 AND released_at IS NULL",
        r.released_at, r.reason, r.hold_id,
    ))
    if n != 1:
        raise ContractError("conflict", f"hold {r.hold_id} is unknown or already released")


# -- measures that finish: lifting sanctions, appeals ---------------------------------------------
@applies(c.CreditGivenBack)
async def _credit_given_back(db: Conn, x: c.CreditGivenBack) -> None:
    n = _count(await db.execute(
        "UPDATE sanctions SET credit_given_back_at = $1 WHERE id = $2 AND credit_given_back_at IS NULL",
        x.at, x.sanction_id))
    if n != 1:
        raise ContractError("conflict", f"the credit points of sanction {x.sanction_id} were given back already")


@applies(c.LiftSanction)
async def _lift_sanction(db: Conn, x: c.LiftSanction) -> None:
    await _lift(db, x.sanction_id, x.lifted_at, x.lifted_by, x.reason)


async def _lift(db: Conn, sanction_id: int, at: int, by: str, reason: str, replaced_by: int | None = None) -> None:
    """Lift a standing sanction (``replaced_by``: the sanction that cut it short, see AddSanction)."""
    n = _count(await db.execute(
        "UPDATE sanctions SET lifted_at = $1, lifted_by = $2, lift_reason = $3, replaced_by = $4"
        " WHERE id = $5 AND lifted_at IS NULL",
        at, by, reason, replaced_by, sanction_id,
    ))
    if n != 1:
        raise ContractError("conflict", f"sanction {sanction_id} is unknown or already lifted")


@applies(c.InsertAppeal)
async def _insert_appeal(db: Conn, a: c.InsertAppeal) -> int:
    # FOR SHARE: a LiftSanction on another connection waits for this transaction (or this
    # one waits for it and then sees the sanction lifted), so no appeal lands on a lifted one.
    live = await db.fetchval("SELECT 1 FROM sanctions WHERE id = $1 AND lifted_at IS NULL FOR SHARE", a.sanction_id)
    if live is None:
        raise ContractError("conflict", f"sanction {a.sanction_id} was lifted meanwhile")
    try:
        appeal_id = await db.fetchval(
            "INSERT INTO appeals (sanction_id, user_id, text, created_at) VALUES ($1, $2, $3, $4) RETURNING appeal_id",
            a.sanction_id, a.user_id, a.text, a.created_at,
        )
    except asyncpg.UniqueViolationError:
        raise ContractError("conflict", f"you already have an open appeal against sanction {a.sanction_id}") from None
    return int(appeal_id)


@applies(c.DecideAppeal)
async def _decide_appeal(db: Conn, d: c.DecideAppeal) -> None:
    n = _count(await db.execute(
        "UPDATE appeals SET status = 'decided', outcome = $1, note = $2, decided_at = $3, decided_by = $4"
        " WHERE appeal_id = $5 AND status = 'open'",
        d.outcome, d.note, d.decided_at, d.decided_by, d.appeal_id,
    ))
    if n != 1:
        raise ContractError("conflict", f"appeal {d.appeal_id} is already decided")
