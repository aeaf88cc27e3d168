"""``qunguan restore``: put a backup in the database's place, and make it safe to serve again.

A restore by hand had three traps (docs/operations.md, "Backup"): a ``-wal`` file left beside the
database by a crash is replayed into the copied-in backup, which SQLite cannot tell from its own
(a damaged database, served without a word); the restored groups hand out again the seqs of the
messages lost with the replaced database, which clients have seen and page past with
``after_seq`` (the new messages never show); and the audit checkpoint file, left in place, reports
the lost record entries as removed for good. This command does each step, in this order, and
touches the live database only once everything about the backup has been checked:

1. the server is not running (its claim on the database, as ``serve`` takes it);
2. SQLite: the backup is a whole, undamaged qunguan database of this version or an older one, and
   is copied beside the database with SQLite's backup API (one self-contained file);
3. that copy (PostgreSQL: the database ``pg_restore`` filled) is opened as ``serve`` opens it:
   migrated, its identity data checked against the configured keys;
4. every group's next seq moves up by ``--seq-gap`` from the higher of the backup's and what the
   replaced database had handed out (SQLite: read from it first; the same backup restored twice
   handed out the first restore's seqs again), with an enforcement-record entry saying the database
   was restored (the record then explains the entries the restore lost), and the background
   retention purge waits for one by hand (the holds made after the backup are not in it);
5. SQLite: the replaced database and its ``-wal`` and ``-shm`` are kept aside under one new name
   (the ``-wal`` and ``-shm`` too when the database file itself is gone: SQLite would replay that
   old WAL into the copy), and the copy takes the database's place;
6. the audit checkpoint file is moved aside, for ``verify-audit --checkpoint-file``.

The uploaded files and the identity key files are the operator's to put back: what to do is
printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from server.config import Config, ConfigError, load_config
from server.retention import RESTORED
from server.security import vault_for
from server.storage.base import Store, open_store
from server.storage.changes import AdvanceSeqs, Audit, JobRan
from server.storage.sqlite_backups import (
    COMPANIONS,
    HandedOut,
    check_backup,
    copy_backup,
    handed_out,
    one_file,
    same_file,
)

# Past what a group can send between a backup and its restore: seqs of lost messages, which clients
# may hold, are never handed out again.
DEFAULT_SEQ_GAP = 1_000_000
# SQLite's search index keys a message by its group's number and its seq in 32 bits: seqs stay below
# 2**32, which a gap this size leaves room for (PostgreSQL has no such bound, but one rule is simpler).
MAX_SEQ_GAP = 2**30


class RestoreRefused(Exception):
    """The restore did not happen (exit status 2), and the live database was not touched (so is
    :class:`BackupRefused`, of a backup file that is not one)."""


def _stamp(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def _who(cfg: Config) -> str:
    """Who ran the restore, as the record names them: the configured operator this OS account is,
    the single operator when none are configured, else the OS account."""
    uid = os.getuid()
    for o in cfg.operators:
        if o.uid == uid:
            return o.name
    if not cfg.operators:
        from governance.operators import SINGLE_OPERATOR

        return SINGLE_OPERATOR
    try:
        return f"OS user {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"OS uid {uid}"


async def _settle(store: Store, cfg: Config, gap: int, now_ms: int, source: str, handed: HandedOut | None) -> int:
    """Open ``store`` as ``serve`` does, check its identity data against the configured keys, move
    every group's next seq up by ``gap`` (from the higher of its own and what the replaced database
    had ``handed`` out, when known) and record the restore, which holds the background retention purge
    until one by hand (server/retention.py, ``RESTORED``); the number of groups moved."""
    await store.claim(cluster=None)
    try:
        await store.open()
        vault = vault_for(cfg)
        await vault.bind(store, now_ms)
        store.set_record_key(vault.record_key())
        entry = Audit(now_ms, "operator", _who(cfg), "restore_backup", reason=f"restored from {source}",
                      detail={"seq_gap": gap, "above_replaced": handed is not None})
        advance = AdvanceSeqs(gap) if handed is None else AdvanceSeqs(
            gap, floors=handed.last_seqs, clock_floor=handed.clock, id_floors=handed.last_ids)
        [moved, _] = await store.apply(advance, JobRan(RESTORED, now_ms), audit=entry)
        return int(moved)
    finally:
        await store.close()


def _aside(path: Path, stamp: str, label: str) -> Path:
    """``path`` (and its ``-wal`` and ``-shm``, which belong with it) renamed to ``path.label-stamp``
    (or the first unused ``path.label-stamp.N``, see :func:`_unused`)."""
    kept = _unused(path.with_name(f"{path.name}.{label}-{stamp}"))
    for suffix in ("", *COMPANIONS):
        was = Path(f"{path}{suffix}")
        if was.exists():
            was.rename(f"{kept}{suffix}")
    return kept


def _present(path: Path) -> bool:
    """Whether ``path`` or its ``-wal`` or ``-shm`` is there."""
    return any(Path(f"{path}{suffix}").exists() for suffix in ("", *COMPANIONS))


def _unused(path: Path) -> Path:
    """``path``, or when it (or its ``-wal`` or ``-shm``) is there, the first of ``path.2``, ``path.3``...
    that is not: what a restore keeps aside is never renamed over. (Its STAMP is to the second, and a
    second restore in that second, run again by a script or to correct a wrong backup at once, renamed
    the database it replaced over the first one's: the only copy of what the first restore lost.)"""
    found, n = path, 1
    while _present(found):
        n += 1
        found = path.with_name(f"{path.name}.{n}")
    return found


class RestoredButNot(Exception):
    """The database was replaced but a step after it failed: what to do by hand (exit status 1)."""


async def restore(cfg: Config, source: Path | None, gap: int, clock: Callable[[], float] = time.time) -> list[str]:
    """Restore ``source`` (SQLite), or settle a PostgreSQL database ``pg_restore`` filled (``source``
    None); the lines to print. RestoreRefused, ValueError, OSError or sqlite3.Error: nothing changed;
    RestoredButNot: the database was replaced, and what is left to do by hand is said."""
    now = clock()
    stamp = _stamp(now)
    live = cfg.storage.sqlite_path()
    checkpoints = cfg.audit.checkpoint_file
    kept = _unused(checkpoints.with_name(f"{checkpoints.name}.before-restore-{stamp}"))
    if live is None:
        if source is not None:
            raise RestoreRefused(
                "storage.url names PostgreSQL: restore the dump with `pg_restore --clean --if-exists "
                "--dbname URL FILE` first (the service stopped), then run `qunguan restore` without a file")
        # (Its claim is the guard: refused while a node serves the database, held while it works.)
        moved = await _settle(open_store(cfg), cfg, gap, int(now * 1000), "a pg_restore", None)
        lines = [(f"settled the restored PostgreSQL database: {moved} groups' next seq moved up by {gap}: clients "
                  "that saw messages lost with the replaced database still see the new ones")]
        try:
            aside = _checkpoints_aside(checkpoints, kept)
        except OSError as err:
            raise RestoredButNot(f"{lines[0]}; but the audit checkpoint file {checkpoints} could not be moved "
                                 f"aside ({err}): move it aside before the server starts") from None
    else:
        if source is None:
            raise RestoreRefused("name the backup file to restore (made with `qunguan admin backup`)")
        lines, aside = await _restore_sqlite(cfg, live, source.resolve(), gap, now, stamp, checkpoints, kept)
    if aside:
        lines.append(f"the audit checkpoint file moved aside to {kept}: `qunguan admin verify-audit "
                     f"--checkpoint-file {kept}` (with the server running) names the record entries the restore lost")
    lines.append("the configured identity keys open the restored identity data (checked)")
    lines.append("the background retention purge waits for one run by hand: holds, open reports and sanctions made "
                 "after the backup are not in the restored database, so what they kept would be purged. Put back "
                 "those the restore lost, then run `qunguan admin purge` once")
    lines.append(f"now put back the [media] path folder ({cfg.media.path}) copied with this backup (`rsync -a "
                 "--delete`), and never let another copy of this database use the same folder; then start the server")
    return lines


def _checkpoints_aside(checkpoints: Path, kept: Path) -> bool:
    if not checkpoints.exists():
        return False
    checkpoints.rename(kept)
    return True


def _check_owner(live: Path) -> None:
    """Refused unless run as the OS user that owns the database's folder (the service's): a restore
    run as root left a database and lock file the service could not open."""
    folder = live.parent
    if folder.exists() and folder.stat().st_uid != os.geteuid():
        try:
            owner = pwd.getpwuid(folder.stat().st_uid).pw_name
        except KeyError:
            owner = f"uid {folder.stat().st_uid}"
        raise RestoreRefused(f"{folder} belongs to {owner}: run the restore as that user (the server's), e.g. "
                             f"`sudo -u {owner} qunguan restore ...`, so that the server can open what it writes")


def _not_its_own(source: Path, live: Path, copy: Path) -> None:
    """Refused when ``source`` is one of the files the restore writes: the live database or its
    ``-wal`` or ``-shm``, or the copy it makes (``qunguan.db.restoring``, which a failed swap keeps)
    or its ``-wal`` or ``-shm``. Copied onto itself, the copy was emptied first and the restore hung."""
    for suffix in ("", *COMPANIONS):
        if same_file(source, Path(f"{live}{suffix}")):
            raise RestoreRefused(f"{source} is the live database" + (f"'s {suffix}" if suffix else "") + " itself")
        if same_file(source, Path(f"{copy}{suffix}")):
            raise RestoreRefused(
                f"{source} is the copy a restore makes before it takes the database's place"
                + (f" ({suffix})" if suffix else "")
                + f": left by a restore whose swap failed, it is restored already: rename it to {live} by hand, "
                  "as that restore said; or copy it elsewhere and restore that copy")


async def _restore_sqlite(cfg: Config, live: Path, source: Path, gap: int, now: float, stamp: str,
                          checkpoints: Path, kept: Path) -> tuple[list[str], bool]:
    """Steps 1 to 6 on SQLite (see the module's docstring); the lines, and whether the checkpoint file
    was moved aside. The live database is touched last, after everything that can be checked was."""
    _check_owner(live)
    guard = open_store(cfg)  # the server's own claim: refused while a server serves this database
    await guard.claim(cluster=None)
    copy = live.with_name(f"{live.name}.restoring")
    replaced: Path | None = None
    swapped = False
    try:
        _not_its_own(source, live, copy)
        newest = check_backup(source)
        handed: HandedOut | None = None
        unread: str | None = None
        if live.exists():  # (read-only: what it handed out, in case this backup was restored before)
            try:
                handed = handed_out(live)
            except sqlite3.Error as err:
                unread = str(err)
        try:
            copy_backup(source, copy)
            side = replace(cfg, storage=replace(cfg.storage, url=f"sqlite:///{copy}", sqlite_file=copy))
            moved = await _settle(open_store(side), side, gap, int(now * 1000), source.name, handed)
            one_file(copy)  # (opened as serve opens it, in WAL mode: one self-contained file again, checked)
            aside = _checkpoints_aside(checkpoints, kept)  # (before the swap: put back if the swap fails)
            # (the -wal and -shm too when the database file itself is gone: left beside the copy, SQLite
            # would replay that old WAL into it. Kept, not deleted: they are what the crash left.)
            lost = not live.exists()
            try:
                replaced = _aside(live, stamp, "replaced") if _present(live) else None
            except OSError:
                if aside:
                    kept.rename(checkpoints)
                raise
            try:
                copy.rename(live)
            except OSError as err:
                was = (f"the lost database's -wal and -shm were moved aside to {replaced}-wal and -shm" if lost
                       else f"the database was moved aside to {replaced} (with its -wal and -shm)")
                raise RestoredButNot(
                    f"{was} but the restored copy "
                    f"{copy} could not take its place ({err}): rename {copy} to {live} by hand"
                    + (f"; the audit checkpoint file is at {kept}" if aside else "")) from None
            swapped = True
        finally:
            # The copy goes unless it is all there is: the live database moved aside and the swap failed.
            keep = replaced is not None and not swapped
            for suffix in ("-wal", "-shm", ".lock", *(() if keep else ("",))):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)
    finally:
        await guard.close()
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(newest / 1000)) if newest else "none"
    lines = [f"restored {live} from {source} (its newest message: {when})"]
    if replaced is not None and lost:
        lines.append(f"no database file was there, but its -wal or -shm was: kept aside as {replaced}-wal and -shm, "
                     "not replayed into the restored database (delete them once you no longer need them)")
    elif replaced is not None:
        lines.append(f"the database it replaced, with its -wal and -shm if any: {replaced} "
                     "(delete it once you no longer need it)")
    above = " from the higher of the backup's and the replaced database's" if handed is not None else ""
    lines.append(f"{moved} groups' next seq moved up by {gap}{above}: clients that saw messages lost with the "
                 "replaced database still see the new ones")
    if unread is not None:
        lines.append(f"the replaced database could not be read ({unread}), so the seqs moved up from the backup's "
                     "own: if this backup was restored before, restore it again with a --seq-gap above what was "
                     "sent since that restore")
    return lines, aside


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qunguan restore",
        description="Put a backup in the database's place with the server stopped, and make it safe to serve: "
                    "see docs/operations.md, Backup.")
    p.add_argument("backup", nargs="?", type=Path,
                   help="the SQLite backup file (from `qunguan admin backup`); none on PostgreSQL, after pg_restore")
    p.add_argument("--config", metavar="PATH", help="the server's TOML config file (defaults apply without one)")
    p.add_argument("--seq-gap", type=int, default=DEFAULT_SEQ_GAP, metavar="N",
                   help=f"move every group's next seq up by N (default {DEFAULT_SEQ_GAP:,}): more than any group "
                        "sent between the backup and now")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not 1 <= args.seq_gap <= MAX_SEQ_GAP:
        print(f"qunguan restore: --seq-gap must be from 1 to {MAX_SEQ_GAP:,}", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(f"config: {problem}", file=sys.stderr)
        return 2
    try:
        lines = asyncio.run(restore(cfg, args.backup, args.seq_gap))
    except RestoredButNot as err:
        print(f"qunguan restore: restored, but not finished: {err}", file=sys.stderr)
        return 1
    except (RestoreRefused, ValueError, OSError, sqlite3.Error) as err:  # (BackupRefused is a ValueError)
        print(f"qunguan restore: nothing restored: {err}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0
