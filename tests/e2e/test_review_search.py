"""rv-search: search, read markers, unread counts and mentions where they meet the rest of the
server (late joiners, leaving and rejoining, deletions, edits, holds, removals, restarts), end to end
on both backends."""

from __future__ import annotations

import asyncio
import json

from tests.e2e.harness import close_all, open_group


def code_of(reply):
    return "ok" if reply.get("ok") else reply.get("code")


def entry(reply, gid):
    [found] = [g for g in reply["groups"] if g["group_id"] == gid]
    return found


async def found(client, gid, query, **kw):
    return [m["seq"] for m in (await client.request("search", group_id=gid, query=query, **kw))["messages"]]


async def unread(client, gid):
    g = entry(await client.request("my_groups"), gid)
    return g["unread"], g["mentioned"]


async def until_indexed(server, gid, seq, timeout=10.0):
    if server.backend != "sqlite":
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        [(n,)] = server.db_rows("SELECT indexed_seq FROM search_groups WHERE group_id = ?", gid)
        if n >= seq:
            return
        assert loop.time() < deadline
        await asyncio.sleep(0.05)


async def test_leaving_and_rejoining_hides_the_first_membership_and_the_gap(server):
    owner, bob = await server.user(), await server.user()
    gid = await open_group(owner)
    await bob.request("join_group", group_id=gid)
    await owner.send(gid, "zebra first stay")  # 1: bob's first membership
    await bob.request("leave_group", group_id=gid)
    await owner.send(gid, "zebra while away", mention_all=True)  # 2: bob not a member
    assert code_of(await bob.call("search", group_id=gid, query="zebra")) == "not_member"
    assert code_of(await bob.call("mark_read", group_id=gid, seq=2)) == "not_member"
    await bob.request("join_group", group_id=gid)
    assert await found(bob, gid, "zebra") == []
    assert await found(bob, gid, "ze") == []
    assert await unread(bob, gid) == (0, False)
    await owner.send(gid, "zebra back")  # 3
    assert await found(bob, gid, "zebra") == [3]
    assert await unread(bob, gid) == (1, False)
    await close_all(owner, bob)


async def test_kicked_and_banned_members_no_longer_search_or_mark(server):
    owner, bob, carol = await server.user(), await server.user(), await server.user()
    gid = await open_group(owner)
    for c in (bob, carol):
        await c.request("join_group", group_id=gid)
    await owner.send(gid, "secret plans")
    await owner.request("kick", group_id=gid, user_id=bob.user_id)
    await owner.request("ban", group_id=gid, user_id=carol.user_id)
    for c in (bob, carol):
        assert code_of(await c.call("search", group_id=gid, query="secret")) == "not_member"
        assert code_of(await c.call("mark_read", group_id=gid, seq=1)) == "not_member"
        assert all(g["group_id"] != gid for g in (await c.request("my_groups"))["groups"])
    await close_all(owner, bob, carol)


async def test_deleted_and_removed_messages_are_neither_found_nor_unread(server):
    owner, bob = await server.user(), await server.user()
    gid = await open_group(owner)
    await bob.request("join_group", group_id=gid)
    s1 = (await owner.send(gid, "alpha recalled", mentions=[bob.user_id]))["seq"]
    s2 = (await owner.send(gid, "alpha removed by platform"))["seq"]
    s3 = (await owner.send(gid, "alpha kept"))["seq"]
    s4 = (await owner.send(gid, "alpha term 禁止词汇"))["seq"]
    await until_indexed(server, gid, s4)
    s5 = (await owner.send(gid, "alpha unindexed 禁止词汇"))["seq"]
    assert await unread(bob, gid) == (5, True)
    await owner.request("delete_message", group_id=gid, seq=s1)
    rc, out, err = await server.admin("remove-message", gid, str(s2), "--reason", "spam")
    assert rc == 0, err
    rc, out, err = await server.admin("remove-term", "禁止词汇", "--reason", "rumour")
    assert rc == 0, err
    for q in ("alpha", "al", "ALPHA", "禁止", "禁止词汇"):
        assert await found(bob, gid, q) == ([s3] if q.lower().startswith("al") else []), q
    assert await unread(bob, gid) == (1, False)
    assert s5 == s4 + 1
    await close_all(owner, bob)


async def test_delete_user_messages_takes_them_out_of_search_and_unread(server):
    owner, bob, carol = await server.user(), await server.user(), await server.user()
    gid = await open_group(owner)
    for c in (bob, carol):
        await c.request("join_group", group_id=gid)
    await bob.send(gid, "buy cheap stuff")
    await bob.send(gid, "buy more stuff")
    await until_indexed(server, gid, 2)
    await bob.send(gid, "buy now stuff")
    assert await unread(carol, gid) == (3, False)
    await owner.request("delete_user_messages", group_id=gid, user_id=bob.user_id)
    assert await found(carol, gid, "stuff") == []
    assert await found(carol, gid, "bu") == []
    assert await unread(carol, gid) == (0, False)
    await close_all(owner, bob, carol)


async def test_search_input_contract(server):
    owner = await server.user()
    gid = await open_group(owner)
    for i in range(5):
        await owner.send(gid, f"page item {i}")
    assert code_of(await owner.call("search", group_id=gid, query="x")) == "bad_request"
    assert code_of(await owner.call("search", group_id=gid, query="")) == "bad_request"
    assert code_of(await owner.call("search", group_id=gid, query="x" * 257)) == "bad_request"
    assert code_of(await owner.call("search", group_id=gid, query="x" * 256)) == "ok"
    assert code_of(await owner.call("search", group_id=gid, query=5)) == "bad_request"
    assert code_of(await owner.call("search", group_id=gid, query="page", limit="2")) == "bad_request"
    assert code_of(await owner.call("search", group_id=gid, query="page", before_seq="2")) == "bad_request"
    assert code_of(await owner.call("search", group_id=gid, query="pa\x00ge")) == "bad_request"
    assert code_of(await owner.call("search", group_id=gid)) == "bad_request"
    assert code_of(await owner.call("search", query="page")) == "bad_request"
    assert code_of(await owner.call("search", group_id="999999999", query="page")) == "not_found"
    assert await found(owner, gid, "page", limit=0) == [5]
    assert await found(owner, gid, "page", limit=-3) == [5]
    assert await found(owner, gid, "page", limit=2) == [5, 4]
    assert await found(owner, gid, "page", limit=2, before_seq=4) == [3, 2]
    assert await found(owner, gid, "page", before_seq=1) == []
    assert await found(owner, gid, "page", before_seq=0) == []
    assert await found(owner, gid, "page", before_seq=-5) == []
    assert await found(owner, gid, "page", before_seq=2**62) == [5, 4, 3, 2, 1]
    assert await found(owner, gid, "page", limit=2**62) == [5, 4, 3, 2, 1]
    await owner.close()


async def test_mark_read_input_contract(server):
    owner = await server.user()
    gid = await open_group(owner)
    await owner.send(gid, "one")
    assert code_of(await owner.call("mark_read", group_id=gid)) == "bad_request"
    assert code_of(await owner.call("mark_read", group_id=gid, seq="1")) == "bad_request"
    assert code_of(await owner.call("mark_read", group_id=gid, seq=1.5)) == "bad_request"
    assert code_of(await owner.call("mark_read", group_id=gid, seq=2**64 - 1)) == "bad_request"
    assert (await owner.request("mark_read", group_id=gid, seq=-1))["read_seq"] == 0
    assert (await owner.request("mark_read", group_id=gid, seq=2**63 - 1))["read_seq"] == 1
    await owner.close()


async def test_mentions_contract(server):
    owner, bob, carol, stranger = [await server.user() for _ in range(4)]
    gid = await open_group(owner)
    for c in (bob, carol):
        await c.request("join_group", group_id=gid)
    await carol.request("leave_group", group_id=gid)
    for bad in ([stranger.user_id], [carol.user_id], ["nobody"], [bob.user_id] * 101,
                [f"u{i}" for i in range(101)]):
        reply = await owner.call("send", group_id=gid, text="hey", mentions=bad)
        assert code_of(reply) == "bad_request", (bad[:2], reply)
    assert code_of(await owner.call("send", group_id=gid, text="hey", mentions=[5])) == "bad_request"
    assert code_of(await owner.call("send", group_id=gid, text="hey", mentions="x")) == "bad_request"
    assert code_of(await bob.call("send", group_id=gid, text="all", mention_all=True)) == "forbidden"
    assert (await unread(bob, gid)) == (0, False)
    # nothing refused took a seq
    assert (await owner.send(gid, "hi", mentions=[bob.user_id, bob.user_id]))["seq"] == 1
    [m] = (await bob.request("history", group_id=gid))["messages"]
    assert m["mentions"] == [bob.user_id]
    assert (await unread(bob, gid)) == (1, True)
    await close_all(owner, bob, carol, stranger)


TEXTS = [
    "100% sure_thing", "a\\b back\\slash", 'say "hi" now', "it's o'clock", "star * power", "NEAR AND OR NOT",
    "dots a.b.c", "brackets [x] (y) {z}", "caret ^ dollar $ pipe | plus + q?", "ΟΔΟΣ ΣΟΦΟΣ", "Straße STRASSE",
    "Kelvin \u212a and ſtrange", "emoji 😀😀 fun", "tab\there", "两个  空格", "e\u0301galite\u0301", "ǅemal",
    "ǈiljana", "ıstanbul İzmir", "ＦＵＬＬ ｗｉｄｔｈ", "x" * 30, "%%__%%",
]
QUERIES = [q for q in ["0%", "% s", "_t", "e_t", "\\b", "a\\b", '"hi"', '"', "'s", "o'c", "* p", "*", "NEAR", "and or",
                      "a.b",
           ".b.", "[x]", "(y)", "{z}", "^ d", "$ p", "| p", "+ q", "q?", "οδος", "σοφος", "ΟΔΟς", "ς", "ß", "STRAẞE",
           "ss", "kelvin", "kel", "\u212aelvin", "stra", "ſtr", "STRANGE", "😀😀", "😀", "\th", "  空", "  ", "e\u0301",
           "\u0301g", "ǆem", "Ǆ", "ǅe", "ǉil", "ist", "İz", "iz", "full", "ＦＵ", "ｆｕｌｌ", "xxx", "x" * 31, "%%",
           "__", "%_", "_%", "a b", "..."] if len(q) >= 2]


def expected(query, texts):
    from server.storage.search_fold import fold, unsearchable

    if unsearchable(query):
        return []
    return [i + 1 for i, t in reversed(list(enumerate(texts))) if fold(query) in fold(t)]


async def test_search_matches_the_documented_folding_read_directly_or_through_the_index(server):
    owner = await server.user()
    gid = await open_group(owner)
    for t in TEXTS:
        await owner.send(gid, t)
    wrong = {}
    for q in QUERIES:
        got = await found(owner, gid, q, limit=100)
        if got != expected(q, TEXTS):
            wrong[q] = (got, expected(q, TEXTS))
    await until_indexed(server, gid, len(TEXTS))
    for q in QUERIES:
        got = await found(owner, gid, q, limit=100)
        if got != expected(q, TEXTS):
            wrong["indexed " + q] = (got, expected(q, TEXTS))
    assert wrong == {}
    await owner.close()


async def test_the_hourly_limit_of_at_all_holds_across_a_kill9_restart(server):
    """docs/protocol.md (send, mention_all): "at most rate_limits.mention_all_per_group_per_hour
    (default 3) such messages per group in any hour, whoever sends them". The messages are stored;
    a kill -9 and a restart must not give the group a fresh hour of @all to every member."""
    owner, bob = await server.user(), await server.user()
    gid = await open_group(owner)
    await bob.request("join_group", group_id=gid)
    for i in range(3):
        await owner.send(gid, f"@all notice {i}", mention_all=True)
    refused = await owner.call("send", group_id=gid, text="@all once more", mention_all=True)
    assert code_of(refused) == "rate_limited" and refused["retry_after_ms"] > 0
    token = owner.token
    await close_all(owner, bob)
    server.kill9()
    server.start()
    owner = await server.client()
    await owner.auth(token)
    again = await owner.call("send", group_id=gid, text="@all after the restart", mention_all=True)
    assert code_of(again) == "rate_limited", again
    await owner.close()


async def test_join_points_read_markers_and_search_after_a_kill9(server):
    owner, bob, carol = await server.user(), await server.user(), await server.user()
    gid = await open_group(owner)
    await carol.request("join_group", group_id=gid)
    await owner.send(gid, "quokka before bob")  # 1
    await bob.request("join_group", group_id=gid)
    await owner.send(gid, "quokka with bob", mentions=[bob.user_id])  # 2
    await bob.request("leave_group", group_id=gid)
    await owner.send(gid, "quokka bob away", mention_all=True)  # 3
    await bob.request("join_group", group_id=gid)
    await owner.send(gid, "quokka bob back")  # 4
    await owner.send(gid, "quokka edited old")  # 5
    await owner.request("edit_message", group_id=gid, seq=5, text="wombat now")
    await owner.send(gid, "quokka recalled")  # 6
    await owner.request("delete_message", group_id=gid, seq=6)
    await carol.request("mark_read", group_id=gid, seq=4)
    assert await unread(carol, gid) == (1, False)
    assert await unread(bob, gid) == (2, False)
    tokens = [c.token for c in (owner, bob, carol)]
    await close_all(owner, bob, carol)
    server.kill9()
    server.start()
    owner, bob, carol = [await server.client() for _ in range(3)]
    for c, t in zip((owner, bob, carol), tokens, strict=True):
        await c.auth(t)
    assert await found(bob, gid, "quokka") == [4]
    assert await found(bob, gid, "qu") == [4]
    assert await found(owner, gid, "quokka") == [4, 3, 2, 1]
    assert await found(owner, gid, "wombat") == [5]
    g = entry(await bob.request("my_groups"), gid)
    assert (g["read_seq"], g["unread"], g["mentioned"]) == (3, 2, False)
    g = entry(await carol.request("my_groups"), gid)
    assert (g["read_seq"], g["unread"], g["mentioned"]) == (4, 1, False)
    assert (await bob.request("history", group_id=gid))["messages"][0]["seq"] == 4
    await close_all(owner, bob, carol)


LISTS = """
[[content.lists]]
category = "rumour_fraud"
path = "fraud.txt"
action = "review"
[[content.lists]]
category = "pornography"
path = "porn.txt"
action = "flag"
"""


async def decide_open(srv, decision):
    rc, out, _ = await srv.admin("review-queue", "--open")
    assert rc == 0
    for line in out.splitlines():
        item = json.loads(line)
        rc, _, err = await srv.admin("decide", str(item["item_id"]), "--decision", decision, "--note", "x")
        assert rc == 0, err


async def test_rejected_and_flagged_then_removed_messages_are_gone_from_search_and_unread(make_server, tmp_path):
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    (d / "porn.txt").write_text("色情网站\n", encoding="utf-8")
    srv = make_server(LISTS)
    owner, bob = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await bob.request("join_group", group_id=gid)
    held = await owner.send(gid, "刷单返利 koala one", mentions=[bob.user_id])
    assert held["held"] is True
    await owner.send(gid, "koala plain")  # 2
    assert await unread(bob, gid) == (1, False)
    await decide_open(srv, "reject")
    assert await found(bob, gid, "koala") == [2] and await found(owner, gid, "koala") == [2]
    assert await unread(bob, gid) == (1, False)
    flagged = await owner.send(gid, "色情网站 koala flagged", mentions=[bob.user_id])  # delivered, queued
    assert "held" not in flagged
    assert await found(bob, gid, "koala") == [3, 2]
    assert await unread(bob, gid) == (2, True)
    await decide_open(srv, "remove")
    assert await found(bob, gid, "koala") == [2] and await found(bob, gid, "ko") == [2]
    assert await unread(bob, gid) == (1, False)
    await close_all(owner, bob)


async def test_muted_members_still_read_and_are_mentioned_and_suspended_managers_lose_at_all(server):
    owner, admin, bob = await server.user(), await server.user(), await server.user()
    gid = await open_group(owner)
    for c in (admin, bob):
        await c.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    await owner.request("mute", group_id=gid, user_id=bob.user_id, seconds=600)
    await owner.send(gid, "hello muted bob", mentions=[bob.user_id])
    assert await found(bob, gid, "muted") == [1]
    assert await unread(bob, gid) == (1, True)
    assert (await bob.request("mark_read", group_id=gid, seq=1))["read_seq"] == 1
    assert (await admin.send(gid, "@all from admin", mention_all=True))["seq"] == 2
    assert await unread(bob, gid) == (1, True)
    rc, _, err = await server.admin("suspend-admin", admin.username, "--seconds", "600", "--reason", "abuse")
    assert rc == 0, err
    assert code_of(await admin.call("send", group_id=gid, text="@all again", mention_all=True)) == "forbidden"
    assert (await admin.send(gid, "plain still ok", mentions=[bob.user_id]))["seq"] == 3
    await close_all(owner, admin, bob)


async def until_indexed_any(srv, gid, seq, timeout=15.0):
    """Until either backend's search index holds the group's messages through ``seq``."""
    if srv.backend == "sqlite":
        return await until_indexed(srv, gid, seq, timeout)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = srv.db_rows("SELECT indexed_seq FROM search_progress WHERE group_id = ?", gid)
        if rows and rows[0][0] >= seq:
            return
        assert loop.time() < deadline, rows
        await asyncio.sleep(0.05)


async def test_changes_to_old_indexed_messages_reach_the_index(make_server, tmp_path):
    """Messages far below the newest (past each backend's window read directly), changed after
    the index holds them: found by what members see now, only."""
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    (d / "porn.txt").write_text("色情网站\n", encoding="utf-8")
    srv = make_server(LISTS)
    owner, bob = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await bob.request("join_group", group_id=gid)
    a = (await owner.send(gid, "platypus original words"))["seq"]
    b = (await owner.send(gid, "刷单返利 platypus held words"))["seq"]
    c = (await owner.send(gid, "platypus recalled words"))["seq"]
    e = (await bob.send(gid, "platypus by bob"))["seq"]
    for start in range(0, 2100, 150):
        await asyncio.gather(*(owner.send(gid, f"filler {start + i} 普通的话") for i in range(150)))
    last = (await owner.send(gid, "the end"))["seq"]
    await until_indexed_any(srv, gid, last)
    await owner.request("edit_message", group_id=gid, seq=a, text="echidna replaced words")
    await decide_open(srv, "release")
    await owner.request("delete_message", group_id=gid, seq=c)
    await owner.request("delete_user_messages", group_id=gid, user_id=bob.user_id)
    assert await found(bob, gid, "platypus") == [b]
    assert await found(bob, gid, "platyp") == [b]
    assert await found(bob, gid, "yp") == [b]
    assert await found(bob, gid, "echidna") == [a]
    assert await found(bob, gid, "original") == []
    assert await found(bob, gid, "recalled") == []
    assert await found(bob, gid, "by bob") == []
    assert e == c + 1
    await close_all(owner, bob)


BLOCK = """
[[content.lists]]
category = "violence_terror"
path = "block.txt"
action = "block"
"""


async def test_refused_and_retried_at_all_messages_do_not_use_up_the_hour(make_server, tmp_path):
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "block.txt").write_text("炸弹制作\n", encoding="utf-8")
    srv = make_server(BLOCK)
    owner, bob = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await bob.request("join_group", group_id=gid)
    for _ in range(3):
        r = await owner.call("send", group_id=gid, text="炸弹制作 @all", mention_all=True)
        assert code_of(r) == "content_blocked"
    for _ in range(3):
        r = await owner.call("send", group_id=gid, text="@all same", mention_all=True, client_msg_id="one")
        assert r["seq"] == 1
    assert (await owner.send(gid, "@all two", mention_all=True))["seq"] == 2
    assert (await owner.send(gid, "@all three", mention_all=True))["seq"] == 3
    assert code_of(await owner.call("send", group_id=gid, text="@all four", mention_all=True)) == "rate_limited"
    await close_all(owner, bob)


async def test_an_approved_joiner_starts_at_the_approval_not_the_request(server):
    owner, bob = await server.user(), await server.user()
    gid = await open_group(owner, join_policy="approval")
    await owner.send(gid, "dingo one")
    assert (await bob.request("join_group", group_id=gid))["status"] == "pending"
    await owner.send(gid, "dingo while asking", mention_all=True)
    await owner.request("approve_join", group_id=gid, user_id=bob.user_id)
    assert await found(bob, gid, "dingo") == []
    g = entry(await bob.request("my_groups"), gid)
    assert (g["read_seq"], g["unread"], g["mentioned"]) == (2, 0, False)
    await owner.send(gid, "dingo after")
    assert await found(bob, gid, "dingo") == [3]
    await close_all(owner, bob)


async def test_at_all_is_counted_per_group_whoever_sends_it(server):
    owner, admin = await server.user(), await server.user()
    gid, other = await open_group(owner), await open_group(owner)
    await admin.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    await owner.send(gid, "@all 1", mention_all=True)
    await admin.send(gid, "@all 2", mention_all=True)
    await owner.send(gid, "@all 3", mention_all=True)
    refused = await admin.call("send", group_id=gid, text="@all 4", mention_all=True)
    assert code_of(refused) == "rate_limited" and 0 < refused["retry_after_ms"] <= 3_600_001
    assert (await owner.send(other, "@all elsewhere", mention_all=True))["seq"] == 1
    assert (await admin.send(gid, "plain is fine"))["seq"] == 4
    await close_all(owner, admin)
