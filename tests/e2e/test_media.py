"""Media end to end: chunked uploads, their refusals, known-file lists, signed URLs, memory,
cleanup, retention and export. Every test runs against a real server process on both backends."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

from governance.retention import DAY_MS
from server.media import cleanup
from tests.e2e.harness import close_all, open_group, restart
from tests.e2e.ops_helpers import until_job_ran
from tests.e2e.store_hold import reads_held, until

FAST_MEDIA = """
[media]
uploads_per_hour = 0
"""


# -- files -------------------------------------------------------------------------------------
def png(width: int, height: int) -> bytes:
    """A real PNG (one grey pixel row repeated), so any image tool would open it too."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def jpeg(width: int, height: int) -> bytes:
    """JPEG headers (an EXIF-like APP1 block before the frame header, as cameras write)."""
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 300) + b"Exif\x00\x00" + b"\x00" * 294
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app1 + sof0 + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x12" * 64 + b"\xff\xd9"


def pdf(size: int = 3000, seed: bytes = b"") -> bytes:
    head = b"%PDF-1.7\n%" + seed + b"\n"
    return head + os.urandom(max(0, size - len(head)))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def upload(c, data: bytes, mime: str, name: str | None = None, chunk: int | None = None) -> dict[str, Any]:
    """The whole upload; the ``upload_end`` reply (success or refusal)."""
    args: dict[str, Any] = {"mime": mime, "size": len(data)}
    if name is not None:
        args["name"] = name
    begin = await c.request("upload_begin", **args)
    step = chunk or begin["chunk_bytes"]
    for off in range(0, len(data), step):
        await c.request("upload_chunk", upload_id=begin["upload_id"], offset=off, data=data[off:off + step])
    return await c.call("upload_end", upload_id=begin["upload_id"], sha256=sha(data))


def code(reply: dict[str, Any]) -> str:
    return "ok" if reply.get("ok") else reply.get("code", "?")


def get(server, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{server.port}{path}", timeout=10)


def media_dir(server) -> Path:
    return server.dir / "media"


def stored_file(server, digest: str) -> Path:
    return media_dir(server) / digest[:2] / digest[2:4] / digest


async def eventually(check: Any, timeout: float = 20.0) -> None:
    """Wait until ``check()`` is true (polled every 0.1 s)."""
    for _ in range(int(timeout / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the condition never held")


async def orphan_sweep_removes(server, digest: str) -> None:
    """Make the file of ``digest`` older than the orphan sweep's grace and the sweep due (its last run
    forgotten) until the server's media cleanup (every second here) has removed the file."""
    path = stored_file(server, digest)
    then = time.time() - 2 * 3600
    os.utime(path, (then, then))
    for _ in range(100):
        if not path.exists():
            return
        server.db_rows("DELETE FROM job_runs WHERE name = 'media_orphans'")
        await asyncio.sleep(0.2)
    raise AssertionError(f"the orphan sweep left {digest}")


async def group_of(server, n: int = 1):
    owner = await server.user()
    gid = await open_group(owner)
    others = []
    for _ in range(n):
        c = await server.user()
        await c.request("join_group", group_id=gid)
        others.append(c)
    owner.drain_events()
    return owner, gid, others



# -- uploads -----------------------------------------------------------------------------------
async def test_upload_over_msgpack_and_json_attach_and_fetch(make_server):
    server = make_server(FAST_MEDIA)
    owner, gid, [member] = await group_of(server)
    image = png(7, 5)
    r = await upload(owner, image, "image/png", name="小猫.png")
    assert r["ok"], r
    assert (r["kind"], r["mime"], r["size"], r["width"], r["height"], r["name"]) == \
        ("image", "image/png", len(image), 7, 5, "小猫.png")
    assert stored_file(server, sha(image)).read_bytes() == image
    # JSON subprotocol: the chunks travel as base64 text; small chunks, many of them.
    jc = await server.client("json")
    await jc.login(member.username, "password123")
    doc = pdf(10_000)
    r2 = await upload(jc, doc, "application/pdf", name="report.pdf", chunk=999)
    assert r2["ok"] and r2["kind"] == "file" and r2["size"] == len(doc) and "width" not in r2, r2
    assert stored_file(server, sha(doc)).read_bytes() == doc
    photo = jpeg(640, 480)
    r3 = await upload(owner, photo, "image/jpeg")
    assert (r3["width"], r3["height"]) == (640, 480), r3

    # Attached in a message: every member gets the attachment with a signed URL.
    sent = await owner.request("send", group_id=gid, text="", attachments=[r["media_id"], r3["media_id"]])
    ev = await member.next_event("message")
    assert ev["seq"] == sent["seq"]
    att = ev["attachments"]
    assert [a["media_id"] for a in att] == [r["media_id"], r3["media_id"]]
    assert att[0]["kind"] == "image" and att[0]["mime"] == "image/png" and att[0]["size"] == len(image)
    resp = get(server, att[0]["url"])
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/png" and resp.content == image
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert not resp.headers["content-disposition"].startswith("attachment")
    # Someone else's upload cannot be attached; nor can an unknown id.
    assert code(await member.call("send", group_id=gid, text="x", attachments=[r["media_id"]])) == "bad_request"
    assert code(await member.call("send", group_id=gid, text="x", attachments=["nope"])) == "bad_request"
    # A document is served as a download.
    s2 = await jc.request("send", group_id=gid, text="the report", attachments=[r2["media_id"]])
    url = (await jc.request("media_url", group_id=gid, seq=s2["seq"], media_id=r2["media_id"]))["url"]
    resp = get(server, url)
    assert resp.status_code == 200 and resp.content == doc
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"].startswith("attachment")
    # history shows the attachments again, with fresh URLs that work
    hist = (await member.request("history", group_id=gid))["messages"]
    urls = [a["url"] for m in hist for a in m.get("attachments", [])]
    assert len(urls) == 3 and all(get(server, u).status_code == 200 for u in urls)
    await close_all(owner, member, jc)


async def test_upload_refusals(make_server):
    server = make_server(FAST_MEDIA + "max_bytes = 100000\n")
    a, b = await server.user(), await server.user()
    big = await a.call("upload_begin", mime="application/pdf", size=100001)
    assert code(big) == "too_large" and big["max_bytes"] == 100000, big  # (the limit, for a client to say)
    assert code(await a.call("upload_begin", mime="text/plain", size=10)) == "bad_request"
    # A refused type is quoted as every reason quotes a client's text: 64 characters, \uXXXX escapes.
    for mime, quoted in (("q" * 256, "'" + "q" * 64 + "…'"), ("image/png\x07x", "'image/png\\u0007x'")):
        r = await a.call("upload_begin", mime=mime, size=10)
        assert code(r) == "bad_request" and r["reason"].startswith(quoted + " is not an allowed type"), r
    assert code(await a.call("upload_begin", mime="application/pdf", size=0)) == "bad_request"
    assert code(await a.call("upload_begin", mime="application/pdf", size=10, name="../etc/passwd")) == "bad_request"
    # A PNG header claiming a width no picture has (PostgreSQL's 32-bit column would refuse its row):
    # refused as bad input, on both backends, not an internal error.
    header = struct.pack(">IIBBBBB", 0xFFFFFFFF, 1, 8, 6, 0, 0, 0)
    huge = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header
    refused = await upload(a, huge + b"\x00" * 64, "image/png")
    assert code(refused) == "bad_request" and "pixels" in refused["reason"], refused

    doc = pdf(5000)
    begin = await a.request("upload_begin", mime="application/pdf", size=len(doc))
    uid = begin["upload_id"]
    assert 0 < begin["chunk_bytes"]
    # Offsets must follow the bytes received so far.
    assert code(await a.call("upload_chunk", upload_id=uid, offset=10, data=doc[:10])) == "bad_request"
    assert (await a.request("upload_chunk", upload_id=uid, offset=0, data=doc[:1000]))["received"] == 1000
    assert code(await a.call("upload_chunk", upload_id=uid, offset=0, data=doc[:1000])) == "bad_request"
    # Someone else's upload, and an unknown one, are not found.
    assert code(await b.call("upload_chunk", upload_id=uid, offset=1000, data=doc[1000:2000])) == "not_found"
    assert code(await b.call("upload_end", upload_id=uid, sha256=sha(doc))) == "not_found"
    assert code(await a.call("upload_chunk", upload_id="x" * 24, offset=0, data=b"x")) == "not_found"
    # Past the declared size.
    assert code(await a.call("upload_chunk", upload_id=uid, offset=1000, data=doc[1000:] + b"!")) == "too_large"
    # Not finished yet.
    assert code(await a.call("upload_end", upload_id=uid, sha256=sha(doc))) == "bad_request"
    await a.request("upload_chunk", upload_id=uid, offset=1000, data=doc[1000:])
    # A wrong hash ends the upload.
    assert code(await a.call("upload_end", upload_id=uid, sha256=sha(b"other"))) == "bad_request"
    assert code(await a.call("upload_end", upload_id=uid, sha256=sha(doc))) == "not_found"

    # Bytes that are not what the declared type says (magic numbers).
    assert code(await upload(a, doc, "image/png")) == "bad_request"
    assert code(await upload(a, png(3, 3), "image/jpeg")) == "bad_request"
    assert code(await upload(a, b"ID3" + os.urandom(300), "application/pdf")) == "bad_request"
    # A PNG signature without a readable header is no image.
    assert code(await upload(a, b"\x89PNG\r\n\x1a\n" + b"\x00" * 4, "image/png")) == "bad_request"
    # Nothing of the refused uploads is left behind.
    tmp = media_dir(server) / "tmp"
    assert not list(tmp.iterdir()) if tmp.exists() else True
    assert server.db_rows("SELECT COUNT(*) FROM media")[0][0] == 0
    await close_all(a, b)


async def test_known_file_lists_block_and_reload_on_sighup(make_server, tmp_path):
    bad1, bad2, watched = pdf(2000, b"one"), pdf(2000, b"two"), pdf(2000, b"three")
    lists = tmp_path / "srv"
    lists.mkdir()
    (lists / "blocked.txt").write_text(f"# known bad files\n{sha(bad1).upper()}  a note\n\n", encoding="utf-8")
    (lists / "watch.txt").write_text(sha(watched) + "\n", encoding="utf-8")
    extra = FAST_MEDIA + """
[[content.media_lists]]
category = "known_bad"
path = "blocked.txt"
action = "block"
[[content.media_lists]]
category = "watch"
path = "watch.txt"
action = "review"
"""
    server = make_server(extra)
    c = await server.user()
    assert code(await upload(c, bad1, "application/pdf")) == "content_blocked"
    shared = await upload(c, bad2, "application/pdf")
    assert code(shared) == "ok"
    gid = await open_group(c)
    sent = await c.request("send", group_id=gid, text="f", attachments=[shared["media_id"]])
    url = (await c.request("media_url", group_id=gid, seq=sent["seq"], media_id=shared["media_id"]))["url"]
    assert get(server, url).status_code == 200
    assert not stored_file(server, sha(bad1)).exists()
    rows = server.db_rows("SELECT action, target_id, reason, detail FROM audit WHERE action = 'content_blocked'")
    assert len(rows) == 1 and rows[0][1] == c.user_id and rows[0][2] == "known_bad"
    assert json.loads(rows[0][3])["sha256"] == sha(bad1)
    # review: accepted, and written to the record with the media id
    r = await upload(c, watched, "application/pdf")
    assert r["ok"]
    rows = server.db_rows("SELECT reason, detail FROM audit WHERE action = 'media_listed'")
    assert len(rows) == 1 and rows[0][0] == "watch" and json.loads(rows[0][1])["media_id"] == r["media_id"]

    # The list changes; SIGHUP reloads it like the word lists.
    (lists / "blocked.txt").write_text(sha(bad2) + "\n", encoding="utf-8")
    server.proc.send_signal(signal.SIGHUP)
    for _ in range(50):
        if any("config reloaded" in line for line in server.output):
            break
        await asyncio.sleep(0.1)
    assert code(await upload(c, bad2, "application/pdf")) == "content_blocked"
    # What was shared before it was listed is neither served nor attached again from now on.
    assert get(server, url).status_code == 404
    again = await c.call("send", group_id=gid, text="again", attachments=[shared["media_id"]])
    assert code(again) == "content_blocked"
    assert code(await upload(c, bad1, "application/pdf")) == "ok"
    # A broken list is refused whole: the running lists stay.
    (lists / "blocked.txt").write_text("not a digest\n", encoding="utf-8")
    server.proc.send_signal(signal.SIGHUP)
    for _ in range(50):
        if any("not a SHA-256" in line for line in server.output):
            break
        await asyncio.sleep(0.1)
    assert any("not a SHA-256" in line for line in server.output)
    assert code(await upload(c, bad2, "application/pdf")) == "content_blocked"
    await c.close()


async def test_upload_rate_limit_and_open_uploads(make_server):
    server = make_server("[media]\nuploads_per_hour = 5\n")
    c = await server.user()
    ids = [(await c.request("upload_begin", mime="application/pdf", size=100))["upload_id"] for _ in range(4)]
    r = await c.call("upload_begin", mime="application/pdf", size=100)
    assert code(r) == "rate_limited" and r["retry_after_ms"] > 0  # four unfinished at once at most
    doc = pdf(100)
    await c.request("upload_chunk", upload_id=ids[0], offset=0, data=doc)
    assert (await c.request("upload_end", upload_id=ids[0], sha256=sha(doc)))["size"] == 100
    await c.request("upload_begin", mime="application/pdf", size=100)  # the fifth this hour
    await c.request("upload_chunk", upload_id=ids[1], offset=0, data=doc)
    await c.request("upload_end", upload_id=ids[1], sha256=sha(doc))
    r = await c.call("upload_begin", mime="application/pdf", size=100)
    assert code(r) == "rate_limited" and r["retry_after_ms"] > 1000  # the sixth this hour
    other = await server.user()  # per user
    assert code(await other.call("upload_begin", mime="application/pdf", size=100)) == "ok"
    await close_all(c, other)


QUOTA_MEDIA = """
[media]
uploads_per_hour = 0
max_bytes = 5000
max_bytes_per_user = 10000
"""


async def begin_size(c, size: int) -> dict[str, Any]:
    return await c.call("upload_begin", mime="application/pdf", size=size)


async def test_a_users_stored_files_are_capped_by_their_quota(make_server):
    """``media.max_bytes_per_user``: counted from the user's stored media rows (so it holds across a
    restart, and a row that goes gives its room back) and their unfinished uploads; refused with
    ``storage_quota_reached`` and a reason saying how much is taken, before any byte is sent."""
    server = make_server(QUOTA_MEDIA)
    c, other = await server.user(), await server.user()
    for seed in (b"a", b"b"):
        assert code(await upload(c, pdf(4000, seed), "application/pdf")) == "ok"
    refused = await begin_size(c, 3000)
    assert code(refused) == "storage_quota_reached", refused
    assert "8000 of the 10000 bytes" in refused["reason"], refused["reason"]
    assert code(await upload(c, pdf(2000, b"c"), "application/pdf")) == "ok"  # exactly full
    assert code(await begin_size(c, 1)) == "storage_quota_reached"
    assert code(await upload(other, pdf(4000, b"a"), "application/pdf")) == "ok"  # per user (same bytes too)

    # Three begun at once: each counts the unfinished ones begun before it, so only two fit.
    third = await server.user()
    answers = await asyncio.gather(*(begin_size(third, 4000) for _ in range(3)))
    assert sorted(code(a) for a in answers) == ["ok", "ok", "storage_quota_reached"], answers

    # From the stored rows: the same after a restart; a row that goes (as the purge or the cleanup
    # of unattached uploads removes it) gives its room back.
    c, *others = await restart(server, c, other, third)
    assert code(await begin_size(c, 1)) == "storage_quota_reached"
    [(media_id,)] = server.db_rows("SELECT media_id FROM media WHERE uploader = ? AND size = 2000", c.user_id)
    server.db_rows("DELETE FROM media WHERE media_id = ?", media_id)
    assert code(await begin_size(c, 2000)) == "ok"
    await close_all(c, *others)


async def test_two_uploads_finishing_at_once_cannot_both_take_the_last_room(make_server):
    """The quota is decided for good by the store as the media row is inserted: two uploads begun
    while both fitted (here: before a reload lowered the quota) and finished at once store one."""
    server = make_server(QUOTA_MEDIA)
    c = await server.user()
    docs = [pdf(4000, b"x"), pdf(4000, b"y")]
    ids = []
    for doc in docs:
        begin = await c.request("upload_begin", mime="application/pdf", size=len(doc))
        await c.request("upload_chunk", upload_id=begin["upload_id"], offset=0, data=doc)
        ids.append(begin["upload_id"])
    server.config.write_text(server.config.read_text(encoding="utf-8").replace(
        "max_bytes_per_user = 10000", "max_bytes_per_user = 5000"), encoding="utf-8")
    server.proc.send_signal(signal.SIGHUP)
    assert await server.logged("config reloaded")
    ends = await asyncio.gather(*(c.call("upload_end", upload_id=u, sha256=sha(d))
                                  for u, d in zip(ids, docs, strict=True)))
    assert sorted(code(e) for e in ends) == ["ok", "storage_quota_reached"], ends
    assert server.db_rows("SELECT COUNT(*), SUM(size) FROM media WHERE uploader = ?", c.user_id) == [(1, 4000)]
    await c.close()


async def upload_declared(c, data: bytes, declared: str | None = None) -> dict[str, Any]:
    """An upload of a PDF whose ``upload_begin`` declares ``declared`` (default: the bytes' SHA-256)."""
    begin = await c.call("upload_begin", mime="application/pdf", size=len(data), sha256=declared or sha(data))
    if not begin.get("ok"):
        return begin
    await c.request("upload_chunk", upload_id=begin["upload_id"], offset=0, data=data)
    return await c.call("upload_end", upload_id=begin["upload_id"], sha256=sha(data))


async def test_the_same_bytes_uploaded_again_by_one_user_count_once(make_server):
    """The quota counts each distinct file a user keeps once: the same bytes uploaded again (another
    media id, its own name) take no more room, decided by the store at upload_end; upload_begin
    knows it in advance when the [ext] ``sha256`` is declared there (and upload_end then holds the
    bytes to it). Two uploads of the same new bytes finishing at once are both stored and count once."""
    server = make_server(QUOTA_MEDIA)
    c = await server.user()
    x, y = pdf(4000, b"x"), pdf(4000, b"y")
    first, again = await upload(c, x, "application/pdf", name="x.pdf"), await upload(c, x, "application/pdf")
    assert code(first) == code(again) == "ok" and first["media_id"] != again["media_id"], again
    assert code(await upload(c, y, "application/pdf")) == "ok"  # 8000 counted: x once, y
    refused = await begin_size(c, 3000)
    assert code(refused) == "storage_quota_reached" and "8000 of the 10000 bytes" in refused["reason"], refused
    assert code(await upload(c, pdf(2000, b"z"), "application/pdf")) == "ok"  # exactly full
    # Full: a file of 4000 new bytes is refused before a byte is sent; x again, declared, is not.
    assert code(await begin_size(c, 4000)) == "storage_quota_reached"
    assert code(await upload_declared(c, x)) == "ok"
    assert server.db_rows("SELECT COUNT(*) FROM media WHERE uploader = ?", c.user_id) == [(5,)]
    # The declared digest binds the bytes: other bytes are refused at upload_end, a malformed one at once.
    w = pdf(3000, b"w")
    mismatch = await upload_declared(c, w, declared=sha(x))
    assert code(mismatch) == "bad_request" and "upload_begin declared" in mismatch["reason"], mismatch
    assert code(await c.call("upload_begin", mime="application/pdf", size=10, sha256="xyz")) == "bad_request"
    assert server.db_rows("SELECT COUNT(*) FROM media WHERE uploader = ?", c.user_id) == [(5,)]

    # Two uploads of the same new bytes begun (declared) and finished at once by a user with
    # room for them once only: both stored, counted once; a third file of the same size is refused.
    d = await server.user()
    assert code(await upload(d, pdf(4000, b"d"), "application/pdf")) == "ok"
    twin = pdf(4000, b"twin")
    begins = [await d.request("upload_begin", mime="application/pdf", size=len(twin), sha256=sha(twin))
              for _ in range(2)]
    assert code(await begin_size(d, 4000)) == "storage_quota_reached"  # (the twins count once while unfinished)
    for b in begins:
        await d.request("upload_chunk", upload_id=b["upload_id"], offset=0, data=twin)
    ends = await asyncio.gather(*(d.call("upload_end", upload_id=b["upload_id"], sha256=sha(twin)) for b in begins))
    assert [code(e) for e in ends] == ["ok", "ok"], ends
    assert code(await begin_size(d, 4000)) == "storage_quota_reached"
    assert code(await begin_size(d, 2000)) == "ok"  # 8000 counted
    await close_all(c, d)


async def test_a_file_kept_already_and_being_uploaded_again_is_counted_once(make_server):
    """A re-upload of bytes the user keeps, declared at upload_begin, adds nothing, also while it is
    unfinished: its size used to count on top of the stored file, and the next file was refused for
    bytes the user does not use."""
    server = make_server(QUOTA_MEDIA)
    c = await server.user()
    x = pdf(4000, b"x")
    assert code(await upload(c, x, "application/pdf")) == "ok"
    assert code(await upload(c, pdf(4000, b"y"), "application/pdf")) == "ok"  # 8000 stored
    again = await c.request("upload_begin", mime="application/pdf", size=len(x), sha256=sha(x))
    assert code(await begin_size(c, 2000)) == "ok"  # 8000 + 0 + 2000: fits
    refused = await begin_size(c, 1)
    assert code(refused) == "storage_quota_reached" and "10000 of the 10000 bytes" in refused["reason"], refused
    await c.request("upload_chunk", upload_id=again["upload_id"], offset=0, data=x)
    assert code(await c.call("upload_end", upload_id=again["upload_id"], sha256=sha(x))) == "ok"
    await close_all(c)


async def test_a_file_name_may_hold_any_space_but_no_invisible_characters(make_server):
    server = make_server(FAST_MEDIA)
    a = await server.user()
    for name in ("季度报告\u3000终稿.pdf", "plan\u00a0v2.pdf", "a b.pdf"):
        assert code(await a.call("upload_begin", mime="application/pdf", size=10, name=name)) == "ok", name
    for name in ("evil\u202efdp.exe", "two\u2028lines.pdf", "tab\there.pdf", "zero\u200bwidth.pdf"):
        refused = await a.call("upload_begin", mime="application/pdf", size=10, name=name)
        assert code(refused) == "bad_request" and "control characters" in refused["reason"], (name, refused)
    await close_all(a)


async def test_deleting_what_carries_a_file_or_the_upload_itself_gives_the_room_back(make_server):
    """A file stops counting against its uploader's quota once every message and post that carries it
    is deleted (or rejected, or its group dissolved, its account closed), though the platform keeps
    it with them for the record; an upload nothing carries is removed at once by [ext]
    ``delete_upload``, refused (``conflict``) for what something carries."""
    server = make_server(QUOTA_MEDIA + "cleanup_interval_seconds = 1\n")
    c, other = await server.user(verify_id=True), await server.user()
    gid = await open_group(c)
    a, b = pdf(4000, b"a"), pdf(4000, b"b")
    ra, rb = await upload(c, a, "application/pdf"), await upload(c, b, "application/pdf")
    sent = await c.request("send", group_id=gid, text="", attachments=[ra["media_id"]])
    assert code(await begin_size(c, 3000)) == "storage_quota_reached"  # 8000 counted

    # Recalling the message frees a's room; the row and the file stay with the deleted message.
    await c.request("delete_message", group_id=gid, seq=sent["seq"])
    fits = await upload(c, pdf(3000, b"c"), "application/pdf")
    assert code(fits) == "ok", fits  # 7000 counted: b and c
    assert server.db_rows("SELECT COUNT(*) FROM media WHERE media_id = ?", ra["media_id"]) == [(1,)]
    assert stored_file(server, sha(a)).exists()
    # An upload attached lately cannot be deleted (its message may still be on its way to the store),
    # nor, later, one a message carries, deleted or not: it stays for the record with its message.
    soon = await c.call("delete_upload", media_id=ra["media_id"])
    assert code(soon) == "conflict" and "attached to a message" in soon["reason"], soon
    server.db_rows("UPDATE media SET created_at = created_at - ? WHERE media_id = ?", 3600_000, ra["media_id"])
    c, other = await restart(server, c, other)  # (memory: attached an hour ago)
    kept = await c.call("delete_upload", media_id=ra["media_id"])
    assert code(kept) == "conflict" and "kept for the record" in kept["reason"], kept
    assert server.db_rows("SELECT COUNT(*) FROM media WHERE media_id = ?", ra["media_id"]) == [(1,)]

    # delete_upload: the row goes at once, and its room with it; the file with the orphan sweep.
    assert code(await other.call("delete_upload", media_id=rb["media_id"])) == "not_found"  # not theirs
    assert code(await c.call("delete_upload", media_id="nope")) == "not_found"
    assert code(await begin_size(c, 4000)) == "storage_quota_reached"  # 7000 + 4000
    assert code(await c.call("delete_upload", media_id=rb["media_id"])) == "ok"
    assert server.db_rows("SELECT COUNT(*) FROM media WHERE media_id = ?", rb["media_id"]) == [(0,)]
    assert code(await c.call("delete_upload", media_id=rb["media_id"])) == "not_found"
    assert code(await c.call("send", group_id=gid, text="x", attachments=[rb["media_id"]])) == "bad_request"
    big = await upload(c, pdf(5000, b"big"), "application/pdf")
    assert code(big) == "ok", big  # 8000: c and big
    await orphan_sweep_removes(server, sha(b))

    await c.request("send", group_id=gid, text="", attachments=[big["media_id"]])
    # A dissolved group's messages no longer count; a post's files count until the post is deleted.
    assert code(await begin_size(c, 3000)) == "storage_quota_reached"
    await c.request("dissolve_group", group_id=gid)
    assert code(await begin_size(c, 5000)) == "ok"  # c alone counts (3000), and this one unfinished
    aid = (await c.request("create_account", name="图文号", category="culture", intro="关于我们",
                           subject_type="individual"))["account_id"]
    post = await c.request("publish", account_id=aid, title="t", body="b", attachments=[fits["media_id"]])
    assert code(await begin_size(c, 5000)) == "storage_quota_reached"  # 3000 + 5000 unfinished + 5000
    await c.request("delete_post", post_id=post["post_id"])
    assert code(await begin_size(c, 5000)) == "ok"  # only the unfinished ones count

    # Deleting an upload while another connection of the same user attaches it: one of them wins,
    # never both (no message may name a removed upload).
    d = await server.user()
    d2 = await server.client()
    await d2.login(d.username, "password123")
    gid = await open_group(d)
    for n in range(3):
        race = (await upload(d, pdf(100, b"race%d" % n), "application/pdf"))["media_id"]
        deleted, sent = await asyncio.gather(d.call("delete_upload", media_id=race),
                                             d2.call("send", group_id=gid, text="", attachments=[race]))
        assert (code(deleted), code(sent)) in (("ok", "bad_request"), ("conflict", "ok")), (deleted, sent)
        kept = server.db_rows("SELECT COUNT(*) FROM media WHERE media_id = ?", race)
        assert kept == [(0 if code(deleted) == "ok" else 1,)], (deleted, sent, kept)
    await close_all(c, d, d2, other)


# -- signed URLs ---------------------------------------------------------------------------------
async def test_signed_urls_media_url_and_deleted_messages(make_server):
    server = make_server(FAST_MEDIA)
    owner, gid, [member] = await group_of(server)
    image = png(4, 4)
    r = await upload(owner, image, "image/png")
    mid = r["media_id"]
    sent = await owner.request("send", group_id=gid, text="look", attachments=[mid])
    att = (await member.next_event("message"))["attachments"][0]
    # Every field of the contract's attachment object is there, name null for an upload without one.
    assert {"media_id", "kind", "mime", "size", "name", "url"} <= set(att) and att["name"] is None
    [stored] = (await member.request("history", group_id=gid))["messages"][-1]["attachments"]
    assert stored["name"] is None and stored["media_id"] == mid
    url = att["url"]
    assert get(server, url).status_code == 200
    # HEAD: the GET's headers, no body; any other method: 405, nothing served.
    head = httpx.head(f"http://127.0.0.1:{server.port}{url}", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(image)) and head.headers["content-type"] == "image/png"
    posted = httpx.post(f"http://127.0.0.1:{server.port}{url}", timeout=10)
    assert posted.status_code == 405 and posted.headers["allow"] == "GET, HEAD" and image not in posted.content
    path, query = url.split("?", 1)
    params = dict(p.split("=", 1) for p in query.split("&"))
    # unsigned, wrongly signed, signature of another expiry, another media: 403
    assert get(server, path).status_code == 403
    assert get(server, f"{path}?e={params['e']}").status_code == 403
    assert get(server, f"{path}?e={params['e']}&s={'A' * len(params['s'])}").status_code == 403
    assert get(server, f"{path}?e={int(params['e']) + 1}&s={params['s']}").status_code == 403
    assert get(server, f"/media/{'x' * len(mid)}?{query}").status_code == 403
    assert get(server, f"{path}?e=1&s={params['s']}").status_code == 403  # long expired
    # A signature that is not ASCII (percent-encoded UTF-8, or bytes that are not UTF-8): 403 too, not 500.
    assert get(server, f"{path}?e={params['e']}&s=%C3%A9{params['s'][1:]}").status_code == 403
    assert get(server, f"{path}?e={params['e']}&s=%FF%FE").status_code == 403

    # media_url: members who may see the message get a fresh URL; others do not.
    fresh = (await member.request("media_url", group_id=gid, seq=sent["seq"], media_id=mid))["url"]
    assert fresh.startswith(f"/media/{mid}?") and get(server, fresh).status_code == 200
    outsider = await server.user()
    assert code(await outsider.call("media_url", group_id=gid, seq=sent["seq"], media_id=mid)) == "not_member"
    late = await server.user()
    await late.request("join_group", group_id=gid)  # joined after the message: cannot see it
    assert code(await late.call("media_url", group_id=gid, seq=sent["seq"], media_id=mid)) == "not_found"
    other = await upload(owner, png(2, 2), "image/png")
    assert code(await member.call("media_url", group_id=gid, seq=sent["seq"],
                                  media_id=other["media_id"])) == "not_found"
    assert code(await member.call("media_url", group_id=gid, seq=999, media_id=mid)) == "not_found"

    # Deleted: the URL stops working (404), media_url refuses.
    await owner.request("delete_message", group_id=gid, seq=sent["seq"])
    assert get(server, fresh).status_code == 404
    assert code(await member.call("media_url", group_id=gid, seq=sent["seq"], media_id=mid)) == "not_found"
    # The same media in another, live message is served again.
    await owner.request("send", group_id=gid, text="again", attachments=[mid])
    again = (await member.next_event("message"))
    while again.get("text") != "again":
        again = await member.next_event("message")
    assert get(server, again["attachments"][0]["url"]).status_code == 200
    # An upload no message carries has no URL that works.
    assert get(server, url.replace(mid, other["media_id"])).status_code == 403
    await close_all(owner, member, outsider, late)


async def test_files_of_a_closed_group_or_account_are_no_longer_served(make_server):
    """A signed URL handed out before a group is dissolved or an account closed stops working then,
    not only when it expires: nobody may read what carries the file any more."""
    server = make_server(FAST_MEDIA)
    owner, gid, [member] = await group_of(server)
    mid = (await upload(owner, png(3, 3), "image/png"))["media_id"]
    await owner.request("send", group_id=gid, text="look", attachments=[mid])
    url = (await member.next_event("message"))["attachments"][0]["url"]
    assert get(server, url).status_code == 200
    await owner.request("dissolve_group", group_id=gid)
    assert get(server, url).status_code == 404

    writer = await server.user(verify_id=True)
    shown = (await upload(writer, png(5, 5), "image/png"))["media_id"]
    aid = (await writer.request("create_account", name="图文号", category="culture", intro="",
                                subject_type="individual"))["account_id"]
    post = await writer.request("publish", account_id=aid, title="t", body="b", attachments=[shown, shown])
    [attached] = (await member.request("read_post", post_id=post["post_id"]))["attachments"]  # (repeats dropped)
    post_url = attached["url"]
    assert get(server, post_url).status_code == 200
    await writer.request("close_account", account_id=aid)
    assert get(server, post_url).status_code == 404
    await close_all(owner, member, writer)


async def test_a_refused_send_or_publish_leaves_its_uploads_unattached(tmp_path, make_server):
    """Uploads named by a send or publish that is refused (here by the content filter) are not
    marked attached: the owner can still delete them at once, and the cleanup may take them."""
    d = tmp_path / "srv"
    d.mkdir()
    (d / "block.txt").write_text("赌场\n", encoding="utf-8")
    server = make_server(FAST_MEDIA + '[[content.lists]]\ncategory = "gambling"\npath = "block.txt"\n'
                                      'action = "block"\n')
    owner = await server.user(verify_id=True)
    gid = await open_group(owner)
    mid = (await upload(owner, png(3, 3), "image/png"))["media_id"]
    assert code(await owner.call("send", group_id=gid, text="去赌场", attachments=[mid])) == "content_blocked"
    aid = (await owner.request("create_account", name="图文号", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    assert code(await owner.call("publish", account_id=aid, title="赌场", body="b",
                                 attachments=[mid])) == "content_blocked"
    assert code(await owner.call("delete_upload", media_id=mid)) == "ok"
    kept = (await upload(owner, png(4, 4), "image/png"))["media_id"]
    await owner.request("send", group_id=gid, text="look", attachments=[kept])
    assert code(await owner.call("delete_upload", media_id=kept)) == "conflict"  # an accepted send marks it
    await close_all(owner)


async def test_media_url_refused_when_the_group_goes_during_its_read(make_server):
    """media_url reads the store; a group dissolved during that read gives no URL afterwards."""
    server = make_server(FAST_MEDIA)
    owner, gid, [member, watcher] = await group_of(server, 2)
    mid = (await upload(owner, png(2, 2), "image/png"))["media_id"]
    sent = await owner.request("send", group_id=gid, text="look", attachments=[mid])
    assert code(await member.call("media_url", group_id=gid, seq=sent["seq"], media_id=mid)) == "ok"

    async def dissolved() -> bool:
        return code(await watcher.call("group_info", group_id=gid)) == "not_found"

    async with reads_held(server, "message_media"):
        asked = asyncio.ensure_future(member.call("media_url", group_id=gid, seq=sent["seq"], media_id=mid))
        await asyncio.sleep(0.3)
        assert not asked.done()  # waiting for its read
        dissolving = asyncio.ensure_future(owner.call("dissolve_group", group_id=gid))
        await until(dissolved)  # dissolved in memory (its write may wait for the hold too)
    assert code(await asked) == "not_found"
    assert code(await dissolving) == "ok"
    await close_all(owner, member, watcher)


async def test_urls_expire(make_server):
    server = make_server(FAST_MEDIA + "url_ttl_seconds = 2\n")
    owner, gid, [member] = await group_of(server)
    r = await upload(owner, png(3, 2), "image/png")
    await owner.request("send", group_id=gid, text="soon gone", attachments=[r["media_id"]])
    url = (await member.next_event("message"))["attachments"][0]["url"]
    assert get(server, url).status_code == 200
    late = time.monotonic() + 3.1  # refused from 2 s after it was given: asked until then, not slept through
    while get(server, url).status_code != 403:
        assert time.monotonic() < late, "the URL still works 3.1 s later (url_ttl_seconds = 2)"
        await asyncio.sleep(0.05)
    await close_all(owner, member)


# -- memory ------------------------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_a_20_mib_upload_keeps_server_memory_flat(make_server):
    server = make_server(FAST_MEDIA)
    c = await server.user()
    assert code(await upload(c, pdf(3_000_000), "application/pdf")) == "ok"  # warm up: threads, buffers
    before = rss_kib(server.proc.pid)
    big = pdf(20 * 1024 * 1024)
    t0 = time.monotonic()
    begin = await c.request("upload_begin", mime="application/pdf", size=len(big))
    step, peak = begin["chunk_bytes"], before
    for off in range(0, len(big), step):
        await c.request("upload_chunk", upload_id=begin["upload_id"], offset=off, data=big[off:off + step])
        peak = max(peak, rss_kib(server.proc.pid))
    r = await c.request("upload_end", upload_id=begin["upload_id"], sha256=sha(big), timeout=30)
    peak = max(peak, rss_kib(server.proc.pid))
    assert r["size"] == len(big)
    assert stored_file(server, sha(big)).stat().st_size == len(big)
    growth_mib = (peak - before) / 1024
    assert growth_mib < 10, f"the server grew by {growth_mib:.1f} MiB for a 20 MiB upload"
    assert time.monotonic() - t0 < 60
    await c.close()


# -- cleanup, retention, export ---------------------------------------------------------------------
async def test_unattached_uploads_are_removed_attached_ones_kept(make_server):
    server = make_server(FAST_MEDIA + "unattached_ttl_seconds = 2\ncleanup_interval_seconds = 1\n")
    owner, gid, [member] = await group_of(server)
    kept_bytes, lost_bytes = png(5, 5), pdf(1000, b"lost")
    kept = await upload(owner, kept_bytes, "image/png")
    lost = await upload(owner, lost_bytes, "application/pdf")
    await owner.request("send", group_id=gid, text="", attachments=[kept["media_id"]])
    assert stored_file(server, sha(lost_bytes)).exists()
    for _ in range(100):
        if not server.db_rows("SELECT 1 FROM media WHERE media_id = ?", lost["media_id"]):
            break
        await asyncio.sleep(0.1)
    assert not server.db_rows("SELECT 1 FROM media WHERE media_id = ?", lost["media_id"])
    assert code(await owner.call("send", group_id=gid, text="x", attachments=[lost["media_id"]])) == "bad_request"
    # The cleanup removes rows only: the file goes with the orphan sweep, once no row names it and
    # it was last placed more than an hour ago (on a cluster, another home's row may name it).
    await until_job_ran(server, cleanup.JOB)  # the end of the cleanup's run that removed the row, or a later one
    assert stored_file(server, sha(lost_bytes)).exists()
    await orphan_sweep_removes(server, sha(lost_bytes))
    # the attached one stays, file and all
    assert server.db_rows("SELECT 1 FROM media WHERE media_id = ?", kept["media_id"])
    assert stored_file(server, sha(kept_bytes)).read_bytes() == kept_bytes
    ev = await member.next_event("message")
    assert get(server, ev["attachments"][0]["url"]).status_code == 200
    # Two uploads of the same bytes share the file: it stays while one of them does.
    twin1 = await upload(owner, lost_bytes, "application/pdf")
    await owner.request("send", group_id=gid, text="twin", attachments=[twin1["media_id"]])
    twin2 = await upload(owner, lost_bytes, "application/pdf")
    for _ in range(100):
        if not server.db_rows("SELECT 1 FROM media WHERE media_id = ?", twin2["media_id"]):
            break
        await asyncio.sleep(0.1)
    assert not server.db_rows("SELECT 1 FROM media WHERE media_id = ?", twin2["media_id"])
    assert stored_file(server, sha(lost_bytes)).read_bytes() == lost_bytes
    await close_all(owner, member)


async def test_media_go_with_purged_messages_and_are_exported(make_server, tmp_path):
    server = make_server(FAST_MEDIA + "cleanup_interval_seconds = 1\n")
    owner, gid, [member] = await group_of(server)
    old_bytes, new_bytes = png(6, 6), jpeg(32, 16)
    old = await upload(owner, old_bytes, "image/png", name="old.png")
    new = await upload(owner, new_bytes, "image/jpeg")
    s1 = await owner.request("send", group_id=gid, text="old one", attachments=[old["media_id"]])
    await owner.request("send", group_id=gid, text="new one", attachments=[new["media_id"]])

    # Export: the files of the exported messages, with their SHA-256 in the manifest.
    out = tmp_path / "export"
    rc, _, err = await server.admin("export", "--group", gid, "--out", str(out))
    assert rc == 0, err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    copied = {e["name"]: e for e in manifest["media"]}
    # (the JPEG's EXIF block was removed at upload_end: what is stored and exported is the stripped file)
    assert new["sha256"] != sha(new_bytes) and old["sha256"] == sha(old_bytes)
    assert set(copied) == {f"media/{sha(old_bytes)}", f"media/{new['sha256']}"}
    for name, e in copied.items():
        data = (out / name).read_bytes()
        assert sha(data) == e["sha256"] == name.split("/")[1] and len(data) == e["bytes"]
    rows = [json.loads(line) for line in (out / "media.jsonl").read_text(encoding="utf-8").splitlines()]
    by_id = {r["media_id"]: r for r in rows}
    assert by_id[old["media_id"]]["name"] == "old.png" and by_id[old["media_id"]]["messages"] == [[gid, s1["seq"]]]
    listed = {e["name"]: e["sha256"] for e in manifest["files"]}
    assert sha((out / "media.jsonl").read_bytes()) == listed["media.jsonl"]

    # Retention: the old message goes, and with it its file; the new one stays.
    rc, out_text, _ = await server.admin("purge")
    assert "media: 0" in out_text
    await close_all(owner, member)
    await server.stopped()  # made and attached 200 days ago, as far as the restarted server knows
    server.db_rows("UPDATE messages SET ts = ts - ? WHERE group_id = ? AND seq = ?", 200 * DAY_MS, gid, s1["seq"])
    server.db_rows("UPDATE media SET created_at = created_at - ?", 200 * DAY_MS)
    server.start()
    rc, out_text, err = await server.admin("purge")
    assert rc == 0 and "messages: 1" in out_text and "media: 1" in out_text, (out_text, err)
    assert not server.db_rows("SELECT 1 FROM media WHERE media_id = ?", old["media_id"])
    # The purge removes the row; the file goes with the orphan sweep (no row names it any more).
    assert stored_file(server, sha(old_bytes)).exists()
    await orphan_sweep_removes(server, sha(old_bytes))
    assert stored_file(server, new["sha256"]).exists()
    assert server.db_rows("SELECT 1 FROM media WHERE media_id = ?", new["media_id"])


async def test_a_server_on_another_database_removes_nothing_from_the_folder(make_server):
    """The first server's orphan sweep binds its media folder to its database; a second server on a
    new, empty database pointed at the same folder finds none of its files named, yet removes none:
    the folder's marker names another database, and it says so in its log."""
    first = make_server(FAST_MEDIA + "cleanup_interval_seconds = 1\n")
    marker = media_dir(first) / "qunguan-store-id"
    owner = await first.user()
    data = pdf(1000, b"the first database's")
    assert (await upload(owner, data, "application/pdf"))["ok"]
    swept = "SELECT 1 FROM job_runs WHERE name = 'media_orphans'"
    await eventually(lambda: bool(first.db_rows(swept)))  # its first orphan sweep ran (and bound the folder)
    await close_all(owner)
    await first.stopped()
    then = time.time() - 2 * 3600  # older than the orphan sweep's grace
    os.utime(stored_file(first, sha(data)), (then, then))

    second = make_server(FAST_MEDIA + f'cleanup_interval_seconds = 1\npath = "{media_dir(first)}"\n',
                         subdir="other")
    await eventually(lambda: bool(second.db_rows(swept)))  # its first orphan sweep ran
    assert stored_file(first, sha(data)).exists(), "a server on another database swept the folder"
    assert any("media files are not removed" in line and "qunguan-store-id" in line for line in second.output)
    assert first.db_rows("SELECT value FROM vault_secrets WHERE name = 'store_id'")[0][0].decode() \
        == marker.read_text(encoding="ascii").strip()


async def test_an_unmarked_folder_is_not_taken_by_a_new_database(make_server):
    """A folder without its marker (copied or restored without it, or from a version without
    markers) whose files were placed long before a new, empty database was made: the server on
    that database removes nothing, writes no marker, says what to do and shows it in the gauge
    ``qunguan_media_sweep_refused``; the server of the folder's own database binds it later."""
    from tests.e2e import ops_helpers as ops

    first = make_server(FAST_MEDIA + "cleanup_interval_seconds = 1\n")
    marker = media_dir(first) / "qunguan-store-id"
    owner = await first.user()
    data = pdf(1000, b"the first database's, in a folder without its marker")
    assert (await upload(owner, data, "application/pdf"))["ok"]
    swept = "SELECT 1 FROM job_runs WHERE name = 'media_orphans'"
    await eventually(lambda: bool(first.db_rows(swept)) and marker.exists())
    await close_all(owner)
    await first.stopped()
    marker.unlink()  # the folder copied without it
    then = time.time() - 3 * 86_400  # placed days before the second database is made
    os.utime(stored_file(first, sha(data)), (then, then))

    second = make_server(FAST_MEDIA + f'cleanup_interval_seconds = 1\npath = "{media_dir(first)}"\n'
                         f"[metrics]\nport = {ops.free_port()}\n", subdir="other")
    metrics = ops.metrics_url(second)
    await eventually(lambda: bool(second.db_rows(swept)))  # its first orphan sweep ran
    assert stored_file(first, sha(data)).exists(), "a server on a new database swept an unmarked folder"
    assert not marker.exists(), "a server on a new database took an unmarked folder"
    # (the server's output is read from its pipe as it comes: the line may follow the sweep's row)
    await eventually(lambda: any("media files are not removed" in line and "no qunguan-store-id marker" in line
                                 for line in second.output))
    assert ops.scrape(metrics)["qunguan_media_sweep_refused"] == 1
    await second.stopped()

    first.start()  # its own database: a row names the file, so its sweep binds the folder
    first.db_rows("DELETE FROM job_runs WHERE name = 'media_orphans'")
    await eventually(marker.exists)
    assert first.db_rows("SELECT value FROM vault_secrets WHERE name = 'store_id'")[0][0].decode() \
        == marker.read_text(encoding="ascii").strip()
    assert stored_file(first, sha(data)).exists()


async def test_a_folder_marked_for_another_database_shows_in_the_gauge_at_start(make_server):
    """A server started on another database than its media folder's marker names says so in its
    log and in ``qunguan_media_sweep_refused`` at start, though its first sweep is an hour away."""
    from tests.e2e import ops_helpers as ops

    first = make_server(FAST_MEDIA + "cleanup_interval_seconds = 1\n")
    marker = media_dir(first) / "qunguan-store-id"
    owner = await first.user()
    assert (await upload(owner, pdf(1000, b"marked"), "application/pdf"))["ok"]
    await eventually(marker.exists)
    await close_all(owner)
    await first.stopped()

    second = make_server(FAST_MEDIA + f'cleanup_interval_seconds = 3600\npath = "{media_dir(first)}"\n'
                         f"[metrics]\nport = {ops.free_port()}\n", subdir="other")
    metrics = ops.metrics_url(second)
    await eventually(lambda: ops.scrape(metrics)["qunguan_media_sweep_refused"] == 1)
    assert await second.logged("media files are not removed")
    assert not second.db_rows("SELECT 1 FROM job_runs WHERE name = 'media_orphans'"), "no sweep ran"


async def test_clients_that_ask_for_media_and_never_read_cannot_exhaust_memory(make_server):
    """A body stays in memory until its connection closes, and a client that asks and never reads
    keeps it until the handshake timeout: past MAX_BODIES_IN_FLIGHT largest files' worth, the answer is
    503 with Retry-After; once those connections close, files are served again."""
    import socket

    from server.media.service import MAX_BODIES_IN_FLIGHT

    # Over what the kernel takes into a socket's send buffer (tcp_wmem's most, 4 MiB by default): a
    # body that fits there whole is written at once, its connection closed and the body released.
    size = 6_000_000
    server = make_server(FAST_MEDIA + f"max_bytes = {size}\n")
    owner, gid, _ = await group_of(server)
    doc = pdf(size - 1000)
    r = await upload(owner, doc, "application/pdf", name="big.pdf")
    assert r["ok"], r
    sent = await owner.request("send", group_id=gid, text="big", attachments=[r["media_id"]])
    url = (await owner.request("media_url", group_id=gid, seq=sent["seq"], media_id=r["media_id"]))["url"]
    stalled = []
    for _ in range(MAX_BODIES_IN_FLIGHT):  # each asks and never reads: its body is held
        s = socket.create_connection(("127.0.0.1", server.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        stalled.append(s)
    # Each is answered 200 before the next GET below: one of those, served first, took a place in
    # the budget while it was read, and a stalled client got 503 instead (on PostgreSQL, whose
    # reads let the requests overtake one another): the budget was then never full.
    for s in stalled:
        s.settimeout(15)
        assert s.recv(12, socket.MSG_WAITALL) == b"HTTP/1.1 200"  # (its status line alone: the body stays held)
    await eventually(lambda: get(server, url).status_code == 503, timeout=15)  # all their bodies are held
    refused = get(server, url)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.status_code
    for s in stalled:
        s.close()

    await eventually(lambda: get(server, url).status_code == 200, timeout=15)


async def test_one_clients_unread_downloads_hold_only_its_share_of_the_allowance(tmp_path, started, backend):
    """A few connections from one client that ask and never read held the whole allowance (eight of the
    largest files), and every other client got 503 until they timed out: one network may hold
    MAX_BODIES_PER_ADDRESS of them; past that it alone is answered 503, others are served. (The
    clients are told apart by X-Forwarded-For from a trusted proxy: the machine's own address is
    spared, as the limits per address spare it.)"""
    import socket

    from server.media.service import MAX_BODIES_PER_ADDRESS
    from tests.e2e import ops_helpers as ops

    size = 6_000_000  # (over a socket's send buffer: an unread body stays held, as above)
    srv = started(ops.server(tmp_path, 'trusted_proxies = ["127.0.0.1/32"]', FAST_MEDIA + f"max_bytes = {size}\n",
                             backend=backend))
    owner, gid, _ = await group_of(srv)
    r = await upload(owner, pdf(size - 1000), "application/pdf", name="big.pdf")
    sent = await owner.request("send", group_id=gid, text="big", attachments=[r["media_id"]])
    url = (await owner.request("media_url", group_id=gid, seq=sent["seq"], media_id=r["media_id"]))["url"]

    def fetch(address: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{srv.port}{url}", headers={"X-Forwarded-For": address}, timeout=10)

    stalled = []
    for _ in range(MAX_BODIES_PER_ADDRESS):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.5\r\n\r\n".encode())
        stalled.append(s)
    for s in stalled:
        s.settimeout(15)
        assert s.recv(12, socket.MSG_WAITALL) == b"HTTP/1.1 200"
    refused = await asyncio.to_thread(fetch, "203.0.113.5")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.status_code
    assert b"from this address" in refused.content
    assert (await asyncio.to_thread(fetch, "198.51.100.7")).status_code == 200  # another client is served
    for s in stalled:
        s.close()
    await eventually(lambda: fetch("203.0.113.5").status_code == 200, timeout=15)


async def test_a_file_larger_than_the_download_allowance_after_a_reload_is_still_served(make_server):
    """Downloads in flight are held to MAX_BODIES_IN_FLIGHT times media.max_bytes of memory, counted
    at each request. A file stored before max_bytes was lowered to under an eighth of its size was
    over that whole allowance, and answered 503 to everyone, for good. One body is always let through."""
    import signal

    size = 2_000_000
    server = make_server(FAST_MEDIA + f"max_bytes = {size}\n")
    owner, gid, _ = await group_of(server)
    r = await upload(owner, pdf(size - 1000), "application/pdf", name="big.pdf")
    assert r["ok"], r
    sent = await owner.request("send", group_id=gid, text="big", attachments=[r["media_id"]])
    url = (await owner.request("media_url", group_id=gid, seq=sent["seq"], media_id=r["media_id"]))["url"]
    assert get(server, url).status_code == 200
    text = server.config.read_text(encoding="utf-8")
    server.config.write_text(text.replace(f"max_bytes = {size}\n", "max_bytes = 100000\n"), encoding="utf-8")
    server.proc.send_signal(signal.SIGHUP)
    assert await server.logged("config reloaded")
    got = get(server, url)
    assert got.status_code == 200 and len(got.content) == size - 1000


async def test_a_start_without_the_databases_files_says_so(make_server):
    """A backup restored without its ``[media] path`` folder started without a word: each picture
    then answered 404 with an ERROR, one at a time. Now the start says the folder holds none of the
    files the database names (a folder that holds them says nothing)."""
    server = make_server(FAST_MEDIA)
    owner = await server.user()
    assert (await upload(owner, png(3, 3), "image/png"))["ok"]
    [owner] = await restart(server, owner)
    assert not await server.logged("holds none of the", timeout=1.0)
    folder = media_dir(server)
    folder.rename(folder.with_name("media-elsewhere"))
    [owner] = await restart(server, owner)
    assert await server.logged(f"the [media] path folder {folder} holds none of the 1 files looked for of the 1 "
                               "uploads the database names")
    await owner.close()
