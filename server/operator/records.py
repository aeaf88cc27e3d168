"""Operator commands on records (G13, G6): purge, legal holds, export, identity-key rotation.

Registered with :mod:`server.operator` like :mod:`server.operator.groups_people`;
every command that changes something writes its enforcement-record entry.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import string
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import retention
from server.handlers.common import known_group
from server.intervals import job_ran
from server.operator import export as exporter
from server.operator.channel import OperatorError, Result, command
from server.operator.common import (
    apply,
    audit,
    id_of,
    operator_name,
    optional_reason,
    reason_of,
    target_label,
    time_of,
    user_of,
    username_of,
)
from server.security import read_key
from server.storage.changes import AddHold, ReleaseHold, ResealBatch

if TYPE_CHECKING:
    from server.context import Context


# -- purge ---------------------------------------------------------------------------------
@command("purge")
async def purge(app: Context, args: dict[str, Any]) -> Result:
    """Run the retention purge now. ``--now`` purges as of an earlier time (never a later one).

    As of an earlier time the cutoff is earlier, so it removes only records
    that were already past retention then: a subset of what a purge now
    removes. A later time would remove records still inside their period, so
    it is refused.

    A purge as of now is the service's last purge (``job_runs``): the scheduled one comes an
    interval after it, not right after. One as of an earlier time is not (it left out what the
    scheduled purge removes).
    """
    as_of = time_of(args, "now", "--now must be a time")
    if as_of is not None:
        if as_of > app.now_ms():
            raise OperatorError("--now is in the future: a purge as of a later time would remove records "
                                "still inside their retention period")
    removed = await retention.purge(app, as_of, actor=operator_name())
    if as_of is None:
        await job_ran(app, retention.JOB)
        retention.purged_by_hand(app)
    total = sum(removed.values())
    lines = [f"{name}: {n}" for name, n in removed.items()]
    lines.append(f"removed {total} past retention ({app.cfg.retention.days} days)")
    return Result(lines)


# -- legal holds ----------------------------------------------------------------------------
async def _hold_target(app: Context, args: dict[str, Any]) -> tuple[str, str, str]:
    gid, name, aid = args.get("group_id"), args.get("username"), args.get("account_id")
    if sum(x is not None for x in (gid, name, aid)) != 1:
        raise OperatorError("hold needs exactly one of --group, --user or --account")
    if aid is not None:  # a public account: its posts, comments and read logs (P10-P13)
        aid = str(aid)
        if aid not in app.state.accounts:
            raise OperatorError(f"unknown account {aid}")
        return "account", aid, f"account {aid}"
    if gid is not None:
        gid = str(gid)
        if await known_group(app, gid) is None:
            raise OperatorError(f"unknown group {gid}")
        return "group", gid, f"group {gid}"
    user = user_of(app, args)
    return "user", user.user_id, target_label(app, "user", user.user_id)


@command("hold")
async def hold(app: Context, args: dict[str, Any]) -> Result:
    kind, target_id, label = await _hold_target(app, args)
    reason = reason_of(args)
    record = audit(app, "legal_hold", reason, target_id if kind == "group" else None, target_id, target_type=kind)
    # The record entry is written by AddHold itself, with the new hold's id in its detail.
    (hold_id,) = await apply(app, AddHold(kind, target_id, reason, app.now_ms(), record))
    return Result([f"hold {hold_id} on {label}: its records are kept past retention until released"])


@command("release-hold")
async def release_hold(app: Context, args: dict[str, Any]) -> Result:
    hold_id = id_of(args, "hold_id", "HOLD_ID must be a hold id")
    reason = reason_of(args)
    row = await app.store.hold(hold_id)
    if row is None:
        raise OperatorError(f"unknown hold {hold_id}")
    kind, target_id = row["target_type"], row["target_id"]
    already = f"hold {hold_id} is already released"
    if row["released_at"] is not None:
        raise OperatorError(already)
    # ReleaseHold re-checks inside the transaction that the hold is still in force
    # (holds are never deleted, so a refusal here means it was released meanwhile).
    await apply(app, ReleaseHold(hold_id, app.now_ms(), reason),
                audit=audit(app, "release_hold", reason, target_id if kind == "group" else None, target_id,
                            hold_id=hold_id, target_type=kind),
                conflict=already)
    # What this release changed depends on the holds that stand after it, on the same target.
    others = [r["id"] for r in await app.store.holds(include_released=False)
              if (r["target_type"], r["target_id"]) == (kind, target_id)]
    label = target_label(app, kind, target_id)
    if others:
        which = f"hold {others[0]}" if len(others) == 1 else "holds " + ", ".join(str(i) for i in others)
        line = (f"hold {hold_id} released; {label} is still held by {which}: its records stay past retention "
                f"until {'that is' if len(others) == 1 else 'those are'} released too")
    else:
        line = (f"hold {hold_id} released; no hold names {label} any more: the next purge removes its records "
                "past retention, except those another hold, an open report or a sanction in force keeps")
    return Result([line])


@command("holds")
async def holds(app: Context, args: dict[str, Any]) -> Result:
    rows = await app.store.holds(include_released=bool(args.get("all")))
    # A user's hold names the user by id and username (as other listings do), nothing more.
    return Result([json.dumps({**r, "username": username_of(app, r["target_id"]) if r["target_type"] == "user"
                               else None}, ensure_ascii=False) for r in rows])


# -- export ---------------------------------------------------------------------------------
@command("export")
async def export(app: Context, args: dict[str, Any]) -> Result:
    return Result(await exporter.export(app, args))


# -- identity-key rotation --------------------------------------------------------------------
_ROTATING: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


# A new identity key is written as the server writes its own key file (server/security.py: 32 random
# bytes in hex, a line); read_key would take any other text, even a few letters, as a passphrase,
# and everyone's phone, name and ID number would then be sealed under a guessable key.
KEY_HEX_DIGITS = 64
HEXDIGITS = frozenset(string.hexdigits.encode())
# 32 random bytes take fewer than 8 values with a chance under 1e-20: a key that does was typed, not drawn
# (all zeros, "abab..."), and everyone's identity would be sealed under a key anyone guesses.
_MIN_DISTINCT_BYTES = 8
_KEY_FILE_MAX = 4096  # more than a key file ever holds: a larger file is no key file (and is not read whole)


def _new_key(path: Path) -> bytes:
    """The key in ``path`` (64 hex digits, either case; blanks around them ignored), or refused with why.
    Opened without waiting (``O_NONBLOCK``: a pipe put there must not hold the reader) and read only
    when what was opened is a regular file; what another file holds is never described (a refusal
    says what a key file is, not how big the file named was)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise OperatorError(f"cannot read --new-key-file {path}: {err.strerror or err}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # (a folder, a pipe, a device)
            raise OperatorError(f"--new-key-file {path} is not a file")
        raw = os.read(fd, _KEY_FILE_MAX + 1)
    except OSError as err:
        raise OperatorError(f"cannot read --new-key-file {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    text = raw.strip()
    if len(raw) <= _KEY_FILE_MAX and len(text) == KEY_HEX_DIGITS and all(c in HEXDIGITS for c in text):
        key = read_key(text)
        if len(set(key)) < _MIN_DISTINCT_BYTES:
            raise OperatorError(f"--new-key-file {path} holds no random key (its 32 bytes are {len(set(key))} "
                                "values repeated, as all zeros are): make one with `python -c \"import secrets; "
                                "print(secrets.token_hex(32))\"`")
        return key
    raise OperatorError(f"--new-key-file {path} is not an identity key: it must hold 64 hex digits (32 random "
                        "bytes, as `python -c \"import secrets; print(secrets.token_hex(32))\"` writes)")


@command("rotate-key")
async def rotate_key(app: Context, args: dict[str, Any]) -> Result:
    """Make a new identity key current and re-seal every sealed value under it, in batches."""
    path = args.get("new_key_file")
    if not path or not Path(str(path)).is_absolute():
        raise OperatorError("--new-key-file must name a file (an absolute path; qunguan admin makes it one)")
    # (optional here, unlike most commands' reasons; masked as every reason is: reason_of)
    reason = optional_reason(args, "identity key rotation")
    key = await asyncio.to_thread(_new_key, Path(str(path)))
    lock = _ROTATING.setdefault(app, asyncio.Lock())
    if lock.locked():
        raise OperatorError("a key rotation is already running")
    async with lock:
        try:
            # (the switch on the record in its own transaction: a rotation cut short after it, by a
            # crash or a failed batch, leaves the new key current and said so)
            key_id, is_new = await app.vault.rotate(app.store, key, app.now_ms(), record=lambda kid, new: audit(
                app, "rotate_key", reason, key_id=kid, new_key=new))
        except ValueError as err:
            raise OperatorError(str(err)) from None
        after: str | None = ""
        values = accounts = 0
        while after is not None:
            # Each batch reads and re-seals its accounts inside one transaction of the writer.
            (batch,) = await apply(app, ResealBatch(after, app.cfg.retention.purge_batch, app.vault.reseal))
            after, v, a = batch
            values += v
            accounts += a
            await asyncio.sleep(0)
        left = await app.store.accounts_not_under_key(key_id)
        await apply(app, audit=audit(app, "rotate_key_done", reason, key_id=key_id, values=values,
                                     accounts=accounts, accounts_left=left))
    keep = ("the database needs the old key no more once no account holds its values, but the backups made before "
            "now do: keep it (for identity.old_key_files at a restore) as long as you keep them")
    if app.vault.shares_dev_key and await app.store.shared_dev_key() is not None:
        # (a development service on PostgreSQL: its copy of the key in the database is the new key now)
        after_this = ("the development key kept in the database is this key now: every node without a configured "
                      "key takes it at its next start, or when it becomes the home, and its own identity.key (the "
                      f"old key) opens only what that key sealed; back up \"{path}\" as you back up the database; "
                      + keep)
    else:
        after_this = (f"before the next restart set identity.key_file = \"{path}\" (or put the key in "
                      "identity.key_env); " + keep)
    lines = [
        f"identity key id {key_id} is now current" + ("" if is_new else " (it was already registered)"),
        f"re-sealed {values} values in {accounts} accounts; {left} accounts still hold another key's values",
        after_this,
    ]
    return Result(lines)
