"""Review rv-session: today's changes (set_post_comments, media URLs with a carrier, EXIF Orientation
kept when stripping, operator measures), end to end through the real server. Each test failed when
it was written; its docstring says which text of the contract or of docs/ it contradicts."""

from __future__ import annotations

import asyncio
import struct

from tests.e2e.store_hold import until_write_waits, writes_held
from tests.e2e.test_account_measures import code, new_account
from tests.e2e.test_races import refuse_updates


async def test_a_comment_while_a_refused_opening_of_its_post_is_in_flight_is_not_stored(make_server):
    """docs/architecture.md: "a change that loosens is applied to memory only once its write is stored
    ... and a request meanwhile still meets the restriction" (today's 23ef82e4 applied it to credit
    raises and licences). ``set_post_comments`` claims its mode in memory before its write whatever
    it is, an opening too: a comment on a closed post, read while the opening's write is in flight,
    decides by the claimed ``open`` and is stored visible; the store then refuses the opening (the
    manager gets an error, the post stays closed in the store), and the comment stays, shown to
    everyone on a post whose comments are closed."""
    srv = make_server()
    owner, reader = await srv.user(verify_id=True), await srv.user()
    aid = await new_account(owner, "茶馆日报")
    pid = (await owner.request("publish", account_id=aid, title="开张", body="欢迎", comments="closed"))["post_id"]
    assert code(await reader.call("comment", post_id=pid, text="关着")) == "forbidden"
    refuse_updates(srv, "no_opening", "posts", "comments_mode", f"NEW.post_id = {int(pid)}")
    async with writes_held(srv, "posts"):
        opening = asyncio.ensure_future(owner.call("set_post_comments", post_id=pid, comments="open"))
        await until_write_waits(srv, "posts")  # past its checks and its claim; its write waits
        commenting = asyncio.ensure_future(reader.call("comment", post_id=pid, text="趁机评论"))
        await asyncio.sleep(0.5)
    assert code(await opening) != "ok"  # the store refused the opening: the post stays closed
    assert srv.db_rows("SELECT comments_mode FROM posts WHERE post_id = ?", int(pid)) == [("closed",)]
    commented = await commenting
    stored = srv.db_rows("SELECT text, status FROM comments WHERE post_id = ?", int(pid))
    assert (code(commented), stored) == ("forbidden", []), (commented, stored)


def _exif_app1(orientation: int) -> bytes:
    """An APP1 segment whose EXIF (little-endian TIFF) IFD0 holds one Orientation tag."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    exif = b"Exif\x00\x00" + tiff + b"\x00" * 40  # (room: what is kept is never longer than what it replaces)
    return b"\xff\xe1" + struct.pack(">H", 2 + len(exif)) + exif


def _orientation_of(jpg: bytes) -> list[int]:
    """The Orientation of each EXIF APP1 segment before the frame header, in order."""
    found, at = [], 2
    while jpg[at:at + 2] != b"\xff\xc0":
        (length,) = struct.unpack(">H", jpg[at + 2:at + 4])
        seg = jpg[at + 4:at + 2 + length]
        if jpg[at + 1] == 0xE1 and seg.startswith(b"Exif\x00\x00"):
            found.append(struct.unpack("<H", seg[6 + 8 + 2 + 8:6 + 8 + 2 + 10])[0])
        at += 2 + length
    return found


async def test_a_photo_with_two_exif_blocks_has_the_width_and_height_it_is_shown_at(make_server):
    """docs/protocol.md (Media): "An attachment's width and height are the picture's as shown: swapped
    from the stored pixels' for an Orientation of 5 to 8". Stripping keeps the Orientation of the
    *first* EXIF block that has one other than 1 (server/media/strip.py), but the width and height are
    read from the upload before stripping, where the *last* EXIF block's Orientation wins
    (server/media/sniff.py). A photo with two EXIF blocks (an editor's appended after the camera's,
    the camera's saying 6) is stored with Orientation 6 alone, shown 480 wide and 640 high, yet its
    attachment says 640 x 480: a client lays out the picture's box on its side."""
    from tests.e2e.test_media import FAST_MEDIA, get, group_of, upload

    srv = make_server(FAST_MEDIA)
    owner, gid, [member] = await group_of(srv)
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 480, 640, 1) + b"\x01\x11\x00"
    photo = (b"\xff\xd8" + _exif_app1(6) + _exif_app1(1) + sof0
             + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x12" * 64 + b"\xff\xd9")
    up = await upload(owner, photo, "image/jpeg", name="IMG_2042.JPG")
    assert code(up) == "ok", up
    await owner.request("send", group_id=gid, text="", attachments=[up["media_id"]])
    att = (await member.next_event("message"))["attachments"][0]
    served = get(srv, att["url"]).content
    assert _orientation_of(served) == [6]  # stored as shown turned a quarter: 480 wide, 640 high
    assert ((up["width"], up["height"]), (att["width"], att["height"])) == ((480, 640), (480, 640)), (up, att)


async def test_two_refused_comment_mode_changes_leave_the_post_as_the_store_has_it(make_server):
    """docs/architecture.md: "'Put the old value back' is not a safe undo for a plain field that two
    requests may set at once ... Such fields are claimed with FieldClaim ... once each write is
    decided, leaves the field as the database has it". ``set_post_comments`` claims the post's mode
    with a plain put-back undo: a close and an open in flight together, both refused by the store,
    leave memory saying ``closed`` (the open's undo puts back the close's claim, which was refused
    too) while the store, and ``posts``, say ``open``: every comment on the post is refused
    (``forbidden``, cause ``post``) until the server restarts."""
    srv = make_server()
    owner, reader = await srv.user(verify_id=True), await srv.user()
    other = await srv.client()
    await other.login(owner.username, "password123")
    aid = await new_account(owner, "茶馆日报")
    pid = (await owner.request("publish", account_id=aid, title="开张", body="欢迎"))["post_id"]
    refuse_updates(srv, "no_mode", "posts", "comments_mode", f"NEW.post_id = {int(pid)}")
    async with writes_held(srv, "posts"):
        closing = asyncio.ensure_future(owner.call("set_post_comments", post_id=pid, comments="closed"))
        await until_write_waits(srv, "posts")
        opening = asyncio.ensure_future(other.call("set_post_comments", post_id=pid, comments="open"))
        await asyncio.sleep(0.5)
    assert (code(await closing), code(await opening)) == ("internal", "internal")
    assert srv.db_rows("SELECT comments_mode FROM posts WHERE post_id = ?", int(pid)) == [("open",)]
    [listed] = (await reader.request("posts", account_id=aid))["posts"]
    assert listed["comments"] == "open"
    commented = await reader.call("comment", post_id=pid, text="开着的吧")
    assert code(commented) == "ok", commented
