"""Metadata stripping on its own (server/media/strip.py): what is removed from JPEG, PNG and WebP and
what is kept (what decodes the picture, its width and height, a JPEG's colour profile), malformed
files refused, and, over generated and mangled files, that the stripper never raises anything but
its refusal, never grows a file, and gives the same bytes again when run on its own output."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.media import sniff
from server.media.strip import Malformed, strip_bytes, strip_file, strips

GPS = b"GPSLatitude=39/1,54/1,2718/100"
EXIF = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + GPS
XMP = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><exif:GPSLatitude>39,54N</exif:GPSLatitude></x:xmpmeta>"
ICC = b"ICC_PROFILE\x00\x01\x01" + bytes(range(256))
JFIF = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def seg(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", 2 + len(body)) + body


def sof(w: int, h: int, marker: int = 0xC0) -> bytes:
    return seg(marker, struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00")


SOS = seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")
SCAN = b"\x12\x34\xff\x00\x56\xff\xd0\x78" * 16  # stuffed bytes and a restart marker: not markers


def jpeg(*segments: bytes, tail: bytes = b"\xff\xd9") -> bytes:
    return b"\xff\xd8" + b"".join(segments) + tail


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(*chunks: bytes, w: int = 4, h: int = 3) -> bytes:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + b"\x80" * w for _ in range(h))))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + idat + chunk(b"IEND", b"")


def riff(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)


def vp8x(flags: int, w: int, h: int) -> bytes:
    return riff(b"VP8X", bytes([flags]) + b"\x00" * 3 + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little"))


VP8L = riff(b"VP8L", b"\x2f" + ((120 - 1) | ((90 - 1) << 14)).to_bytes(4, "little") + b"\x00" * 6)


def webp(*chunks: bytes) -> bytes:
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def size_of(mime: str, data: bytes) -> tuple[int, int] | None:
    return sniff.image_size(mime, io.BytesIO(data))


# -- JPEG ---------------------------------------------------------------------------------------------
def test_a_jpeg_loses_exif_xmp_and_iptc_and_keeps_what_decodes_it() -> None:
    dqt, dht = seg(0xDB, b"\x00" + bytes(64)), seg(0xC4, b"\x00" + bytes(16) + b"\x00")
    keep = [seg(0xE0, JFIF), seg(0xE2, ICC), seg(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01"), dqt,
            seg(0xFE, b"a comment"), sof(4032, 3024), dht, seg(0xDD, b"\x00\x10")]
    photo = jpeg(keep[0], seg(0xE1, EXIF), seg(0xE1, XMP), *keep[1:3], seg(0xED, b"Photoshop 3.0\x008BIM" + GPS),
                 *keep[3:], SOS + SCAN, dht, SOS + SCAN)
    out = strip_bytes("image/jpeg", photo)
    assert out == jpeg(*keep, SOS + SCAN, dht, SOS + SCAN)  # everything else exactly as it was, in order
    assert GPS not in out and b"Exif" not in out and b"xmpmeta" not in out and ICC in out
    assert size_of("image/jpeg", out) == size_of("image/jpeg", photo) == (4032, 3024)


def test_a_jpeg_without_metadata_is_left_as_it_is() -> None:
    plain = jpeg(seg(0xE0, JFIF), sof(64, 48), SOS + SCAN)
    assert strip_bytes("image/jpeg", plain) is plain


def test_what_follows_a_jpegs_end_is_dropped_and_its_multi_picture_index_with_it() -> None:
    """A multi-picture file or a motion photo has more after the end-of-image marker (a second JPEG
    with its own EXIF, a video): not part of the picture shown, so not stored."""
    second = jpeg(seg(0xE1, EXIF), sof(8, 8), SOS + SCAN)
    photo = jpeg(seg(0xE2, b"MPF\x00II*\x00"), sof(64, 48), SOS + SCAN) + second
    assert strip_bytes("image/jpeg", photo) == jpeg(sof(64, 48), SOS + SCAN)


def test_a_jpeg_ending_inside_its_scan_is_kept_whole() -> None:
    cut = jpeg(seg(0xE1, EXIF), sof(64, 48), SOS + SCAN, tail=b"")
    assert strip_bytes("image/jpeg", cut) == jpeg(sof(64, 48), SOS + SCAN, tail=b"")
    assert strip_bytes("image/jpeg", cut + b"\xff") == jpeg(sof(64, 48), SOS + SCAN, tail=b"\xff")


@pytest.mark.parametrize("bad", [
    jpeg(sof(64, 48), b"\xff\xe1\xff\xf0" + EXIF),  # a segment past the end of the file
    jpeg(sof(64, 48), b"junk" + seg(0xE1, EXIF)),  # no marker where a segment must start
    jpeg(sof(64, 48), b"\xff\xe1\x00\x01" + EXIF),  # a length below 2
    jpeg(sof(64, 48), b"\xff" * 100 + seg(0xE1, EXIF)),  # fill bytes without end
    jpeg(sof(64, 48), b"\xff\xd8" + seg(0xE1, EXIF)),  # a second start of image
    jpeg(sof(64, 48), b"\xff\xe1\x00"),  # a length cut off
])
def test_a_jpeg_whose_segments_cannot_be_walked_is_refused(bad: bytes) -> None:
    with pytest.raises(Malformed):
        strip_bytes("image/jpeg", bad)


def test_a_jpeg_of_very_many_segments_is_refused() -> None:
    with pytest.raises(Malformed, match="segments"):
        strip_bytes("image/jpeg", jpeg(sof(8, 8), *[seg(0xFE, b"")] * 10_001))


# -- PNG ----------------------------------------------------------------------------------------------
def test_a_png_loses_exif_and_text_chunks_and_keeps_the_rest() -> None:
    keep = [chunk(b"gAMA", struct.pack(">I", 45455)), chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(ICC)),
            chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))]
    photo = png(keep[0], chunk(b"eXIf", EXIF[6:]), chunk(b"tEXt", b"Comment\x00" + GPS), keep[1],
                chunk(b"zTXt", b"Raw profile type exif\x00\x00" + zlib.compress(GPS)),
                chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP), keep[2], w=640, h=480)
    out = strip_bytes("image/png", photo)
    assert out == png(*keep, w=640, h=480)
    assert size_of("image/png", out) == (640, 480)
    assert strip_bytes("image/png", out) is out
    assert strip_bytes("image/png", png() + b"appended") == png()  # after IEND: not the picture


@pytest.mark.parametrize("bad", [
    png()[:-12] + chunk(b"tEXt", GPS)[:-3],  # a chunk past the end
    png()[:-12] + b"\x00\x00\x00\x04\x00\x01\x02\x03abcd",  # no chunk type
    png()[:-12] + b"\x00\x00",  # a header cut off
    png()[:-12] + b"\xff\xff\xff\xfftEXt",  # a length over 2**31 - 1
])
def test_a_png_whose_chunks_cannot_be_walked_is_refused(bad: bytes) -> None:
    with pytest.raises(Malformed):
        strip_bytes("image/png", bad)


# -- WebP ---------------------------------------------------------------------------------------------
def test_a_webp_loses_exif_and_xmp_and_its_flags_and_size_say_so() -> None:
    iccp = riff(b"ICCP", ICC[14:] + b"\x01")  # (odd: padded)
    photo = webp(vp8x(0x20 | 0x10 | 0x08 | 0x04, 120, 90), iccp, VP8L, riff(b"EXIF", EXIF[6:] + b"x"),
                 riff(b"XMP ", XMP))
    out = strip_bytes("image/webp", photo)
    assert out == webp(vp8x(0x20 | 0x10, 120, 90), iccp, VP8L)
    assert struct.unpack("<I", out[4:8])[0] == len(out) - 8
    assert size_of("image/webp", out) == size_of("image/webp", photo) == (120, 90)
    assert strip_bytes("image/webp", out) is out
    # (found by the property below: a VP8X after an EXIF chunk is the first once it is gone)
    assert strip_bytes("image/webp", webp(riff(b"EXIF", EXIF[6:]), vp8x(0x0C, 120, 90), VP8L)) == \
        webp(vp8x(0, 120, 90), VP8L)
    simple = webp(VP8L)  # the simple format has no metadata: as it is
    assert strip_bytes("image/webp", simple) is simple
    assert strip_bytes("image/webp", simple + b"after the RIFF form") == simple


@pytest.mark.parametrize("bad", [
    webp(VP8L)[:-4],  # the RIFF size past the end of the file
    webp(VP8L, b"EXIF\xff\x00\x00\x00" + GPS),  # a chunk past the RIFF form
    webp(VP8L, b"EXI"),  # a chunk header cut off
    b"RIFF\x02\x00\x00\x00WEBP",  # a RIFF size too small for its form
])
def test_a_webp_whose_chunks_cannot_be_walked_is_refused(bad: bytes) -> None:
    with pytest.raises(Malformed):
        strip_bytes("image/webp", bad)


# -- other types, and files on disk -----------------------------------------------------------------
def test_only_jpeg_png_and_webp_are_stripped() -> None:
    gif = b"GIF89a\x10\x00\x10\x00\x00\x00\x00!\xfe\x05hello\x00;"  # a comment extension: left
    assert [m for m in sniff.KNOWN_TYPES if strips(m)] == ["image/jpeg", "image/png", "image/webp"]
    assert strip_bytes("image/gif", gif) is gif


def test_a_file_is_stripped_in_place_and_its_digest_and_size_returned(tmp_path: Path) -> None:
    photo = jpeg(seg(0xE1, EXIF), sof(64, 48), SOS + SCAN * 100_000)  # 12 MB: copied in bounded pieces
    path = tmp_path / "up.part"
    path.write_bytes(photo)
    want = strip_bytes("image/jpeg", photo)
    assert strip_file(path, "image/jpeg") == (hashlib.sha256(want).hexdigest(), len(want))
    assert path.read_bytes() == want
    assert strip_file(path, "image/jpeg") is None  # nothing left to remove: untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["up.part"]  # no file left beside it
    broken = tmp_path / "broken.part"
    broken.write_bytes(jpeg(sof(64, 48), b"\xff\xe1\xff\xf0" + EXIF))
    with pytest.raises(Malformed):
        strip_file(broken, "image/jpeg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.part", "up.part"]


# -- properties over generated and mangled files ----------------------------------------------------
_bodies = st.binary(max_size=40)
_jpeg_parts = st.one_of(
    st.builds(seg, st.sampled_from([0xE0, 0xE1, 0xE2, 0xED, 0xEE, 0xFE, 0xDB, 0xC4, 0xDD]), _bodies),
    st.builds(lambda b: seg(0xE2, b"MPF\x00" + b), _bodies),
    st.builds(sof, st.integers(1, 5000), st.integers(1, 5000)),
    st.builds(lambda b: SOS + b, st.binary(max_size=60)),
    st.sampled_from([b"\xff\xd9", b"\xff\xd0", b"\xff\xff", b"\xff", SCAN]),
    _bodies,
)
_png_parts = st.one_of(
    st.builds(chunk, st.sampled_from([b"IHDR", b"IDAT", b"IEND", b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"gAMA"]),
              _bodies),
    _bodies,
)
_webp_parts = st.one_of(
    st.builds(riff, st.sampled_from([b"VP8X", b"VP8 ", b"VP8L", b"EXIF", b"XMP ", b"ICCP", b"ANIM"]), _bodies),
    st.builds(vp8x, st.integers(0, 255), st.integers(1, 4000), st.integers(1, 4000)),
    st.just(VP8L),
    _bodies,
)


@st.composite
def images(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    mime = draw(st.sampled_from(["image/jpeg", "image/png", "image/webp"]))
    if mime == "image/jpeg":
        data = b"\xff\xd8" + b"".join(draw(st.lists(_jpeg_parts, max_size=12)))
    elif mime == "image/png":
        data = png(*draw(st.lists(_png_parts, max_size=8)))
        if draw(st.booleans()):
            data = b"\x89PNG\r\n\x1a\n" + b"".join(draw(st.lists(_png_parts, max_size=8)))
    else:
        body = b"WEBP" + b"".join(draw(st.lists(_webp_parts, max_size=8)))
        riff_size = draw(st.one_of(st.just(len(body)), st.integers(0, 2 * len(body))))
        data = b"RIFF" + struct.pack("<I", riff_size) + body
    # Mangled: cut short, a byte changed, or bytes added.
    how = draw(st.sampled_from(["as is", "cut", "flip", "append"]))
    if how == "cut" and data:
        data = data[:draw(st.integers(0, len(data)))]
    elif how == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    elif how == "append":
        data += draw(st.binary(max_size=40))
    return mime, data, how == "as is" and _header_whole(mime, data)


def _header_whole(mime: str, data: bytes) -> bool:
    """Does the block sniff.py reads the width and height from hold all it reads? (It reads a fixed
    number of bytes after a PNG's first chunk header, a WebP's first chunk header and a JPEG's frame
    header whatever their lengths say: from a short one it reads the next block's bytes, which a
    stripped file may no longer have. The generated frame headers are whole.)"""
    if mime == "image/png":
        return len(data) >= 12 and struct.unpack(">I", data[8:12])[0] >= 8
    if mime == "image/webp":  # (and sniff.py reads it even past the RIFF form, which the stripper drops)
        return len(data) >= 20 and 10 <= struct.unpack("<I", data[16:20])[0] <= struct.unpack("<I", data[4:8])[0] - 12
    return True


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(images())
def test_the_stripper_refuses_or_shrinks_and_never_raises_anything_else(image: tuple[str, bytes, bool]) -> None:
    mime, data, whole = image
    try:
        out = strip_bytes(mime, data)
    except Malformed:
        return
    assert len(out) <= len(data)
    assert strip_bytes(mime, out) == out  # nothing left to remove, and the output walks cleanly
    before = size_of(mime, data)
    if whole and before is not None:
        assert size_of(mime, out) == before  # the width and height are where they were read from
    if mime == "image/webp" and out is not data:
        assert struct.unpack("<I", out[4:8])[0] == len(out) - 8


@settings(max_examples=200)
@given(st.sampled_from(["image/jpeg", "image/png", "image/webp"]), st.binary(max_size=200))
def test_random_bytes_are_refused_or_stripped_never_anything_else(mime: str, data: bytes) -> None:
    try:
        out = strip_bytes(mime, data)
    except Malformed:
        return
    assert len(out) <= len(data)


def exif_with(order: bytes, orientation: int) -> bytes:
    """An EXIF APP1 payload as a camera writes one: Orientation, then a GPS pointer and its data."""
    e = "<" if order == b"II" else ">"
    ifd = struct.pack(e + "H", 2) + struct.pack(e + "HHIH", 0x0112, 3, 1, orientation) + b"\x00\x00"
    ifd += struct.pack(e + "HHII", 0x8825, 4, 1, 38) + struct.pack(e + "I", 0)
    return b"Exif\x00\x00" + order + struct.pack(e + "HI", 42, 8) + ifd + GPS


@pytest.mark.parametrize("order", [b"II", b"MM"])
@pytest.mark.parametrize("orientation,shown", [(1, (640, 480)), (3, (640, 480)), (6, (480, 640)), (8, (480, 640))])
def test_a_photos_orientation_is_kept_alone_and_its_size_is_as_shown(order: bytes, orientation: int,
                                                                       shown: tuple[int, int]) -> None:
    """A phone's portrait shot is landscape pixels and EXIF Orientation 6: the EXIF goes (the GPS with
    it) but for the Orientation, so that it is still shown upright; its size is the one it shows at."""
    data = jpeg(seg(0xE0, JFIF), seg(0xE1, exif_with(order, orientation)), sof(640, 480), SOS, SCAN)
    out = strip_bytes("image/jpeg", data)
    assert GPS not in out and len(out) < len(data)
    app1 = [p for p in out.split(b"\xff\xe1")[1:]]
    if orientation == 1:
        assert app1 == []   # (nothing to keep: shown as stored)
    else:
        kept = sniff.exif_orientation(app1[0][2:2 + struct.unpack(">H", app1[0][:2])[0] - 2])
        assert kept == (order, orientation)
    for f in (data, out):
        assert sniff.image_size("image/jpeg", io.BytesIO(f)) == shown
    assert strip_bytes("image/jpeg", out) == out   # (stripped once: nothing more to take)
