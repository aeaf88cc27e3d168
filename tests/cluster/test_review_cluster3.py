"""Review rv-cluster3: today's changes (set_post_comments and post_comments, account_suspended's
sanction_id, media URLs with their signed carrier ``c=``, the received SHA-256 checked against block
lists, operator raises applied after their write, review items with ``text_now``) seen through a
cluster's gateways: clients connected to gateways, operator commands typed on a gateway's socket, media
served by a gateway, and a home killed with SIGKILL.

One cluster serves the module's tests that kill nothing (its nodes share ``[media] path`` and the list
files); the failover test has its own.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.harness import Cluster, Node
from tests.e2e.harness import close_all, open_group
from tests.e2e.test_media import jpeg, sha, upload


def code(reply: dict[str, Any]) -> str:
    return "ok" if reply.get("ok") else reply.get("code", "?")


def _extra(root: Path) -> str:
    media = root / "media"
    lists = root / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "blocked.txt").write_text("", encoding="utf-8")
    (lists / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    (lists / "porn.txt").write_text("vpn下载\n", encoding="utf-8")
    return (f'\n[media]\npath = "{media}"\nuploads_per_hour = 0\n'
            f'\n[[content.media_lists]]\ncategory = "known_bad"\npath = "{lists / "blocked.txt"}"\naction = "block"\n'
            f'\n[[content.lists]]\ncategory = "rumour_fraud"\npath = "{lists / "fraud.txt"}"\naction = "review"\n'
            f'\n[[content.lists]]\ncategory = "pornography"\npath = "{lists / "porn.txt"}"\naction = "flag"\n')


@pytest.fixture(scope="module")
def rc3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("rc3")
    c = Cluster(root, extra_config=_extra(root))
    try:
        c.start()
        yield c
    finally:
        c.cleanup()


def get(node: Node, path: str) -> int:
    return httpx.get(f"http://127.0.0.1:{node.port}{path}", timeout=10).status_code


async def admin_ok(node: Node, *args: str) -> str:
    rc, out, err = await node.admin(*args)
    assert rc == 0, (out, err)
    return out


async def reload_all(c: Cluster) -> None:
    """SIGHUP every live node and wait for each to say it reloaded."""
    nodes = [n for n in c.nodes if n.alive]
    seen = {n.node_id: n.log().count("config reloaded") for n in nodes}
    for n in nodes:
        n.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    for _ in range(100):
        if all(n.log().count("config reloaded") > seen[n.node_id] for n in nodes):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("a node did not reload its config")


async def events_for(c_: Any, name: str, seconds: float = 1.5) -> list[dict[str, Any]]:
    """Every ``name`` event that reaches ``c_`` within ``seconds`` (others dropped)."""
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            out.append(await c_.next_event(name, timeout=left))
        except TimeoutError:
            break
    return out


def with_carrier(url: str, carrier: str) -> str:
    """``url`` with its ``c=`` replaced (the signature kept)."""
    head, _, rest = url.partition("&c=")
    _, _, tail = rest.partition("&")
    return f"{head}&c={carrier}&{tail}"


# -- set_post_comments and post_comments through gateways ------------------------------------------

async def test_post_comments_reach_every_node_once_and_in_order(rc3: Cluster) -> None:
    c = rc3
    home = c.home()
    gw1, gw2 = c.gateways()
    owner = await gw1.user(verify_id=True)
    owner2 = await gw2.client()  # the owner's second connection, on the other gateway
    await owner2.login(owner.username, "password123")  # type: ignore[attr-defined]
    editor = await home.user(verify_id=True)
    readers = [await gw2.user(), await gw1.user(), await home.user()]
    aid = (await owner.request("create_account", name="茶馆日报", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    for r in readers:
        await r.request("subscribe", account_id=aid)
    pid = (await owner.request("publish", account_id=aid, title="开张", body="欢迎"))["post_id"]
    for r in readers:
        assert (await r.next_event("post"))["post_id"] == pid
    for cl in (owner, owner2, editor, *readers):
        cl.drain_events()

    modes = ["closed", "review", "open", "closed"]
    for mode in modes:
        r = await (owner if mode != "review" else editor).request("set_post_comments", post_id=pid, comments=mode)
        assert r["comments"] == mode
    for cl in (owner, owner2, editor, *readers):
        got = [(e["post_id"], e["comments"]) for e in await events_for(cl, "post_comments")]
        assert got == [(pid, m) for m in modes], got

    refused = await readers[0].call("comment", post_id=pid, text="第二")
    assert (code(refused), refused.get("cause")) == ("forbidden", "post"), refused
    await owner.request("set_post_comments", post_id=pid, comments="review")
    assert (await readers[1].request("comment", post_id=pid, text="待审"))["held"] is True
    await close_all(owner, owner2, editor, *readers)


# -- media URLs with their carrier, served by a gateway -----------------------------------------------

async def test_a_gateway_serves_media_by_the_carrier_as_the_home_does(rc3: Cluster) -> None:
    c = rc3
    home = c.home()
    gw1, gw2 = c.gateways()
    owner = await gw1.user(verify_id=True)
    wrong = await open_group(owner, name="同事")
    right = await open_group(owner, name="家人")
    stranger = await gw2.user()
    await stranger.request("join_group", group_id=wrong)
    kin = await home.user()
    await kin.request("join_group", group_id=right)
    photo = jpeg(40, 30)
    up = await upload(owner, photo, "image/jpeg", name="p.jpg")
    assert up["ok"] and up["sha256"] != sha(photo), up
    mid = up["media_id"]
    sent = await owner.request("send", group_id=wrong, text="", attachments=[mid])
    wrong_url = (await stranger.next_event("message"))["attachments"][0]["url"]
    assert f"&c=g{wrong}&" in wrong_url, wrong_url
    await owner.request("send", group_id=right, text="", attachments=[mid])
    right_url = (await kin.next_event("message"))["attachments"][0]["url"]
    assert [get(n, wrong_url) for n in (gw2, home)] == [200, 200]
    await owner.request("delete_message", group_id=wrong, seq=sent["seq"])
    assert (await stranger.next_event("message_deleted"))["seq"] == sent["seq"]
    assert [get(n, wrong_url) for n in (gw1, gw2, home)] == [404, 404, 404]
    assert [get(n, right_url) for n in (gw1, gw2, home)] == [200, 200, 200]
    forged = with_carrier(wrong_url, f"g{right}")  # another carrier under the wrong URL's signature
    assert [get(n, forged) for n in (gw1, home)] == [403, 403]

    # a post's URL names the post; gone with it
    aid = (await owner.request("create_account", name="相册", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    pic = await upload(owner, jpeg(20, 20), "image/jpeg", name="q.jpg")
    pid = (await owner.request("publish", account_id=aid, title="图", body="看", attachments=[pic["media_id"]]))[
        "post_id"]
    [att] = (await kin.request("read_post", post_id=pid))["attachments"]
    assert f"&c=p{pid}&" in att["url"], att
    assert [get(n, att["url"]) for n in (gw1, gw2, home)] == [200, 200, 200]
    await owner.request("delete_post", post_id=pid)
    assert [get(n, att["url"]) for n in (gw1, gw2, home)] == [404, 404, 404]

    # the photo listed as it circulates (its received digest): no node serves it, nobody attaches it
    (c.root / "lists" / "blocked.txt").write_text(sha(photo) + "\n", encoding="utf-8")
    try:
        await reload_all(c)
        assert [get(n, right_url) for n in (gw1, gw2, home)] == [404, 404, 404]
        again = await owner.call("send", group_id=right, text="再看", attachments=[mid])
        assert code(again) == "content_blocked", again
    finally:
        (c.root / "lists" / "blocked.txt").write_text("", encoding="utf-8")
        await reload_all(c)
    await close_all(owner, stranger, kin)


# -- operator commands typed on a gateway -------------------------------------------------------------

async def test_suspend_account_on_a_gateway_tells_its_sanction_id_once(rc3: Cluster) -> None:
    c = rc3
    home = c.home()
    gw1, gw2 = c.gateways()
    owner = await gw2.user(verify_id=True)
    editor = await home.user(verify_id=True)
    aid = (await owner.request("create_account", name="早报", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    owner.drain_events()
    editor.drain_events()
    await admin_ok(gw1, "suspend-account", aid, "--seconds", "600", "--reason", "标题党")
    told = [e for e in await events_for(owner, "notice") if e["kind"] == "account_suspended"]
    assert len(told) == 1, told
    sid = told[0].get("sanction_id")
    [row] = c.db_rows("SELECT id FROM sanctions WHERE kind = 'suspend_account' AND target_id = ?", aid)
    assert sid == str(row[0]), told
    assert code(await owner.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    appealed = await owner.call("appeal", sanction_id=sid, text="已整改")
    assert code(appealed) == "ok", appealed
    await close_all(owner, editor)


async def test_credit_raise_and_licence_on_a_gateway(rc3: Cluster) -> None:
    c = rc3
    gw1, gw2 = c.gateways()
    user = await gw2.user(verify_id=True)
    start = (await user.request("me"))["credit_score"]
    user.drain_events()
    await admin_ok(gw1, "credit", user.username, "--delta", "-30", "--reason", "违规")  # type: ignore[attr-defined]
    await admin_ok(gw1, "credit", user.username, "--delta", "20", "--reason", "整改")  # type: ignore[attr-defined]
    notes = [(e["delta"], e["credit_score"]) for e in await events_for(user, "notice") if e["kind"] == "credit"]
    assert notes == [(-30, start - 30), (20, start - 10)], notes
    assert (await user.request("me"))["credit_score"] == start - 10

    news = (await user.request("create_account", name="晚间新闻", category="news", intro="关于我们",
                               subject_type="individual"))["account_id"]
    assert code(await user.call("publish", account_id=news, title="t", body="b")) == "forbidden"
    await admin_ok(gw1, "license-account", news, "--news", "--reason", "许可证")
    assert code(await user.call("publish", account_id=news, title="t", body="b")) == "ok"
    await user.close()


async def test_review_queue_on_a_gateway_shows_the_flagged_text_and_text_now(rc3: Cluster) -> None:
    c = rc3
    gw1, gw2 = c.gateways()
    owner = await gw1.user()
    gid = await open_group(owner)
    member = await gw2.user()
    await member.request("join_group", group_id=gid)
    sent = await member.request("send", group_id=gid, text="vpn下载 在这")
    await member.request("edit_message", group_id=gid, seq=sent["seq"], text="改掉了")
    out = await admin_ok(gw1, "review-queue", "--open", "--group", gid)
    [item] = [json.loads(line) for line in out.splitlines()]
    assert (item["seq"], item["text"], item.get("text_now")) == (sent["seq"], "vpn下载 在这", "改掉了"), item
    await close_all(owner, member)


# -- a home killed with SIGKILL ---------------------------------------------------------------------

async def test_todays_features_hold_across_a_home_killed(tmp_path: Path) -> None:
    c = Cluster(tmp_path / "c", extra_config=_extra(tmp_path / "c"))
    try:
        c.start()
        old = c.home()
        gw1, gw2 = c.gateways()
        owner = await gw1.user(verify_id=True)
        reader = await gw2.user()
        aid = (await owner.request("create_account", name="茶馆日报", category="culture", intro="简介",
                                   subject_type="individual"))["account_id"]
        await reader.request("subscribe", account_id=aid)
        pid = (await owner.request("publish", account_id=aid, title="开张", body="欢迎"))["post_id"]
        await owner.request("set_post_comments", post_id=pid, comments="closed")
        gid = await open_group(owner)
        await reader.request("join_group", group_id=gid)
        photo = jpeg(40, 30)
        mid = (await upload(owner, photo, "image/jpeg", name="p.jpg"))["media_id"]
        await owner.request("send", group_id=gid, text="看", attachments=[mid])
        url = [e for e in await events_for(reader, "message", 1.0) if e["group_id"] == gid][0]["attachments"][0]["url"]
        start = (await reader.request("me"))["credit_score"]
        await admin_ok(gw1, "credit", reader.username, "--delta", "-30", "--reason", "违规")  # type: ignore[attr-defined]
        await admin_ok(gw1, "credit", reader.username, "--delta", "20", "--reason", "整改")  # type: ignore[attr-defined]
        flagged = await reader.request("send", group_id=gid, text="vpn下载 在这")
        await reader.request("edit_message", group_id=gid, seq=flagged["seq"], text="改掉了")
        (c.root / "lists" / "blocked.txt").write_text(sha(photo) + "\n", encoding="utf-8")
        await reload_all(c)
        assert get(gw2, url) == 404

        old.kill9()
        new = c.wait_home(15, not_=old)
        c.wait_ready(15, nodes=[n for n in c.nodes if n.alive])
        [gw] = [n for n in c.nodes if n.alive and n is not new]
        assert get(gw, url) == 404 and get(new, url) == 404
        owner = await gw.client()
        await owner.login(owner_name := c.db_rows("SELECT username FROM users WHERE user_id IN "
                                                  "(SELECT owner_id FROM accounts WHERE account_id = ?)", aid)[0][0],
                          "password123")
        assert owner_name
        again = await owner.call("send", group_id=gid, text="再看", attachments=[mid])
        assert code(again) == "content_blocked", again
        rd = await new.client()
        await rd.login(reader.username, "password123")  # type: ignore[attr-defined]
        refused = await rd.call("comment", post_id=pid, text="重启后")
        assert (code(refused), refused.get("cause")) == ("forbidden", "post"), refused
        assert (await rd.request("me"))["credit_score"] == start - 10
        out = await admin_ok(gw, "review-queue", "--open", "--group", gid)
        [item] = [json.loads(line) for line in out.splitlines()]
        assert (item["text"], item.get("text_now")) == ("vpn下载 在这", "改掉了"), item
        await close_all(owner, rd)
    finally:
        c.cleanup()
