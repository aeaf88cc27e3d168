"""Known media types: their kind, their magic numbers, and image sizes read from headers.

A declared type is believed only when the file's first bytes say the same
(:func:`matches`). The table is deliberately small: only types whose signature
is unambiguous at a fixed offset. ``media.allowed_types`` may name only these
(the config check refuses others), so every accepted upload was sniffed.

Image width and height come from the format's header (:func:`image_size`): PNG's
IHDR, GIF's logical screen, WebP's VP8/VP8L/VP8X chunk, BMP's info header, and
JPEG's first start-of-frame segment (found by walking the segments, skipping
their bodies, so a large EXIF block costs a few seeks, not a read).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["DEFAULT_ALLOWED", "EXTENSIONS", "HEAD_BYTES", "KNOWN_TYPES", "image_size", "kind_of", "matches",
           "saved_name"]

HEAD_BYTES = 64  # how much of the start of a file the signatures look at


def _prefix(*magics: bytes) -> Callable[[bytes], bool]:
    return lambda head: any(head.startswith(m) for m in magics)


def _riff(form: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[:4] == b"RIFF" and head[8:12] == form


def _iso_bmff(head: bytes) -> bool:
    """MP4, M4A, MOV: an ISO base media file starts with an ``ftyp`` box."""
    return head[4:8] == b"ftyp"


def _mpeg_audio(head: bytes) -> bool:
    """MP3: an ID3v2 tag, or a frame sync (11 set bits) with a valid layer."""
    if head.startswith(b"ID3"):
        return True
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


def _adts(head: bytes) -> bool:
    """AAC in ADTS frames: a 12-bit sync word and layer 0."""
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


# mime -> signature check of the first HEAD_BYTES bytes
KNOWN_TYPES: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": _prefix(b"\xff\xd8\xff"),
    "image/png": _prefix(b"\x89PNG\r\n\x1a\n"),
    "image/gif": _prefix(b"GIF87a", b"GIF89a"),
    "image/webp": _riff(b"WEBP"),
    "image/bmp": _prefix(b"BM"),
    "audio/mpeg": _mpeg_audio,
    "audio/ogg": _prefix(b"OggS"),
    "audio/amr": _prefix(b"#!AMR\n", b"#!AMR-WB\n"),
    "audio/wav": _riff(b"WAVE"),
    "audio/flac": _prefix(b"fLaC"),
    "audio/aac": _adts,
    "audio/mp4": _iso_bmff,
    "video/mp4": _iso_bmff,
    "video/quicktime": _iso_bmff,
    "video/webm": _prefix(b"\x1a\x45\xdf\xa3"),
    "application/pdf": _prefix(b"%PDF-"),
}

# The file-name endings each type is saved under, its usual one first (see saved_name).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"), "image/png": (".png",), "image/gif": (".gif",),
    "image/webp": (".webp",), "image/bmp": (".bmp",), "audio/mpeg": (".mp3", ".mpga"), "audio/ogg": (".ogg", ".oga",
    ".opus"), "audio/amr": (".amr",), "audio/wav": (".wav",), "audio/flac": (".flac",), "audio/aac": (".aac",),
    "audio/mp4": (".m4a", ".mp4"), "video/mp4": (".mp4", ".m4v"), "video/quicktime": (".mov", ".qt"),
    "video/webm": (".webm",), "application/pdf": (".pdf",),
}

DEFAULT_ALLOWED = ("image/jpeg", "image/png", "image/gif", "image/webp", "audio/mpeg", "audio/ogg", "audio/amr",
                   "video/mp4", "application/pdf")


def kind_of(mime: str) -> str:
    """``image``, ``audio``, ``video`` or ``file`` (what clients show it as)."""
    top = mime.split("/", 1)[0]
    return top if top in ("image", "audio", "video") else "file"


def saved_name(name: str | None, mime: str) -> str:
    """The name a download of a ``mime`` file is saved under: the uploader's ``name`` when it ends
    as that type's files do, and otherwise with the type's usual ending added (``report.html`` of a
    PDF is saved as ``report.html.pdf``): the server checked the bytes against the type, not the
    name, so a name must not make a computer open the file as another type. No name: the kind's
    (``file.pdf``, ``image.png``)."""
    base = name or kind_of(mime)
    endings = EXTENSIONS.get(mime, ())
    if not endings or base.lower().endswith(endings):
        return base
    return base + endings[0]


def matches(mime: str, head: bytes) -> bool:
    """Do the first bytes of a file carry the signature of ``mime``? (False for unknown types.)"""
    check = KNOWN_TYPES.get(mime)
    return check is not None and check(head)


# -- image sizes -------------------------------------------------------------------------------
def _png(f: BinaryIO) -> tuple[int, int] | None:
    f.seek(12)
    b = f.read(12)
    if len(b) < 12 or b[:4] != b"IHDR":
        return None
    w, h = struct.unpack(">II", b[4:12])
    return w, h


def _gif(f: BinaryIO) -> tuple[int, int] | None:
    f.seek(6)
    b = f.read(4)
    if len(b) < 4:
        return None
    w, h = struct.unpack("<HH", b)
    return w, h


def _webp(f: BinaryIO) -> tuple[int, int] | None:
    f.seek(12)
    b = f.read(18)
    chunk, data = b[:4], b[8:]
    if chunk == b"VP8 ":  # lossy: a key frame's start code, then 14-bit sizes
        if len(data) < 10 or data[3:6] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack("<HH", data[6:10])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":  # lossless: a signature byte, then 14 bits each of width-1 and height-1
        if len(data) < 5 or data[0] != 0x2F:
            return None
        bits = int.from_bytes(data[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 10:  # extended: 24-bit canvas width-1 and height-1
        return int.from_bytes(data[4:7], "little") + 1, int.from_bytes(data[7:10], "little") + 1
    return None


def _bmp(f: BinaryIO) -> tuple[int, int] | None:
    f.seek(14)
    b = f.read(12)
    if len(b) < 12:
        return None
    (header,) = struct.unpack("<I", b[:4])
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        w, h = struct.unpack("<HH", b[4:8])
        return w, h
    w, h = struct.unpack("<ii", b[4:12])
    return abs(w), abs(h)  # a negative height means top-down rows


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # not DHT, JPG, DAC
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length field
_JPEG_MAX_SEGMENTS = 1000
_JPEG_MAX_FILL = 64  # fill bytes before one marker (the standard allows any number; real files have a few)


EXIF_HEADER = b"Exif\x00\x00"  # how a JPEG's APP1 segment that holds EXIF starts
_ORIENTATION = 0x0112  # the EXIF (TIFF IFD0) tag that says how to turn the stored pixels to show them


def exif_orientation(app1: bytes) -> tuple[bytes, int] | None:
    """The byte order (``II`` or ``MM``) and the Orientation (1-8) of an APP1 segment's payload that
    holds EXIF, read from its first IFD; None when it has none (or it cannot be read)."""
    if not app1.startswith(EXIF_HEADER):
        return None
    tiff = app1[len(EXIF_HEADER):]
    order = tiff[:2]
    if order not in (b"II", b"MM") or len(tiff) < 8:
        return None
    e = "<" if order == b"II" else ">"
    magic, at = struct.unpack(e + "HI", tiff[2:8])
    if magic != 42 or at + 2 > len(tiff):
        return None
    (count,) = struct.unpack(e + "H", tiff[at:at + 2])
    for i in range(min(count, (len(tiff) - at - 2) // 12)):
        entry = tiff[at + 2 + 12 * i:at + 14 + 12 * i]
        tag, kind, n = struct.unpack(e + "HHI", entry[:8])
        if tag == _ORIENTATION and kind == 3 and n == 1:  # one SHORT
            (value,) = struct.unpack(e + "H", entry[8:10])
            return (order, value) if 1 <= value <= 8 else None
    return None


def exif_with_orientation(order: bytes, orientation: int) -> bytes:
    """An APP1 payload whose EXIF says the Orientation alone (in ``order``'s byte order): what a
    stripped photo keeps, so that a phone's portrait shot is still shown upright."""
    e = "<" if order == b"II" else ">"
    return (EXIF_HEADER + order + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", 1)
            + struct.pack(e + "HHIH", _ORIENTATION, 3, 1, orientation) + b"\x00\x00" + struct.pack(e + "I", 0))


def _jpeg(f: BinaryIO) -> tuple[int, int] | None:
    """The size the picture is shown at: an EXIF Orientation of 5 to 8 (turned a quarter) swaps
    the frame's width and height. The Orientation is the first EXIF block's that says one other than
    1: the one server/media/strip.py keeps (alone) in the file stored."""
    f.seek(2)
    turned = None
    for _ in range(_JPEG_MAX_SEGMENTS):
        b = f.read(1)
        if b != b"\xff":
            return None
        marker = 0xFF
        for _ in range(_JPEG_MAX_FILL):  # fill bytes (bounded: 20 MiB of them took seconds of CPU)
            b = f.read(1)
            if not b:
                return None
            marker = b[0]
            if marker != 0xFF:
                break
        else:
            return None
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before them
            return None
        b = f.read(2)
        if len(b) < 2:
            return None
        (length,) = struct.unpack(">H", b)
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            b = f.read(5)
            if len(b) < 5:
                return None
            h, w = struct.unpack(">HH", b[1:5])
            return (h, w) if turned else (w, h)
        if marker == 0xE1:
            payload = f.read(length - 2)
            found = exif_orientation(payload)
            if found is not None and turned is None and found[1] != 1:
                turned = found[1] >= 5
            continue
        f.seek(length - 2, 1)
    return None


_SIZERS: dict[str, Callable[[BinaryIO], tuple[int, int] | None]] = {
    "image/png": _png, "image/gif": _gif, "image/webp": _webp, "image/bmp": _bmp, "image/jpeg": _jpeg,
}


# The widest or tallest image a header may claim. Formats allow up to 2**32 - 1 (a BMP's absolute
# int32 2**31), which no real picture has and the store's 32-bit columns cannot hold (PostgreSQL
# would refuse the write: an upload answered "internal" for a crafted header).
MAX_SIDE = 1 << 20


def image_size(mime: str, f: BinaryIO) -> tuple[int, int] | None:
    """(width, height) from the header of an image file open for reading; None when unreadable,
    not an image type this module knows, or claiming a side of 0 or over :data:`MAX_SIDE`."""
    sizer = _SIZERS.get(mime)
    if sizer is None:
        return None
    size = sizer(f)
    if size is None or not (0 < size[0] <= MAX_SIDE and 0 < size[1] <= MAX_SIDE):
        return None
    return size
