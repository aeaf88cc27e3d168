"""Removing what a picture says about where it was taken and with what: metadata stripping at ``upload_end``.

A phone's photo carries an EXIF block with the camera's make, model and serial
number and, unless the user turned it off, the GPS position it was taken at;
served byte for byte it told every member of the group (and anyone a URL
reached) where its uploader was. So the file stored for an image upload is the
uploaded one without the blocks that carry such metadata:

- JPEG: every APP1 segment (EXIF, XMP, extended XMP), APP13 (IPTC, Photoshop),
  but for the EXIF Orientation, kept alone in a 36-byte APP1 of its own (how to
  turn the stored pixels to show them: a phone's portrait shot is stored
  sideways with this tag, and would be shown on its side without it),
  APP2 segments of a multi-picture file (``MPF``, which point at the extra
  pictures) and anything after the end-of-image marker (the extra pictures of a
  multi-picture file and a motion photo's video, which carry their own metadata).
  Kept: everything needed to decode it (APP0 JFIF, APP2 ICC profile, APP14 Adobe,
  DQT, DHT, SOF, DRI, SOS and the scans) and comments (COM: no standard place for
  a position).
- PNG: ``eXIf``, and the text chunks ``tEXt``, ``zTXt``, ``iTXt`` (where XMP and
  camera notes go), and anything after ``IEND``. Chunks are dropped whole; each
  carries its own CRC, so nothing else is recomputed.
- WebP: the ``EXIF`` and ``XMP `` chunks and anything after the RIFF form; the
  RIFF size and the ``VP8X`` flags that announce EXIF and XMP are updated.

GIF (comment extensions: no standard place for a position) and BMP (no
metadata) are stored as sent, and so is every other type (audio, video,
documents).

Nothing is decoded: each format's blocks are walked by their lengths, with
bounded reads (JPEG's entropy-coded scans are searched a MiB at a time for the
next marker), so a file of ``media.max_bytes`` needs no more memory than a
small one. A structure that cannot be walked cleanly (a block running past the
end of the file, bytes where a marker or chunk must be, more blocks than a real
picture has) is :class:`Malformed`, which ``upload_end`` refuses (``bad_request``)
rather than store a file whose metadata it could not find. A file that ends
early inside image data (a JPEG without its end-of-image marker, a PNG without
``IEND``) is not malformed: every block it has was seen.

The output is a function of the input's bytes alone, so two uploads of the same
photo are stored as the same file (one content address, counted once); it is
never longer than the input, and an image's width and height are unchanged
(the blocks they are read from are kept, the Orientation with them).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

from server.media.sniff import EXIF_HEADER, exif_orientation, exif_with_orientation

__all__ = ["STRIPPED_TYPES", "Malformed", "strip_bytes", "strip_file", "strips"]

_COPY = 1 << 20  # bytes read at a time when copying or searching


class Malformed(ValueError):
    """The file's structure cannot be walked; the message says where (never its contents)."""


# A source range (start, end) or bytes put in their place.
Piece = tuple[int, int] | bytes


class _Plan:
    """What the stripped file is made of: ranges of the input, merged when adjacent, and patches."""

    def __init__(self) -> None:
        self.pieces: list[Piece] = []
        self.changed = False

    def keep(self, start: int, end: int) -> None:
        if end <= start:
            return
        last = self.pieces[-1] if self.pieces else None
        if isinstance(last, tuple) and last[1] == start:
            self.pieces[-1] = (last[0], end)
        else:
            self.pieces.append((start, end))

    def put(self, data: bytes) -> None:
        self.pieces.append(data)

    def drop(self) -> None:
        self.changed = True


def _read(f: BinaryIO, at: int, n: int) -> bytes:
    f.seek(at)
    return f.read(n)


# -- JPEG -------------------------------------------------------------------------------------------
_JPEG_MAX_SEGMENTS = 10_000  # marker segments in a whole file (restart markers inside scans not counted)
_JPEG_MAX_FILL = 64  # fill bytes before one marker (as sniff.py)
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length field
_JPEG_DROP = frozenset({0xE1, 0xED})  # APP1 (EXIF, XMP), APP13 (IPTC, Photoshop)
# In entropy-coded data 0xFF is followed by 0x00 (a stuffed byte) or a restart marker; anything else
# (a fill byte 0xFF included) starts the next marker.
_JPEG_NEXT = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def _jpeg_scan_end(f: BinaryIO, pos: int) -> int | None:
    """Where the marker after the entropy-coded data at ``pos`` starts (its first 0xFF); None at the end."""
    while True:
        data = _read(f, pos, _COPY)
        m = _JPEG_NEXT.search(data)
        if m is not None:
            return pos + m.start()
        if len(data) < _COPY:
            return None
        pos += len(data) - (1 if data[-1] == 0xFF else 0)  # (a 0xFF at the edge is looked at again)


def _jpeg(f: BinaryIO, size: int) -> _Plan:
    plan = _Plan()
    if _read(f, 0, 2) != b"\xff\xd8":
        raise Malformed("no start-of-image marker")
    plan.keep(0, 2)
    pos = 2
    oriented = False
    for _ in range(_JPEG_MAX_SEGMENTS):
        start = pos
        head = _read(f, pos, _JPEG_MAX_FILL + 4)
        if not head:
            return plan  # ends at a segment boundary without an end-of-image marker: all of it was seen
        if head[0] != 0xFF:
            raise Malformed(f"no marker at byte {pos}")
        i = 1
        while i < len(head) and head[i] == 0xFF:
            i += 1
        if i >= len(head):
            raise Malformed(f"fill bytes and no marker at byte {pos}")
        marker = head[i]
        pos += i + 1
        if marker in _JPEG_STANDALONE:
            plan.keep(start, pos)
            continue
        if marker == 0xD9:  # end of image: what follows is not part of this picture
            plan.keep(start, pos)
            if pos < size:
                plan.drop()
            return plan
        if marker == 0xD8 or marker == 0x00:
            raise Malformed(f"marker 0x{marker:02x} at byte {start}")
        if len(head) < i + 3:
            raise Malformed(f"segment 0x{marker:02x} at byte {start} runs past the end")
        (length,) = struct.unpack(">H", head[i + 1:i + 3])
        if length < 2 or pos + length > size:
            raise Malformed(f"segment 0x{marker:02x} at byte {start} has a bad length")
        end = pos + length
        if marker == 0xE1 and not oriented and _read(f, pos + 2, len(EXIF_HEADER)) == EXIF_HEADER:
            # The EXIF goes, but for how the picture is turned to be shown (a phone's portrait shot
            # is stored as landscape pixels and this tag): the first one's Orientation is kept alone.
            found = exif_orientation(_read(f, pos + 2, length - 2))
            app1 = exif_with_orientation(*found) if found is not None and found[1] != 1 else b""
            if app1 and len(app1) <= length - 2:  # (never longer than what it replaces)
                plan.put(b"\xff\xe1" + struct.pack(">H", 2 + len(app1)) + app1)
                oriented = True
            plan.drop()
        elif marker in _JPEG_DROP or (marker == 0xE2 and length >= 6 and _read(f, pos + 2, 4) == b"MPF\x00"):
            plan.drop()
        else:
            plan.keep(start, end)
        pos = end
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            nxt = _jpeg_scan_end(f, pos)
            if nxt is None:  # ends inside the scan (no end-of-image marker): all of it was seen
                plan.keep(pos, size)
                return plan
            plan.keep(pos, nxt)
            pos = nxt
    raise Malformed(f"more than {_JPEG_MAX_SEGMENTS} segments")


# -- PNG --------------------------------------------------------------------------------------------
_PNG_MAX_CHUNKS = 200_000  # (an 8 KiB IDAT chunk each: 1.6 GB; libpng writes 8 KiB ones)
_PNG_DROP = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})


def _png(f: BinaryIO, size: int) -> _Plan:
    plan = _Plan()
    if _read(f, 0, 8) != b"\x89PNG\r\n\x1a\n":
        raise Malformed("no PNG signature")
    plan.keep(0, 8)
    pos = 8
    for _ in range(_PNG_MAX_CHUNKS):
        head = _read(f, pos, 8)
        if not head:
            return plan  # no IEND, but every chunk was seen
        if len(head) < 8:
            raise Malformed(f"a chunk header at byte {pos} runs past the end")
        (length,) = struct.unpack(">I", head[:4])
        kind = head[4:]
        if not kind.isalpha() or not kind.isascii():
            raise Malformed(f"no chunk type at byte {pos + 4}")
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            raise Malformed(f"chunk at byte {pos} runs past the end")
        if kind in _PNG_DROP:
            plan.drop()
        else:
            plan.keep(pos, end)
        pos = end
        if kind == b"IEND":
            if pos < size:
                plan.drop()
            return plan
    raise Malformed(f"more than {_PNG_MAX_CHUNKS} chunks")


# -- WebP -------------------------------------------------------------------------------------------
_WEBP_MAX_CHUNKS = 100_000
_WEBP_DROP = frozenset({b"EXIF", b"XMP "})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _webp(f: BinaryIO, size: int) -> _Plan:
    head = _read(f, 0, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WEBP":
        raise Malformed("no RIFF WEBP header")
    (riff_size,) = struct.unpack("<I", head[4:8])
    riff_end = 8 + riff_size
    if riff_size < 4 or riff_end > size:
        raise Malformed("the RIFF size is past the end of the file")
    kept: list[tuple[int, int]] = []
    vp8x: int | None = None  # where the flags byte of the VP8X chunk the stripped file starts with is
    dropped = 0
    pos = 12
    for _ in range(_WEBP_MAX_CHUNKS):
        if pos == riff_end:
            break
        ch = _read(f, pos, 8)
        if pos + 8 > riff_end or len(ch) < 8:
            raise Malformed(f"a chunk header at byte {pos} runs past the RIFF form")
        fourcc = ch[:4]
        (length,) = struct.unpack("<I", ch[4:])
        if pos + 8 + length > riff_end:
            raise Malformed(f"chunk at byte {pos} runs past the RIFF form")
        end = min(pos + 8 + length + (length & 1), riff_end)  # (a last pad byte may be missing)
        if fourcc in _WEBP_DROP:
            dropped += end - pos
        else:
            if fourcc == b"VP8X" and not kept and length >= 10:  # (first once the metadata before it is gone)
                vp8x = pos + 8
            kept.append((pos, end))
        pos = end
    else:
        raise Malformed(f"more than {_WEBP_MAX_CHUNKS} chunks")
    plan = _Plan()
    flags = _read(f, vp8x, 1)[0] if vp8x is not None else 0
    new_flags = flags & ~(_VP8X_EXIF | _VP8X_XMP)
    if not dropped and riff_end == size and new_flags == flags:
        plan.keep(0, size)
        return plan
    plan.drop()
    plan.put(b"RIFF" + struct.pack("<I", riff_size - dropped) + b"WEBP")
    for start, end in kept:
        if start + 8 == vp8x:
            plan.keep(start, start + 8)
            plan.put(bytes([new_flags]))
            plan.keep(start + 9, end)
        else:
            plan.keep(start, end)
    return plan


_PLANNERS = {"image/jpeg": _jpeg, "image/png": _png, "image/webp": _webp}
STRIPPED_TYPES = frozenset(_PLANNERS)


def strips(mime: str) -> bool:
    """Is metadata removed from files of this type?"""
    return mime in _PLANNERS


def _plan(mime: str, f: BinaryIO, size: int) -> _Plan:
    return _PLANNERS[mime](f, size)


def _write(plan: _Plan, src: BinaryIO, out: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    n = 0
    for piece in plan.pieces:
        if isinstance(piece, bytes):
            out.write(piece)
            digest.update(piece)
            n += len(piece)
            continue
        start, end = piece
        src.seek(start)
        while start < end:
            data = src.read(min(_COPY, end - start))
            if not data:
                raise Malformed("the file changed while it was read")
            out.write(data)
            digest.update(data)
            start += len(data)
            n += len(data)
    return digest.hexdigest(), n


def strip_file(path: Path, mime: str) -> tuple[str, int] | None:
    """Remove the metadata of the image at ``path`` in place (blocking: run it in a worker thread).

    None when there is none (the file is left as it is); otherwise the SHA-256 and the size of the
    file now at ``path``, which was written beside it, flushed to disk and moved over it.
    :class:`Malformed` when the file's structure cannot be walked (the file is left as it is)."""
    if not strips(mime):
        return None
    size = path.stat().st_size
    with open(path, "rb") as src:
        plan = _plan(mime, src, size)
        if not plan.changed:
            return None
        tmp = path.with_name(path.name.removesuffix(".part") + ".stripped.part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "wb") as out:
                result = _write(plan, src, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return result


def strip_bytes(mime: str, data: bytes) -> bytes:
    """:func:`strip_file` on bytes in memory (tests, tools): the stripped bytes, or ``data`` unchanged."""
    if not strips(mime):
        return data
    src = io.BytesIO(data)
    plan = _plan(mime, src, len(data))
    if not plan.changed:
        return data
    out = io.BytesIO()
    _write(plan, src, out)
    return out.getvalue()
