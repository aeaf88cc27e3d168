"""The media building blocks on their own: signatures and image sizes, known-file lists, chunk
sizes that fit a frame, signed URLs, the media config keys."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from governance.content import Action
from protocol.codec import Encoding, encode
from protocol.messages import decode_request
from server.config import ConfigError, parse_config
from server.media import sniff
from server.media.index import MediaEntry, MediaIndex
from server.media.lists import MediaLists, build_media_lists, parse_digests
from server.media.service import MediaService, chunk_bytes

PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 640, 480, 8, 6, 0, 0, 0)
GIF = b"GIF89a" + struct.pack("<HH", 33, 17) + b"\x00" * 8
BMP = b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 99, -55) + b"\x00" * 20
WEBP_LOSSY = (b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00" + b"\x00\x00\x00\x9d\x01\x2a"
              + struct.pack("<HH", 300, 200))
_VP8L_BITS = (120 - 1) | ((90 - 1) << 14)
WEBP_LOSSLESS = b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + _VP8L_BITS.to_bytes(4, "little") + b"\x00" * 4
WEBP_EXT = (b"RIFF\x00\x00\x00\x00WEBPVP8X\x00\x00\x00\x00" + b"\x00" * 4 + (4000 - 1).to_bytes(3, "little")
            + (3000 - 1).to_bytes(3, "little"))


def jpeg(w: int, h: int, sof: int = 0xC0) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb\x00\x04\x00\x00"
    frame = b"\xff" + bytes([sof]) + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + b"\xff" + dqt + frame + b"\xff\xd9"  # a fill byte before DQT


@pytest.mark.parametrize(("mime", "data", "size"), [
    ("image/png", PNG, (640, 480)),
    ("image/gif", GIF, (33, 17)),
    ("image/bmp", BMP, (99, 55)),
    ("image/webp", WEBP_LOSSY, (300, 200)),
    ("image/webp", WEBP_LOSSLESS, (120, 90)),
    ("image/webp", WEBP_EXT, (4000, 3000)),
    ("image/jpeg", jpeg(1920, 1080), (1920, 1080)),
    ("image/jpeg", jpeg(64, 48, sof=0xC2), (64, 48)),  # progressive
])
def test_image_signatures_and_sizes(mime: str, data: bytes, size: tuple[int, int]) -> None:
    assert sniff.matches(mime, data[:sniff.HEAD_BYTES])
    assert sniff.image_size(mime, io.BytesIO(data)) == size
    others = [m for m in sniff.KNOWN_TYPES if m.startswith("image/") and m != mime]
    assert not any(sniff.matches(m, data[:sniff.HEAD_BYTES]) for m in others)


class _Counted(io.BytesIO):
    """A file that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, n: int | None = -1) -> bytes:
        got = super().read(n)
        self.taken += len(got)
        return got


def test_a_jpeg_of_fill_bytes_is_given_up_at_once() -> None:
    """Fill bytes before a marker are bounded: a 'JPEG' of 20 MiB of 0xFF was read a byte at a time
    to its end (seconds of CPU, the loop's lock held) before being refused."""
    crafted = _Counted(b"\xff\xd8" + b"\xff" * (20 << 20))
    assert sniff.image_size("image/jpeg", crafted) is None
    assert crafted.taken < 1000
    a_few = jpeg(64, 48).replace(b"\xff\xdb", b"\xff" * 10 + b"\xdb", 1)  # ten fill bytes: fine
    assert sniff.image_size("image/jpeg", io.BytesIO(a_few)) == (64, 48)


def test_unreadable_image_headers_give_no_size() -> None:
    assert sniff.image_size("image/png", io.BytesIO(PNG[:20])) is None
    assert sniff.image_size("image/jpeg", io.BytesIO(b"\xff\xd8\xff\xda\x00\x02")) is None  # scan before frame
    assert sniff.image_size("image/jpeg", io.BytesIO(b"\xff\xd8garbage")) is None
    assert sniff.image_size("image/gif", io.BytesIO(b"GIF89a\x00\x00\x00\x00")) is None  # 0 x 0
    assert sniff.image_size("application/pdf", io.BytesIO(b"%PDF-1.7")) is None
    # A side no picture has (the store's 32-bit columns could not hold it): no size, so the upload
    # is refused with bad_request rather than failing its write.
    for w, h in ((0xFFFFFFFF, 1), (1, sniff.MAX_SIDE + 1)):
        huge = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
        assert sniff.image_size("image/png", io.BytesIO(huge)) is None
    bmp = b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 99, -(2**31)) + b"\x00" * 20
    assert sniff.image_size("image/bmp", io.BytesIO(bmp)) is None
    edge = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", sniff.MAX_SIDE, 1,
                                                                                     8, 6, 0, 0, 0)
    assert sniff.image_size("image/png", io.BytesIO(edge)) == (sniff.MAX_SIDE, 1)


@pytest.mark.parametrize(("mime", "good", "bad"), [
    ("audio/mpeg", b"ID3\x04\x00", b"\xff\x00"),
    ("audio/mpeg", b"\xff\xfb\x90\x64", b"\xff\xe0\x00"),  # frame sync; layer bits 00 are reserved
    ("audio/ogg", b"OggS\x00\x02", b"Ogg!"),
    ("audio/amr", b"#!AMR\n\x3c", b"#!AMR-X\n"),
    ("audio/wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"RIFF\x24\x00\x00\x00WEBPVP8 "),
    ("video/mp4", b"\x00\x00\x00\x18ftypmp42", b"\x00\x00\x00\x18moov"),
    ("video/webm", b"\x1a\x45\xdf\xa3\x9f", b"\x1a\x45\xdf"),
    ("application/pdf", b"%PDF-1.4\n", b"%!PS-Adobe"),
    ("audio/aac", b"\xff\xf1\x50\x80", b"\xff\xfb\x90\x64"),
])
def test_other_signatures(mime: str, good: bytes, bad: bytes) -> None:
    assert sniff.matches(mime, good)
    assert not sniff.matches(mime, bad)
    assert not sniff.matches("text/plain", good)  # unknown types never match


def test_kinds() -> None:
    assert [sniff.kind_of(m) for m in ("image/png", "audio/amr", "video/mp4", "application/pdf")] == \
        ["image", "audio", "video", "file"]


def test_digest_lists_parse_and_the_most_severe_wins(tmp_path: Path) -> None:
    a, b = "a" * 64, "B" * 64
    assert parse_digests(f"# comment\n\n{a}\n  {b}  a note\n", "x") == {a, b.lower()}
    with pytest.raises(ValueError, match="x:2"):
        parse_digests(f"{a}\n{a[:63]}\n", "x")
    lists = MediaLists([("watch", Action.FLAG, {a}), ("bad", Action.BLOCK, {a}), ("rev", Action.REVIEW, {a})])
    listed = lists.check(a.upper())
    assert listed is not None and (listed.category, listed.action) == ("bad", Action.BLOCK)
    assert lists.check("c" * 64) is None
    (tmp_path / "l.txt").write_text(f"{a}\n", encoding="utf-8")
    cfg = parse_config({"content": {"media_lists": [{"category": "k", "path": "l.txt", "action": "review"}]}},
                       tmp_path)
    assert build_media_lists(cfg).check(a) is not None


@pytest.mark.parametrize("frame", [1024, 4096, 65536, 1048576, 4 * 1048576])
def test_a_full_chunk_fits_the_frame_limit_also_as_json(frame: int) -> None:
    n = chunk_bytes(frame)
    assert n > 0 and n % 3 == 0
    args = {"op": "upload_chunk", "rid": 2**63 - 1, "upload_id": "u" * 256, "offset": 2**62, "data": b"\xff" * n}
    for enc in (Encoding.JSON, Encoding.MSGPACK):
        data = encode(args, enc)
        assert len(data.encode() if isinstance(data, str) else data) <= frame
        assert decode_request(data, frame).data == b"\xff" * n  # type: ignore[attr-defined]
    assert chunk_bytes(1048576) > 700_000


def test_signed_urls() -> None:
    cfg = parse_config({}, Path("."))
    svc = MediaService(cfg, lambda: b"k" * 32)
    other = MediaService(cfg, lambda: b"j" * 32)
    now = 1_700_000_000_123
    url = svc.url("abc", now, 60)
    path, query = url.split("?")
    params = dict(p.split("=") for p in query.split("&"))
    assert path == "/media/abc" and int(params["e"]) * 1000 >= now + 60_000
    assert svc.url_valid("abc", params["e"], params["s"], now + 59_000)
    assert not svc.url_valid("abc", params["e"], params["s"], int(params["e"]) * 1000)  # expired
    assert not svc.url_valid("abd", params["e"], params["s"], now)
    assert not svc.url_valid("abc", str(int(params["e"]) + 1), params["s"], now)
    assert not other.url_valid("abc", params["e"], params["s"], now)
    assert not svc.url_valid("abc", None, params["s"], now) and not svc.url_valid("abc", params["e"], None, now)
    assert not svc.url_valid("abc", "-1", params["s"], now) and not svc.url_valid("abc", "1e9", params["s"], now)


def test_media_config_keys(tmp_path: Path) -> None:
    cfg = parse_config({"media": {"path": "files", "allowed_types": ["image/png", "video/webm"]}}, tmp_path)
    assert cfg.media.path == tmp_path / "files" and cfg.media.allowed_types == ("image/png", "video/webm")
    assert cfg.media.max_bytes == 20971520 and cfg.media.url_ttl_seconds == 3600
    for bad in ({"allowed_types": ["text/html"]}, {"allowed_types": ["image/png", "image/png"]},
                {"max_bytes": 0}, {"url_ttl_seconds": 0}, {"uploads_per_hour": -1}, {"unattached_ttl_seconds": 0}):
        with pytest.raises(ConfigError):
            parse_config({"media": bad}, tmp_path)
    with pytest.raises(ConfigError):
        parse_config({"content": {"media_lists": [{"category": "k", "path": "missing.txt", "action": "block"}]}},
                     tmp_path)


def test_the_index_counts_files_shared_by_rows() -> None:
    index = MediaIndex()
    index.add(MediaEntry("m1", "s" * 64, "u1", "image/png", "image", 1, None, 1, 1, 10))
    index.add(MediaEntry("m2", "s" * 64, "u2", "image/png", "image", 1, None, 1, 1, 20))
    with pytest.raises(ValueError):
        index.add(MediaEntry("m1", "t" * 64, "u1", "image/png", "image", 1, None, 1, 1, 10))
    index.remove("m1")
    assert index.file_in_use("s" * 64)
    index.remove("m2")
    assert not index.file_in_use("s" * 64)
    index.claim_placing("s" * 64)
    assert index.file_in_use("s" * 64)
    index.release_placing("s" * 64)
    assert not index.file_in_use("s" * 64) and len(index) == 0


@pytest.mark.parametrize(("name", "mime", "saved"), [
    ("report.pdf", "application/pdf", "report.pdf"),
    ("REPORT.PDF", "application/pdf", "REPORT.PDF"),
    ("report.html", "application/pdf", "report.html.pdf"),  # the bytes are a PDF: saved as one
    ("cat.jpeg", "image/jpeg", "cat.jpeg"),
    ("cat.png", "image/jpeg", "cat.png.jpg"),
    ("song", "audio/mpeg", "song.mp3"),
    (None, "application/pdf", "file.pdf"),
    (None, "image/png", "image.png"),
    ("", "video/mp4", "video.mp4"),
])
def test_a_download_is_saved_under_a_name_ending_as_its_checked_type(name, mime, saved) -> None:
    assert sniff.saved_name(name, mime) == saved


def test_every_known_type_has_its_endings() -> None:
    assert set(sniff.EXTENSIONS) == set(sniff.KNOWN_TYPES)


def test_a_users_unfinished_uploads_are_counted_from_their_own(tmp_path: Path) -> None:
    """upload_begin counted a user's uploads by reading everyone's (server/media/service.py)."""
    from server.media.uploads import Upload

    svc = MediaService(parse_config({}, Path(".")), lambda: b"k" * 32)
    ups = [Upload(tmp_path, f"up{i}", "u1" if i < 3 else "u2", "image/png", 100 * (i + 1), None, 0,
                  sha256="a" * 64 if i in (0, 1) else None) for i in range(5)]
    for up in ups:
        svc.add_upload(up)
    assert (svc.open_uploads("u1"), svc.open_uploads("u2"), svc.open_uploads("u3")) == (3, 2, 0)
    assert svc.pending_bytes("u1") == 100 + 300  # (the two of one declared content count once)
    assert svc.pending_content("u1", "a" * 64) and not svc.pending_content("u2", "a" * 64)
    svc.drop_upload(ups[0])
    svc.drop_upload(ups[0])  # (again: nothing)
    assert (svc.open_uploads("u1"), len(svc.uploads)) == (2, 4)
    for up in ups[3:]:
        svc.drop_upload(up)
    assert svc.open_uploads("u2") == 0 and "u2" not in svc._by_user  # noqa: SLF001
