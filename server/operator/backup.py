"""``qunguan admin backup --out FILE``: a consistent copy of the live database."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.config import Config
from server.operator.channel import OperatorError, Result, command
from server.operator.common import apply, audit
from server.security import default_key_file
from server.storage.base import BackupNoRoom, BackupUnsupported

if TYPE_CHECKING:
    from server.context import Context


def _own_files(cfg: Config) -> Iterator[tuple[Path, str]]:
    """The files the running server keeps, each with what it is: a backup written over one of them would
    replace it under the server (the database and its WAL: every write since lost at the next restart; the
    identity key: the identity data unreadable)."""
    db = cfg.storage.sqlite_file
    if db is not None:
        yield db, "live database"
        for suffix, what in (("-wal", "write-ahead log"), ("-shm", "shared-memory index"),
                             ("-journal", "journal"), (".lock", "lock file")):
            yield db.with_name(db.name + suffix), f"database's {what}"
    key = cfg.identity.key_file or default_key_file(cfg)
    yield key, "identity key file"
    for old in cfg.identity.old_key_files:
        yield cfg.base_dir / old, "earlier identity key file"
    yield cfg.audit.checkpoint_file, "audit checkpoint file"
    yield cfg.identity.sms_outbox, "SMS outbox"
    yield cfg.admin.socket, "operator socket"
    if cfg.source is not None:
        yield cfg.source, "config file"
    for path, what in ((cfg.server.tls_cert, "TLS certificate"), (cfg.server.tls_key, "TLS key")):
        if path is not None:
            yield path, what


def _same(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # (a loop of links, a name too long: then no other name either)
        return False
    try:
        return os.path.samefile(a, b)  # (another name for it: a hard link)
    except OSError:
        return False


def refuse_own_file(cfg: Config, dest: Path) -> None:
    """Refuse a backup destination that is one of the server's own files, or inside its media folder."""
    for path, what in _own_files(cfg):
        if _same(dest, path):
            raise OperatorError(f"--out {dest} is the server's {what}: back up to a file of its own")
    try:
        inside = dest.resolve().is_relative_to(cfg.media.path.resolve())
    except (OSError, RuntimeError) as err:  # (RuntimeError: a loop of symbolic links)
        raise OperatorError(f"cannot use --out {dest}: {getattr(err, 'strerror', None) or err}") from None
    if inside:
        raise OperatorError(f"--out {dest} is inside the media folder ([media] path): back up to a file of its own")


def _mode(dest: Path) -> int | None:
    """What ``dest`` is (its ``st_mode``, through a symbolic link), None when nothing is there (a link
    to nothing included); refused with why when it cannot be looked up (a name too long, a loop of
    links, no permission on the way)."""
    try:
        return os.stat(dest).st_mode
    except FileNotFoundError:
        return None
    except OSError as err:
        raise OperatorError(f"cannot use --out {dest}: {err.strerror or err}") from None


@command("backup")
async def backup(app: Context, args: dict[str, Any]) -> Result:
    """SQLite: the online backup API, while the server runs; other backends name their own tool."""
    out = args.get("out")
    if not isinstance(out, str) or not out:
        raise OperatorError("backup needs --out FILE")
    dest = Path(out)
    if not dest.is_absolute():  # (the server resolves nothing against its own working directory)
        raise OperatorError("--out must be an absolute path (qunguan admin makes it one)")
    mode = _mode(dest)
    if mode is not None and stat.S_ISDIR(mode):
        raise OperatorError(f"--out names a folder, not a file: {dest}")
    if mode is not None and not stat.S_ISREG(mode):
        # (a pipe, a device, a socket: the backup takes its name by a rename, which would replace it)
        raise OperatorError(f"--out {dest} is not a regular file: back up to a file of its own")
    if not dest.parent.is_dir():
        raise OperatorError(f"no such folder: {dest.parent}")
    refuse_own_file(app.cfg, dest)
    started = time.monotonic()

    async def record(digest: str, size: int) -> None:
        # On the record, as every file a command writes (a backup holds password hashes, sealed identity
        # data and client addresses): who made it, where, and its SHA-256, to match a copy to it; before
        # the copy takes its name, so a backup not on the record is never left there.
        await apply(app, audit=audit(app, "backup", "database backup written", out=str(dest), bytes=size,
                                     sha256=digest))

    try:
        digest = await app.store.backup(dest, record)
    except (BackupUnsupported, BackupNoRoom) as err:
        raise OperatorError(str(err)) from None
    except OSError as err:
        raise OperatorError(f"cannot write {dest}: {err.strerror or err}") from None
    except sqlite3.OperationalError as err:  # (SQLite's own words for a file it cannot open or fill)
        raise OperatorError(f"cannot write {dest}: {err}") from None
    size = dest.stat().st_size
    took = time.monotonic() - started
    return Result([f"backed up to {dest} ({size} bytes in {took:.2f} s)", f"sha256 {digest}"])
