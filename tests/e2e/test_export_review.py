"""What the operator hands to the authorities (G13, G7, G10, P16): exports, the filing report and the
record, read as the authority receiving them would (from a review; each test failed before its fix, but
the two that held: identity only in a user's own export, and the range's bounds). Both backends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.e2e.admin_helpers import admin_ok
from tests.e2e.harness import close_all, open_group
from tests.e2e.test_media import FAST_MEDIA, get, jpeg, pdf, sha, upload


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


async def _export(srv, out: Path, *target: str) -> dict[str, Any]:
    rc, _, err = await srv.admin("export", *target, "--out", str(out))
    assert rc == 0, err
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


async def _url(c, gid: str, seq: int, media_id: str) -> str:
    return (await c.request("media_url", group_id=gid, seq=seq, media_id=media_id))["url"]


# -- 1. a removal's file take-down is on no record an authority receives -----------------------------
async def test_a_removals_taken_down_file_is_on_the_record_and_in_the_groups_export(make_server, tmp_path):
    """remove-message takes the message's file down (G10): an enforcement measure. The record entry
    ``remove_message`` names only the seq, the take-down lives in ``taken_down_files`` alone (deleted
    again by release-file), and neither the group's export (audit.jsonl, media.jsonl) nor any other
    says which file was taken down, when, or that it was let go again."""
    srv = make_server(FAST_MEDIA)
    owner = await srv.user()
    gid = await open_group(owner)
    data = pdf(4000, b"leak")
    up = await upload(owner, data, "application/pdf", name="leak.pdf")
    sent = await owner.request("send", group_id=gid, text="看这个", attachments=[up["media_id"]])
    out = await admin_ok(srv, "remove-message", gid, str(sent["seq"]), "--reason", "泄露他人隐私")
    assert f"took down its file {sha(data)}" in out
    await admin_ok(srv, "release-file", sha(data), "--reason", "误判，已核实")

    exp = tmp_path / "case"
    await _export(srv, exp, "--group", gid)
    audit_text = (exp / "audit.jsonl").read_text(encoding="utf-8")
    media = _lines(exp / "media.jsonl")
    assert [m["sha256"] for m in media] == [sha(data)]  # the file itself is handed over...
    # ...but nothing in the group's export says it was taken down by the removal, nor released:
    assert sha(data) in audit_text, (
        "the group's export never says the removal took down file " + sha(data) +
        f"; audit.jsonl actions: {[e['action'] for e in _lines(exp / 'audit.jsonl')]}, media.jsonl: {media}")
    await close_all(owner)


async def test_the_record_says_which_files_a_removal_took_down(make_server):
    """The enforcement record (kept for good, verify-audit's chain) must say what a measure did: the
    removal's entry names no digest, and once the file is released the only row that said it was taken
    down (taken_down_files) is deleted: the record then holds a ``release_file`` of a file it never shows
    taken down."""
    srv = make_server(FAST_MEDIA)
    owner = await srv.user()
    gid = await open_group(owner)
    data = pdf(4000, b"evidence")
    up = await upload(owner, data, "application/pdf", name="e.pdf")
    sent = await owner.request("send", group_id=gid, text="x", attachments=[up["media_id"]])
    await admin_ok(srv, "remove-message", gid, str(sent["seq"]), "--reason", "违规")
    await admin_ok(srv, "release-file", sha(data), "--reason", "误判")
    entries = [(a, d) for a, d in srv.db_rows("SELECT action, detail FROM audit ORDER BY id")]
    naming = [a for a, d in entries if d and sha(data) in d]
    assert naming != ["release_file"], (
        f"the record shows file {sha(data)} released but never taken down: entries naming it {naming}; "
        f"remove_message's detail: {[d for a, d in entries if a == 'remove_message']}")
    await close_all(owner)


# -- 2. the filing report leaves out measures --------------------------------------------------------
async def test_the_filing_report_counts_file_take_downs_and_message_and_comment_removals(make_server, tmp_path):
    """The filing report's "sanctions in the period" counts only rows of ``sanctions``: a remove-post
    is there, but remove-message, remove-comment, take-down-file and release-file (the handling of
    illegal content and files, G10/G11) appear nowhere in the report filed as the management system."""
    srv = make_server(FAST_MEDIA)
    owner = await srv.user(verify_id=True)
    reader = await srv.user()
    gid = await open_group(owner)
    data = pdf(3000, b"file")
    up = await upload(owner, data, "application/pdf")
    sent = await owner.request("send", group_id=gid, text="违规", attachments=[up["media_id"]])
    aid = (await owner.request("create_account", name="图文号", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    post = await owner.request("publish", account_id=aid, title="t", body="b")
    post2 = await owner.request("publish", account_id=aid, title="t2", body="b2")
    await reader.request("subscribe", account_id=aid)
    comment = await reader.request("comment", post_id=post["post_id"], text="评论内容")
    await admin_ok(srv, "remove-message", gid, str(sent["seq"]), "--reason", "违规")
    await admin_ok(srv, "remove-comment", str(comment["comment_id"]), "--reason", "违规")
    await admin_ok(srv, "remove-post", str(post2["post_id"]), "--reason", "违规")
    other = pdf(3000, b"other")
    await admin_ok(srv, "take-down-file", sha(other), "--reason", "审核发现")
    await admin_ok(srv, "release-file", sha(other), "--reason", "误判")

    out = tmp_path / "filing"
    await admin_ok(srv, "filing-report", "--out", str(out))
    report = json.loads((out / "filing-report.json").read_text(encoding="utf-8"))
    kinds = {k["kind"] for k in report["sanctions"]["by_kind"]}
    assert "remove_post" in kinds  # (counted: it is a sanctions row)
    text = json.dumps(report)
    missing = [k for k in ("remove_message", "remove_comment", "take_down_file", "release_file") if k not in text]
    assert not missing, f"the filing report counts none of {missing}; its sanctions by kind: {report['sanctions']}"
    await close_all(owner, reader)


# -- 3. an account's export leaves out a post removed in the range -----------------------------------
async def test_an_accounts_export_holds_a_post_removed_in_the_range(make_server, tmp_path):
    """A group's export holds every message edited, deleted or released in the range, sent before it or
    not (retention.md). An account's export asked for the day a post was removed holds the removal
    (measures.jsonl: remove_post, post_id) but not the post it removed when the post was published the
    day before: the authority gets a measure without the content it took down."""
    srv = make_server(FAST_MEDIA)
    owner = await srv.user(verify_id=True)
    aid = (await owner.request("create_account", name="新闻号", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    post = await owner.request("publish", account_id=aid, title="谣言", body="谣言正文")
    await asyncio.sleep(1.2)
    [(now,)] = srv.db_rows("SELECT MAX(ts) FROM posts")
    since = now + 500  # after the post, before its removal (ms; the CLI takes ISO: built below)
    import datetime as dt
    since_iso = dt.datetime.fromtimestamp(since / 1000, dt.timezone(dt.timedelta(hours=8))).isoformat(
        timespec="milliseconds")
    await asyncio.sleep(0.2)
    await admin_ok(srv, "remove-post", str(post["post_id"]), "--reason", "谣言")
    out = tmp_path / "acct"
    rc, _, err = await srv.admin("export", "--account", aid, "--since", since_iso, "--out", str(out))
    assert rc == 0, err
    measures = _lines(out / "measures.jsonl")
    assert [m["kind"] for m in measures] == ["remove_post"]
    posts = _lines(out / "posts.jsonl")
    assert [str(p["post_id"]) for p in posts] == [str(post["post_id"])], (
        f"the export holds the removal of post {post['post_id']} but not the post: posts.jsonl {posts}")
    await close_all(owner)


# -- 4. a photo taken down by the digest it circulates under keeps being served ----------------------
async def test_a_photo_taken_down_by_its_circulating_digest_says_so_and_by_its_stored_one_is_gone(make_server):
    """A photo circulates with its metadata and is stored here without it, under another SHA-256. Taken
    down by the digest it circulates under, its uploads are refused (upload_end checks both digests),
    but no stored copy has that digest: take-down-file says so (a copy stored already stays served
    until the stored digest is taken down, as the docs say). Taken down by the stored digest (what a
    removal prints, what media.jsonl holds), it is served nowhere and attached nowhere."""
    srv = make_server(FAST_MEDIA)
    owner, member = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    photo = jpeg(40, 30)  # with an EXIF block, as a camera writes it
    up = await upload(owner, photo, "image/jpeg", name="p.jpg")
    assert up["sha256"] != sha(photo)  # stored stripped
    sent = await owner.request("send", group_id=gid, text="照片", attachments=[up["media_id"]])
    url = await _url(owner, gid, sent["seq"], up["media_id"])
    assert get(srv, url).status_code == 200
    out = await admin_ok(srv, "take-down-file", sha(photo), "--reason", "他人隐私照片")
    # the digest of the bytes as sent is kept with the upload: its stored copy goes with it
    assert "no stored file has this digest" not in out, out
    again = await upload(member, photo, "image/jpeg")
    assert again.get("code") == "content_blocked", again  # its uploads are refused
    resent = await owner.call("send", group_id=gid, text="再发", attachments=[up["media_id"]])
    assert (get(srv, url).status_code, resent.get("code")) == (404, "content_blocked"), resent
    await admin_ok(srv, "release-file", sha(photo), "--reason", "误判")
    await admin_ok(srv, "take-down-file", up["sha256"], "--reason", "他人隐私照片（存储的文件）")
    resent = await owner.call("send", group_id=gid, text="再发", attachments=[up["media_id"]])
    assert (get(srv, url).status_code, resent.get("code")) == (404, "content_blocked"), resent
    out = await admin_ok(srv, "take-down-file", "ab" * 32, "--reason", "无此文件")
    assert "no stored file has this digest" in out, out
    await close_all(owner, member)


# -- 5. verify-audit with a manifest does not tie the manifest to the record -------------------------
async def test_verify_audit_refuses_a_manifest_the_record_never_wrote(server, tmp_path):
    """The record's ``export`` entry holds the manifest's SHA-256 "so a copy handed over can be matched
    to the record". verify-audit, given the manifest, checks only the record head it carries: a
    messages.jsonl with a line removed and the manifest's digest of it changed to match is reported
    "enforcement record whole", the manifest's own digest never compared with the entry."""
    owner = await server.user()
    gid = await open_group(owner)
    await owner.request("send", group_id=gid, text="第一条")
    await owner.request("send", group_id=gid, text="第二条")
    out = tmp_path / "case"
    manifest = await _export(server, out, "--group", gid)
    msgs = (out / "messages.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    doctored = "".join(msgs[:1]).encode()
    (out / "messages.jsonl").write_bytes(doctored)
    import hashlib
    for e in manifest["files"]:
        if e["name"] == "messages.jsonl":
            e.update(sha256=hashlib.sha256(doctored).hexdigest(), lines=1, bytes=len(doctored))
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n",
                                       encoding="utf-8")
    rc, stdout, err = await server.admin("verify-audit", "--manifest", str(out / "manifest.json"))
    assert rc != 0, f"a doctored export's manifest passes verify-audit: rc {rc}, {stdout.strip()} {err.strip()}"
    await close_all(owner)


# -- held: identity only in the user's own export ---------------------------------------------------
async def test_identity_is_only_in_the_users_own_export(make_server, tmp_path):
    """(A check that held.) Phone, legal name and ID number of members appear in no group, account or
    address export, and in the user's own export only in identity.json."""
    srv = make_server(FAST_MEDIA)
    owner = await srv.user(verify_id=True)
    member = await srv.user(verify_id=True)
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    await member.request("send", group_id=gid, text="hi")
    await owner.request("report", target_type="user", user_id=member.user_id, group_id=gid, reason="spam")
    aid = (await owner.request("create_account", name="个人号", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    post = await owner.request("publish", account_id=aid, title="t", body="b")
    await member.request("comment", post_id=post["post_id"], text="评论")
    await admin_ok(srv, "warn-group", gid, "--reason", "整改")
    rows = srv.db_rows("SELECT user_id FROM users")
    assert len(rows) == 2
    secrets = [owner.phone, member.phone, "张三"]
    outs = {}
    for name, target in (("g", ("--group", gid)), ("a", ("--account", aid)), ("ip", ("--address", "127.0.0.1")),
                         ("u", ("--user", member.username))):
        outs[name] = tmp_path / name
        await _export(srv, outs[name], *target)
    for name in ("g", "a", "ip"):
        for f in outs[name].rglob("*"):
            if f.is_file():
                text = f.read_text(encoding="utf-8", errors="replace")
                assert not [s for s in secrets if s in text], (name, f.name)
    ident = json.loads((outs["u"] / "identity.json").read_text(encoding="utf-8"))
    assert ident["phone"] == member.phone and ident["legal_name"] == "张三" and ident["id_number"]
    for f in outs["u"].rglob("*"):
        if f.is_file() and f.name != "identity.json":
            text = f.read_text(encoding="utf-8", errors="replace")
            assert not [s for s in (*secrets, ident["id_number"]) if s in text], f.name
    await close_all(owner, member)


# -- 6. a dissolved group's members are exported as members now -------------------------------------
async def test_a_dissolved_groups_export_names_nobody_a_member_now(make_server, tmp_path):
    """members.jsonl says "whether, and as what, they are a member now". A group dissolved by its owner
    has no members now (it cannot be joined, read or posted in), yet its export calls everyone it had
    when it ended ``member_now: true`` with their old role."""
    srv = make_server(FAST_MEDIA)
    owner, member = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    await member.request("send", group_id=gid, text="hi")
    await owner.request("dissolve_group", group_id=gid)
    out = tmp_path / "case"
    await _export(srv, out, "--group", gid)
    group = json.loads((out / "group.json").read_text(encoding="utf-8"))
    assert group["dissolved_at"] is not None
    members = _lines(out / "members.jsonl")
    assert len(members) == 2
    now = [(m["username"], m["role_now"]) for m in members if m["member_now"]]
    assert now == [], f"the dissolved group's export says these are members now: {now}"
    await close_all(owner, member)


# -- held: range boundaries and platform time ---------------------------------------------------------
async def test_the_range_is_since_inclusive_until_exclusive_in_platform_time(make_server, tmp_path):
    """(A check that held.) ``--since 2026-05-01 --until 2026-05-02`` are UTC+8 midnights; a message at
    exactly since is in, one at exactly until is out; the manifest's ISO twins say +08:00."""
    import datetime as dt
    srv = make_server(FAST_MEDIA)
    owner = await srv.user()
    gid = await open_group(owner)
    for i in range(4):
        await owner.request("send", group_id=gid, text=f"m{i}")
    tz8 = dt.timezone(dt.timedelta(hours=8))
    since = int(dt.datetime(2026, 5, 1, tzinfo=tz8).timestamp() * 1000)
    until = int(dt.datetime(2026, 5, 2, tzinfo=tz8).timestamp() * 1000)
    for seq, ts in zip((1, 2, 3, 4), (since - 1, since, until - 1, until), strict=True):
        srv.db_rows("UPDATE messages SET ts = ? WHERE group_id = ? AND seq = ?", ts, gid, seq)
    out = tmp_path / "case"
    manifest = await _export(srv, out, "--group", gid, "--since", "2026-05-01", "--until", "2026-05-02")
    assert [m["seq"] for m in _lines(out / "messages.jsonl")] == [2, 3]
    assert manifest["query"]["since"] == since and manifest["query"]["since_iso"].endswith("+08:00")
    assert _lines(out / "messages.jsonl")[0]["ts_iso"] == "2026-05-01T00:00:00.000+08:00"
    await close_all(owner)
