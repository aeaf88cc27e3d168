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

A folder without a marker (after an upgrade from a version without markers, or copied without
it) is not simply taken by whichever server sweeps it first: if it holds finished files placed
more than ``BEFORE_STORE_S`` before this database was made (its first schema migration, which a
backup restores with it) and no media row of this database names any of them, those files
cannot have been uploaded through this database, so the sweep refuses to bind it (and removes
nothing). Neither a new service (an empty folder, or only files placed since) nor a real one
whose old rows were all purged (its files were all placed after its database was made) is
refused; a database whose rows came with older files (any one named) binds as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from server.media import uploads
from server.storage.changes import BindStoreId

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.media")

MARKER = "qunguan-store-id"
# How long before its database was made a file must have been placed to prove the folder is not
# that database's: far more than the clocks of the nodes and of a shared folder's server differ.
BEFORE_STORE_S = 86_400.0
BATCH = 500  # digests per question to the store


def placed_before(root: Path, when_s: float) -> list[str]:
    """The digests of the finished files under ``root`` last placed before ``when_s`` (epoch s)."""
    older_than = time.time() - when_s
    return [sha for folder in uploads.folders(root) for sha in uploads.orphans_in(root, folder, older_than)]


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
    """Is ``[media] path`` this database's folder? Binds a folder without a marker to it first,
    unless :func:`may_bind` says the folder's files predate the database.
    False (and an error in the log) when the marker names another database or the folder cannot
    be bound."""
    (store_id,) = await ctx.store.apply(BindStoreId(secrets.token_hex(16)))
    root = ctx.cfg.media.path
    there = await asyncio.to_thread(read_marker, root)
    if there is None:
        if not await may_bind(ctx, store_id):
            return False
        # A marker another server wrote since the look above is kept: claim() links, never replaces.
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


async def may_bind(ctx: Context, store_id: str) -> bool:
    """May an unmarked folder be bound to this database? Not when it holds files placed more than
    ``BEFORE_STORE_S`` before the database was made and no row of the database (nor this node's
    index) names any of them: then an error in the log says what to do."""
    created_ms = await ctx.store.store_created_at()
    if created_ms is None:
        return True
    root = ctx.cfg.media.path
    older = await asyncio.to_thread(placed_before, root, created_ms / 1000 - BEFORE_STORE_S)
    if not older:
        return True
    index = ctx.state.media
    for i in range(0, len(older), BATCH):
        batch = older[i:i + BATCH]
        if any(index.file_in_use(sha) for sha in batch) or await ctx.store.referenced_media_files(batch):
            return True
    log.error(
        "media files are not removed: the folder [media] path = %s has no %s marker and holds %d files "
        "placed more than a day before this server's database was made, none of which a media row of "
        "this database names: it looks like another database's folder. Start the server of the "
        "folder's own database first (its first orphan sweep writes the marker), or point [media] path "
        "at this database's own folder. If this folder really is this database's, write %r into %s",
        root, MARKER, len(older), store_id, root / MARKER)
    return False
