"""Review (rv-media2): richer messages and media as users and operators use them, end to end.

Each test here failed when it was written; the docstring of each says what it shows and which text
of the wire contract or of the repo's own docs (docs/) it contradicts."""

from __future__ import annotations

import asyncio
import json
import signal
import struct

from tests.e2e.harness import close_all, open_group
from tests.e2e.test_media import FAST_MEDIA, code, get, group_of, jpeg, sha, upload
from tests.e2e.test_rich_messages import crowd, rich_server

BLOCK_LIST = FAST_MEDIA + """
[[content.media_lists]]
category = "known_bad"
path = "blocked.txt"
action = "block"
"""


async def _reloaded(srv, needle: str = "config reloaded") -> None:
    seen = sum(needle in line for line in srv.output)
    srv.proc.send_signal(signal.SIGHUP)
    for _ in range(100):
        if sum(needle in line for line in srv.output) > seen:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not reload its config")


async def test_a_photo_listed_as_it_circulates_after_it_was_shared_is_no_longer_served_or_attached(
        make_server, tmp_path):
    """docs/protocol.md (upload_end): known-file lists are "looked up by both the SHA-256 of the bytes
    received and that of the file stored, so a list may name a picture as it circulates", and "A file
    put on a block list after it was uploaded is no longer attached (send and publish: content_blocked)
    nor served (its URLs answer 404)"; docs/config.md: "Lists are matched against the SHA-256 of the
    whole file as uploaded". A phone photo (EXIF, stripped when stored) shared before its digest as it
    circulates is put on a block list keeps being served and can be attached again: the server keeps
    only the stored file's digest, so the later checks (GET /media, attaching) never see the listed one.
    A fresh upload of the same bytes is refused, which shows the list itself works."""
    d = tmp_path / "srv"
    d.mkdir()
    (d / "blocked.txt").write_text("", encoding="utf-8")
    srv = make_server(BLOCK_LIST)
    owner, gid, [member] = await group_of(srv)
    photo = jpeg(64, 48)  # with an EXIF-like APP1 block, as phones write: stored without it
    up = await upload(owner, photo, "image/jpeg", name="photo.jpg")
    assert up["ok"] and up["sha256"] != sha(photo), up  # (stored stripped, under another digest)
    await owner.request("send", group_id=gid, text="看", attachments=[up["media_id"]])
    url = (await member.next_event("message"))["attachments"][0]["url"]
    assert get(srv, url).status_code == 200

    # The platform learns of this picture (as it circulates, bytes as uploaded) and lists it.
    (d / "blocked.txt").write_text(sha(photo) + "\n", encoding="utf-8")
    await _reloaded(srv)
    assert code(await upload(owner, photo, "image/jpeg")) == "content_blocked"  # a new upload: refused
    served = get(srv, url).status_code
    again = await owner.call("send", group_id=gid, text="再看", attachments=[up["media_id"]])
    assert (served, code(again)) == (404, "content_blocked"), again
    await close_all(owner, member)


async def test_a_photo_recalled_from_the_wrong_group_is_not_served_there_any_more(make_server):
    """PROTOCOL.md (Media): "GET with a valid signature returns the bytes ...; media of a deleted
    message, 404". The everyday case of a recall: a photo sent to the wrong group, sent again (the
    same upload) to the right one, and recalled from the wrong one. The URL every member of the wrong
    group was handed with the recalled message keeps serving the photo (200) for its whole TTL, to
    people who are not in the right group: a URL is signed for the media id alone, and served while
    any live message anywhere carries that id."""
    srv = make_server(FAST_MEDIA)
    owner, wrong, [stranger] = await group_of(srv)  # the stranger is in the wrong group only
    right = await open_group(owner, name="家人")
    mid = (await upload(owner, jpeg(32, 32), "image/jpeg"))["media_id"]
    sent = await owner.request("send", group_id=wrong, text="", attachments=[mid])
    url = (await stranger.next_event("message"))["attachments"][0]["url"]
    await owner.request("send", group_id=right, text="", attachments=[mid])
    await owner.request("delete_message", group_id=wrong, seq=sent["seq"])  # recalled
    assert (await stranger.next_event("message_deleted"))["seq"] == sent["seq"]
    assert code(await stranger.call("media_url", group_id=wrong, seq=sent["seq"], media_id=mid)) == "not_found"
    assert get(srv, url).status_code == 404
    await close_all(owner, stranger)


async def test_the_review_item_of_a_flagged_edit_shows_the_text_that_was_flagged(make_server, tmp_path):
    """docs/protocol.md (edit_message): "A flag match is applied and queued for the operators like a
    flagged message"; docs/operator.md (review-queue): "One JSON object per item ... with the message's
    text", for the operator to decide `keep` or `remove`. A member edits a message to a flagged text
    (delivered to the whole group) and, before an operator looks, edits it back to something harmless:
    the open item then shows only the harmless text, which does not hold its own `term`, so the
    operator reviewing the queue never sees what was flagged and shown (a report's text, by contrast,
    is the one it had when reported: show-report)."""
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [member, reader] = await crowd(srv)
    sent = await member.request("send", group_id=gid, text="大家好")
    await member.request("edit_message", group_id=gid, seq=sent["seq"], text="快来 vpn下载 吧")  # flagged: shown
    assert (await reader.next_event("message_edited"))["text"] == "快来 vpn下载 吧"
    await member.request("edit_message", group_id=gid, seq=sent["seq"], text="没什么")
    rc, out, err = await srv.admin("review-queue", "--open")
    assert rc == 0, err
    [item] = [json.loads(line) for line in out.splitlines()]
    assert (item["seq"], item["term"]) == (sent["seq"], "vpn下载")
    assert "vpn下载" in item["text"], item
    assert item["text_now"] == "没什么"  # (what it says now, beside it)
    # a message flagged when it was sent and edited since shows its sent text too
    flagged = await member.request("send", group_id=gid, text="vpn下载 在这")
    await member.request("edit_message", group_id=gid, seq=flagged["seq"], text="改掉了")
    rc, out, err = await srv.admin("review-queue", "--open")
    [item] = [json.loads(line) for line in out.splitlines() if json.loads(line)["seq"] == flagged["seq"]]
    assert (item["text"], item["text_now"]) == ("vpn下载 在这", "改掉了"), item
    await close_all(owner, admin, member, reader)


def portrait_phone_photo(width: int, height: int) -> bytes:
    """A JPEG as a phone camera writes a portrait shot: the sensor's pixels stored landscape
    (``width`` x ``height``) and an EXIF block (APP1) whose IFD0 says Orientation = 6 ("rotate 90
    degrees clockwise to show"), with a GPSInfo pointer to the position it was taken at."""
    ifd0_entries = 2
    gps_at = 8 + 2 + ifd0_entries * 12 + 4
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", ifd0_entries)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0)  # Orientation = 6
    tiff += struct.pack("<HHII", 0x8825, 4, 1, gps_at) + struct.pack("<I", 0)  # GPSInfo -> GPS IFD
    data_at = gps_at + 2 + 2 * 12 + 4
    tiff += struct.pack("<H", 2) + struct.pack("<HHI", 1, 2, 2) + b"N\x00\x00\x00"
    tiff += struct.pack("<HHII", 2, 5, 3, data_at) + struct.pack("<I", 0)
    tiff += b"".join(struct.pack("<II", v, 1) for v in (39, 54, 2718))
    exif = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + len(exif)) + exif
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app1 + sof0 + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x12" * 64 + b"\xff\xd9"


def _frame_size(jpg: bytes) -> tuple[int, int]:
    at = jpg.index(b"\xff\xc0")
    height, width = struct.unpack(">HH", jpg[at + 5:at + 9])
    return width, height


async def test_a_portrait_phone_photo_is_not_shown_on_its_side_once_its_metadata_is_stripped(make_server):
    """docs/protocol.md (Media): a picture is stored without its metadata, but "Everything that shows
    the picture is kept as it was". A phone's portrait photo is stored by the camera as landscape
    pixels plus the EXIF Orientation tag that tells every viewer (browsers included) to turn it
    upright. upload_end drops the whole EXIF block, Orientation with the GPS position, and turns
    nothing: every portrait photo shared in a group is then served, and shown, lying on its side
    (and its width and height are the sideways ones). The position must go; the orientation must
    survive (kept as a tag, or applied to the picture)."""
    srv = make_server(FAST_MEDIA)
    owner, gid, [member] = await group_of(srv)
    photo = portrait_phone_photo(640, 480)  # shown as 480 wide, 640 high
    up = await upload(owner, photo, "image/jpeg", name="IMG_2041.JPG")
    assert code(up) == "ok", up
    await owner.request("send", group_id=gid, text="", attachments=[up["media_id"]])
    att = (await member.next_event("message"))["attachments"][0]
    served = get(srv, att["url"]).content
    assert struct.pack("<II", 2718, 1) not in served  # (the position is gone: that part works)
    orientation_kept = struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) in served
    turned = _frame_size(served) == (480, 640)
    assert orientation_kept or turned, (
        f"served {_frame_size(served)} pixels with no orientation: the portrait photo shows on its side")
    await close_all(owner, member)
