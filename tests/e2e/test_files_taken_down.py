"""Files the platform takes down (G10): a message or post the platform removes takes its files down
with it, by their SHA-256, unless ``--keep-files``: refused when uploaded or attached again and served
nowhere, whoever carries them, until ``release-file``. Before, the uploader attached the same upload
to a new message and it was served again (a review found it), and another copy kept serving.
End to end, on both backends."""

from __future__ import annotations

import json

from tests.e2e.admin_helpers import admin_ok, admin_refused
from tests.e2e.harness import close_all, open_group, restart
from tests.e2e.test_media import FAST_MEDIA, code, get, pdf, sha, upload


async def _url(c, gid: str, seq: int, media_id: str) -> str:
    return (await c.request("media_url", group_id=gid, seq=seq, media_id=media_id))["url"]


async def test_a_removed_messages_file_is_refused_and_served_nowhere_until_released(make_server):
    srv = make_server(FAST_MEDIA)
    owner, other = await srv.user(), await srv.user()
    gid, elsewhere = await open_group(owner), await open_group(other)
    data = pdf(4000)
    first = await upload(owner, data, "application/pdf", name="leak.pdf")
    sent = await owner.request("send", group_id=gid, text="看这个", attachments=[first["media_id"]])
    copy = await upload(other, data, "application/pdf", name="copy.pdf")  # the same bytes, another upload
    shared = await other.request("send", group_id=elsewhere, text="转发", attachments=[copy["media_id"]])
    copy_url = await _url(other, elsewhere, shared["seq"], copy["media_id"])
    assert get(srv, copy_url).status_code == 200

    out = await admin_ok(srv, "remove-message", gid, str(sent["seq"]), "--reason", "泄露他人隐私")
    assert f"took down its file {sha(data)}" in out, out
    assert get(srv, copy_url).status_code == 404  # (the other copy too)
    again = await owner.call("send", group_id=gid, text="再发", attachments=[first["media_id"]])
    assert code(again) == "content_blocked", again
    assert code(await other.call("send", group_id=elsewhere, text="再转", attachments=[copy["media_id"]])) \
        == "content_blocked"
    reup = await upload(owner, data, "application/pdf", name="renamed.pdf")
    assert code(reup) == "content_blocked" and "taken down" in reup["reason"], reup
    [entry] = [json.loads(d) for (d,) in srv.db_rows("SELECT detail FROM audit WHERE action = 'remove_message'")]
    assert entry["seq"] == sent["seq"]

    (owner, other) = await restart(srv, owner, other)  # (read again at a start)
    assert code(await upload(owner, data, "application/pdf")) == "content_blocked"
    assert "is taken down already" in await admin_refused(srv, "take-down-file", sha(data), "--reason", "x")
    assert "SHA256 must be" in await admin_refused(srv, "take-down-file", "abc", "--reason", "x")

    await admin_ok(srv, "release-file", sha(data), "--reason", "误判，已核实")
    assert get(srv, copy_url).status_code == 200
    assert code(await owner.call("send", group_id=gid, text="可以了", attachments=[first["media_id"]])) == "ok"
    assert "is not taken down" in await admin_refused(srv, "release-file", sha(data), "--reason", "x")
    assert [a for (a,) in srv.db_rows("SELECT action FROM audit WHERE action IN ('release_file', 'take_down_file')")] \
        == ["release_file"]
    await close_all(owner, other)


async def test_keep_files_and_take_down_file_and_a_removed_posts_files(make_server):
    srv = make_server(FAST_MEDIA)
    owner = await srv.user(verify_id=True)
    gid = await open_group(owner)
    kept = pdf(3000)
    up = await upload(owner, kept, "application/pdf")
    sent = await owner.request("send", group_id=gid, text="文字违规，附件无碍", attachments=[up["media_id"]])
    out = await admin_ok(srv, "remove-message", gid, str(sent["seq"]), "--reason", "文字违规", "--keep-files")
    assert "took down" not in out
    assert code(await owner.call("send", group_id=gid, text="附件", attachments=[up["media_id"]])) == "ok"

    # One file by its digest: another copy's URL stops working at once.
    out = await admin_ok(srv, "take-down-file", sha(kept), "--reason", "审核发现")
    [last] = [m for m in (await owner.request("history", group_id=gid))["messages"] if m.get("text") == "附件"]
    assert get(srv, await _url(owner, gid, last["seq"], up["media_id"])).status_code == 404

    # A post's files go with the post.
    aid = (await owner.request("create_account", name="图文号", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    pic = pdf(3500)
    att = await upload(owner, pic, "application/pdf")
    post = await owner.request("publish", account_id=aid, title="t", body="b", attachments=[att["media_id"]])
    out = await admin_ok(srv, "remove-post", str(post["post_id"]), "--reason", "违规")
    assert f"took down its file {sha(pic)}" in out, out
    assert code(await upload(owner, pic, "application/pdf")) == "content_blocked"
    await close_all(owner)
