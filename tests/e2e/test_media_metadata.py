"""Photos shared in a group do not tell the group where they were taken: ``upload_end`` stores an
image without its EXIF, XMP and IPTC metadata (server/media/strip.py), so a phone photo's GPS
position and camera serial never reach the members who are served it. Guards the stripping end to
end for JPEG, PNG and WebP (the served bytes carry no EXIF, the attachment keeps the picture's width
and height, the reply describes the stored file), that two uploads of one photo share one stored
file, that known-file lists match the photo as received as well as as stored, and that an image
whose structure cannot be walked is refused rather than stored with its metadata.

The first test is the reviewer's (tests/e2e/test_media_review.py in the review's clone), which
failed before: the photo was served byte for byte."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib

from server.media.strip import strip_bytes
from tests.e2e.harness import close_all
from tests.e2e.test_media import FAST_MEDIA, code, eventually, get, group_of, png, stored_file, upload


def jpeg_with_gps(width: int, height: int, lat: tuple[int, int, int], lon: tuple[int, int, int]) -> bytes:
    """A JPEG whose EXIF block (APP1) says where it was taken, as every phone camera writes it:
    IFD0 with a GPSInfo pointer (tag 0x8825) to a GPS IFD holding GPSLatitude and GPSLongitude."""
    def rationals(dms: tuple[int, int, int]) -> bytes:
        return b"".join(struct.pack("<II", v, 1) for v in dms)

    # TIFF header (little endian), IFD0 at 8 with one entry: GPSInfo -> GPS IFD at 26.
    tiff = b"II*\x00" + struct.pack("<I", 8)
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x8825, 4, 1, 26) + struct.pack("<I", 0)
    # GPS IFD at 26: 4 entries (N/E refs inline, latitude and longitude as 3 rationals each).
    data_at = 26 + 2 + 4 * 12 + 4
    gps = struct.pack("<H", 4)
    gps += struct.pack("<HHI", 1, 2, 2) + b"N\x00\x00\x00"
    gps += struct.pack("<HHII", 2, 5, 3, data_at)
    gps += struct.pack("<HHI", 3, 2, 2) + b"E\x00\x00\x00"
    gps += struct.pack("<HHII", 4, 5, 3, data_at + 24)
    gps += struct.pack("<I", 0)
    tiff += gps + rationals(lat) + rationals(lon)
    exif = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + len(exif)) + exif
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app1 + sof0 + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x12" * 64 + b"\xff\xd9"


async def test_a_shared_photo_does_not_tell_the_group_where_its_uploader_took_it(make_server):
    """A photo sent to a group is served to every member (and to anyone a URL reaches) byte for byte,
    EXIF GPS position included: the uploader's home or whereabouts, to the metre. Nothing in
    docs/protocol.md, privacy.md or config.md says so or offers to strip it."""
    server = make_server(FAST_MEDIA)
    owner, gid, [member] = await group_of(server)
    lat, lon = (39, 54, 2718), (116, 23, 3141)  # (a point in Beijing: degrees, minutes, seconds)
    photo = jpeg_with_gps(640, 480, lat, lon)
    r = await upload(owner, photo, "image/jpeg", name="IMG_0001.jpg")
    assert code(r) == "ok", r
    await owner.request("send", group_id=gid, text="", attachments=[r["media_id"]])
    url = (await member.next_event("message"))["attachments"][0]["url"]
    served = get(server, url)
    assert served.status_code == 200
    where = b"".join(struct.pack("<II", v, 1) for v in lat)
    assert where not in served.content, "the member received the uploader's GPS latitude in the photo's EXIF"
    assert b"Exif\x00\x00" not in served.content, "the served photo still carries its camera's EXIF block"
    await close_all(owner, member)


# -- one photo of each stripped type, with a position in its metadata ------------------------------
GPS = b"GPSLatitude=39/1,54/1,2718/100"  # what a position looks like in any of these blocks
EXIF = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + GPS
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>39,54.45N</exif:GPSLatitude></x:xmpmeta>'
ICC = b"ICC_PROFILE\x00\x01\x01" + b"\x00" * 128  # (a stand-in profile: it must be kept)


def jpeg_photo(width: int, height: int) -> bytes:
    def seg(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", 2 + len(body)) + body

    sof0 = seg(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    return (b"\xff\xd8" + seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00") + seg(0xE1, EXIF)
            + seg(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP) + seg(0xE2, ICC)
            + seg(0xED, b"Photoshop 3.0\x008BIM" + GPS) + sof0
            + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x12\xff\x00" * 30 + b"\xff\xd9")


def png_photo(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"eXIf", EXIF[6:])
            + chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP)
            + chunk(b"tEXt", b"Comment\x00" + GPS) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def webp_photo(width: int, height: int) -> bytes:
    def chunk(fourcc: bytes, data: bytes) -> bytes:
        return fourcc + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)

    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    vp8x = bytes([0x08 | 0x04]) + b"\x00\x00\x00" + canvas  # flags: EXIF and XMP present
    vp8l = b"\x2f" + ((width - 1) | ((height - 1) << 14)).to_bytes(4, "little") + b"\x00" * 7
    body = b"WEBP" + chunk(b"VP8X", vp8x) + chunk(b"VP8L", vp8l) + chunk(b"EXIF", EXIF[6:]) + chunk(b"XMP ", XMP)
    return b"RIFF" + struct.pack("<I", len(body)) + body


async def test_photos_of_every_stripped_type_reach_the_group_without_their_metadata(make_server):
    """JPEG, PNG and WebP: the bytes served carry no EXIF, XMP or IPTC block (nor the position in
    them), and the attachment still has the picture's width and height; the upload's reply gives the
    stored file's size and SHA-256, which are the served bytes'."""
    server = make_server(FAST_MEDIA)
    owner, gid, [member] = await group_of(server)
    for mime, photo in (("image/jpeg", jpeg_photo(640, 480)), ("image/png", png_photo(64, 48)),
                        ("image/webp", webp_photo(300, 200))):
        r = await upload(owner, photo, mime)
        assert code(r) == "ok", (mime, r)
        await owner.request("send", group_id=gid, text="", attachments=[r["media_id"]])
        [att] = (await member.next_event("message"))["attachments"]
        w, h = {"image/jpeg": (640, 480), "image/png": (64, 48), "image/webp": (300, 200)}[mime]
        assert (att["width"], att["height"]) == (r["width"], r["height"]) == (w, h), (mime, att)
        served = get(server, att["url"]).content
        for leak in (b"Exif\x00\x00", GPS, b"GPSLatitude", b"xmpmeta", b"8BIM"):
            assert leak not in served, (mime, leak)
        assert len(served) < len(photo), mime
        assert att["size"] == r["size"] == len(served), (mime, att, r)
        assert r["sha256"] == hashlib.sha256(served).hexdigest() != hashlib.sha256(photo).hexdigest(), mime
        assert stored_file(server, r["sha256"]).read_bytes() == served
        assert not stored_file(server, hashlib.sha256(photo).hexdigest()).exists()
        if mime == "image/jpeg":
            assert ICC in served  # the colour profile, needed to show it right, is kept
        if mime == "image/webp":
            assert served[20] & 0x0C == 0 and struct.unpack("<I", served[4:8])[0] == len(served) - 8
    # A picture without metadata is stored as sent: the digest the client computed is the stored one.
    bare = png(5, 5)
    r = await upload(owner, bare, "image/png")
    assert code(r) == "ok" and r["size"] == len(bare) and r["sha256"] == hashlib.sha256(bare).hexdigest(), r
    await close_all(owner, member)


async def test_two_uploads_of_one_photo_share_one_stored_file_and_lists_match_it_either_way(make_server, tmp_path):
    """The stripped file is a function of the photo's bytes: uploaded twice it is one stored file.
    A ``block`` list naming the photo as it circulates (with its EXIF) refuses it, and one naming
    the stored (stripped) file refuses the photo too; the record names the digest listed."""
    photo = jpeg_with_gps(320, 240, (31, 14, 1000), (121, 28, 2000))
    other = jpeg_with_gps(800, 600, (22, 32, 1000), (114, 3, 2000))  # (stripped: another picture)
    stored_other = hashlib.sha256(strip_bytes("image/jpeg", other)).hexdigest()
    lists = tmp_path / "srv"
    lists.mkdir()
    (lists / "blocked.txt").write_text(f"{hashlib.sha256(photo).hexdigest()}\n{stored_other}\n", encoding="utf-8")
    server = make_server(FAST_MEDIA + '[[content.media_lists]]\ncategory = "known_bad"\npath = "blocked.txt"\n'
                                      'action = "block"\n')
    c = await server.user()
    assert code(await upload(c, photo, "image/jpeg")) == "content_blocked"
    assert code(await upload(c, other, "image/jpeg")) == "content_blocked"
    sql = "SELECT detail FROM audit WHERE action = 'content_blocked' ORDER BY id"
    await eventually(lambda: len(server.db_rows(sql)) == 2)  # (the record is written after the refusal)
    rows = server.db_rows(sql)
    assert [json.loads(r[0])["sha256"] for r in rows] == [hashlib.sha256(photo).hexdigest(), stored_other]
    fine = jpeg_with_gps(1024, 768, (30, 0, 0), (120, 0, 0))
    first, again = await upload(c, fine, "image/jpeg"), await upload(c, fine, "image/jpeg")
    assert code(first) == code(again) == "ok" and first["media_id"] != again["media_id"]
    assert first["sha256"] == again["sha256"] and first["size"] == again["size"] < len(fine)
    # The same picture taken elsewhere (another position in its EXIF) is the same stored file too.
    elsewhere = await upload(c, jpeg_with_gps(1024, 768, (45, 0, 0), (126, 0, 0)), "image/jpeg")
    assert code(elsewhere) == "ok" and elsewhere["sha256"] == first["sha256"], elsewhere
    assert server.db_rows("SELECT COUNT(DISTINCT sha256), COUNT(*) FROM media WHERE uploader = ?", c.user_id) \
        == [(1, 3)]
    await c.close()


async def test_an_image_whose_structure_cannot_be_walked_is_refused_not_stored_with_its_metadata(make_server):
    """A JPEG whose EXIF segment claims more bytes than the file has passes the magic and size checks
    (the frame header comes first) but cannot be stripped: refused with bad_request, nothing stored."""
    server = make_server(FAST_MEDIA)
    c = await server.user()
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 48, 64, 1) + b"\x01\x11\x00"
    broken = b"\xff\xd8" + sof0 + b"\xff\xe1\xff\xf0Exif\x00\x00" + GPS
    r = await upload(c, broken, "image/jpeg")
    assert code(r) == "bad_request" and "structure" in r["reason"], r
    assert server.db_rows("SELECT COUNT(*) FROM media WHERE uploader = ?", c.user_id) == [(0,)]
    await c.close()
