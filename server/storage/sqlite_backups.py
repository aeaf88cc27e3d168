"""Backup files of a SQLite database, as ``qunguan restore`` takes them (server/restore.py)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import NamedTuple

from server.storage.changes import RESTORED_IDS
from server.storage.migrations import plan_migrations
from server.storage.schema import MIGRATIONS

COMPANIONS = ("-wal", "-shm")


def read_only(path: Path) -> str:
    """The SQLite URI that opens ``path`` read-only. Its name is percent-quoted (``Path.as_uri``): in
    ``file:PATH?mode=ro`` a '#', '?' or '%' in the name ended or changed it, so another file was opened
    (or made) and the ``mode=ro`` could be lost with the rest of the name."""
    return f"{path.absolute().as_uri()}?mode=ro"


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (by their resolved paths, or by ``os.path.samefile``:
    a hard link, or a path through a bind mount)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # (one of them is not there)
        return False


class BackupRefused(ValueError):
    """The file is no backup this version can restore: one line for the operator."""


def check_backup(source: Path) -> int:
    """That ``source`` is a whole, undamaged qunguan database this version can open (an older
    one is migrated at open); the newest message's time (ms, 0 for none). BackupRefused otherwise."""
    if not source.is_file():
        raise BackupRefused(f"no backup file at {source}")
    if source.name.startswith(".") and source.name.endswith(".partial"):
        raise BackupRefused(f"{source} is an incomplete backup, left by a backup that did not finish: restore a "
                            "whole one (the name given to --out)")
    for suffix in COMPANIONS:
        if Path(f"{source}{suffix}").exists():
            raise BackupRefused(
                f"{source}{suffix} lies beside the backup: {source} is a live database or a copy of one, not a "
                "backup made with `qunguan admin backup` (its newest writes may be in that file)")
    try:
        db = sqlite3.connect(read_only(source), uri=True)
    except sqlite3.Error as err:
        raise BackupRefused(f"{source} cannot be opened as a SQLite database: {err}") from None
    try:
        try:
            found = [r[0] for r in db.execute("PRAGMA integrity_check")]
            if found != ["ok"]:
                # (one line, as every refusal of an operator's command: a row of the check can hold
                # several, "*** in database main ***" and the pages under it)
                said = "; ".join(" ".join(str(x).split()) for x in found[:3])
                raise BackupRefused(f"{source} is damaged (SQLite's integrity check: {said})")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"schema_migrations", "groups", "messages"} <= tables:
                raise BackupRefused(f"{source} is not a qunguan database (no schema_migrations, groups or messages)")
            columns = {r[1] for r in db.execute("PRAGMA table_info(schema_migrations)")}
            rows = db.execute("SELECT version, " + ("checksum" if "checksum" in columns else "NULL")
                              + " FROM schema_migrations").fetchall()
            newest = db.execute("SELECT COALESCE(MAX(ts), 0) FROM messages").fetchone()[0]
        except sqlite3.DatabaseError as err:
            raise BackupRefused(f"{source} is damaged or not a database: {err}") from None
    finally:
        db.close()
    try:
        plan_migrations({r[0]: r[1] for r in rows}, MIGRATIONS, f"the backup {source}")
    except ValueError as err:
        raise BackupRefused(str(err)) from None
    return int(newest)


class HandedOut(NamedTuple):
    """What a database about to be replaced had handed out: each group's last seq and the clock of
    changes to messages (``changes.AdvanceSeqs``' floors)."""

    last_seqs: tuple[tuple[str, int], ...]
    clock: int
    last_ids: tuple[tuple[str, int], ...]  # (changes.RESTORED_IDS: AUTOINCREMENT's counters)


def handed_out(live: Path) -> HandedOut:
    """Read from the live database (read-only: a crash's ``-wal`` is read, not checkpointed into it,
    so the file kept aside is the one the crash left). ``sqlite3.Error`` when it cannot be read."""
    db = sqlite3.connect(read_only(live), uri=True)
    try:
        last_seqs = tuple((str(g), int(n)) for g, n in db.execute("SELECT group_id, last_seq FROM groups"))
        try:
            [(clock,)] = db.execute("SELECT rev FROM message_clock").fetchall()
        except sqlite3.OperationalError:  # (a database from before the clock: none handed out)
            clock = 0
        tables = tuple(table for table, _ in RESTORED_IDS)
        last_ids = tuple((str(t), int(n)) for t, n in db.execute(
            f"SELECT name, seq FROM sqlite_sequence WHERE name IN ({', '.join('?' * len(tables))})", tables))
    finally:
        db.close()
    return HandedOut(last_seqs, int(clock), last_ids)


def copy_backup(source: Path, dest: Path) -> None:
    """``source`` copied to ``dest`` with SQLite's backup API, one self-contained file, mode 0600
    (it holds password hashes, sealed identity data and client addresses). A ``-wal`` or ``-shm`` left
    at ``dest`` by an earlier copy goes first: SQLite would replay it into the new one. BackupRefused,
    nothing touched, when ``source`` is ``dest`` or one of those (it would be emptied, then copied onto
    itself)."""
    for suffix in ("", *COMPANIONS):
        if same_file(source, Path(f"{dest}{suffix}")):
            raise BackupRefused(f"{source} is {dest}{suffix}, where the backup is to be copied: copy it elsewhere "
                                "first and restore that copy")
    for suffix in ("", *COMPANIONS):
        Path(f"{dest}{suffix}").unlink(missing_ok=True)
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(read_only(source), uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def one_file(path: Path) -> None:
    """The database at ``path`` in one self-contained file again (out of WAL mode: its ``-wal``
    checkpointed into it and removed)."""
    db = sqlite3.connect(path)
    try:
        [mode] = db.execute("PRAGMA journal_mode=DELETE").fetchone()
    finally:
        db.close()
    if str(mode).lower() != "delete" or any(Path(f"{path}{suffix}").exists() for suffix in COMPANIONS):
        raise BackupRefused(f"{path} could not be made one self-contained file (journal mode {mode}): its -wal is "
                            "still there")
