"""Operator commands on records (G13, G6): purge, legal holds, export, identity-key rotation.

Registered with :mod:`server.operator` like :mod:`server.operator_commands`;
every command that changes something writes its enforcement-record entry.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from governance.identity import username_key
from server import export as exporter
from server import repo, retention
from server.operator import OperatorError, Result, command
from server.repo import Audit
from server.security import read_key

OPERATOR = "operator"


def _reason(args: dict[str, Any]) -> str:
    reason = str(args.get("reason") or "").strip()
    if not reason:
        raise OperatorError("--reason is required")
    return reason


def _audit(app, action: str, reason: str, group_id: str | None = None, target_id: str | None = None,
           **detail: Any) -> Audit:
    return Audit(app.now_ms(), "operator", OPERATOR, action, group_id, target_id, reason, detail or None)


# -- purge ---------------------------------------------------------------------------------
@command("purge")
async def purge(app, args: dict[str, Any]) -> Result:
    """Run the retention purge now. ``--now`` purges as of an earlier time (never a later one).

    As of an earlier time the cutoff is earlier, so it removes only records
    that were already past retention then: a subset of what a purge now
    removes. A later time would remove records still inside their period, so
    it is refused.
    """
    as_of = args.get("now")
    if as_of is not None:
        if type(as_of) is not int:
            raise OperatorError("--now must be a time")
        if as_of > app.now_ms():
            raise OperatorError("--now is in the future: a purge as of a later time would remove records "
                                "still inside their retention period")
    removed = await retention.purge(app, as_of, actor=OPERATOR)
    total = sum(removed.values())
    lines = [f"{name}: {n}" for name, n in removed.items()]
    lines.append(f"removed {total} past retention ({app.cfg.retention.days} days)")
    return Result(lines)


# -- legal holds ----------------------------------------------------------------------------
def _hold_target(app, args: dict[str, Any]) -> tuple[str, str, str]:
    gid, name = args.get("group_id"), args.get("username")
    if (gid is None) == (name is None):
        raise OperatorError("hold needs exactly one of --group or --user")
    if gid is not None:
        gid = str(gid)
        if gid not in app.state.groups:
            raise OperatorError(f"unknown group {gid}")
        return "group", gid, f"group {gid}"
    uid = app.state.by_username.get(username_key(str(name)))
    if uid is None:
        raise OperatorError(f"unknown user {name}")
    return "user", uid, f"user {app.state.users[uid].username}"


@command("hold")
async def hold(app, args: dict[str, Any]) -> Result:
    kind, target_id, label = _hold_target(app, args)
    reason = _reason(args)
    now = app.now_ms()

    async def fn(db: Any) -> int:
        cur = await db.execute(
            "INSERT INTO legal_holds (target_type, target_id, reason, created_at) VALUES (?, ?, ?, ?)",
            (kind, target_id, reason, now))
        hold_id = cur.lastrowid
        await repo.append_audit(db, _audit(
            app, "legal_hold", reason, target_id if kind == "group" else None, target_id,
            hold_id=hold_id, target_type=kind))
        return hold_id

    hold_id = await app.store.write(fn)
    return Result([f"hold {hold_id} on {label}: its records are kept past retention until released"])


@command("release-hold")
async def release_hold(app, args: dict[str, Any]) -> Result:
    hold_id = args.get("hold_id")
    if type(hold_id) is not int or hold_id <= 0:
        raise OperatorError("HOLD_ID must be a hold id")
    reason = _reason(args)
    row = await app.store.fetchone(
        "SELECT target_type, target_id, released_at FROM legal_holds WHERE id = ?", (hold_id,))
    if row is None:
        raise OperatorError(f"unknown hold {hold_id}")
    kind, target_id, released_at = row
    if released_at is not None:
        raise OperatorError(f"hold {hold_id} is already released")
    now = app.now_ms()
    await app.store.write(repo.change(
        ("UPDATE legal_holds SET released_at = ?, release_reason = ? WHERE id = ? AND released_at IS NULL",
         (now, reason, hold_id)),
        audit=_audit(app, "release_hold", reason, target_id if kind == "group" else None, target_id,
                     hold_id=hold_id, target_type=kind),
    ))
    return Result([f"hold {hold_id} released; the next purge treats {kind} {target_id} by age again"])


_HOLD_COLS = ("id", "target_type", "target_id", "reason", "created_at", "released_at", "release_reason")


@command("holds")
async def holds(app, args: dict[str, Any]) -> Result:
    where = "" if args.get("all") else " WHERE released_at IS NULL"
    rows = await app.store.fetchall(f"SELECT {', '.join(_HOLD_COLS)} FROM legal_holds{where} ORDER BY id")
    return Result([json.dumps(dict(zip(_HOLD_COLS, r)), ensure_ascii=False) for r in rows])


# -- export ---------------------------------------------------------------------------------
@command("export")
async def export(app, args: dict[str, Any]) -> Result:
    return Result(await exporter.export(app, args))


# -- identity-key rotation --------------------------------------------------------------------
_SEALED = ("phone_enc", "id_enc", "name_enc")


def _reseal_batch(app, after: str, limit: int) -> Any:
    """Re-seal one batch of accounts, reading and writing inside the writer's transaction."""

    async def fn(db: Any) -> tuple[str | None, int, int]:
        rows = await db.execute_fetchall(
            "SELECT user_id, phone_enc, id_enc, name_enc FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?",
            (after, limit))
        values = accounts = 0
        updates = []
        for uid, *blobs in rows:
            fresh = [app.vault.reseal(bytes(b) if b is not None else None) for b in blobs]
            if any(f is not None for f in fresh):
                accounts += 1
                values += sum(f is not None for f in fresh)
                updates.append((*(f if f is not None else b for f, b in zip(fresh, blobs)), uid))
        if updates:
            await db.executemany(
                "UPDATE users SET phone_enc = ?, id_enc = ?, name_enc = ? WHERE user_id = ?", updates)
        last = rows[-1][0] if len(rows) == limit else None
        return last, values, accounts

    return fn


@command("rotate-key")
async def rotate_key(app, args: dict[str, Any]) -> Result:
    """Make a new identity key current and re-seal every sealed value under it, in batches."""
    path = args.get("new_key_file")
    if not path or not Path(str(path)).is_absolute():
        raise OperatorError("--new-key-file must name a file (an absolute path; qunguan admin makes it one)")
    reason = str(args.get("reason") or "").strip() or "identity key rotation"
    try:
        key = read_key(Path(str(path)).read_bytes())
    except OSError as err:
        raise OperatorError(f"cannot read --new-key-file {path}: {err.strerror or err}") from None
    lock = getattr(app, "_rotate_lock", None)
    if lock is None:
        lock = app._rotate_lock = asyncio.Lock()
    if lock.locked():
        raise OperatorError("a key rotation is already running")
    async with lock:
        try:
            key_id, is_new = await app.vault.rotate(app.store, key, app.now_ms())
        except ValueError as err:
            raise OperatorError(str(err)) from None
        after, values, accounts = "", 0, 0
        while after is not None:
            after, v, a = await app.store.write(_reseal_batch(app, after, app.cfg.retention.purge_batch))
            values += v
            accounts += a
            await asyncio.sleep(0)
        left = await app.store.fetchone(
            "SELECT COUNT(*) FROM users WHERE " + " OR ".join(
                f"(length({c}) > 0 AND substr({c}, 1, 1) != ?)" for c in _SEALED),
            (bytes([key_id]),) * len(_SEALED))
        await app.store.write(repo.change(audit=_audit(
            app, "rotate_key", reason, key_id=key_id, new_key=is_new, values=values, accounts=accounts)))
    lines = [
        f"identity key id {key_id} is now current" + ("" if is_new else " (it was already registered)"),
        f"re-sealed {values} values in {accounts} accounts; {left[0]} accounts still hold another key's values",
        f"before the next restart set identity.key_file = \"{path}\" (or put the key in identity.key_env); "
        "the old key is no longer needed once no account holds its values",
    ]
    return Result(lines)
