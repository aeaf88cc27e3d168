"""Uploads in progress, and where finished files live.

An upload writes each chunk straight to a temp file (``media.path/tmp/<upload_id>.part``,
mode 0600) and feeds it to an incremental SHA-256, so a 20 MiB file never sits in
memory. The blocking parts (write, hash, fsync, rename) run in worker threads;
each upload's chunks are written one at a time, in the order they were accepted.

Finished files are content-addressed: ``media.path/ab/cd/<sha256>`` (the first two
pairs of hex digits as folders), the digest of the bytes stored: for a JPEG, PNG or
WebP those of the temp file once ``upload_end`` removed its metadata in place
(server/media/strip.py), not the bytes received. Two uploads of the same bytes share one file;
only the orphan sweep removes it (server/media/cleanup.py: ``sweep_orphans``), once
no media row in the database names its digest and it was last placed more than
``ORPHAN_GRACE_S`` ago.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from server.media import sniff

if TYPE_CHECKING:
    from governance.content import Verdict

log = logging.getLogger("qunguan.media")

TEMP_DIR = "tmp"
TEMP_SUFFIX = ".part"


def media_file(root: Path, sha256: str) -> Path:
    """Where the file with this content lives."""
    return root / sha256[:2] / sha256[2:4] / sha256


class Upload:
    """One upload in progress: its declared type and size, the bytes so far, the temp file."""

    def __init__(self, root: Path, upload_id: str, user_id: str, mime: str, size: int, name: str | None,
                 now_ms: int, sha256: str | None = None) -> None:
        self.upload_id = upload_id
        self.user_id = user_id
        self.mime = mime
        self.size = size
        self.name = name
        self.sha256 = sha256  # declared at upload_begin ([ext]), or None
        self.name_flag: Verdict | None = None  # a flag hit on the name, recorded once the upload is stored
        # Declared content its user kept already when it began: it adds nothing to their stored bytes,
        # which count that file already (the store decides again at the insert, from the rows).
        self.kept_already = False
        self.touched_ms = now_ms
        self.received = 0  # bytes accepted (claimed before their write finishes)
        self.finishing = False  # upload_end is running: no more chunks
        self.broken = False  # a write failed: the upload cannot finish
        self.path = root / TEMP_DIR / f"{upload_id}{TEMP_SUFFIX}"
        self.lock = asyncio.Lock()  # chunks are written in the order they were accepted
        self._hash = hashlib.sha256()

    # -- blocking parts (worker threads) ---------------------------------------------------
    # The temp file is open only while a chunk is written: an upload left unfinished (dropped after
    # 10 minutes idle) held a file descriptor all that time, and a soak's abandoned uploads held
    # thousands, which each connection also needs.
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

    def write(self, data: bytes) -> None:
        """Append ``data`` whole (a short write goes on; a full disk raises OSError)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            view, done = memoryview(data), 0
            while done < len(data):
                done += os.write(fd, view[done:])
        finally:
            os.close(fd)
        self._hash.update(data)

    def finish(self) -> str:
        """Flush the temp file to disk; the hex SHA-256 of everything written."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Remove the temp file (never raises)."""
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)


def inspect(path: Path, mime: str) -> tuple[bool, tuple[int, int] | None]:
    """(do the first bytes match ``mime``, the image's width and height when it is one)."""
    with open(path, "rb") as f:
        head = f.read(sniff.HEAD_BYTES)
        if not sniff.matches(mime, head):
            return False, None
        return True, sniff.image_size(mime, f) if sniff.kind_of(mime) == "image" else None


def place(tmp: Path, final: Path) -> bool:
    """Move a finished temp file to its content address; True when it was not there yet.

    The same content already there is kept (it is the same bytes) and the temp file dropped.
    Either way the file's modification time is now: the orphan sweep (:func:`orphans_in`) leaves
    a file alone for ``ORPHAN_GRACE_S`` after that, while the row naming it is on its way.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        try:
            os.utime(final)
        except FileNotFoundError:
            pass  # swept just now (by another node's orphan sweep): this upload's bytes take its place
        else:
            tmp.unlink(missing_ok=True)
            return False
    os.chmod(tmp, 0o600)
    os.utime(tmp)  # (its time was that of its last chunk, which may be minutes ago)
    os.replace(tmp, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself is durable before the row that names the file is written
    finally:
        os.close(fd)
    return True


# A finished file no media row names is removed only once it was last placed this long ago: an
# upload's row may still be on its way to the database (its write queued, or cut off at COMMIT and
# being checked), and a cluster's other nodes' clocks and the shared folder's may differ a little.
ORPHAN_GRACE_S = 3600.0
_HEX2 = re.compile(r"[0-9a-f]{2}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: object) -> bool:
    """Whether ``text`` is a SHA-256 as files are named and known by: 64 lower-case hex digits."""
    return isinstance(text, str) and _SHA256.fullmatch(text) is not None


def folders(root: Path) -> list[str]:
    """The first-level folders of finished files (``ab``) under ``root``."""
    try:
        return sorted(e.name for e in os.scandir(root) if _HEX2.fullmatch(e.name) and e.is_dir())
    except FileNotFoundError:
        return []


def orphans_in(root: Path, folder: str, older_than_s: float) -> list[str]:
    """The digests of the finished files in ``root/folder`` (``ab/cd/<sha256>``) last placed more
    than ``older_than_s`` ago: the candidates of the orphan sweep (whether a row names them is the
    store's to say). Anything else there (a name that is not a digest of its folders) is left."""
    limit = time.time() - older_than_s
    out: list[str] = []
    try:
        subs = [e for e in os.scandir(root / folder) if _HEX2.fullmatch(e.name) and e.is_dir()]
    except FileNotFoundError:
        return out
    for sub in subs:
        try:
            files = list(os.scandir(sub.path))
        except FileNotFoundError:
            continue
        for f in files:
            if not (_SHA256.fullmatch(f.name) and f.name[:2] == folder and f.name[2:4] == sub.name):
                continue
            try:
                if f.is_file(follow_symlinks=False) and f.stat(follow_symlinks=False).st_mtime < limit:
                    out.append(f.name)
            except FileNotFoundError:
                continue
    return out


def remove_if_old(root: Path, sha256: str, older_than_s: float) -> bool:
    """Remove the file of ``sha256`` if it was still last placed more than ``older_than_s`` ago
    (a ``place`` of the same content meanwhile makes it new again); whether it was removed.

    The file is moved aside first and its age looked at again there: a ``place`` on another node
    (the folder is shared) that found the file after the first look and renewed it before the
    move has promised its row that file (it returned False), so the file goes back; a ``place``
    after the move finds no file and moves its own bytes in. Checking the age and then unlinking
    the path would remove a file renewed in between."""
    path = media_file(root, sha256)
    aside = root / TEMP_DIR / f"{sha256}.{secrets.token_hex(4)}.gone{TEMP_SUFFIX}"
    try:
        if path.stat().st_mtime >= time.time() - older_than_s:
            return False
        aside.parent.mkdir(exist_ok=True)
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    except OSError as err:
        log.error("media file %s could not be removed: %s", sha256, err)
        return False
    try:
        renewed = aside.stat().st_mtime >= time.time() - older_than_s
    except OSError:
        renewed = True  # (not known: it goes back)
    if not renewed:
        with contextlib.suppress(OSError):
            aside.unlink()
        return True
    # Placed again just now: it goes back. A rename, not a link: it needs no hard links from the
    # file system, and it may replace the same bytes a place after the move put there.
    try:
        os.rename(aside, path)
    except OSError as err:  # kept where it is, never deleted: a row was promised these bytes
        log.error("media file %s was placed again while the sweep removed it and could not be put back "
                  "(%s): it is at %s; move it to %s before the temp-file sweep removes it", sha256, err, aside, path)
    return False


def sweep_temp(root: Path, live: Iterable[str], older_than_s: float) -> int:
    """Remove temp files of no live upload last written more than ``older_than_s`` ago; how many."""
    folder = root / TEMP_DIR
    keep = {f"{u}{TEMP_SUFFIX}" for u in live}
    limit = time.time() - older_than_s
    removed = 0
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    for name in names:
        if not name.endswith(TEMP_SUFFIX) or name in keep:
            continue
        p = folder / name
        try:
            if p.stat().st_mtime < limit:
                p.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
