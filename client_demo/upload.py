"""``/upload PATH``: a file sent in chunks with ``upload_begin`` / ``upload_chunk`` / ``upload_end``.

The server checks the bytes against the declared type (magic numbers) and the
SHA-256 against the bytes it received, so the client declares the type the bytes
show (:func:`sniff_mime`) rather than trusting the file name, and hashes exactly
what it sends.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

from client_demo.commands import CommandError

Request = Callable[..., Awaitable[dict[str, Any]]]

# (offset, magic bytes, mime): the first bytes of the types a server is likely to accept
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"OggS", "audio/ogg"),
    (0, b"#!AMR", "audio/amr"),
    (0, b"ID3", "audio/mpeg"),
    (4, b"ftyp", "video/mp4"),
)


def sniff_mime(head: bytes, name: str) -> str:
    """The type the first bytes of a file show; else the one its name suggests."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for offset, magic, mime in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return mime
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame
        return "audio/mpeg"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file; else ``no_file``.

    Opened without blocking, then checked: a named pipe (FIFO) with no writer would block a plain
    ``open()`` for ever, on the event loop (the client would answer nothing, not even /quit), and a
    device or a directory is no file to send either.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise CommandError("no_file", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        raise CommandError("no_file", f"cannot read {path}: not a regular file")
    return os.fdopen(fd, "rb")


async def upload_file(request: Request, path: Path) -> dict[str, Any]:
    """Upload ``path``; the ``upload_end`` reply (``media_id``, ``kind``, ``mime``, ``size``) plus
    ``name``. Server refusals (``too_large``, ``bad_request``, ``content_blocked``) propagate."""
    f = open_regular(path)
    size = os.fstat(f.fileno()).st_size
    with f:
        head = f.read(64)
        mime = sniff_mime(head, path.name)
        begin = await request("upload_begin", mime=mime, size=size, name=path.name)
        upload_id, chunk_bytes = begin["upload_id"], int(begin["chunk_bytes"])
        if chunk_bytes <= 0:
            raise CommandError("client_error", f"the server offered chunks of {chunk_bytes} bytes")
        f.seek(0)
        digest = hashlib.sha256()
        offset = 0
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
            await request("upload_chunk", upload_id=upload_id, offset=offset, data=chunk)
            offset += len(chunk)
        end = await request("upload_end", upload_id=upload_id, sha256=digest.hexdigest())
    return {**end, "name": path.name}
