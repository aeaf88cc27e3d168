"""Accounts, groups and messaging end to end against a real server process."""

from __future__ import annotations

from tests.e2e.harness import open_group


async def test_register_login_create_join_chat(server):
    alice = await server.user("alice")
    bob = await server.user("bob", encoding="json")
    me = await alice.request("me")
    assert me["username"] == "alice" and me["phone_verified"] is True
    assert me["id_verified"] is False and isinstance(me["credit_level"], int)
    assert "phone" not in me or me.get("phone") is None

    gid = await open_group(alice)
    assert 9 <= len(gid) <= 12 and gid.isdigit()
    assert (await bob.request("join_group", group_id=gid))["status"] == "joined"
    joined = await alice.next_event("member_joined")
    assert joined["user"] == {"user_id": bob.user_id, "display_name": "Bob", "role": "member"}

    ack = await bob.send(gid, "你好 alice")
    ev = await alice.next_event("message")
    assert ev["seq"] == ack["seq"] and ev["text"] == "你好 alice"
    assert ev["sender"] == {"user_id": bob.user_id, "display_name": "Bob", "role": "member"}
    own = await bob.next_event("message")
    assert own["seq"] == ack["seq"]

    ack2 = await alice.send(gid, "hi bob")
    assert ack2["seq"] > ack["seq"]
    hist = await bob.request("history", group_id=gid)
    assert [m["text"] for m in hist["messages"]] == ["你好 alice", "hi bob"]
    assert hist["messages"][1]["sender"]["role"] == "owner"

    groups = (await bob.request("my_groups"))["groups"]
    assert groups == [{"group_id": gid, "name": "tea room", "role": "member",
                       "last_seq": 2, "read_seq": 0, "unread": 1,  # bob's own message is not unread
                       "muted_until": 0, "mute_all": False, "suspended_until": 0,  # [ext] posting state
                       "mentioned": False}]  # [ext] no unread message mentions bob
    members = (await alice.request("members", group_id=gid))["members"]
    assert {m["role"] for m in members} == {"owner", "member"}
    for m in members:
        assert set(m) == {"user_id", "display_name", "role"}
    for c in (alice, bob):
        await c.close()
