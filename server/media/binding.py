"""The ``[media] path`` folder belongs to one database: a marker file says which.

The orphan sweep (server/media/cleanup.py) removes every finished file no media row of *its*
database names. A server pointed at another database (a new or empty one, a test copy, a
mistyped ``storage.url``) but the same folder would find none of the folder's files named and
remove them all an hour later. So the folder carries the identifier of its database
(``MARKER``, one line), and the database carries it too (``BindStoreId``: a random id, written
once, kept in the store): before removing anything the sweep compares them, and refuses, with
an error in the log, when they differ.

The marker is written by the first sweep that finds none (one cleanup interval after the first
start; nothing is removed before that): created beside its place and linked into it, so two
nodes of a cluster binding the folder at once leave one marker, and both then read that one.
A database restored from a backup keeps its id, so a restored pair still matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from server.storage.changes import BindStoreId

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.media")

MARKER = "qunguan-store-id"


def read_marker(root: Path) -> str | None:
    """The identifier the folder's marker names (``""`` for an unreadable one), or None without one."""
    try:
        return (root / MARKER).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""


def claim(root: Path, store_id: str) -> str:
    """Write ``store_id`` into the folder's marker unless there is one; what the marker names."""
    there = read_marker(root)
    if there is not None:
        return there
    root.mkdir(parents=True, exist_ok=True)
    new = root / f"{MARKER}.{secrets.token_hex(8)}.new"
    fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, f"{store_id}\n".encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(new, root / MARKER)  # never replaces a marker another node wrote meanwhile
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(OSError):
            new.unlink()
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return read_marker(root) or ""


async def bound(ctx: Context) -> bool:
    """Is ``[media] path`` this database's folder? Binds a folder without a marker to it first.
    False (and an error in the log) when the marker names another database."""
    (store_id,) = await ctx.store.apply(BindStoreId(secrets.token_hex(16)))
    root = ctx.cfg.media.path
    there = await asyncio.to_thread(claim, root, store_id)
    if there == store_id:
        return True
    log.error(
        "media files are not removed: %s says the folder [media] path = %s belongs to database %r, "
        "but this server's database is %r (another or a new database with the same media folder?). "
        "Point [media] path at this database's own folder; if this folder really is this database's, "
        "replace the marker's content with %r",
        MARKER, root, there, store_id, store_id)
    return False
