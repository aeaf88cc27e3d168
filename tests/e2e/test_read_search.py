"""Read markers (mark_read, read_marker, my_groups' unread counts) and message search, end to end."""

from __future__ import annotations

import asyncio
import json

from tests.e2e.harness import close_all, open_group


def code_of(reply):
    return "ok" if reply.get("ok") else reply.get("code")


async def second_connection(server, client):
    """Another device of the same user (the same token)."""
    other = await server.client()
    await other.auth(client.token)
    return other


def entry(reply, gid):
    [found] = [g for g in reply["groups"] if g["group_id"] == gid]
    return found


async def until_indexed(server, gid, seq, timeout=10.0):
    """Until SQLite's search index holds the group's messages through ``seq`` (the writer indexes
    them once idle); PostgreSQL's index is kept in the commit itself, so there is nothing to wait for."""
    if server.backend != "sqlite":
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    query = "SELECT indexed_seq FROM search_groups WHERE group_id = ?"
    while True:
        [(n,)] = server.db_rows(query, gid)
        if n >= seq:
            return
        assert loop.time() < deadline, f"group {gid} indexed through seq {n} only, not {seq}"
        await asyncio.sleep(0.05)



async def test_mark_read_reaches_the_users_other_connections_and_survives_a_restart(server):
    owner = await server.user()
    gid = await open_group(owner)
    alice = await server.user()
    await alice.request("join_group", group_id=gid)
    phone = await second_connection(server, alice)
    for text in ("one", "two", "three"):
        await owner.send(gid, text)
    await alice.send(gid, "mine")  # seq 4: one's own messages are never unread

    g = entry(await alice.request("my_groups"), gid)
    assert (g["last_seq"], g["read_seq"], g["unread"]) == (4, 0, 3)
    assert entry(await owner.request("my_groups"), gid)["unread"] == 1

    assert (await alice.request("mark_read", group_id=gid, seq=2))["read_seq"] == 2
    assert await phone.next_event("read_marker") == {"ev": "read_marker", "group_id": gid, "seq": 2}
    await alice.request("my_groups")  # a round trip: any event for this connection came before its reply
    assert [e for e in alice.drain_events() if e.get("ev") == "read_marker"] == []
    g = entry(await phone.request("my_groups"), gid)
    assert (g["read_seq"], g["unread"]) == (2, 1)

    # Backwards is ignored (no event either); past the end is the end.
    assert (await phone.request("mark_read", group_id=gid, seq=1))["read_seq"] == 2
    assert (await phone.request("mark_read", group_id=gid, seq=999))["read_seq"] == 4
    marker = await alice.next_event("read_marker")
    assert marker["seq"] == 4  # the seq=1 mark sent nothing before this one
    assert entry(await alice.request("my_groups"), gid)["unread"] == 0

    # Deleted messages are not unread.
    await owner.send(gid, "five")
    await owner.send(gid, "six")
    await owner.request("delete_message", group_id=gid, seq=5)
    g = entry(await alice.request("my_groups"), gid)
    assert (g["last_seq"], g["read_seq"], g["unread"]) == (6, 4, 1)
    await close_all(owner, alice, phone)

    await server.stopped()
    server.start()
    again = await server.client()
    await again.auth(alice.token)
    g = entry(await again.request("my_groups"), gid)
    assert (g["last_seq"], g["read_seq"], g["unread"]) == (6, 4, 1)
    assert (await again.request("mark_read", group_id=gid, seq=3))["read_seq"] == 4
    assert (await again.request("mark_read", group_id=gid, seq=6))["read_seq"] == 6
    assert entry(await again.request("my_groups"), gid)["unread"] == 0
    await again.close()


async def test_marking_read_what_is_already_read_stores_and_tells_nothing(server):
    """``mark_read`` at the read point already held (the same seq again, a seq past the end once the
    end is read, or the join point of one who has read nothing since joining) changes nothing, so it
    writes nothing and sends no ``read_marker``: a client marks read on every scroll and every message
    shown, so each repeat would otherwise be a database write and an event to each of the user's other
    devices. Only a mark that moves the point forward is told, once."""
    owner = await server.user()
    gid = await open_group(owner)
    for text in ("one", "two", "three"):
        await owner.send(gid, text)
    alice = await server.user()
    await alice.request("join_group", group_id=gid)  # joined at seq 3: read through 3
    phone = await second_connection(server, alice)
    assert (await alice.request("mark_read", group_id=gid, seq=3))["read_seq"] == 3  # the join point
    await owner.send(gid, "four")
    await owner.send(gid, "five")
    assert (await alice.request("mark_read", group_id=gid, seq=4))["read_seq"] == 4
    assert (await alice.request("mark_read", group_id=gid, seq=4))["read_seq"] == 4  # the same seq again
    assert (await alice.request("mark_read", group_id=gid, seq=5))["read_seq"] == 5
    assert (await alice.request("mark_read", group_id=gid, seq=999))["read_seq"] == 5  # past the end, read
    await phone.request("my_groups")  # a round trip: any event for this connection came before its reply
    assert [e["seq"] for e in phone.drain_events() if e.get("ev") == "read_marker"] == [4, 5]
    await close_all(owner, alice, phone)


async def test_unread_counts_start_at_the_join_point_and_mark_read_needs_membership(server):
    owner = await server.user()
    gid = await open_group(owner)
    for i in range(3):
        await owner.send(gid, f"before {i}")
    bob = await server.user()
    assert code_of(await bob.call("mark_read", group_id=gid, seq=1)) == "not_member"
    await bob.request("join_group", group_id=gid)
    g = entry(await bob.request("my_groups"), gid)
    assert (g["last_seq"], g["read_seq"], g["unread"]) == (3, 3, 0)  # before joining counts as read
    assert (await bob.request("mark_read", group_id=gid, seq=1))["read_seq"] == 3
    await owner.send(gid, "after 1")
    await owner.send(gid, "after 2")
    g = entry(await bob.request("my_groups"), gid)
    assert (g["last_seq"], g["read_seq"], g["unread"]) == (5, 3, 2)
    assert code_of(await bob.call("mark_read", group_id="999999999", seq=1)) == "not_found"
    await close_all(owner, bob)


async def test_my_groups_says_whether_an_unread_message_mentions_the_caller(server):
    """[ext] ``mentioned``: an unread message that names the caller, or @all, not deleted, not held,
    not their own. A client that reloads shows "@ me" from it without reading the messages back."""
    owner, bob, carol = await server.user(), await server.user(), await server.user()
    gid = await open_group(owner)
    for c in (bob, carol):
        await c.request("join_group", group_id=gid)

    async def mentioned(c):
        return entry(await c.request("my_groups"), gid)["mentioned"]

    await owner.send(gid, "plain")
    assert (await mentioned(bob), await mentioned(carol)) == (False, False)
    named = (await owner.request("send", group_id=gid, text="@Bob", mentions=[bob.user_id]))["seq"]
    assert (await mentioned(bob), await mentioned(carol)) == (True, False)
    await owner.request("delete_message", group_id=gid, seq=named)
    assert await mentioned(bob) is False  # deleted: no longer shown, no longer a mention
    everyone = (await owner.request("send", group_id=gid, text="@all", mention_all=True))["seq"]
    assert (await mentioned(bob), await mentioned(carol), await mentioned(owner)) == (True, True, False)
    await bob.request("mark_read", group_id=gid, seq=everyone)
    assert (await mentioned(bob), await mentioned(carol)) == (False, True)  # read: not unread any more
    await close_all(owner, bob, carol)


async def seqs(client, gid, query, **kw):
    reply = await client.request("search", group_id=gid, query=query, **kw)
    return [m["seq"] for m in reply["messages"]]


async def test_search_substrings_chinese_and_english(server):
    owner = await server.user()
    gid = await open_group(owner)
    texts = [
        "我们今天去吃饭",       # 1
        "你好世界",             # 2
        "Hello World",          # 3
        "HELLO again",          # 4
        "100% sure",            # 5
        "50 percent",           # 6
        "好的，我们走吧",       # 7
        "a_b literal",          # 8
        "axb not literal",      # 9
        "删掉的我们",           # 10, deleted below
        'say "quoted" NEAR x',  # 11: FTS syntax is text too
    ]
    for text in texts:
        await owner.send(gid, text)
    await owner.request("delete_message", group_id=gid, seq=10)

    assert await seqs(owner, gid, "我们") == [7, 1]  # two characters inside sentences, newest first
    assert await seqs(owner, gid, "吃饭") == [1]  # two characters ending a text
    assert await seqs(owner, gid, "今天去") == [1]
    assert await seqs(owner, gid, "我们今天去吃饭") == [1]
    assert await seqs(owner, gid, "hello") == [4, 3]
    assert await seqs(owner, gid, "wORLD") == [3]
    assert await seqs(owner, gid, "lo") == [4, 3]
    assert await seqs(owner, gid, "0%") == [5]  # % is a character, not a wildcard
    assert await seqs(owner, gid, "a_b") == [8]  # so is _
    assert await seqs(owner, gid, '"quoted" NEAR') == [11]
    assert await seqs(owner, gid, "删掉") == []  # deleted messages are never found
    assert await seqs(owner, gid, "找不到的词") == []

    reply = await owner.request("search", group_id=gid, query="世界")
    [msg] = reply["messages"]
    assert (msg["group_id"], msg["seq"], msg["text"], msg["sender"]["user_id"]) == (gid, 2, "你好世界", owner.user_id)

    assert code_of(await owner.call("search", group_id=gid, query="我")) == "bad_request"
    assert code_of(await owner.call("search", group_id=gid, query="")) == "bad_request"
    outsider = await server.user()
    assert code_of(await outsider.call("search", group_id=gid, query="我们")) == "not_member"
    assert code_of(await outsider.call("search", group_id="999999999", query="我们")) == "not_found"
    await close_all(owner, outsider)


async def test_search_sees_only_what_the_member_may_see_and_pages(server):
    owner = await server.user()
    gid = await open_group(owner)
    await owner.send(gid, "旧消息 before you came")  # 1
    late = await server.user()
    await late.request("join_group", group_id=gid)
    for i in range(7):
        await owner.send(gid, f"新消息 number {i}")  # 2..8
    assert await seqs(owner, gid, "消息") == [8, 7, 6, 5, 4, 3, 2, 1]
    assert await seqs(late, gid, "消息") == [8, 7, 6, 5, 4, 3, 2]
    assert await seqs(late, gid, "before") == []

    pages = []
    before = None
    while True:
        kw = {"limit": 3} if before is None else {"limit": 3, "before_seq": before}
        page = await seqs(late, gid, "新消息", **kw)
        if not page:
            break
        pages.append(page)
        before = page[-1]
    assert pages == [[8, 7, 6], [5, 4, 3], [2]]
    assert len(await seqs(owner, gid, "消息", limit=1000)) == 8  # limit is capped (at 100), not refused
    assert await seqs(owner, gid, "消息", before_seq=1) == []
    await close_all(owner, late)


async def test_a_search_returns_at_most_100_messages_whatever_limit_is_asked(server):
    """``search``'s ``limit`` is capped at 100 (documented; larger is not refused): with more hits than
    that, ``limit: 1000`` returns the newest 100, the rest reached with ``before_seq``. Without the cap
    one request could make the server read, screen and send a group's whole history at once."""
    owner = await server.user()
    gid = await open_group(owner)
    for i in range(120):
        await owner.send(gid, f"消息 {i}")
    await until_indexed(server, gid, 120)
    found = await seqs(owner, gid, "消息", limit=1000)
    assert found == list(range(120, 20, -1)), (len(found), found[:3], found[-3:])
    assert await seqs(owner, gid, "消息", limit=1000, before_seq=found[-1]) == list(range(20, 0, -1))
    assert len(await seqs(owner, gid, "消息")) == 20  # the default
    await close_all(owner)


async def test_search_reaches_past_the_newest_messages(server):
    """Old matches are found through the index, past the newest messages a search reads directly."""
    owner = await server.user()
    gid = await open_group(owner)
    await owner.send(gid, "老朋友 NeedleInAHaystack")  # 1
    for start in range(0, 2100, 100):
        await asyncio.gather(*(owner.send(gid, f"filler {start + i} 普通的话") for i in range(100)))
    await owner.send(gid, "又见老朋友")  # 2102
    assert await seqs(owner, gid, "老朋") == [2102, 1]
    assert await seqs(owner, gid, "needleinahay") == [1]
    assert await seqs(owner, gid, "edle") == [1]
    assert await seqs(owner, gid, "ne") == [1]
    assert await seqs(owner, gid, "普通", limit=2, before_seq=3) == [2]
    await owner.close()


REVIEW = """
[[content.lists]]
category = "rumour_fraud"
path = "fraud.txt"
action = "review"
"""


async def test_held_messages_are_neither_unread_nor_found_until_released(make_server, tmp_path):
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "fraud.txt").write_text("刷单返利\n", encoding="utf-8")
    srv = make_server(REVIEW)
    owner = await srv.user()
    gid = await open_group(owner)
    reader = await srv.user()
    await reader.request("join_group", group_id=gid)
    assert (await owner.send(gid, "刷单返利 找我们"))["held"] is True  # seq 1
    await owner.send(gid, "我们开会")  # seq 2
    assert await seqs(reader, gid, "我们") == [2]
    assert await seqs(reader, gid, "找我们") == []
    g = entry(await reader.request("my_groups"), gid)
    assert (g["last_seq"], g["unread"]) == (2, 1)

    rc, out, _ = await srv.admin("review-queue", "--open")
    [item] = [json.loads(line) for line in out.splitlines()]
    rc, _, _ = await srv.admin("decide", str(item["item_id"]), "--decision", "release", "--note", "ok")
    assert rc == 0
    assert await seqs(reader, gid, "我们") == [2, 1]
    assert await seqs(reader, gid, "找我们") == [1]
    assert entry(await reader.request("my_groups"), gid)["unread"] == 2
    await close_all(owner, reader)


async def test_search_finds_an_edited_message_by_its_current_text_only(server):
    """Before and after the SQLite index has caught up with the message (it indexes when idle)."""
    owner = await server.user()
    gid = await open_group(owner)
    fresh = (await owner.send(gid, "Apple pie 苹果派"))["seq"]
    await owner.request("edit_message", group_id=gid, seq=fresh, text="Cherry tart 樱桃挞")
    indexed = (await owner.send(gid, "Banana bread 香蕉"))["seq"]
    await until_indexed(server, gid, indexed)  # the writer indexes the group's messages once idle
    await owner.request("edit_message", group_id=gid, seq=indexed, text="Plum cake 李子")

    async def found(query):
        return [m["seq"] for m in (await owner.request("search", group_id=gid, query=query))["messages"]]

    for query in ("apple", "Apple pie", "苹果", "ap", "banana", "香蕉", "ba"):
        assert await found(query) == [], query
    assert await found("CHERRY") == [fresh] and await found("樱桃") == [fresh]
    assert await found("plum") == [indexed] and await found("李子挞") == [] and await found("李子") == [indexed]
    [shown] = (await owner.request("search", group_id=gid, query="cake"))["messages"]
    assert shown["text"] == "Plum cake 李子" and shown["edited_at"] > shown["ts"]
    # The same objects as history's: the reader's own reactions are said too.
    await owner.request("react", group_id=gid, seq=indexed, emoji="👍", on=True)
    [shown] = (await owner.request("search", group_id=gid, query="cake"))["messages"]
    assert shown["reactions"] == {"👍": 1} and shown["my_reactions"] == ["👍"]
    await owner.close()
