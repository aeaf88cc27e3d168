"""Richer messages end to end: replies, mentions, @all, attachments, edits, reactions, pins.

Every op and every refusal the contract names for them, on both backends, through a real server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import signal
import struct
import time
import zlib

from governance.retention import DAY_MS
from protocol.codec import Encoding
from tests.e2e.harness import close_all, open_group
from tests.e2e.ops_helpers import http_get
from tests.e2e.store_hold import reads_held, until

# The harness's config ends inside [rate_limits]: the first line below belongs there.
CONFIG = """mention_all_per_group_per_hour = 2
[limits]
max_pins = 2
[[content.lists]]
category = "pyramid_gambling"
path = "gambling.txt"
action = "block"
[[content.lists]]
category = "rumour_fraud"
path = "fraud.txt"
action = "review"
[[content.lists]]
category = "pornography"
path = "porn.txt"
action = "flag"
"""


def rich_server(make_server, tmp_path, limits: str = "", subdir: str = "srv"):
    """A server with the word lists above; ``limits``: more [limits] keys."""
    d = tmp_path / subdir
    d.mkdir(exist_ok=True)
    (d / "gambling.txt").write_text("赌博\n", encoding="utf-8")
    (d / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    (d / "porn.txt").write_text("vpn下载\n", encoding="utf-8")
    return make_server(CONFIG.replace("max_pins = 2\n", "max_pins = 2\n" + limits), subdir=subdir)


async def crowd(srv, n: int = 2):
    """An owner, an admin and ``n`` members in one open group; nobody has pending events."""
    owner = await srv.user()
    gid = await open_group(owner)
    admin = await srv.user()
    await admin.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    members = []
    for _ in range(n):
        c = await srv.user()
        await c.request("join_group", group_id=gid)
        members.append(c)
    for c in (owner, admin, *members):
        c.drain_events()
    return gid, owner, admin, members


def code(reply) -> str:
    return "ok" if reply.get("ok") else reply["code"]


async def last_message(client, gid):
    return (await client.request("history", group_id=gid))["messages"][-1]



# -- send: reply_to, mentions, mention_all ---------------------------------------------------------
async def test_reply_mentions_and_their_refusals(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1, m2] = await crowd(srv)
    outsider = await srv.user()
    first = (await m1.send(gid, "who is coming?"))["seq"]
    reply = await m2.send(gid, "me, and you two", reply_to=first,
                          mentions=[m1.user_id, owner.user_id, m1.user_id])
    ev = await owner.next_event("message")
    while ev["seq"] != reply["seq"]:
        ev = await owner.next_event("message")
    assert ev["reply_to"] == first and ev["mentions"] == [m1.user_id, owner.user_id]
    assert "mention_all" not in ev and "attachments" not in ev
    shown = await last_message(m1, gid)
    assert shown["reply_to"] == first and shown["mentions"] == [m1.user_id, owner.user_id]
    assert "reply_to" not in (await m1.request("history", group_id=gid))["messages"][0]

    last = reply["seq"]
    for bad in (0, -1, last + 1, last + 100):
        assert code(await m1.call("send", group_id=gid, text="re", reply_to=bad)) == "not_found", bad
    assert code(await m1.call("send", group_id=gid, text="hi", mentions=[outsider.user_id])) == "bad_request"
    assert code(await m1.call("send", group_id=gid, text="hi", mentions=["u0000000000000000"])) == "bad_request"
    # a refused message took no seq
    assert (await m1.send(gid, "after the refusals"))["seq"] == last + 1
    await close_all(owner, admin, m1, m2, outsider)


async def test_mention_all_is_for_managers_and_limited_per_group(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    assert code(await m1.call("send", group_id=gid, text="@all", mention_all=True)) == "forbidden"
    await owner.send(gid, "meeting at 8", mention_all=True)
    ev = await m1.next_event("message")
    assert ev["mention_all"] is True
    await admin.send(gid, "reminder", mention_all=True)
    refused = await owner.call("send", group_id=gid, text="again", mention_all=True)
    assert refused["code"] == "rate_limited" and 0 < refused["retry_after_ms"] <= 3_600_000
    # plain messages still go; the limit is the group's, not the sender's
    assert code(await owner.call("send", group_id=gid, text="no @all")) == "ok"
    other = await open_group(owner, name="second room")
    assert code(await owner.call("send", group_id=other, text="hello", mention_all=True)) == "ok"
    mentions = [m.get("mention_all", False) for m in (await m1.request("history", group_id=gid))["messages"]]
    assert mentions == [True, True, False]
    await close_all(owner, admin, m1)


# -- edit_message -----------------------------------------------------------------------------------
async def test_edit_message_keeps_every_version_for_the_record(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1, m2] = await crowd(srv)
    seq = (await m1.send(gid, "see you at 7"))["seq"]
    await owner.next_event("message")
    first = await m1.request("edit_message", group_id=gid, seq=seq, text="see you at 8")
    assert first["seq"] == seq and first["edited_at"] > 0
    ev = await owner.next_event("message_edited")
    assert ev == {"ev": "message_edited", "group_id": gid, "seq": seq, "text": "see you at 8",
                  "edited_at": first["edited_at"]}
    await m1.request("edit_message", group_id=gid, seq=seq, text="see you at 9")
    shown = await last_message(m2, gid)
    assert shown["text"] == "see you at 9" and shown["edited_at"] >= first["edited_at"]

    # who and what
    assert code(await owner.call("edit_message", group_id=gid, seq=seq, text="mine now")) == "forbidden"
    assert code(await m2.call("edit_message", group_id=gid, seq=seq, text="mine now")) == "forbidden"
    assert code(await m1.call("edit_message", group_id=gid, seq=seq + 1, text="x")) == "not_found"
    assert code(await m1.call("edit_message", group_id=gid, seq=0, text="x")) == "not_found"
    assert code(await m1.call("edit_message", group_id=gid, seq=seq, text="  ")) == "bad_request"
    assert code(await m1.call("edit_message", group_id=gid, seq=seq, text="x" * 4001)) == "too_large"
    outsider = await srv.user()
    assert code(await outsider.call("edit_message", group_id=gid, seq=seq, text="x")) == "not_member"
    # the content filter: block and review refused, nothing changed; flag applied and queued
    assert code(await m1.call("edit_message", group_id=gid, seq=seq, text="来赌博")) == "content_blocked"
    assert code(await m1.call("edit_message", group_id=gid, seq=seq, text="刷单返利")) == "content_blocked"
    assert (await last_message(m2, gid))["text"] == "see you at 9"
    await m1.request("edit_message", group_id=gid, seq=seq, text="vpn下载 at 9")
    await asyncio.sleep(0.2)
    assert srv.db_rows("SELECT action FROM review_queue WHERE group_id = ? AND seq = ?", gid, seq) == [("flag",)]
    # a muted member cannot edit either
    await owner.request("mute", group_id=gid, user_id=m1.user_id, seconds=60)
    assert code(await m1.call("edit_message", group_id=gid, seq=seq, text="still me")) == "muted"
    await owner.request("mute", group_id=gid, user_id=m1.user_id, seconds=0)
    # a deleted message is gone for edits
    other = (await m1.send(gid, "typo"))["seq"]
    await owner.request("delete_message", group_id=gid, seq=other)
    assert code(await m1.call("edit_message", group_id=gid, seq=other, text="fixed")) == "not_found"

    # the supervision export shows every version with its time
    out = tmp_path / "export"
    rc, _, err = await srv.admin("export", "--group", gid, "--out", str(out))
    assert rc == 0, err
    rows = {m["seq"]: m for m in map(json.loads, (out / "messages.jsonl").read_text().splitlines())}
    edited = rows[seq]
    assert edited["text"] == "vpn下载 at 9" and edited["edited_at"] and edited["edited_at_iso"]
    assert [(v["version"], v["text"]) for v in edited["versions"]] == [
        (1, "see you at 7"), (2, "see you at 8"), (3, "see you at 9")]
    assert edited["versions"][0]["ts"] == edited["ts"]
    assert [v["ts"] for v in edited["versions"]] == sorted(v["ts"] for v in edited["versions"])
    assert all(v["ts_iso"] for v in edited["versions"])
    assert "versions" not in rows[other]
    await close_all(owner, admin, m1, m2, outsider)


async def test_edit_after_the_window_is_forbidden(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path, "edit_window_seconds = 1\n")
    gid, owner, admin, [m1] = await crowd(srv, 1)
    assert (await m1.request("me"))["edit_window_seconds"] == 1  # what a client needs to offer "edit"
    sent = await m1.send(gid, "quick")
    seq = sent["seq"]
    assert code(await m1.call("edit_message", group_id=gid, seq=seq, text="quicker")) == "ok"
    await asyncio.sleep(max(0.0, sent["ts"] / 1000 + 1 - time.time()) + 0.1)  # the window (from its sending) is over
    assert code(await m1.call("edit_message", group_id=gid, seq=seq, text="too late")) == "forbidden"
    assert (await last_message(owner, gid))["text"] == "quicker"
    await close_all(owner, admin, m1)


async def test_a_held_message_cannot_be_edited_and_is_released_with_its_fields(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    first = (await owner.send(gid, "rules"))["seq"]
    held = await m1.send(gid, "刷单返利 ask me", reply_to=first, mentions=[admin.user_id])
    assert held["held"] is True
    assert code(await m1.call("edit_message", group_id=gid, seq=held["seq"], text="never mind")) == "forbidden"
    assert code(await owner.call("edit_message", group_id=gid, seq=held["seq"], text="x")) == "not_found"
    assert code(await owner.call("react", group_id=gid, seq=held["seq"], emoji="👍", on=True)) == "not_found"
    assert code(await owner.call("pin_message", group_id=gid, seq=held["seq"], on=True)) == "not_found"
    rc, out, _ = await srv.admin("review-queue", "--open")
    [item] = [json.loads(line) for line in out.splitlines()]
    owner.drain_events()
    rc, _, err = await srv.admin("decide", str(item["item_id"]), "--decision", "release", "--note", "ok")
    assert rc == 0, err
    ev = await owner.next_event("message_released")
    assert ev["seq"] == held["seq"] and ev["reply_to"] == first and ev["mentions"] == [admin.user_id]
    await close_all(owner, admin, m1)


# -- react ------------------------------------------------------------------------------------------
async def test_reactions_count_per_emoji_and_are_capped(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1, m2] = await crowd(srv)
    seq = (await m1.send(gid, "lunch?"))["seq"]
    for c in (owner, admin, m1, m2):
        c.drain_events()
    await owner.request("react", group_id=gid, seq=seq, emoji="👍", on=True)
    ev = await m1.next_event("reaction")
    assert ev == {"ev": "reaction", "group_id": gid, "seq": seq, "user_id": owner.user_id, "emoji": "👍", "on": True}
    await m2.request("react", group_id=gid, seq=seq, emoji="👍", on=True)
    family = "👨\u200d👩\u200d👧"  # joined by zero-width joiners: one emoji, 18 bytes
    await m2.request("react", group_id=gid, seq=seq, emoji=family, on=True)
    assert (await last_message(admin, gid))["reactions"] == {"👍": 2, family: 1}
    m1.drain_events()
    await owner.request("react", group_id=gid, seq=seq, emoji="👍", on=False)
    assert (await m1.next_event("reaction"))["on"] is False
    assert (await last_message(admin, gid))["reactions"] == {"👍": 1, family: 1}
    # taking back what is not there, or adding twice, changes nothing and tells nobody
    m1.drain_events()
    await owner.request("react", group_id=gid, seq=seq, emoji="👍", on=False)
    await m2.request("react", group_id=gid, seq=seq, emoji="👍", on=True)
    await asyncio.sleep(0.3)
    assert [e for e in m1.drain_events() if e.get("ev") == "reaction"] == []

    for bad in ("", " ", "x" * 33, "\n", "a\x07"):
        assert code(await m1.call("react", group_id=gid, seq=seq, emoji=bad, on=True)) == "bad_request", bad
    assert code(await m1.call("react", group_id=gid, seq=seq, emoji="赌博", on=True)) == "content_blocked"
    assert code(await m1.call("react", group_id=gid, seq=seq + 1, emoji="👍", on=True)) == "not_found"
    outsider = await srv.user()
    assert code(await outsider.call("react", group_id=gid, seq=seq, emoji="👍", on=True)) == "not_member"
    gone = (await m1.send(gid, "oops"))["seq"]
    await m1.request("delete_message", group_id=gid, seq=gone)
    assert code(await m2.call("react", group_id=gid, seq=gone, emoji="👍", on=True)) == "not_found"

    # at most 20 different reactions of one user on one message
    for i in range(20):
        await owner.request("react", group_id=gid, seq=seq, emoji=f"e{i}", on=True)
    assert code(await owner.call("react", group_id=gid, seq=seq, emoji="one more", on=True)) == "conflict"
    assert code(await owner.call("react", group_id=gid, seq=seq, emoji="e3", on=True)) == "ok"  # already there
    shown = [m for m in (await admin.request("history", group_id=gid))["messages"] if m["seq"] == seq][0]
    assert len(shown["reactions"]) == 22 and "one more" not in shown["reactions"]
    assert code(await owner.call("react", group_id=gid, seq=seq, emoji="x" * 32, on=False)) == "ok"
    await close_all(owner, admin, m1, m2, outsider)


async def test_history_tells_each_reader_which_reactions_are_their_own(make_server, tmp_path):
    """Whose reaction a chip is was known only to the device that left it: another device of the
    same person (or the same one after a reload) showed it as someone else's. ``my_reactions``
    [ext] in ``history`` says it to every device; only the reader's own, on the messages that have
    reactions, and none on a deleted message."""
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1, m2] = await crowd(srv)
    first = (await m1.send(gid, "lunch?"))["seq"]
    plain = (await m1.send(gid, "no reactions here"))["seq"]
    last = (await m1.send(gid, "dinner?"))["seq"]
    family = "👨\u200d👩\u200d👧"
    for c, seq, emoji in [(owner, first, "👍"), (owner, first, family), (m2, first, "👍"), (m2, last, "❤")]:
        await c.request("react", group_id=gid, seq=seq, emoji=emoji, on=True)
    other_device = await srv.client()
    await other_device.login(owner.username, "password123")

    async def page(c):
        return {m["seq"]: m for m in (await c.request("history", group_id=gid))["messages"]}

    shown = await page(other_device)
    assert shown[first]["reactions"] == {"👍": 2, family: 1}
    assert shown[first]["my_reactions"] == sorted(["👍", family]) and "my_reactions" not in shown[last]
    assert "my_reactions" not in shown[plain] and "reactions" not in shown[plain]
    by_m2 = await page(m2)
    assert by_m2[first]["my_reactions"] == ["👍"] and by_m2[last]["my_reactions"] == ["❤"]
    assert all("my_reactions" not in m for m in (await page(admin)).values())
    await owner.request("react", group_id=gid, seq=first, emoji="👍", on=False)
    assert (await page(other_device))[first]["my_reactions"] == [family]
    await m1.request("delete_message", group_id=gid, seq=last)
    assert (await page(m2))[last] == {"group_id": gid, "seq": last, "ts": shown[last]["ts"],
                                      "sender": shown[last]["sender"], "deleted": True, "deleted_by": "sender"}
    await close_all(owner, admin, m1, m2, other_device)


# -- pin_message ------------------------------------------------------------------------------------
async def test_pins_by_managers_up_to_the_cap(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    s1, s2, s3 = [(await m1.send(gid, f"notice {i}"))["seq"] for i in range(3)]
    m1.drain_events()
    await owner.request("pin_message", group_id=gid, seq=s1, on=True)
    assert await m1.next_event("group_updated") == {"ev": "group_updated", "group_id": gid, "pinned": [s1]}
    assert code(await m1.call("pin_message", group_id=gid, seq=s2, on=True)) == "forbidden"
    assert code(await m1.call("pin_message", group_id=gid, seq=s1, on=False)) == "forbidden"
    await admin.request("pin_message", group_id=gid, seq=s2, on=True)
    assert (await m1.next_event("group_updated"))["pinned"] == [s1, s2]
    assert code(await owner.call("pin_message", group_id=gid, seq=s3, on=True)) == "conflict"  # max_pins = 2
    assert code(await owner.call("pin_message", group_id=gid, seq=s1, on=True)) == "ok"  # already pinned
    assert code(await owner.call("pin_message", group_id=gid, seq=s3 + 1, on=True)) == "not_found"
    assert code(await owner.call("pin_message", group_id=gid, seq=0, on=True)) == "not_found"
    await owner.request("pin_message", group_id=gid, seq=s1, on=False)
    assert (await m1.next_event("group_updated"))["pinned"] == [s2]
    await owner.request("pin_message", group_id=gid, seq=s3, on=True)
    assert (await m1.request("group_info", group_id=gid))["pinned"] == [s2, s3]
    # a deleted message cannot be pinned
    await owner.request("pin_message", group_id=gid, seq=s3, on=False)
    await owner.request("delete_message", group_id=gid, seq=s1)
    assert code(await owner.call("pin_message", group_id=gid, seq=s1, on=True)) == "not_found"
    # each pin and unpin is in the enforcement record, with the manager who did it
    entries = srv.db_rows("SELECT actor_id, group_id, detail FROM audit WHERE action = 'pin_message' ORDER BY id")
    assert [(a, json.loads(d)["seq"], json.loads(d)["on"]) for a, _, d in entries] == [
        (owner.user_id, s1, True), (admin.user_id, s2, True), (owner.user_id, s1, False),
        (owner.user_id, s3, True), (owner.user_id, s3, False)]
    assert {g for _, g, _ in entries} == {gid}
    assert (await srv.admin("verify-audit"))[0] == 0
    await close_all(owner, admin, m1)


# -- durable: a restart keeps pins, reactions and edits; a purge removes them with their message -----
async def test_restart_keeps_pins_reactions_and_edits(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    seq = (await m1.send(gid, "draft", mentions=[owner.user_id]))["seq"]
    edit = await m1.request("edit_message", group_id=gid, seq=seq, text="final")
    await owner.request("react", group_id=gid, seq=seq, emoji="🎉", on=True)
    await owner.request("pin_message", group_id=gid, seq=seq, on=True)
    await close_all(owner, admin, m1)
    await srv.stopped()
    srv.start()
    again = await srv.client()
    await again.login(m1.username, "password123")
    assert (await again.request("group_info", group_id=gid))["pinned"] == [seq]
    shown = await last_message(again, gid)
    assert shown["text"] == "final" and shown["edited_at"] == edit["edited_at"]
    assert shown["reactions"] == {"🎉": 1} and shown["mentions"] == [owner.user_id]
    # and the edit record survives too: the next edit is version 2
    await again.request("edit_message", group_id=gid, seq=seq, text="final final")
    versions = srv.db_rows("SELECT version, text FROM message_versions WHERE group_id = ? ORDER BY version", gid)
    assert versions == [(1, "draft"), (2, "final")]
    await again.close()


async def test_purge_takes_versions_reactions_and_media_links_with_the_message(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    old = (await m1.send(gid, "old"))["seq"]
    young = (await m1.send(gid, "young"))["seq"]
    for seq in (old, young):
        await m1.request("edit_message", group_id=gid, seq=seq, text="edited")
        await owner.request("react", group_id=gid, seq=seq, emoji="👀", on=True)
        srv.db_rows("INSERT INTO message_media (group_id, seq, media_id) VALUES (?, ?, ?)", gid, seq, f"m{seq}")
    # Sent, edited and reacted to 200 days ago (a message is kept a full period after its last edit
    # and its last reaction).
    srv.db_rows("UPDATE messages SET ts = ?, edited_at = ? WHERE group_id = ? AND seq = ?",
                int(time.time() * 1000) - 200 * DAY_MS, int(time.time() * 1000) - 200 * DAY_MS + 1, gid, old)
    srv.db_rows("UPDATE reaction_log SET ts = ? WHERE group_id = ? AND seq = ?",
                int(time.time() * 1000) - 200 * DAY_MS + 2, gid, old)
    rc, out, err = await srv.admin("purge")
    assert rc == 0 and "messages: 1" in out, (out, err)
    for table in ("message_versions", "reactions", "message_media"):
        assert srv.db_rows(f"SELECT seq FROM {table} WHERE group_id = ?", gid) == [(young,)], table
    await close_all(owner, admin, m1)


# -- attachments (uploads are the media module's) ---------------------------------------------------
def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


async def upload(client, data: bytes, mime: str = "image/png", name: str = "dot.png") -> dict:
    begin = await client.request("upload_begin", mime=mime, size=len(data), name=name)
    chunk = begin["chunk_bytes"]
    for off in range(0, len(data), chunk):
        part = data[off:off + chunk]
        await client.request("upload_chunk", upload_id=begin["upload_id"], offset=off,
                             data=part if client.encoding is Encoding.MSGPACK else base64.b64encode(part).decode())
    return await client.request("upload_end", upload_id=begin["upload_id"], sha256=hashlib.sha256(data).hexdigest())


async def test_attachments_travel_with_the_message(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1, m2] = await crowd(srv)
    png = tiny_png()
    media = await upload(m1, png)
    mid = media["media_id"]
    sent = await m1.send(gid, "", attachments=[mid, mid])  # empty text is fine with attachments
    ev = await owner.next_event("message")
    [att] = ev["attachments"]
    assert att["media_id"] == mid and att["kind"] == "image" and att["mime"] == "image/png"
    assert att["size"] == len(png) and att["name"] == "dot.png" and att["url"].startswith(f"/media/{mid}?")
    shown = await last_message(m2, gid)
    assert shown["seq"] == sent["seq"] and shown["text"] == "" and shown["attachments"][0]["media_id"] == mid
    assert shown["attachments"][0]["url"].startswith(f"/media/{mid}?")
    got = http_get(srv, shown["attachments"][0]["url"])
    assert got.status_code == 200 and got.content == png and got.headers["content-type"] == "image/png"
    assert srv.db_rows("SELECT media_id FROM message_media WHERE group_id = ? AND seq = ?", gid, sent["seq"]) == [
        (mid,)]
    # someone else's upload, or no such upload, is refused; without attachments text is still required
    assert code(await m2.call("send", group_id=gid, text="mine?", attachments=[mid])) == "bad_request"
    assert code(await m1.call("send", group_id=gid, text="x", attachments=["nope"])) in ("bad_request", "not_found")
    assert code(await m1.call("send", group_id=gid, text="")) == "bad_request"
    # an edit of a message with attachments may clear its text
    assert code(await m1.call("edit_message", group_id=gid, seq=sent["seq"], text="")) == "ok"
    await close_all(owner, admin, m1, m2)


async def test_ten_attachments_are_bad_request(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    ids = [(await upload(m1, tiny_png(2 + i, 2)))["media_id"] for i in range(10)]
    refused = await m1.call("send", group_id=gid, text="the album", attachments=ids)
    assert code(refused) == "bad_request" and "9" in refused["reason"]
    assert (await m1.request("history", group_id=gid))["messages"] == []  # nothing stored
    sent = await m1.send(gid, "the album", attachments=ids[:9])
    assert len((await last_message(owner, gid))["attachments"]) == 9 and sent["seq"] == 1
    await close_all(owner, admin, m1)


# -- fixes from review ------------------------------------------------------------------------------
async def test_reply_to_names_a_message_the_sender_may_see(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1, m2] = await crowd(srv)
    first = (await m1.send(gid, "first"))["seq"]
    gone = (await m1.send(gid, "oops"))["seq"]
    await m1.request("delete_message", group_id=gid, seq=gone)
    held = await m1.send(gid, "刷单返利 ask me")
    assert held["held"] is True
    late = await srv.user()
    await late.request("join_group", group_id=gid)
    after = (await owner.send(gid, "welcome"))["seq"]

    assert code(await m2.call("send", group_id=gid, text="re", reply_to=gone)) == "not_found"  # deleted
    assert code(await m2.call("send", group_id=gid, text="re", reply_to=held["seq"])) == "not_found"  # held
    assert code(await m1.call("send", group_id=gid, text="re", reply_to=held["seq"])) == "not_found"  # own, held
    assert code(await late.call("send", group_id=gid, text="re", reply_to=first)) == "not_found"  # before joining
    assert code(await late.call("send", group_id=gid, text="thanks", reply_to=after)) == "ok"
    # the reply is checked after the posting checks, as before: a muted member hears "muted"
    await owner.request("mute", group_id=gid, user_id=m2.user_id, seconds=60)
    assert code(await m2.call("send", group_id=gid, text="re", reply_to=gone)) == "muted"
    await owner.request("mute", group_id=gid, user_id=m2.user_id, seconds=0)

    # a retry is answered with its first seq, even once the message it answered is gone
    reply = await m2.request("send", group_id=gid, text="me too", reply_to=first, client_msg_id="r-1")
    await m1.request("delete_message", group_id=gid, seq=first)
    again = await m2.request("send", group_id=gid, text="me too", reply_to=first, client_msg_id="r-1")
    assert again["seq"] == reply["seq"]
    assert code(await m2.call("send", group_id=gid, text="me too", reply_to=first, client_msg_id="r-2")) == "not_found"
    await close_all(owner, admin, m1, m2, late)


async def test_a_reply_is_checked_again_after_its_read(make_server, tmp_path):
    """The reply's store read is an await: a member removed meanwhile is refused afterwards."""
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    first = (await owner.send(gid, "question"))["seq"]

    async def kicked() -> bool:
        members = (await admin.request("members", group_id=gid))["members"]
        return m1.user_id not in {m["user_id"] for m in members}

    async with reads_held(srv, "messages"):
        replying = asyncio.ensure_future(m1.call("send", group_id=gid, text="answer", reply_to=first))
        await asyncio.sleep(0.3)
        assert not replying.done()  # waiting for its read
        kicking = asyncio.ensure_future(owner.call("kick", group_id=gid, user_id=m1.user_id))
        await until(kicked)
    assert code(await replying) == "not_member"
    assert code(await kicking) == "ok"
    assert [m["seq"] for m in (await owner.request("history", group_id=gid))["messages"]] == [first]
    await close_all(owner, admin, m1)


async def test_reactions_follow_the_posting_rules(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    seq = (await owner.send(gid, "vote"))["seq"]
    await m1.request("react", group_id=gid, seq=seq, emoji="👍", on=True)

    await owner.request("mute", group_id=gid, user_id=m1.user_id, seconds=60)
    refused = await m1.call("react", group_id=gid, seq=seq, emoji="👎", on=True)
    assert code(refused) == "muted" and refused["until"] > time.time() * 1000
    assert code(await m1.call("react", group_id=gid, seq=seq, emoji="👍", on=False)) == "muted"
    await owner.request("mute", group_id=gid, user_id=m1.user_id, seconds=0)

    await owner.request("mute_all", group_id=gid, on=True)
    assert code(await m1.call("react", group_id=gid, seq=seq, emoji="👎", on=True)) == "muted"
    assert code(await admin.call("react", group_id=gid, seq=seq, emoji="👎", on=True)) == "ok"
    await owner.request("mute_all", group_id=gid, on=False)

    rc, _, err = await srv.admin("suspend-group", gid, "--seconds", "60", "--reason", "整改")
    assert rc == 0, err
    for c in (m1, owner):
        refused = await c.call("react", group_id=gid, seq=seq, emoji="🎉", on=True)
        assert code(refused) == "group_suspended" and refused["until"] > time.time() * 1000
    assert (await last_message(owner, gid))["reactions"] == {"👍": 1, "👎": 1}
    await close_all(owner, admin, m1)


async def test_mention_all_limit_follows_sighup(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)

    async def reload(limit: int) -> None:
        text = srv.config.read_text(encoding="utf-8")
        text = "\n".join(f"mention_all_per_group_per_hour = {limit}"
                         if line.startswith("mention_all_per_group_per_hour") else line
                         for line in text.splitlines())
        srv.config.write_text(text + "\n", encoding="utf-8")
        done = sum("config reloaded" in line for line in srv.output)
        srv.proc.send_signal(signal.SIGHUP)
        for _ in range(100):
            if sum("config reloaded" in line for line in srv.output) > done:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("no reload:\n" + "".join(srv.output))

    def at_all(c):
        return c.call("send", group_id=gid, text="@all", mention_all=True)

    assert [code(await at_all(owner)) for _ in range(3)] == ["ok", "ok", "rate_limited"]  # the config's 2
    await reload(3)  # raised: the two sent still count
    assert [code(await at_all(admin)) for _ in range(2)] == ["ok", "rate_limited"]
    await reload(1)  # lowered below what was sent
    assert code(await at_all(owner)) == "rate_limited"
    await reload(0)  # no limit
    assert [code(await at_all(owner)) for _ in range(3)] == ["ok", "ok", "ok"]
    await close_all(owner, admin, m1)


# -- audit against the contract (v2 richer messages) -------------------------------------------------
async def test_edits_reactions_and_releases_reach_only_members_who_may_see_the_message(make_server, tmp_path):
    """A member sees messages sent since they joined: someone who joined later is not sent the
    new text of an older message (``message_edited``), reactions to it, or a held one released
    after they joined (``history`` shows them none of these either); members from before are."""
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    old = (await m1.send(gid, "the plan"))["seq"]
    held = await m1.send(gid, "刷单返利 the plan")
    assert held["held"] is True
    late = await srv.user()
    await late.request("join_group", group_id=gid)
    assert (await late.request("history", group_id=gid))["messages"] == []
    for c in (owner, admin, m1, late):
        c.drain_events()

    await m1.request("edit_message", group_id=gid, seq=old, text="the secret plan")
    await owner.request("react", group_id=gid, seq=old, emoji="👍", on=True)
    rc, out, _ = await srv.admin("review-queue", "--open")
    [item] = [json.loads(line) for line in out.splitlines()]
    rc, _, err = await srv.admin("decide", str(item["item_id"]), "--decision", "release", "--note", "ok")
    assert rc == 0, err
    assert (await admin.next_event("message_edited"))["text"] == "the secret plan"
    assert (await admin.next_event("reaction"))["seq"] == old
    assert (await admin.next_event("message_released"))["seq"] == held["seq"]
    assert (await m1.next_event("message_edited"))["seq"] == old  # the sender is told too

    # a message after the join reaches the late member with its edits and reactions
    new = (await owner.send(gid, "welcome"))["seq"]
    await owner.request("edit_message", group_id=gid, seq=new, text="welcome, all")
    await m1.request("react", group_id=gid, seq=new, emoji="🎉", on=True)
    assert (await late.next_event("message"))["seq"] == new
    assert (await late.next_event("message_edited"))["seq"] == new
    assert (await late.next_event("reaction"))["seq"] == new
    seen = [(e["ev"], e.get("seq")) for e in late.drain_events()]
    assert not [e for e in seen if e[1] is not None and e[1] <= held["seq"]], seen
    assert [m["seq"] for m in (await late.request("history", group_id=gid))["messages"]] == [new]
    await close_all(owner, admin, m1, late)


async def test_edits_reactions_and_pins_take_no_seq_and_leave_unread_alone(make_server, tmp_path):
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    first = (await m1.send(gid, "one"))["seq"]
    before = entry_of(await owner.request("my_groups"), gid)
    await m1.request("edit_message", group_id=gid, seq=first, text="one, edited")
    await owner.request("react", group_id=gid, seq=first, emoji="👍", on=True)
    await owner.request("react", group_id=gid, seq=first, emoji="👍", on=False)
    await owner.request("pin_message", group_id=gid, seq=first, on=True)
    after = entry_of(await owner.request("my_groups"), gid)
    assert after == before and after["last_seq"] == first and after["unread"] == 1
    assert (await m1.send(gid, "two"))["seq"] == first + 1
    # after a reconnect, history has the edit, no reactions left, and nothing in between
    again = await srv.client()
    await again.auth(owner.token)
    shown = (await again.request("history", group_id=gid, after_seq=0))["messages"]
    assert [(m["seq"], m["text"], "edited_at" in m, "reactions" in m) for m in shown] == [
        (first, "one, edited", True, False), (first + 1, "two", False, False)]
    await close_all(owner, admin, m1, again)


def entry_of(reply, gid):
    [found] = [g for g in reply["groups"] if g["group_id"] == gid]
    return found


async def test_closed_and_dissolved_groups_refuse_every_message_op(make_server, tmp_path):
    """Once closed, every op naming the group is group_closed (members and outsiders alike);
    a dissolved group is not_found."""
    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    media = await upload(m1, tiny_png())
    seq = (await m1.send(gid, "pic", attachments=[media["media_id"]]))["seq"]
    outsider = await srv.user()
    ops = [("send", {"text": "re", "reply_to": seq}), ("history", {}), ("edit_message", {"seq": seq, "text": "x"}),
           ("react", {"seq": seq, "emoji": "👍", "on": True}), ("pin_message", {"seq": seq, "on": True}),
           ("mark_read", {"seq": seq}), ("search", {"query": "pic"}),
           ("media_url", {"seq": seq, "media_id": media["media_id"]})]
    rc, _, err = await srv.admin("close-group", gid, "--reason", "违规")
    assert rc == 0, err
    for op, args in ops:
        for c in (m1, owner, outsider):
            assert code(await c.call(op, group_id=gid, **args)) == "group_closed", (op, c.user_id)

    other = await open_group(owner, name="short-lived")
    await m1.request("join_group", group_id=other)
    seq = (await m1.send(other, "pic", attachments=[media["media_id"]]))["seq"]
    await owner.request("dissolve_group", group_id=other)
    for op, args in ops:
        args = {**args, **({"seq": seq} if "seq" in args else {}), **({"reply_to": seq} if "reply_to" in args else {})}
        assert code(await m1.call(op, group_id=other, **args)) == "not_found", op
    await close_all(owner, admin, m1, outsider)


async def test_a_mention_of_someone_whose_join_is_still_being_stored_is_refused(make_server, tmp_path):
    """Until their join is stored, a joiner is no member (their own send says not_member): a mention of
    them is refused as any non-member's is, or a join then refused would leave a stored message
    mentioning someone who never was a member (found by a review of the message path)."""
    from tests.e2e.store_hold import until_write_waits, writes_held

    srv = rich_server(make_server, tmp_path)
    gid, owner, admin, [m1] = await crowd(srv, 1)
    x = await srv.user()
    x2 = await srv.client()
    await x2.login(x.username, "password123")
    async with writes_held(srv, "members"):  # x's join stays unstored
        joining = asyncio.ensure_future(x.call("join_group", group_id=gid))
        await until_write_waits(srv, "members")
        own = await x2.call("send", group_id=gid, text="me")
        # (a send that passed would wait for the held writes: answered once they go on)
        mention = asyncio.ensure_future(m1.call("send", group_id=gid, text="hi", mentions=[x.user_id]))
        await asyncio.wait({mention}, timeout=1.0)
    assert code(await joining) == "ok"
    assert code(own) == "not_member"
    sent = await mention
    assert code(sent) == "bad_request" and x.user_id in sent["reason"], sent
    # stored now: the mention goes through
    assert code(await m1.call("send", group_id=gid, text="hi", mentions=[x.user_id])) == "ok"
    await close_all(owner, admin, m1, x, x2)
